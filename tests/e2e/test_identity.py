"""Identity JSON API end to end (A1–A6, H6, H8, U2): sign-up with the
verification mail delivered through a real SMTP sink, sign-in and the session
cookie, sessions list and revocation, identical failures, magic links, password
reset, replay, CSRF, per-address rate limits, schema refusals and a second
tenant trying to revoke the first one's sessions.

Every request carries its own X-Forwarded-For address (the server trusts
127.0.0.1 as a proxy), so the per-IP buckets of one test never starve another.
"""

import itertools
import json
import re
import secrets as pysecrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from e2e_util import assert_error, read_mails, wait_mail

COOKIE = "__Host-shiplog_session"
COOKIE_RE = re.compile(r"^__Host-shiplog_session=([A-Za-z0-9._-]+); Path=/; HttpOnly; Secure; "
                       r"SameSite=Lax; Max-Age=43200$")
EXPIRED_COOKIE = "__Host-shiplog_session=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0"
PASSWORD = "correct horse battery staple"
_ips = itertools.count(1)


def new_ip():
    n = next(_ips)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def new_email(tag="user"):
    return f"{tag}-{pysecrets.token_hex(6)}@example.com"


@pytest.fixture(scope="module")
def api(module_server_factory, sink):
    url, mail_dir = sink
    srv = module_server_factory.start(env={"SHIPLOG_SMTP_URL": url, "SHIPLOG_BCRYPT_COST": "10",
                                           "SHIPLOG_TRUSTED_PROXIES": "127.0.0.1/32"})
    return Api(srv, mail_dir, module_server_factory)


class Api:
    def __init__(self, srv, mail_dir, factory):
        self.srv = srv
        self.factory = factory
        self.mail_dir = mail_dir

    def call(self, method, path, body=None, *, cookie=None, ip=None, headers=None, raw=None):
        h = {"X-Forwarded-For": ip or new_ip()}
        if body is not None:
            h["Content-Type"] = "application/json"
        if cookie:
            h["Cookie"] = f"{COOKIE}={cookie}"
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.srv.request(method, path, data=data, headers=h)

    def mails(self, to):
        return read_mails(self.mail_dir, to)

    def wait_mail(self, to, subject_part, n=1):
        return wait_mail(self.mail_dir, to, subject_part, n)

    def token_in(self, text, page):
        m = re.search(re.escape(self.srv.base_url) + "/" + page + r"\?token=([A-Za-z0-9._-]+)", text)
        assert m, text
        return m.group(1)

    def signup(self, addr, password=PASSWORD, org="Acme Inc"):
        r = self.call("POST", "/api/v1/signup",
                      {"email": addr, "password": password, "organization": org})
        assert r.status_code == 201, r.text
        return r

    def verified_user(self, tag="user"):
        addr = new_email(tag)
        self.signup(addr)
        token = self.token_in(self.wait_mail(addr, "Confirm your e-mail"), "verify")
        assert self.call("POST", "/api/v1/verify-email", {"token": token}).status_code == 200
        return addr

    def signin(self, addr, password=PASSWORD, ip=None):
        r = self.call("POST", "/api/v1/session", {"email": addr, "password": password}, ip=ip)
        assert r.status_code == 200, r.text
        m = COOKIE_RE.match(r.headers["Set-Cookie"])
        assert m, r.headers["Set-Cookie"]
        return m.group(1), r.json()


def error_shape(r):
    body = r.json()
    body["error"].pop("support_id")
    return r.status_code, body


