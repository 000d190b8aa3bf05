"""Members and invitations end to end (issue 5 item 2, Z1, A6, T4, U1/U2) on
both backends, with mail through a real SMTP sink: an Admin invites by mail,
the invitee opens the link (which spends nothing) and joins with the invited
role; roles change within the rules and the last Super Admin stays; a removed
member's session cookie and API key get 401 on the very next request;
another organization's ids are 404 and change nothing; limits one past; the
console pages are strict, accessible HTML and refuse forged forms.

Every API request carries its own X-Forwarded-For address (the server trusts
127.0.0.1 as a proxy), so the per-IP buckets of one test never starve another.
"""

import html
import itertools
import json
import re
import secrets as pysecrets
from html.parser import HTMLParser

import pytest

from e2e_util import assert_error, read_mails, wait_mail
from test_console import Browser, assert_strict_page, login, verified_account

COOKIE = "__Host-shiplog_session"
COOKIE_RE = re.compile(r"^__Host-shiplog_session=([A-Za-z0-9._-]+); Path=/; HttpOnly; Secure; "
                       r"SameSite=Lax; Max-Age=43200$")
PASSWORD = "correct horse battery staple"
SUBJECT = "You are invited to shiplog"
_ips = itertools.count(1)


def new_ip():
    n = next(_ips)
    return f"10.{100 + ((n >> 16) & 127)}.{(n >> 8) & 255}.{n & 255}"


def new_email(tag="member"):
    return f"{tag}-{pysecrets.token_hex(6)}@example.com"


def idem():
    return {"Idempotency-Key": "inv-" + pysecrets.token_hex(8)}


@pytest.fixture(scope="module")
def srv(module_server_factory, sink):
    url, mail_dir = sink
    s = module_server_factory.start(env={"SHIPLOG_SMTP_URL": url, "SHIPLOG_BCRYPT_COST": "10",
                                         "SHIPLOG_TRUSTED_PROXIES": "127.0.0.1/32"})
    s.mail_dir = mail_dir
    s.factory = module_server_factory
    return s


class Api:
    """JSON calls as one client: a cookie or a key, and a fresh address per call."""

    def __init__(self, srv, cookie=None, key=None):
        self.srv, self.cookie, self.key = srv, cookie, key

    def call(self, method, path, body=None, headers=None, raw=None):
        h = {"X-Forwarded-For": new_ip()}
        if body is not None or raw is not None:
            h["Content-Type"] = "application/json"
        if self.cookie:
            h["Cookie"] = f"{COOKIE}={self.cookie}"
        if self.key:
            h["Authorization"] = f"Bearer {self.key}"
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.srv.request(method, path, data=data, headers=h)

    def me(self):
        return self.call("GET", "/api/v1/me")

    def invite(self, email, role=None, status=201):
        body = {"email": email}
        if role:
            body["role"] = role
        r = self.call("POST", "/api/v1/invitations", body, headers=idem())
        assert r.status_code == status, r.text
        return r

    def members(self, page=None):
        r = self.call("GET", "/api/v1/members" + (f"?page={page}" if page else ""))
        assert r.status_code == 200, r.text
        return r.json()

    def member_id(self, email):
        for m in self.members()["members"]:
            if m["email"] == email:
                return m["id"]
        raise AssertionError(f"{email} is not a member")

    def set_role(self, member_id, role):
        return self.call("POST", f"/api/v1/members/{member_id}/role", {"role": role})


def owner(srv):
    """A new organization's Super Admin, signed in through the API."""
    b = Browser(srv)
    addr = verified_account(srv, b)
    r = Api(srv).call("POST", "/api/v1/session", {"email": addr, "password": PASSWORD})
    assert r.status_code == 200, r.text
    api = Api(srv, cookie=COOKIE_RE.match(r.headers["Set-Cookie"]).group(1))
    api.email, api.user_id, api.tenant_id = addr, r.json()["user_id"], r.json()["tenant_id"]
    return api


