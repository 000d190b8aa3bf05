"""The console's API keys page (A7) end to end on both backends: list, create
(the text shown once), revoke, the limits of the form, CSRF, and another
tenant's user trying a key id it does not own."""

import html
import re

from test_console import (Browser, assert_strict_page, console, login,  # noqa: F401 (fixture)
                          verified_account)

KEYS = "/account/keys"


def signed_in(console):
    b = Browser(console)
    login(b, verified_account(console, b))
    return b


def create(b, fields, status=201):
    data = {"name": "ci", "expires": "90", "scope-content:read": "1"}
    data.update(fields)
    r = b.post(KEYS, {k: v for k, v in data.items() if v is not None})
    assert r.status_code == status, r.text
    return r


def key_of(r):
    m = re.search(r'<input id="f-key" type="text" readonly[^>]* value="(shk_[^"]+)"', r.text)
    assert m, r.text
    return html.unescape(m.group(1))


def token_of(b):
    return b.get(KEYS).page.form(KEYS)["fields"]["csrf"]["value"]


def bearer(console, key, path="/api/v1/api-keys"):
    return console.get(path, headers={"Authorization": f"Bearer {key}"})


def test_keys_page_create_use_revoke(console):
    b = signed_in(console)
    r = b.get(KEYS)
    assert r.status_code == 200 and "You have no API keys yet." in r.text
    assert_strict_page(KEYS, r)
    # the organization's creator is a Super Admin: every scope is offered, content:read ticked
    boxes = r.page.form(KEYS)["fields"]
    assert {n for n in boxes if n.startswith("scope-")} == {
        "scope-content:read", "scope-drafts:write", "scope-drafts:review",
        "scope-entries:publish", "scope-integrations:write", "scope-members:write",
        "scope-content:export", "scope-keys:write", "scope-audit:read"}
    assert "checked" in boxes["scope-content:read"]

    r = create(b, {"name": "deploy <bot>", "scope-keys:write": "1", "expires": "30"})
    assert_strict_page(KEYS, r)
    assert r.headers["Cache-Control"] == "no-store"
    key = key_of(r)
    assert "shown only this once" in r.text and "deploy &lt;bot&gt;" in r.text
    assert "content:read keys:write" in r.text

    listed = bearer(console, key)
    assert listed.status_code == 200, listed.text
    (info,) = listed.json()["api_keys"]
    assert info["name"] == "deploy <bot>" and info["scopes"] == ["content:read", "keys:write"]
    assert 29 * 86400 < info["expires_at"] - info["created_at"] <= 30 * 86400

    # the list shows the prefix, never the text
    page = b.get(KEYS)
    assert info["prefix"] in page.text and key not in page.text
    revoke = f"{KEYS}/{info['id']}/revoke"
    assert page.page.form(revoke)

    # a forged post without the token changes nothing
    assert b.post(revoke, {}, csrf=False).status_code == 403
    assert bearer(console, key).status_code == 200

    r = b.post(revoke, {}, page=page.page)
    assert r.status_code == 303 and r.headers["Location"] == KEYS
    assert bearer(console, key).status_code == 401
    page = b.get(KEYS)
    assert "Revoked" in page.text
    assert not [f for f in page.page.forms if f["action"] == revoke]


def test_never_expiring_key_and_defaults(console):
    b = signed_in(console)
    r = create(b, {"expires": "never", "scope-content:read": None, "scope-keys:write": "1"})
    key = key_of(r)
    info = bearer(console, key).json()["api_keys"][0]
    assert info["expires_at"] is None and info["scopes"] == ["keys:write"]
    # nothing ticked: the key gets content:read only (never an elevated default)
    r = create(b, {"scope-content:read": None})
    assert "<code>content:read</code>" in r.text


def test_form_limits_and_unknown_values(console):
    b = signed_in(console)
    assert "<code>content:read</code>" in create(b, {"name": "n" * 100}).text
    r = create(b, {"name": "n" * 101}, status=400)
    assert "too long" in r.text and "n" * 101 not in r.text
    for bad in ({"scope-content:read": "yes"}, {"expires": "7"},
                {"expires": None}, {"name": None}):
        r = create(b, bad, status=400)
        assert "not acceptable" in html.unescape(r.text) or "not created" in r.text, bad
    # nothing of the refused forms was created
    page = b.get(KEYS)
    assert len([f for f in page.page.forms if f["action"].endswith("/revoke")]) == 1


def test_another_tenants_user_cannot_revoke(console):
    owner, eve = signed_in(console), signed_in(console)
    key = key_of(create(owner, {"scope-keys:write": "1"}))
    kid = bearer(console, key).json()["api_keys"][0]["id"]
    r = eve.post(f"{KEYS}/{kid}/revoke", {"csrf": token_of(eve)}, csrf=False)
    assert r.status_code == 404
    assert bearer(console, key).status_code == 200
    assert kid not in eve.get(KEYS).text
    # a made-up id and a malformed one are 404 alike
    for bad in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        assert owner.post(f"{KEYS}/{bad}/revoke", {"csrf": token_of(owner)},
                          csrf=False).status_code == 404


def test_signed_out_visitor_goes_to_login(console):
    r = Browser(console).get(KEYS)
    assert r.status_code == 303 and r.headers["Location"] == "/login"