def test_signup_verify_signin_sessions_signout(api):
    addr = new_email()
    r = api.signup(addr)
    assert r.json() == {"status": "pending_verification",
                        "message": "Check your mailbox: we sent a link to confirm the address."}
    text = api.wait_mail(addr, "Confirm your e-mail")
    assert PASSWORD not in text
    token = api.token_in(text, "verify")
    assert api.call("POST", "/api/v1/verify-email", {"token": token}).json() == {"status": "verified"}
    assert_error(api.call("POST", "/api/v1/verify-email", {"token": token}), 400, "invalid_token")

    r = api.call("POST", "/api/v1/session", {"email": addr.upper(), "password": PASSWORD})
    assert r.status_code == 200, r.text
    set_cookie = r.headers["Set-Cookie"]
    m = COOKIE_RE.match(set_cookie)
    assert m, set_cookie
    cookie = m.group(1)
    me = r.json()
    assert me["email_verified"] is True and me["role"] == "super_admin"
    assert cookie not in r.text  # the id travels in the cookie only

    r = api.call("GET", "/api/v1/me", cookie=cookie)
    assert r.status_code == 200, r.text
    got = r.json()
    assert {k: got[k] for k in ("user_id", "tenant_id", "role", "email_verified", "session")} == {
        k: me[k] for k in ("user_id", "tenant_id", "role", "email_verified", "session")}
    # the organization's slug and the address of its public changelog feed
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", got["tenant_slug"]), got
    assert got["feed_url"] == f"{api.srv.base_url}/feed/{got['tenant_slug']}.json"
    assert set(got) == {"user_id", "tenant_id", "role", "email_verified", "session",
                        "tenant_slug", "feed_url"}

    r = api.call("GET", "/api/v1/sessions", cookie=cookie)
    assert r.status_code == 200, r.text
    sessions = r.json()["sessions"]
    assert [s["id"] for s in sessions] == [me["session"]] and sessions[0]["current"] is True

    r = api.call("DELETE", "/api/v1/session", cookie=cookie)
    assert r.status_code == 204 and r.headers["Set-Cookie"] == EXPIRED_COOKIE
    assert_error(api.call("GET", "/api/v1/sessions", cookie=cookie), 401, "unauthenticated")
    assert_error(api.call("DELETE", "/api/v1/session", cookie=cookie), 401, "unauthenticated")
    assert_error(api.call("GET", "/api/v1/sessions"), 401, "unauthenticated")
    assert_error(api.call("GET", "/api/v1/me", cookie=cookie), 401, "unauthenticated")


def test_revoke_all_signs_out_everywhere(api):
    addr = api.verified_user()
    c1, _ = api.signin(addr)
    c2, _ = api.signin(addr)
    r = api.call("POST", "/api/v1/sessions/revoke-all", {}, cookie=c1)
    assert r.status_code == 200 and r.json() == {"revoked": 2}, r.text
    for c in (c1, c2):
        assert_error(api.call("GET", "/api/v1/sessions", cookie=c), 401, "unauthenticated")


def test_failed_signins_are_identical(api):
    addr = new_email()
    api.signup(addr)
    wrong = api.call("POST", "/api/v1/session", {"email": addr, "password": "not the password!"})
    unknown = api.call("POST", "/api/v1/session", {"email": new_email("ghost"), "password": PASSWORD})
    for _ in range(6):  # lock the account
        api.call("POST", "/api/v1/session", {"email": addr, "password": "still not the password"})
    locked = api.call("POST", "/api/v1/session", {"email": addr, "password": PASSWORD})
    for r in (wrong, unknown, locked):
        assert_error(r, 401, "invalid_credentials")
        assert "Set-Cookie" not in r.headers
    assert error_shape(wrong) == error_shape(unknown) == error_shape(locked)


def test_taken_email_is_indistinguishable(api):
    addr = new_email("owner")
    fresh = api.signup(addr)
    api.wait_mail(addr, "Confirm your e-mail")
    taken = api.signup(addr, password="another long password", org="Evil Corp")
    assert taken.status_code == fresh.status_code == 201
    assert taken.content == fresh.content
    skip = {"date", "x-request-id", "ratelimit-reset"}
    assert ({k.lower() for k in taken.headers} - skip) == ({k.lower() for k in fresh.headers} - skip)
    notice = api.wait_mail(addr, "Someone tried to sign up")
    assert "another long password" not in notice and api.srv.base_url + "/reset" in notice
    assert len([m for m in api.mails(addr) if "Confirm" in m["Subject"]]) == 1
    # the owner's password still works; the attempt's does not
    api.signin(addr)
    assert_error(api.call("POST", "/api/v1/session",
                          {"email": addr, "password": "another long password"}),
                 401, "invalid_credentials")