def invitation_link(srv, addr, n=1):
    text = wait_mail(srv.mail_dir, addr, SUBJECT, n)
    m = re.search(re.escape(srv.base_url) + r"(/invite\?token=([A-Za-z0-9._-]+))", text)
    assert m, text
    return m.group(1), m.group(2), text


def accept(srv, token, password=PASSWORD, status=200):
    r = Api(srv).call("POST", "/api/v1/invitations/accept", {"token": token, "password": password})
    assert r.status_code == status, r.text
    if status != 200:
        return r
    m = COOKIE_RE.match(r.headers["Set-Cookie"])
    assert m, r.headers["Set-Cookie"]
    api = Api(srv, cookie=m.group(1))
    api.user_id, api.role = r.json()["user_id"], r.json()["role"]
    return api


def signin_again(srv, api):
    r = Api(srv).call("POST", "/api/v1/session", {"email": api.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    api.cookie = COOKIE_RE.match(r.headers["Set-Cookie"]).group(1)


def join(srv, by, role):
    addr = new_email(role)
    by.invite(addr, role)
    _, token, _ = invitation_link(srv, addr)
    api = accept(srv, token)
    api.email = addr
    return api


# --------------------------------------------------------------------------


def test_invite_by_mail_accept_and_sign_in(srv):
    boss = owner(srv)
    addr = new_email("Invitee")
    # an invitation needs an Idempotency-Key, and a retry is the same answer
    r = boss.call("POST", "/api/v1/invitations", {"email": addr, "role": "editor"})
    assert_error(r, 400, "idempotency_key_required")
    key = idem()
    r = boss.call("POST", "/api/v1/invitations", {"email": addr, "role": "editor"}, headers=key)
    assert r.status_code == 201, r.text
    inv = r.json()
    assert inv["email"] == addr.lower() and inv["role"] == "editor"
    again = boss.call("POST", "/api/v1/invitations", {"email": addr, "role": "editor"},
                      headers=key)
    assert again.json() == inv and again.headers["Idempotent-Replayed"] == "true"

    link, token, text = invitation_link(srv, addr.lower())
    assert "as Editor" in text and "valid for 7 days" in text
    assert len(read_mails(srv.mail_dir, addr.lower())) == 1  # the replay sent nothing
    assert token not in r.text  # the link goes by mail only
    listed = boss.call("GET", "/api/v1/invitations").json()["invitations"]
    assert [i["id"] for i in listed] == [inv["id"]] and listed[0]["invited_by"] == boss.user_id
    assert token not in json.dumps(listed)

    # the page the link opens spends nothing, however often it is fetched
    b = Browser(srv)
    for _ in range(2):
        page = b.get(link)
        assert page.status_code == 200 and "as Editor" in page.text, page.text
    form = page.page.form("/invite")
    assert form["fields"]["token"]["value"] == token
    assert form["fields"]["username"]["value"] == addr.lower()

    new = accept(srv, token)
    assert new.role == "editor"
    me = new.me().json()
    assert me["role"] == "editor" and me["email_verified"] is True
    assert me["tenant_id"] == boss.tenant_id
    # single use
    assert_error(accept(srv, token, status=404), 404, "not_found")
    assert boss.call("GET", "/api/v1/invitations").json()["invitations"] == []
    # the password works for signing in
    r = Api(srv).call("POST", "/api/v1/session", {"email": addr, "password": PASSWORD})
    assert r.status_code == 200 and r.json()["role"] == "editor", r.text
    members = boss.members()
    assert members["total"] == 2 and members["page"] == 1 and members["page_size"] == 50
    mine = [m for m in members["members"] if m["you"]]
    assert [m["id"] for m in mine] == [boss.user_id]
    assert {m["email"]: m["role"] for m in members["members"]} == {
        boss.email: "super_admin", addr.lower(): "editor"}


def test_roles_within_the_rules(srv):
    boss = owner(srv)
    admin = join(srv, boss, "admin")
    ed = join(srv, boss, "editor")
    # an Admin changes roles up to Admin, never to or of a Super Admin
    assert admin.set_role(ed.user_id, "member").json() == {"id": ed.user_id, "role": "member"}
    assert ed.me().json()["role"] == "member"  # at once, through the session cache
    assert_error(admin.set_role(ed.user_id, "super_admin"), 403, "permission_denied")
    assert_error(admin.set_role(boss.user_id, "member"), 403, "permission_denied")
    assert_error(admin.call("DELETE", f"/api/v1/members/{boss.user_id}"), 403,
                 "permission_denied")
    assert_error(admin.invite(new_email(), "super_admin", status=403), 403, "permission_denied")
    # nobody changes their own role; the last Super Admin stays
    assert_error(admin.set_role(admin.user_id, "editor"), 403, "permission_denied")
    r = boss.set_role(boss.user_id, "admin")
    err = assert_error(r, 409, "last_super_admin")
    assert "last Super Admin" in err["message"]
    assert_error(boss.call("DELETE", f"/api/v1/members/{boss.user_id}"), 409, "last_super_admin")
    # a Member manages nothing, not even the list
    assert_error(ed.call("GET", "/api/v1/members"), 403, "permission_denied")
    assert_error(ed.invite(new_email(), "member", status=403), 403, "permission_denied")
    # with a second Super Admin, one may step down
    boss.set_role(admin.user_id, "super_admin")
    # A3: the promotion ended the promoted member's sessions: the new role
    # comes with a new sign-in
    assert_error(admin.me(), 401)
    signin_again(srv, admin)
    assert admin.me().json()["role"] == "super_admin"
    assert boss.set_role(boss.user_id, "editor").status_code == 200
    assert boss.me().json()["role"] == "editor"
    assert_error(boss.call("GET", "/api/v1/members"), 403, "permission_denied")
    # bad roles are refused by the schema
    assert_error(admin.set_role(ed.user_id, "owner"), 400, "validation_failed")
    assert_error(admin.call("POST", f"/api/v1/members/{ed.user_id}/role", {}), 400,
                 "validation_failed")


def test_removed_member_loses_session_and_key_at_once(srv):
    boss = owner(srv)
    ed = join(srv, boss, "editor")
    r = ed.call("POST", "/api/v1/api-keys", {"name": "ci", "scopes": ["keys:write"]},
                headers=idem())
    assert r.status_code == 201, r.text
    key = Api(srv, key=r.json()["key"])
    assert ed.me().status_code == 200
    assert key.call("GET", "/api/v1/api-keys").status_code == 200
    r = boss.call("DELETE", f"/api/v1/members/{ed.user_id}")
    assert r.status_code == 204, r.text
    assert "Set-Cookie" not in r.headers  # the Admin stays signed in
    assert_error(ed.me(), 401, "unauthenticated")
    assert_error(key.call("GET", "/api/v1/api-keys"), 401, "invalid_token")
    r = Api(srv).call("POST", "/api/v1/session", {"email": ed.email, "password": PASSWORD})
    assert_error(r, 401, "invalid_credentials")
    assert_error(boss.call("DELETE", f"/api/v1/members/{ed.user_id}"), 404, "not_found")
    assert ed.email not in json.dumps(boss.members())
    # the address is free: it can be invited again
    boss.invite(ed.email, "member")
    _, token, _ = invitation_link(srv, ed.email, n=2)
    assert accept(srv, token).role == "member"


def test_leaving_expires_the_cookie(srv):
    boss = owner(srv)
    admin = join(srv, boss, "admin")
    r = admin.call("DELETE", f"/api/v1/members/{admin.user_id}")
    assert r.status_code == 204, r.text
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    assert_error(admin.me(), 401, "unauthenticated")


def test_another_organizations_ids_are_404(srv):
    a, b = owner(srv), owner(srv)
    a_mem = join(srv, a, "member")
    inv = a.invite(new_email(), "editor").json()
    for r in (b.set_role(a_mem.user_id, "admin"),
              b.call("DELETE", f"/api/v1/members/{a_mem.user_id}"),
              b.call("DELETE", f"/api/v1/invitations/{inv['id']}"),
              b.set_role("not-a-uuid", "admin"),
              b.call("DELETE", "/api/v1/invitations/00000000-0000-4000-8000-000000000000")):
        assert_error(r, 404, "not_found")
    assert a_mem.me().json()["role"] == "member"
    assert [i["id"] for i in a.call("GET", "/api/v1/invitations").json()["invitations"]] == \
        [inv["id"]]
    assert a_mem.user_id not in json.dumps(b.members())
    # A's invitation token cannot be moved into B's organization
    _, token, _ = invitation_link(srv, inv["email"])
    forged = b.tenant_id + token[36:]
    assert_error(accept(srv, forged, status=404), 404, "not_found")
    # revoking works for A, and the link dies
    assert a.call("DELETE", f"/api/v1/invitations/{inv['id']}").status_code == 204
    assert_error(accept(srv, token, status=404), 404, "not_found")


def test_keys_manage_members_at_most_as_admins(srv):
    boss = owner(srv)
    ed = join(srv, boss, "editor")
    r = boss.call("POST", "/api/v1/api-keys", {"name": "hr", "scopes": ["members:write"]},
                  headers=idem())
    assert r.status_code == 201, r.text
    key = Api(srv, key=r.json()["key"])
    assert key.members()["total"] == 2
    assert key.set_role(ed.user_id, "admin").status_code == 200
    # a Super Admin's key is no Super Admin
    assert_error(key.set_role(ed.user_id, "super_admin"), 403, "permission_denied")
    assert_error(key.invite(new_email(), "super_admin", status=403), 403, "permission_denied")
    assert key.invite(new_email(), "admin").status_code == 201
    # a key without members:write gets nowhere
    r = boss.call("POST", "/api/v1/api-keys", {"name": "reader"}, headers=idem())
    reader = Api(srv, key=r.json()["key"])
    assert_error(reader.call("GET", "/api/v1/members"), 403, "permission_denied")
    # the changes are in the audit trail, the key as actor
    res = srv.factory.run_cli(["audit", "export", "--tenant", boss.tenant_id,
                               "--data", str(srv.data_dir)])
    assert res.returncode == 0, res.stderr
    events = [json.loads(x) for x in res.stdout.splitlines() if x.strip()]
    actions = {(e["action"], e["outcome"], e["actor_type"]) for e in events if "action" in e}
    for want in (("member.invited", "success", "user"), ("member.joined", "success", "user"),
                 ("member.role_changed", "success", "api_key"),
                 ("member.role_changed", "denied", "api_key"),
                 ("member.invited", "success", "api_key")):
        assert want in actions, (want, sorted(actions))
    assert ed.email not in res.stdout  # addresses stay out of the trail


def test_limits_and_validation(srv):
    boss = owner(srv)
    at_limit = "a" * 64 + "@" + "b" * 60 + "." + "c" * 60 + "." + "d" * 63 + ".com"
    assert len(at_limit) == 254  # every DNS label within 63 bytes: mailable
    assert boss.invite(at_limit).json()["role"] == "member"  # the default role
    assert_error(boss.invite("a" + at_limit, status=400), 400, "validation_failed")
    assert_error(boss.invite("not-an-address", status=400), 400, "validation_failed")
    r = boss.call("POST", "/api/v1/invitations", {"email": new_email(), "role": "member",
                                                  "extra": 1}, headers=idem())
    assert_error(r, 400, "validation_failed")
    for page in ("0", "21", "abc", "123456789", "-1"):
        assert_error(boss.call("GET", f"/api/v1/members?page={page}"), 400, "validation_failed")
    assert boss.members(page=20)["members"] == []
    # tokens: one byte past the schema's limit is refused, any bad token is 404
    assert_error(accept(srv, "x" * 129, status=400), 400, "validation_failed")
    assert_error(accept(srv, "x" * 128, status=404), 404, "not_found")
    assert_error(accept(srv, boss.tenant_id + ".nothing", status=404), 404, "not_found")
    addr = new_email()
    boss.invite(addr)
    _, token, _ = invitation_link(srv, addr)
    err = assert_error(accept(srv, token, password="password1234", status=400), 400,
                       "validation_failed")
    assert "password cannot be used" in err["message"]  # sign-up's common-password list
    assert accept(srv, token).role == "member"  # the refused password spent nothing
    # an address with an account elsewhere: invited alike, and the invitee is told
    other = owner(srv)
    assert boss.invite(other.email).status_code == 201
    _, token, _ = invitation_link(srv, other.email)
    assert_error(accept(srv, token, status=409), 409, "email_taken")
    # an address that is a member already
    assert_error(boss.invite(boss.email, status=409), 409, "already_member")


def test_invitations_to_one_address_are_rate_limited(srv):
    boss, other = owner(srv), owner(srv)
    addr = new_email()
    for _ in range(5):
        boss.invite(addr, "member")  # each replaces the one before
    r = boss.invite(addr, "member", status=429)
    assert_error(r, 429, "rate_limited")
    assert r.headers["Retry-After"]
    assert len(boss.call("GET", "/api/v1/invitations").json()["invitations"]) == 1
    assert len(read_mails(srv.mail_dir, addr)) <= 5
    boss.invite(new_email(), "member")  # another address is not held up
    other.invite(addr, "member")  # nor is another organization


# ---- console ----------------------------------------------------------------


class Controls(HTMLParser):
    """Every select and its label, to check the ones assert_strict_page does not see."""

    def __init__(self, text):
        super().__init__()
        self.selects, self.labels = [], set()
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "select":
            self.selects.append(a)
        elif tag == "label":
            self.labels.add(a.get("for"))


def csrf_of(b, path="/members", action="/members/invite"):
    """A form token of b's browser (tokens are bound to its cookie, not to a form)."""
    return b.get(path).page.form(action)["fields"]["csrf"]["value"]


def console_owner(srv):
    b = Browser(srv)
    addr = verified_account(srv, b)
    login(b, addr)
    return b, addr


def test_console_invite_join_change_remove(srv):
    b, boss_addr = console_owner(srv)
    r = b.get("/account/sessions")
    assert '<a href="/members">Members</a>' in r.text  # the nav shows it to a Super Admin
    r = b.get("/members")
    assert r.status_code == 200, r.text
    assert_strict_page("/members", r)
    assert boss_addr in r.text and "(you)" in r.text
    addr = new_email("console")
    r = b.post("/members/invite", {"email": addr, "role": "editor"}, form="/members")
    assert r.status_code == 303 and r.headers["Location"] == "/members?done=invited", r.text
    r = b.get("/members?done=invited")
    assert "The invitation is on its way." in r.text and addr in r.text
    assert_strict_page("/members", r)
    c = Controls(r.text)
    assert c.selects and all(s["id"] in c.labels for s in c.selects)

    link, token, _ = invitation_link(srv, addr)
    n = Browser(srv)
    page = n.get(link)
    assert page.status_code == 200 and "as Editor" in page.text
    assert_strict_page("/invite", page)
    r = n.post("/invite", {"token": token, "password": "short"}, page=page.page)
    assert r.status_code == 400 and "cannot be used" in r.text
    r = n.post("/invite", {"token": token, "password": PASSWORD}, page=page.page)
    assert r.status_code == 303 and r.headers["Location"] == "/", r.text
    r = n.get("/account/sessions")
    assert r.status_code == 200
    assert '<a href="/members">Members</a>' not in r.text  # an Editor manages no members
    assert n.get("/members").status_code == 403
    # the link is spent: a fresh browser posting it with its own form token gets 404
    fresh = Browser(srv)
    r = fresh.get(link)
    assert r.status_code == 404 and "not valid" in r.text
    csrf = fresh.get("/login").page.form("/login")["fields"]["csrf"]["value"]
    r = fresh.post("/invite", {"token": token, "password": PASSWORD, "csrf": csrf}, csrf=False)
    assert r.status_code == 404 and "not valid" in r.text, r.text

    page = b.get("/members")
    member_id = re.search(r'action="/members/([0-9a-f-]{36})/role"', page.text).group(1)
    r = b.post(f"/members/{member_id}/role", {"role": "admin"}, page=page.page)
    assert r.status_code == 303 and r.headers["Location"] == "/members?done=role"
    # A3: promoted, the member signs in again and is an Admin
    assert n.get("/members").status_code == 303
    login(n, addr)
    assert n.get("/members").status_code == 200
    r = b.post(f"/members/{member_id}/role", {"role": "nobody"}, page=page.page)
    assert r.status_code == 400 and "role" in html.unescape(r.text)
    r = b.post(f"/members/{member_id}/remove", {}, page=page.page)
    assert r.status_code == 303 and r.headers["Location"] == "/members?done=removed"
    assert n.get("/account/sessions").status_code == 303  # signed out: to /login


def test_console_refusals_and_revocation(srv):
    b, boss_addr = console_owner(srv)
    page = b.get("/members").page
    # the last Super Admin: the page says why, and nothing changed
    own = [f["action"] for f in page.forms if f["action"] and f["action"].endswith("/remove")]
    assert own == []  # no remove button on one's own row
    me = Api(srv)  # sign-in through the API to learn the own id
    r = me.call("POST", "/api/v1/session", {"email": boss_addr, "password": PASSWORD})
    boss_id = r.json()["user_id"]
    r = b.post(f"/members/{boss_id}/remove", {"csrf": csrf_of(b)}, csrf=False)
    assert r.status_code == 409 and "last Super Admin" in r.text
    assert_strict_page("/members", r)

    addr = new_email()
    b.post("/members/invite", {"email": addr, "role": "admin"}, form="/members")
    page = b.get("/members").page
    revoke = [f["action"] for f in page.forms if "/invitations/" in (f["action"] or "")]
    assert len(revoke) == 1
    # another organization cannot revoke it (404), nor change this one's members
    eve, _ = console_owner(srv)
    r = eve.post(revoke[0], {"csrf": csrf_of(eve)}, csrf=False)
    assert r.status_code == 404
    r = eve.post(f"/members/{boss_id}/remove", {"csrf": csrf_of(eve)}, csrf=False)
    assert r.status_code == 404
    r = b.post(revoke[0], {}, page=page)
    assert r.status_code == 303 and r.headers["Location"] == "/members?done=revoked"
    _, token, _ = invitation_link(srv, addr)
    assert Browser(srv).get(f"/invite?token={token}").status_code == 404

    # forged forms: no token, another browser's token, a cross-site post, JSON
    fields = {"email": new_email(), "role": "member"}
    assert b.post("/members/invite", fields, csrf=False).status_code == 403
    theirs = csrf_of(eve)
    assert b.post("/members/invite", dict(fields, csrf=theirs), csrf=False).status_code == 403
    good = csrf_of(b)
    for h in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        r = b.post("/members/invite", dict(fields, csrf=good), csrf=False, headers=h)
        assert r.status_code == 403
    r = b.post("/members/invite", dict(fields, csrf=good), csrf=False,
               headers={"Content-Type": "application/json"})
    assert r.status_code == 415
    assert not read_mails(srv.mail_dir, fields["email"])
    # an address one byte too long: the page says so and keeps it
    r = b.post("/members/invite", {"email": "a" * 250 + "@b.com", "role": "member"},
               form="/members")
    assert r.status_code == 400 and "email too long" in r.text


def test_invite_page_without_and_with_a_bad_token(srv):
    b = Browser(srv)
    r = b.get("/invite")
    assert r.status_code == 200 and "invitation mail" in r.text
    assert_strict_page("/invite", r)
    r = b.get("/invite?token=nonsense")
    assert r.status_code == 404 and "not valid" in r.text
    assert_strict_page("/invite", r)
    token = csrf_of(b, "/login", "/login")
    r = b.post("/invite", {"token": "nonsense", "password": PASSWORD, "csrf": token}, csrf=False)
    assert r.status_code == 404 and "not valid" in r.text
