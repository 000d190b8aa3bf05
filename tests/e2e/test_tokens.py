"""Access and refresh tokens end to end (A8), on SQLite and PostgreSQL: the
password grant (users verified through the real SMTP sink), a call with the
access token, rotation, reuse of a rotated refresh token ending the whole
sign-in, sign-out and "sign out everywhere" stopping a live access token at
once, the API-key grant acting exactly as the key, tampered tokens, one answer
for every refused credential, body limits one byte past, and another
organization's ids answering 404 to a token.

Every request carries its own X-Forwarded-For address (the server trusts
127.0.0.1 as a proxy), so the per-IP sign-in bucket of one test never starves
another.
"""

import base64
import itertools
import json
import re
import secrets as pysecrets

import pytest

from e2e_util import assert_error, wait_mail

PASSWORD = "correct horse battery staple"
COOKIE = "__Host-shiplog_session"
_ips = itertools.count(1)


def new_ip():
    n = next(_ips)
    return f"10.77.{(n >> 8) & 255}.{n & 255}"


def new_email(tag="tok"):
    return f"{tag}-{pysecrets.token_hex(6)}@example.com"


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Api:
    def __init__(self, srv, mail_dir, factory):
        self.srv = srv
        self.mail_dir = mail_dir
        self.factory = factory

    def call(self, method, path, body=None, *, token=None, cookie=None, headers=None, raw=None):
        h = {"X-Forwarded-For": new_ip()}
        if body is not None or raw is not None:
            h["Content-Type"] = "application/json"
        if token:
            h["Authorization"] = f"Bearer {token}"
        if cookie:
            h["Cookie"] = f"{COOKIE}={cookie}"
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.srv.request(method, path, data=data, headers=h)

    def user(self, tag="tok", verify=True):
        addr = new_email(tag)
        r = self.call("POST", "/api/v1/signup",
                      {"email": addr, "password": PASSWORD, "organization": "Tokens Inc"})
        assert r.status_code == 201, r.text
        if verify:
            text = wait_mail(self.mail_dir, addr, "Confirm your e-mail")
            m = re.search(re.escape(self.srv.base_url) + r"/verify\?token=([A-Za-z0-9._-]+)", text)
            assert m, text
            r = self.call("POST", "/api/v1/verify-email", {"token": m.group(1)})
            assert r.status_code == 200, r.text
        return addr

    def grant(self, addr, password=PASSWORD):
        r = self.call("POST", "/api/v1/auth/token",
                      {"grant_type": "password", "email": addr, "password": password})
        assert r.status_code == 200, r.text
        return check_pair(r)

    def refresh(self, refresh_token):
        return self.call("POST", "/api/v1/auth/refresh", {"refresh_token": refresh_token})

    def signin(self, addr):
        r = self.call("POST", "/api/v1/session", {"email": addr, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return r.headers["Set-Cookie"].split(";")[0].split("=", 1)[1], r.json()

    def audit(self, tenant):
        res = self.factory.run_cli(["audit", "export", "--tenant", tenant,
                                    "--data", str(self.srv.data_dir)])
        assert res.returncode == 0, res.stderr
        lines = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
        return res.stdout, [e for e in lines if e.get("type") == "entry"]


def check_pair(r):
    """A token answer's shape (RFC 6749 §5.1), never cached, never a cookie."""
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token",
                         "refresh_expires_in"}, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["refresh_expires_in"] == 7 * 86400
    assert re.fullmatch(r"shr_[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}", body["refresh_token"])
    assert body["access_token"].count(".") == 2
    assert r.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in r.headers
    return body


def invalid_token(r):
    assert_error(r, 401, "invalid_token")
    assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def grant_refused(r):
    """The one answer for every refused credential, without its support id."""
    err = assert_error(r, 401, "invalid_grant")
    return {k: v for k, v in err.items() if k != "support_id"}


@pytest.fixture(scope="module")
def api(module_server_factory, sink):
    url, mail_dir = sink
    srv = module_server_factory.start(env={"SHIPLOG_SMTP_URL": url, "SHIPLOG_BCRYPT_COST": "10",
                                           "SHIPLOG_TRUSTED_PROXIES": "127.0.0.1/32"})
    return Api(srv, mail_dir, module_server_factory)


# --------------------------------------------------------------------------


def test_password_grant_refresh_reuse_and_signout_everywhere(api):
    addr = api.user()
    first = api.grant(addr)
    r = api.call("GET", "/api/v1/me", token=first["access_token"])
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["role"] == "super_admin" and me["email_verified"] is True
    assert me["session"] == ""  # a token is no session
    tenant = me["tenant_id"]

    # rotation: each use gives a new pair; the new access token works
    r = api.refresh(first["refresh_token"])
    assert r.status_code == 200, r.text
    second = check_pair(r)
    assert second["refresh_token"] != first["refresh_token"]
    assert api.call("GET", "/api/v1/me", token=second["access_token"]).status_code == 200

    # the rotated refresh token again: refused, and the whole sign-in ends
    refused = grant_refused(api.refresh(first["refresh_token"]))
    assert refused == grant_refused(api.refresh(second["refresh_token"]))
    invalid_token(api.call("GET", "/api/v1/me", token=second["access_token"]))
    invalid_token(api.call("GET", "/api/v1/me", token=first["access_token"]))

    # sign out everywhere with a token: its live access token and a session stop at once
    live = api.grant(addr)
    other = api.grant(addr)
    cookie, _ = api.signin(addr)
    assert api.call("GET", "/api/v1/me", token=other["access_token"]).status_code == 200
    r = api.call("POST", "/api/v1/sessions/revoke-all", {}, token=live["access_token"],
                 headers={"Origin": "https://elsewhere.example"})  # no cookie: no CSRF to fear
    assert r.status_code == 200, r.text
    assert "Set-Cookie" not in r.headers  # a Bearer caller has no cookie to expire
    invalid_token(api.call("GET", "/api/v1/me", token=other["access_token"]))
    invalid_token(api.call("GET", "/api/v1/me", token=live["access_token"]))
    grant_refused(api.refresh(other["refresh_token"]))
    assert_error(api.call("GET", "/api/v1/me", cookie=cookie), 401, "unauthenticated")
    # signing in again works at once
    again = api.grant(addr)
    assert api.call("GET", "/api/v1/me", token=again["access_token"]).status_code == 200

    text, events = api.audit(tenant)
    actions = [e["action"] for e in events]
    for action in ("token.issued", "token.refreshed", "token.reuse_detected"):
        assert action in actions, actions
    reuse = [e for e in events if e["action"] == "token.reuse_detected"]
    assert reuse[0]["outcome"] == "denied"
    everywhere = [e for e in events if e["action"] == "auth.signout_everywhere"][-1]
    assert json.loads(everywhere["details"])["families_revoked"] == 2
    for pair in (first, second, live, other, again):
        assert pair["refresh_token"] not in text
        assert pair["refresh_token"].split(".", 1)[1] not in text
        assert pair["access_token"].rsplit(".", 1)[1] not in text


def test_signout_with_a_token(api):
    addr = api.user()
    a, b = api.grant(addr), api.grant(addr)
    r = api.call("DELETE", "/api/v1/session", token=a["access_token"])
    assert r.status_code == 204, r.text
    assert "Set-Cookie" not in r.headers
    invalid_token(api.call("GET", "/api/v1/me", token=a["access_token"]))
    grant_refused(api.refresh(a["refresh_token"]))
    # the other sign-in goes on
    assert api.call("GET", "/api/v1/me", token=b["access_token"]).status_code == 200
    assert api.refresh(b["refresh_token"]).status_code == 200


def test_refusals_are_identical(api):
    verified = api.user()
    unverified = api.user(verify=False)
    answers = [
        api.call("POST", "/api/v1/auth/token",
                 {"grant_type": "password", "email": verified, "password": PASSWORD + "x"}),
        api.call("POST", "/api/v1/auth/token",
                 {"grant_type": "password", "email": new_email("nobody"), "password": PASSWORD}),
        # the right password of an unverified address: still no tokens
        api.call("POST", "/api/v1/auth/token",
                 {"grant_type": "password", "email": unverified, "password": PASSWORD}),
        api.call("POST", "/api/v1/auth/token",
                 {"grant_type": "api_key", "api_key": "shk_" + "0" * 36 + "." + "A" * 43}),
        api.call("POST", "/api/v1/auth/token", {"grant_type": "api_key", "api_key": "nope"}),
        api.refresh("shr_" + "0" * 36 + "." + "A" * 43),
        api.refresh("not-a-token"),
    ]
    shapes = [grant_refused(r) for r in answers]
    assert all(s == shapes[0] for s in shapes), shapes

    # bodies that do not fit: 400
    for body in ({"grant_type": "password", "email": verified},
                 {"grant_type": "api_key"},
                 {"grant_type": "password", "email": verified, "password": PASSWORD,
                  "api_key": "shk_x"}):
        assert_error(api.call("POST", "/api/v1/auth/token", body), 400, "invalid_request")
    for body in ({"grant_type": "client_credentials"}, {"grant_type": "password", "extra": 1},
                 {}):
        assert_error(api.call("POST", "/api/v1/auth/token", body), 400, "validation_failed")
    assert_error(api.call("POST", "/api/v1/auth/refresh", {}), 400, "validation_failed")
    # the limits, at their value (a refused credential) and one past (the body's schema)
    grant_refused(api.refresh("r" * 128))
    assert_error(api.refresh("r" * 129), 400, "validation_failed")
    grant_refused(api.call("POST", "/api/v1/auth/token",
                           {"grant_type": "api_key", "api_key": "k" * 128}))
    assert_error(api.call("POST", "/api/v1/auth/token",
                          {"grant_type": "api_key", "api_key": "k" * 129}), 400,
                 "validation_failed")
    # a form body is not JSON
    r = api.srv.request("POST", "/api/v1/auth/token", data="grant_type=password",
                        headers={"Content-Type": "application/x-www-form-urlencoded",
                                 "X-Forwarded-For": new_ip()})
    assert_error(r, 415)


def test_api_key_grant_acts_as_the_key(api):
    addr = api.user()
    cookie, me = api.signin(addr)

    def key(scopes):
        r = api.call("POST", "/api/v1/api-keys", {"name": "ci", "scopes": scopes}, cookie=cookie,
                     headers={"Idempotency-Key": pysecrets.token_hex(8)})
        assert r.status_code == 201, r.text
        return r.json()

    writer, reader = key(["keys:write", "content:read"]), key(["content:read"])
    r = api.call("POST", "/api/v1/auth/token", {"grant_type": "api_key", "api_key": writer["key"]})
    assert r.status_code == 200, r.text
    wt = check_pair(r)
    claims = json.loads(unb64url(wt["access_token"].split(".")[1]))
    assert claims["scope"] == "content:read keys:write" and claims["sub"] == me["user_id"]
    # the key's powers, no more: key routes yes (keys:write), account routes no
    assert api.call("GET", "/api/v1/api-keys", token=wt["access_token"]).status_code == 200
    assert_error(api.call("GET", "/api/v1/me", token=wt["access_token"]), 403, "permission_denied")
    assert_error(api.call("DELETE", "/api/v1/session", token=wt["access_token"]), 403,
                 "permission_denied")
    r = api.call("POST", "/api/v1/auth/token", {"grant_type": "api_key", "api_key": reader["key"]})
    rt = check_pair(r)
    assert_error(api.call("GET", "/api/v1/api-keys", token=rt["access_token"]), 403,
                 "permission_denied")
    # a refreshed key token is still the key's
    r = api.refresh(wt["refresh_token"])
    assert r.status_code == 200, r.text
    wt2 = check_pair(r)
    assert api.call("GET", "/api/v1/api-keys", token=wt2["access_token"]).status_code == 200
    # revoking the key ends its tokens at once
    assert api.call("DELETE", f"/api/v1/api-keys/{writer['id']}", cookie=cookie).status_code == 204
    invalid_token(api.call("GET", "/api/v1/api-keys", token=wt2["access_token"]))
    grant_refused(api.refresh(wt2["refresh_token"]))
    grant_refused(api.call("POST", "/api/v1/auth/token",
                           {"grant_type": "api_key", "api_key": writer["key"]}))

    _, events = api.audit(me["tenant_id"])
    issued = [e for e in events if e["action"] == "token.issued" and e["actor_type"] == "api_key"]
    assert {e["actor_id"] for e in issued} == {writer["id"], reader["id"]}


def test_tampered_tokens_are_refused(api):
    addr = api.user()
    pair = api.grant(addr)
    head, payload, sig = pair["access_token"].split(".")
    header = json.loads(unb64url(head))
    assert header["alg"] == "EdDSA" and set(header) == {"alg", "typ", "kid"}
    none = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    hs = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}).encode())
    claims = json.loads(unb64url(payload))
    claims["exp"] += 3600  # a longer life, with the header's signature kept
    longer = b64url(json.dumps(claims, separators=(",", ":")).encode())
    flipped = ("B" if sig[0] == "A" else "A") + sig[1:]  # another first signature byte
    for bad in (f"{none}.{payload}.", f"{none}.{payload}", f"{hs}.{payload}.{sig}",
                f"{head}.{longer}.{sig}", f"{head}.{payload}.{flipped}",
                pair["refresh_token"], "eyJ.eyJ.x"):
        invalid_token(api.call("GET", "/api/v1/me", token=bad))
    # the real one still works; a console page does not take Bearer credentials at all
    assert api.call("GET", "/api/v1/me", token=pair["access_token"]).status_code == 200
    r = api.call("GET", "/account/sessions", token=pair["access_token"])
    assert r.status_code == 303 and r.headers["Location"] == "/login"


def test_another_tenants_ids_are_404_with_a_token(api):
    alice, bob = api.user("alice"), api.user("bob")
    a = api.grant(alice)
    bob_cookie, bob_me = api.signin(bob)
    r = api.call("POST", "/api/v1/api-keys", {"name": "bob's"}, cookie=bob_cookie,
                 headers={"Idempotency-Key": pysecrets.token_hex(8)})
    assert r.status_code == 201, r.text
    bob_key = r.json()
    assert_error(api.call("DELETE", f"/api/v1/sessions/{bob_me['session']}",
                          token=a["access_token"]), 404, "not_found")
    assert_error(api.call("DELETE", f"/api/v1/api-keys/{bob_key['id']}",
                          token=a["access_token"]), 404, "not_found")
    # Bob's session and key are untouched
    assert api.call("GET", "/api/v1/me", cookie=bob_cookie).status_code == 200
    r = api.call("GET", "/api/v1/api-keys", cookie=bob_cookie)
    assert [k["revoked_at"] for k in r.json()["api_keys"]] == [None]
    # Alice's token lists her own sessions only
    r = api.call("GET", "/api/v1/sessions", token=a["access_token"])
    assert r.status_code == 200 and r.json()["sessions"] == []