def test_magic_link_by_token_and_by_code(api):
    addr = api.verified_user()
    r = api.call("POST", "/api/v1/magic-link", {"email": addr})
    ghost = api.call("POST", "/api/v1/magic-link", {"email": new_email("ghost")})
    assert r.status_code == ghost.status_code == 202 and r.content == ghost.content
    text = api.wait_mail(addr, "sign-in link")
    token = api.token_in(text, "magic")
    r = api.call("POST", "/api/v1/magic-link/consume", {"token": token})
    assert r.status_code == 200 and COOKIE_RE.match(r.headers["Set-Cookie"]), r.text
    assert_error(api.call("POST", "/api/v1/magic-link/consume", {"token": token}), 400,
                 "invalid_token")

    assert api.call("POST", "/api/v1/magic-link", {"email": addr}).status_code == 202
    text = api.wait_mail(addr, "sign-in link", n=2)
    code = re.search(r"code on the sign-in page: ([A-Z0-9]{8})", text).group(1)
    body = {"email": addr, "code": code}
    r = api.call("POST", "/api/v1/magic-link/consume", body)
    assert r.status_code == 200 and COOKIE_RE.match(r.headers["Set-Cookie"]), r.text
    assert_error(api.call("POST", "/api/v1/magic-link/consume", body), 400, "invalid_token")
    assert_error(api.call("POST", "/api/v1/magic-link/consume", {"token": token, "code": code}),
                 400, "validation_failed")


def test_password_reset(api):
    addr = api.verified_user()
    old_cookie, _ = api.signin(addr)
    r = api.call("POST", "/api/v1/password-reset", {"email": addr})
    ghost = api.call("POST", "/api/v1/password-reset", {"email": new_email("ghost")})
    assert r.status_code == ghost.status_code == 202 and r.content == ghost.content
    token = api.token_in(api.wait_mail(addr, "Reset your"), "reset")
    assert_error(api.call("POST", "/api/v1/password-reset/confirm",
                          {"token": token, "password": "short"}), 400, "validation_failed")
    new_pw = "a brand new passphrase"
    r = api.call("POST", "/api/v1/password-reset/confirm", {"token": token, "password": new_pw})
    assert r.status_code == 200, r.text
    assert_error(api.call("GET", "/api/v1/sessions", cookie=old_cookie), 401, "unauthenticated")
    assert_error(api.call("POST", "/api/v1/session", {"email": addr, "password": PASSWORD}), 401,
                 "invalid_credentials")
    api.signin(addr, new_pw)
    assert_error(api.call("POST", "/api/v1/password-reset/confirm",
                          {"token": token, "password": "yet another passphrase"}),
                 400, "invalid_token")
    for m in api.mails(addr):
        assert new_pw not in m.get_content() and PASSWORD not in m.get_content()


