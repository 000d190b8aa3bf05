"""Integrations end to end (I1, C1, C3, T4, Z1, U1/U2) on both backends: an
Admin creates one and gets its webhook URL and its secret once (a replay of
the Idempotency-Key answers the secret null); lists and reads show hints
only; rotation answers a new secret and how long the old one lives; GitLab
gets a signing secret; delete ends it; another organization's id is 404 and
changes nothing; an Editor gets 403; a name one character past the limit is
400 naming the field; the console page creates and rotates with CSRF-guarded
forms and shows a secret once, never in the list.
"""

import html
import re
import secrets as pysecrets
import time

from e2e_util import assert_error
from test_console import Browser, assert_strict_page, login, verified_account
from test_members import join, owner, srv  # noqa: F401 (fixture)

HOOK = re.compile(r"^shw_[A-Za-z0-9_-]{43}$")
PAGE = "/integrations"


def idem():
    return {"Idempotency-Key": "int-" + pysecrets.token_hex(8)}


def create(api, body, status=201, headers=None):
    r = api.call("POST", "/api/v1/integrations", body, headers=headers or idem())
    assert r.status_code == status, r.text
    return r


def test_create_list_rotate_delete(srv):  # noqa: F811
    boss = owner(srv)
    assert_error(api_post(boss, {"provider": "github", "name": "x"}, headers={}), 400,
                 "idempotency_key_required")
    key = idem()
    r = create(boss, {"provider": "github", "name": "Acme", "repository_scope": "acme/*, tools"},
               headers=key)
    made = r.json()
    secret = made["secret"]
    assert HOOK.match(secret), secret
    assert made["secret_hint"] == secret[-4:]
    assert made["webhook_url"] == f"{srv.base_url}/hooks/github/{made['id']}"
    assert made["repository_scope"] == "acme/*\ntools"
    assert made["previous_valid_until"] is None and made["signing_secret_hint"] is None
    assert made["azure_auth"] is None and made["created_by"] == boss.user_id

    # a retry of the same request: the same integration, the secret not shown again
    again = create(boss, {"provider": "github", "name": "Acme", "repository_scope": "acme/*, tools"},
                   headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == made["id"] and again.json()["secret"] is None
    assert secret not in again.text

    listed = boss.call("GET", "/api/v1/integrations")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 1 and body["page"] == 1 and body["page_size"] == 50
    assert [i["id"] for i in body["integrations"]] == [made["id"]]
    assert secret not in listed.text and "secret" not in body["integrations"][0]
    one = boss.call("GET", f"/api/v1/integrations/{made['id']}")
    assert one.status_code == 200 and secret not in one.text
    assert one.json()["secret_hint"] == secret[-4:]

    before = time.time()
    rot = boss.call("POST", f"/api/v1/integrations/{made['id']}/rotate", {})
    assert rot.status_code == 200, rot.text
    new = rot.json()["secret"]
    assert HOOK.match(new) and new != secret
    until = rot.json()["previous_valid_until"]
    assert before + 86400 - 5 <= until <= time.time() + 86400 + 5
    listed = boss.call("GET", "/api/v1/integrations")
    assert new not in listed.text and secret not in listed.text
    assert listed.json()["integrations"][0]["secret_hint"] == new[-4:]
    assert listed.json()["integrations"][0]["previous_valid_until"] == until

    # signing secrets are GitLab's
    assert_error(boss.call("POST", f"/api/v1/integrations/{made['id']}/signing-secret", {}), 400,
                 "validation_failed")
    gl = create(boss, {"provider": "gitlab", "name": "GitLab"}).json()
    r = boss.call("POST", f"/api/v1/integrations/{gl['id']}/signing-secret", {})
    assert r.status_code == 200, r.text
    sign = r.json()["signing_secret"]
    assert re.match(r"^whsec_[A-Za-z0-9+/]{43}=$", sign), sign
    assert r.json()["signing_secret_hint"] == sign[-4:]
    assert sign not in boss.call("GET", f"/api/v1/integrations/{gl['id']}").text

    az = create(boss, {"provider": "azure-devops", "name": "Azure", "azure_auth": "header"}).json()
    assert az["azure_auth"] == "header" and az["azure_header"] == "X-Shiplog-Secret"
    assert_error(api_post(boss, {"provider": "github", "name": "n", "azure_auth": "basic"}), 400,
                 "validation_failed")

    assert boss.call("DELETE", f"/api/v1/integrations/{made['id']}").status_code == 204
    assert_error(boss.call("GET", f"/api/v1/integrations/{made['id']}"), 404)
    assert_error(boss.call("DELETE", f"/api/v1/integrations/{made['id']}"), 404)
    assert_error(boss.call("POST", f"/api/v1/integrations/{made['id']}/rotate", {}), 404)


def api_post(api, body, headers=None):
    return api.call("POST", "/api/v1/integrations", body,
                    headers=idem() if headers is None else headers)


def test_other_organization_and_roles(srv):  # noqa: F811
    a, b = owner(srv), owner(srv)
    made = create(a, {"provider": "bitbucket", "name": "A's"}).json()
    iid = made["id"]
    for method, path, body in [("GET", f"/api/v1/integrations/{iid}", None),
                               ("POST", f"/api/v1/integrations/{iid}/rotate", {}),
                               ("POST", f"/api/v1/integrations/{iid}/signing-secret", {}),
                               ("DELETE", f"/api/v1/integrations/{iid}", None)]:
        r = b.call(method, path, body)
        assert_error(r, 404)
        assert made["secret"] not in r.text and made["name"] not in r.text
    assert b.call("GET", "/api/v1/integrations").json()["integrations"] == []
    still = a.call("GET", f"/api/v1/integrations/{iid}").json()
    assert still["secret_hint"] == made["secret_hint"] and still["rotated_at"] is None

    editor = join(srv, a, "editor")
    assert_error(editor.call("GET", "/api/v1/integrations"), 403, "permission_denied")
    assert_error(api_post(editor, {"provider": "github", "name": "e"}), 403, "permission_denied")
    assert_error(editor.call("POST", f"/api/v1/integrations/{iid}/rotate", {}), 403,
                 "permission_denied")
    admin = join(srv, a, "admin")
    assert admin.call("GET", "/api/v1/integrations").json()["total"] == 1


def test_limits(srv):  # noqa: F811
    boss = owner(srv)
    create(boss, {"provider": "github", "name": "n" * 100})
    err = assert_error(api_post(boss, {"provider": "github", "name": "n" * 101}), 400,
                       "validation_failed")
    assert [f["path"] for f in err["fields"]] == ["name"]
    # 1000 bytes of repositories fit, 1001 do not: far fewer characters (the core's byte limit)
    scope = ",".join(["\u00e9" * 99] * 5) + ",aaaaa"
    assert len(scope.encode()) == 1000 and len(scope) < 1000
    create(boss, {"provider": "github", "name": "s", "repository_scope": scope})
    err = assert_error(api_post(boss, {"provider": "github", "name": "s",
                                       "repository_scope": scope + "b"}), 400,
                       "validation_failed")
    assert [f["path"] for f in err["fields"]] == ["repository_scope"]
    err = assert_error(api_post(boss, {"provider": "github", "name": "s",
                                       "repository_scope": " , "}), 400, "validation_failed")
    assert [f["path"] for f in err["fields"]] == ["repository_scope"]
    err = assert_error(api_post(boss, {"provider": "svn", "name": "s"}), 400, "validation_failed")
    assert err["fields"][0]["path"] == "provider"
    assert_error(boss.call("GET", "/api/v1/integrations?page=3"), 400, "validation_failed")


def secret_of(r):
    m = re.search(r'<input id="f-secret" type="text" readonly[^>]* value="(shw_[^"]+)"', r.text)
    assert m, r.text
    return html.unescape(m.group(1))


def test_console_page_create_rotate_delete(srv):  # noqa: F811
    b = Browser(srv)
    login(b, verified_account(srv, b))
    r = b.get(PAGE)
    assert r.status_code == 200 and "No integrations yet." in r.text
    assert_strict_page(PAGE, r)
    assert '<a href="/integrations">Integrations</a>' in r.text

    r = b.post(PAGE, {"name": "Acme <GitHub>", "provider": "github", "repository_scope": "acme/*"})
    assert r.status_code == 201, r.text
    assert_strict_page(PAGE, r)
    assert r.headers["Cache-Control"] == "no-store"
    secret = secret_of(r)
    assert HOOK.match(secret) and "shown only this once" in r.text
    assert "Acme &lt;GitHub&gt;" in r.text and "/hooks/github/" in r.text

    page = b.get(PAGE)
    assert secret not in page.text and secret[-4:] in page.text
    iid = re.search(r"/hooks/github/([0-9a-f-]{36})", page.text).group(1)
    rotate = f"{PAGE}/{iid}/rotate"
    assert page.page.form(rotate)
    # a forged post without the token changes nothing
    assert b.post(rotate, {}, csrf=False).status_code == 403
    assert secret[-4:] in b.get(PAGE).text

    r = b.post(rotate, {}, page=page.page)
    assert r.status_code == 200, r.text
    new = secret_of(r)
    assert new != secret and "Previous secret valid until" in r.text
    assert r.headers["Cache-Control"] == "no-store"
    page = b.get(PAGE)
    assert new not in page.text and new[-4:] in page.text

    # one past the name limit: refused in words, nothing made
    r = b.post(PAGE, {"name": "n" * 101, "provider": "gitlab", "repository_scope": "*"})
    assert r.status_code == 400 and "name too long" in r.text, r.text

    delete = f"{PAGE}/{iid}/delete"
    r = b.post(delete, {}, page=b.get(PAGE).page)
    assert r.status_code == 303 and r.headers["Location"] == PAGE
    assert "No integrations yet." in b.get(PAGE).text