def test_csrf_and_media_types(api):
    addr = api.verified_user()
    cookie, _ = api.signin(addr)
    r = api.call("DELETE", "/api/v1/session", cookie=cookie, headers={"Sec-Fetch-Site": "cross-site"})
    assert_error(r, 403, "csrf_refused")
    r = api.call("DELETE", "/api/v1/session", cookie=cookie,
                 headers={"Origin": "https://evil.example"})
    assert_error(r, 403, "csrf_refused")
    r = api.call("POST", "/api/v1/sessions/revoke-all", cookie=cookie, raw="x=1",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 415)
    r = api.call("POST", "/api/v1/session", raw=f"email={addr}&password=x",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 415)
    # the session survived every refusal; same-origin requests pass
    r = api.call("DELETE", "/api/v1/session", cookie=cookie,
                 headers={"Origin": api.srv.base_url, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 204, r.text


def test_login_rate_limit_per_email(api):
    addr = new_email("target")
    for _ in range(10):  # 10 per 15 minutes per address, each from another IP
        r = api.call("POST", "/api/v1/session", {"email": addr, "password": "guess guess guess"})
        assert r.status_code == 401, r.text
    r = api.call("POST", "/api/v1/session", {"email": addr.upper(), "password": "guess guess"})
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1 and r.headers["RateLimit-Remaining"] == "0"
    # another address from the same kind of client is not affected
    r = api.call("POST", "/api/v1/session", {"email": new_email(), "password": "guess guess"})
    assert r.status_code == 401


def test_api_rate_limit_is_per_tenant_across_addresses(api):
    """RL_API counts per client IP and per tenant: a tenant calling from a new
    address each time still gets 600 calls a minute; another tenant is not
    affected."""
    c1, _ = api.signin(api.verified_user("t1a"))
    c2, _ = api.signin(api.verified_user("t1b"))  # another organization: its own tenant
    # 600 calls, each from a new client IP, sent by 8 threads so that they all
    # fall in one window even on a slow (sanitizer) build; then one more
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(
            lambda _: api.call("GET", "/api/v1/sessions", cookie=c1).status_code, range(600)))
    r = api.call("GET", "/api/v1/sessions", cookie=c1)
    assert time.monotonic() - started < 55, "too slow to stay within the 1-minute window"
    assert codes == [200] * 600, sorted(set(codes))
    assert_error(r, 429, "rate_limited")
    assert r.headers["RateLimit-Limit"] == "600" and int(r.headers["Retry-After"]) >= 1
    assert api.call("GET", "/api/v1/sessions", cookie=c2).status_code == 200


def test_idempotent_post_is_replayed_not_repeated(api):
    """H7: a signed-in POST with Idempotency-Key runs once; a retry gets the
    first response again (no second mail), another request under the same key
    is 422, and the key is per user; without the header every call runs."""
    addr = new_email("idem")
    api.signup(addr)
    cookie, _ = api.signin(addr)  # unverified: the resend has something to do
    key = {"Idempotency-Key": "resend-" + pysecrets.token_hex(8)}
    first = api.call("POST", "/api/v1/verify-email/resend", {}, cookie=cookie, headers=key)
    assert first.status_code == 202 and first.json()["status"] == "sent", first.text
    assert "Idempotent-Replayed" not in first.headers
    api.wait_mail(addr, "Confirm your e-mail", n=2)
    again = api.call("POST", "/api/v1/verify-email/resend", {}, cookie=cookie, headers=key)
    assert again.status_code == 202 and again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    other = api.call("POST", "/api/v1/verify-email/resend", raw='{ }', cookie=cookie,
                     headers={**key, "Content-Type": "application/json"})
    assert_error(other, 422, "idempotency_key_reused")
    assert_error(api.call("POST", "/api/v1/verify-email/resend", {}, cookie=cookie,
                          headers={"Idempotency-Key": "x" * 256}), 400, "invalid_idempotency_key")
    # the same key string of another user is another key
    addr2 = new_email("idem2")
    api.signup(addr2)
    cookie2, _ = api.signin(addr2)
    r = api.call("POST", "/api/v1/verify-email/resend", {}, cookie=cookie2, headers=key)
    assert r.status_code == 202 and "Idempotent-Replayed" not in r.headers
    # only the first call with the key mailed: two mails to addr in all (sign-up + resend)
    assert len([m for m in api.mails(addr) if "Confirm" in m["Subject"]]) == 2
    assert api.call("POST", "/api/v1/verify-email/resend", {}, cookie=cookie).status_code == 202
    api.wait_mail(addr, "Confirm your e-mail", n=3)


def test_schema_refusals(api):
    r = api.call("POST", "/api/v1/signup", {"email": new_email(), "password": PASSWORD,
                                            "organization": "Acme", "role": "admin"})
    assert_error(r, 400, "validation_failed")
    long_addr = "a" * (255 - len("@example.com")) + "@example.com"
    assert len(long_addr) == 255
    r = api.call("POST", "/api/v1/password-reset", {"email": long_addr})
    assert_error(r, 400, "validation_failed")
    r = api.call("POST", "/api/v1/signup", {"email": new_email(), "password": PASSWORD,
                                            "organization": "x" * 101})
    assert_error(r, 400, "validation_failed")
    r = api.call("POST", "/api/v1/verify-email", {"token": "t" * 129})
    assert_error(r, 400, "validation_failed")
    r = api.call("POST", "/api/v1/session", {"email": new_email()})
    assert_error(r, 400, "validation_failed")
    r = api.call("POST", "/api/v1/magic-link/consume", {"email": new_email(), "code": "A" * 9})
    assert_error(r, 400, "validation_failed")
    r = api.call("POST", "/api/v1/session", {"email": new_email(), "password": "p" * 4097})
    assert r.status_code == 400 and r.json()["error"]["code"] in ("invalid_json", "validation_failed")
    r = api.call("POST", "/api/v1/sessions/revoke-all", {"all": True}, cookie="x")
    assert_error(r, 401, "unauthenticated")


def test_second_tenant_cannot_revoke_first_tenants_sessions(api):
    a = api.verified_user("alice")
    b = api.verified_user("bob")
    ca, me_a = api.signin(a)
    cb, me_b = api.signin(b)
    assert me_a["tenant_id"] != me_b["tenant_id"]
    r = api.call("DELETE", f"/api/v1/sessions/{me_a['session']}", cookie=cb)
    assert_error(r, 404, "not_found")
    assert_error(api.call("DELETE", "/api/v1/sessions/nothex", cookie=cb), 404)
    assert api.call("GET", "/api/v1/sessions", cookie=ca).status_code == 200
    listed = api.call("GET", "/api/v1/sessions", cookie=cb).json()["sessions"]
    assert me_a["session"] not in [s["id"] for s in listed]
    # the owner can revoke it
    r = api.call("DELETE", f"/api/v1/sessions/{me_a['session']}", cookie=ca)
    assert r.status_code == 204 and r.headers["Set-Cookie"] == EXPIRED_COOKIE
    assert_error(api.call("GET", "/api/v1/sessions", cookie=ca), 401, "unauthenticated")


def test_audit_events_carry_ip_and_request_id(api):
    addr = new_email()
    ip = new_ip()
    api.call("POST", "/api/v1/signup",
             {"email": addr, "password": PASSWORD, "organization": "Audited"}, ip=ip)
    r = api.call("POST", "/api/v1/session", {"email": addr, "password": PASSWORD}, ip=ip)
    assert r.status_code == 200, r.text
    tenant, rid = r.json()["tenant_id"], r.headers["X-Request-Id"]
    res = api.factory.run_cli(["audit", "export", "--tenant", tenant,
                               "--data", str(api.srv.data_dir)])
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    signin = [e for e in events if "auth.signin" in json.dumps(e)]
    assert signin, events
    assert ip in json.dumps(signin[-1]) and rid in json.dumps(signin[-1])
    signup = [e for e in events if "auth.signup" in json.dumps(e)]
    assert signup and ip in json.dumps(signup[-1])


def _key_call(api, method, path, key, body=None, headers=None):
    h = {"Authorization": f"Bearer {key}"}
    h.update(headers or {})
    return api.call(method, path, body, headers=h)


def test_api_keys(api):
    """A7/Z3: a key is shown once and listed by prefix only; by default it has
    content:read only, which does not open the key routes (keys:write does);
    a key cannot widen its scopes; revoked or tampered keys get one 401; a
    key never works on session-only routes; another organization's key id is
    404; creation needs an Idempotency-Key and replays the same answer."""
    cookie, _ = api.signin(api.verified_user("keys"))
    idem = {"Idempotency-Key": "k-" + pysecrets.token_hex(6)}
    assert_error(api.call("POST", "/api/v1/api-keys", {"name": "ci"}, cookie=cookie), 400,
                 "idempotency_key_required")
    r = api.call("POST", "/api/v1/api-keys", {"name": "ci"}, cookie=cookie, headers=idem)
    assert r.status_code == 201, r.text
    plain = r.json()
    assert plain["scopes"] == ["content:read"] and plain["key"].startswith("shk_")
    assert plain["key"].startswith(plain["prefix"][:4]) and plain["expires_at"] is None
    again = api.call("POST", "/api/v1/api-keys", {"name": "ci"}, cookie=cookie, headers=idem)
    assert again.json()["id"] == plain["id"] and again.headers["Idempotent-Replayed"] == "true"

    r = api.call("POST", "/api/v1/api-keys", {"name": "admin", "scopes": ["keys:write",
                                                                        "content:read"]},
                 cookie=cookie, headers={"Idempotency-Key": pysecrets.token_hex(8)})
    assert r.status_code == 201, r.text
    writer = r.json()
    listed = api.call("GET", "/api/v1/api-keys", cookie=cookie).json()["api_keys"]
    assert {k["id"] for k in listed} == {plain["id"], writer["id"]}
    assert plain["key"] not in json.dumps(listed) and writer["key"] not in json.dumps(listed)

    # content:read alone opens no key route; keys:write does; no key opens /me
    assert_error(_key_call(api, "GET", "/api/v1/api-keys", plain["key"]), 403,
                 "permission_denied")
    assert _key_call(api, "GET", "/api/v1/api-keys", writer["key"]).status_code == 200
    assert_error(_key_call(api, "GET", "/api/v1/me", writer["key"]), 403, "permission_denied")
    # a key cannot make a key wider than itself
    r = _key_call(api, "POST", "/api/v1/api-keys", writer["key"],
                  {"name": "wider", "scopes": ["members:write"]},
                  headers={"Idempotency-Key": pysecrets.token_hex(8)})
    assert_error(r, 403, "permission_denied")
    # unknown scope, and one byte past the name limit
    r = api.call("POST", "/api/v1/api-keys", {"name": "x", "scopes": ["root"]}, cookie=cookie,
                 headers={"Idempotency-Key": pysecrets.token_hex(8)})
    assert_error(r, 400, "validation_failed")
    r = api.call("POST", "/api/v1/api-keys", {"name": "n" * 101}, cookie=cookie,
                 headers={"Idempotency-Key": pysecrets.token_hex(8)})
    assert_error(r, 400, "validation_failed")

    # tampered, unknown and malformed credentials: one answer
    tampered = writer["key"][:-1] + ("A" if writer["key"][-1] != "A" else "B")
    for bad in (tampered, "shk_nothing", "not-a-key", writer["key"] + " extra"):
        r = _key_call(api, "GET", "/api/v1/api-keys", bad)
        assert_error(r, 401, "invalid_token")
        assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'

    # another organization cannot revoke it: 404, and the key keeps working
    other, _ = api.signin(api.verified_user("keys-other"))
    assert_error(api.call("DELETE", f"/api/v1/api-keys/{writer['id']}", cookie=other), 404)
    assert _key_call(api, "GET", "/api/v1/api-keys", writer["key"]).status_code == 200
    # revoked: refused at once
    assert api.call("DELETE", f"/api/v1/api-keys/{writer['id']}", cookie=cookie).status_code == 204
    assert_error(_key_call(api, "GET", "/api/v1/api-keys", writer["key"]), 401, "invalid_token")


def test_permission_denials_are_audited(api):
    """Z2: a refused permission check is an audit event in the caller's
    organization: action authz.denied, outcome denied, the key as actor, the
    route and the permission, the client address."""
    cookie, me = api.signin(api.verified_user("z2"))
    r = api.call("POST", "/api/v1/api-keys", {"name": "reader"}, cookie=cookie,
                 headers={"Idempotency-Key": pysecrets.token_hex(8)})
    assert r.status_code == 201, r.text
    key = r.json()
    ip = new_ip()
    r = api.call("GET", "/api/v1/api-keys", headers={"Authorization": f"Bearer {key['key']}"},
                 ip=ip)
    assert_error(r, 403, "permission_denied")
    res = api.factory.run_cli(["audit", "export", "--tenant", me["tenant_id"],
                               "--data", str(api.srv.data_dir)])
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    denied = [e for e in events if e.get("action") == "authz.denied"]
    assert len(denied) == 1, events
    d = json.dumps(denied[0])
    assert denied[0]["outcome"] == "denied" and denied[0]["actor_type"] == "api_key"
    assert denied[0]["actor_id"] == key["id"]
    assert key["id"] in d and ip in d and "account.self" in d and "/api/v1/api-keys" in d
    assert key["key"] not in res.stdout
