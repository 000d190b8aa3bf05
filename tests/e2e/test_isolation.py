"""Tenant isolation (T4, T5) and the role table (Z1, Z3), walked over every
registered route, on both backends.

The routes come from the server's own tables (`shiplog permissions --json`,
the same tables docs/PERMISSIONS.md is generated from), so every route added
later is tried here without anyone touching this file, except to say which
kind of object a new path parameter names (PARAM_KINDS) or what body a new
POST needs to get past validation (BODIES); the suite fails until then.

Isolation: two organizations, A and B, each with users of every role,
sessions, API keys, invitations and access tokens. Every signed-in route is
called with A's session, A's API key and A's access tokens (from a password
and from a key), with B's ids in
the path: each attempt must be 404 (or the 403 that the credential gets on
that route whatever the id, e.g. an API key on a session-only route), no
answer may carry anything of B's, and B's rows in every table of the
database are byte-identical afterwards.

Roles: every signed-in route is called by a user of each role, with a
session, with an API key holding every scope the role allows, and with an
access token made from each; a route the table denies must answer 403 permission_denied and
one it allows anything else.
"""

import json
import re
import secrets as pysecrets
import sqlite3
import subprocess
import time
import uuid

import lz4.block
import pytest

from e2e_util import wait_mail
from test_activity import PUSH, deliver
from test_console import Page

PASSWORD = "correct horse battery staple"
COOKIE = "__Host-shiplog_session"
PRE = "__Host-shiplog_pre"
ROLES = ["member", "editor", "admin", "super_admin"]
# the credentials a caller can present: a session cookie, an API key, an
# access token from e-mail and password, and an access token made from a key
KINDS = ["session", "key", "token", "key_token"]

# The kind of object each path parameter names, by the path segment before it.
PARAM_KINDS = {
    "sessions": "session",
    "api-keys": "api_key",
    "keys": "api_key",
    "members": "member",
    "invitations": "invitation",
    "integrations": "integration",
    "deliveries": "delivery",
    "jobs": "job",
    "repositories": "repository",
    "drafts": "draft",
    "endpoints": "endpoint",
}

# Query parameters that name objects, per route (method path): parameter ->
# kind. The cross-tenant walk sends B's ids in them too; a listing filtered
# by another organization's id must show nothing of it.
QUERIES = {
    "GET /api/v1/commits": {"repo_id": "repository"},
    "GET /api/v1/pull-requests": {"repo_id": "repository"},
    "GET /api/v1/deployments": {"repo_id": "repository"},
}

# A body that passes validation, per route (method path); JSON unless the
# route is a console page (a form: the CSRF token is added). Routes not listed
# get {} (JSON) or only the token (form).
BODIES = {
    "POST /api/v1/api-keys": {"name": "probe"},
    "POST /api/v1/invitations": {"email": "probe@example.com", "role": "member"},
    "POST /api/v1/members/{id}/role": {"role": "member"},
    "POST /account/keys": {"name": "probe", "expires": "30", "scope-content:read": "1"},
    "POST /members/{id}/role": {"role": "member"},
    "POST /members/invite": {"email": "probe@example.com", "role": "member"},
    "POST /api/v1/integrations": {"provider": "github", "name": "probe"},
    "POST /integrations": {"name": "probe", "provider": "gitlab", "repository_scope": "*"},
    "PUT /api/v1/settings/ingest": {"retention_days": 90, "bot_patterns": []},
    "PATCH /api/v1/drafts/{id}": {"version": 1, "title": "probe"},
    "PUT /api/v1/settings/rules": {"fallback": "fix"},
    # a name that never resolves: test events queued by the walk fail fast
    "POST /api/v1/endpoints": {"url": "https://hooks.example.invalid/shiplog"},
    "POST /drafts/{id}": {"version": "1", "title": "probe", "body": "", "category": "fix",
                          "audience": "everyone", "labels": ""},
    "POST /drafts/{id}/reject": {"version": "1", "note": "probe"},
    "POST /drafts/{id}/publish": {"version": "1", "publish_at": "2100-01-01T00:00"},
    "PUT /api/v1/settings/llm": {"provider": "none", "monthly_token_budget": 0},
}

_ips = iter(range(1, 1 << 24))


def new_ip():
    n = next(_ips)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def new_email(tag):
    return f"{tag}-{pysecrets.token_hex(6)}@example.com"


@pytest.fixture(scope="module")
def tables(module_server_factory):
    res = module_server_factory.run_cli(["permissions", "--json"], use_backend=False)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def srv(module_server_factory, sink):
    url, mail_dir = sink
    s = module_server_factory.start(env={"SHIPLOG_SMTP_URL": url, "SHIPLOG_BCRYPT_COST": "10",
                                         "SHIPLOG_TRUSTED_PROXIES": "127.0.0.1/32"})
    s.mail_dir = mail_dir
    s.factory = module_server_factory
    return s


# ---- clients ------------------------------------------------------------------------


class Cred:
    """One way of calling as a user: a session (cookie + CSRF token), an API
    key or an access token. renew() makes a fresh one after a call ended it."""

    def __init__(self, user, kind):
        self.user, self.kind = user, kind
        self.renew()

    def renew(self):
        u = self.user
        if self.kind == "session":
            self.cookies = {COOKIE: u.org.cookie(u.email)}
            self.csrf = None
        elif self.kind in ("key", "key_token"):
            allowed = set(u.org.tables["roles_scopes"][u.role]) | {"keys:write"}
            r = u.org.call("POST", "/api/v1/api-keys",
                           {"name": f"{u.role}-all", "scopes": sorted(allowed)},
                           cookie=u.org.cookie(u.email), idem=True)
            assert r.status_code == 201, r.text
            self.secret, self.key_id = r.json()["key"], r.json()["id"]
            if self.kind == "key_token":  # an access token made from the key: acts as the key
                r = u.org.call("POST", "/api/v1/auth/token",
                               {"grant_type": "api_key", "api_key": self.secret})
                assert r.status_code == 200, r.text
                self.secret = r.json()["access_token"]
        else:
            r = u.org.call("POST", "/api/v1/auth/token",
                           {"grant_type": "password", "email": u.email, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self.secret = r.json()["access_token"]

    def headers(self):
        if self.kind == "session":
            return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        return {"Authorization": f"Bearer {self.secret}"}

    def alive(self):
        path = "/api/v1/me" if self.kind in ("session", "token") else "/api/v1/api-keys"
        return self.user.org.raw("GET", path, headers=self.headers()).status_code == 200

    def form_token(self):
        """The console's CSRF token for this session (from a page's form)."""
        if self.csrf is None:
            r = self.user.org.raw("GET", "/account/sessions", headers=self.headers())
            assert r.status_code == 200, r.text
            self.csrf = Page(r.text).form("/logout")["fields"]["csrf"]["value"]
        return self.csrf


class User:
    def __init__(self, org, email, role, user_id):
        self.org, self.email, self.role, self.id = org, email, role, user_id


class Org:
    """An organization: its owner signed up; a user of every other role invited."""

    def __init__(self, srv, tables, tag):
        self.srv, self.tables, self.tag = srv, tables, tag
        self._cookies = {}
        owner = new_email(f"{tag}-owner")
        r = self.call("POST", "/api/v1/signup",
                      {"email": owner, "password": PASSWORD, "organization": f"Org {tag}"})
        assert r.status_code == 201, r.text
        token = self.token_in(wait_mail(srv.mail_dir, owner, "Confirm your e-mail"), "verify")
        assert self.call("POST", "/api/v1/verify-email", {"token": token}).status_code == 200
        me = self.call("GET", "/api/v1/me", cookie=self.cookie(owner)).json()
        self.id = me["tenant_id"]
        self.users = {"super_admin": User(self, owner, "super_admin", me["user_id"])}
        for role in ("admin", "editor", "member"):
            self.users[role] = self.invite(role)

    # plumbing
    def raw(self, method, path, data=None, headers=None):
        h = {"X-Forwarded-For": new_ip()}
        h.update(headers or {})
        return self.srv.request(method, path, data=data, headers=h, allow_redirects=False)

    def call(self, method, path, body=None, *, cookie=None, idem=False, headers=None):
        h = dict(headers or {})
        if body is not None:
            h["Content-Type"] = "application/json"
        if cookie:
            h["Cookie"] = f"{COOKIE}={cookie}"
        if idem:
            h["Idempotency-Key"] = pysecrets.token_hex(8)
        return self.raw(method, path, json.dumps(body) if body is not None else None, h)

    def token_in(self, text, page):
        m = re.search(re.escape(self.srv.base_url) + "/" + page + r"\?token=([A-Za-z0-9._-]+)",
                      text)
        assert m, text
        return m.group(1)

    def signin(self, email):
        r = self.call("POST", "/api/v1/session", {"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return r.cookies.get(COOKIE) or re.match(COOKIE + r"=([^;]+)",
                                                 r.headers["Set-Cookie"]).group(1)

    def cookie(self, email):
        """A live session of email's, signing in only when the last one ended
        (sign-in is rate limited per address)."""
        c = self._cookies.get(email)
        if c is None or self.call("GET", "/api/v1/me", cookie=c).status_code != 200:
            c = self._cookies[email] = self.signin(email)
        return c

    def owner_cookie(self):
        return self.cookie(self.users["super_admin"].email)

    def invite(self, role):
        email = new_email(f"{self.tag}-{role}")
        r = self.call("POST", "/api/v1/invitations", {"email": email, "role": role},
                      cookie=self.owner_cookie(), idem=True)
        assert r.status_code == 201, r.text
        token = self.token_in(wait_mail(self.srv.mail_dir, email, "invit"), "invite")
        r = self.call("POST", "/api/v1/invitations/accept", {"token": token, "password": PASSWORD})
        assert r.status_code in (200, 201), r.text
        me = self.call("GET", "/api/v1/me", cookie=self.cookie(email)).json()
        assert me["role"] == role and me["tenant_id"] == self.id, me
        return User(self, email, role, me["user_id"])

    # the objects of the organization, by kind: ids an attacker could aim at
    def objects(self):
        cookie = self.owner_cookie()
        for u in self.users.values():  # every user has a session and a key at least
            c = self.cookie(u.email)
            r = self.call("POST", "/api/v1/api-keys", {"name": f"{u.role} key"}, cookie=c,
                          idem=True)
            assert r.status_code == 201, r.text
        pending = new_email(f"{self.tag}-pending")
        r = self.call("POST", "/api/v1/invitations", {"email": pending, "role": "editor"},
                      cookie=cookie, idem=True)
        assert r.status_code == 201, r.text
        wait_mail(self.srv.mail_dir, pending, "invit")  # the outbox is done with it
        r = self.call("POST", "/api/v1/auth/token", {"grant_type": "password",
                                                     "email": self.users["member"].email,
                                                     "password": PASSWORD})
        assert r.status_code == 200, r.text
        for provider in ("github", "gitlab"):
            r = self.call("POST", "/api/v1/integrations", {"provider": provider, "name": provider},
                          cookie=cookie, idem=True)
            assert r.status_code == 201, r.text
            if provider == "github":  # a delivery, so that there are rows and a job
                deliver(self.srv, r.json(), "push", PUSH)
        for _ in range(200):
            jobs = self.call("GET", "/api/v1/jobs", cookie=cookie).json()["jobs"]
            if jobs and all(j["status"] == "done" for j in jobs):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"organization {self.tag}: the delivery was not processed")
        # an outbound endpoint (no event: a retrying delivery would change rows on its own)
        r = self.call("POST", "/api/v1/endpoints", {"url": "https://hooks.example.invalid/x"},
                      cookie=cookie, idem=True)
        assert r.status_code == 201, r.text
        r = self.call("POST", "/api/v1/api-keys", {"name": "for tokens"}, cookie=cookie, idem=True)
        assert r.status_code == 201, r.text
        r = self.call("POST", "/api/v1/auth/token", {"grant_type": "api_key",
                                                     "api_key": r.json()["key"]})
        assert r.status_code == 200, r.text
        ids = {
            "session": [s["id"] for s in self.call("GET", "/api/v1/sessions",
                                                    cookie=cookie).json()["sessions"]],
            "api_key": [k["id"] for k in self.call("GET", "/api/v1/api-keys",
                                                    cookie=cookie).json()["api_keys"]],
            "member": [m["id"] for m in self.call("GET", "/api/v1/members",
                                                   cookie=cookie).json()["members"]],
            "invitation": [i["id"] for i in self.call("GET", "/api/v1/invitations",
                                                       cookie=cookie).json()["invitations"]],
            "integration": [i["id"] for i in self.call("GET", "/api/v1/integrations",
                                                        cookie=cookie).json()["integrations"]],
            "delivery": [d["id"] for d in self.call("GET", "/api/v1/deliveries",
                                                     cookie=cookie).json()["deliveries"]],
            "job": [j["id"] for j in self.call("GET", "/api/v1/jobs",
                                                cookie=cookie).json()["jobs"]],
            "repository": [r["id"] for r in self.call("GET", "/api/v1/repositories",
                                                       cookie=cookie).json()["repositories"]],
            # the push went to the default branch: its commit is a draft entry
            "draft": [d["id"] for d in self.call("GET", "/api/v1/drafts",
                                                  cookie=cookie).json()["drafts"]],
            "endpoint": [e["id"] for e in self.call("GET", "/api/v1/endpoints",
                                                     cookie=cookie).json()["endpoints"]],
        }
        for kind, found in ids.items():
            assert found, f"organization {self.tag} has no {kind}"
        return ids


@pytest.fixture(scope="module")
def world(srv, tables):
    # roles -> the scopes a key of that role may hold (from the permission table)
    roles_scopes = {r: set() for r in ROLES}
    for p in tables["permissions"].values():
        for r in p["roles"]:
            roles_scopes[r].update(p["scopes"])
    tables["roles_scopes"] = roles_scopes
    a, b = Org(srv, tables, "a"), Org(srv, tables, "b")
    return a, b, b.objects()


# ---- the database, read behind the server's back ----------------------------------


def unpacked_body(stored, encoding):
    """A webhook delivery's body as text from its stored bytes (body_encoding
    'lz4': a 4-byte little-endian length and one LZ4 block, src/core/pack.h)."""
    raw = bytes(stored)
    return (lz4.block.decompress(raw) if encoding == "lz4" else raw).decode()


def tenant_rows(srv, tenant_id):
    """Every row of every table that belongs to tenant_id (tenant_id column,
    or the tenants row itself), as sorted text: the whole of its data, with
    stored webhook bodies unpacked (so a search of the text sees them)."""
    url = srv.factory.backend_env.get("SHIPLOG_MIGRATE_DATABASE_URL")
    out = {}
    if url is None:
        db = sqlite3.connect(f"file:{srv.data_dir / 'shiplog.db'}?mode=ro", uri=True)
        try:
            names = [r[0] for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
            for t in names:
                cols = [r[1] for r in db.execute(f'PRAGMA table_info("{t}")')]
                col = "tenant_id" if "tenant_id" in cols else ("id" if t == "tenants" else None)
                if col:
                    cur = db.execute(f'SELECT * FROM "{t}" WHERE "{col}" = ?', (tenant_id,))
                    rows = [dict(zip([d[0] for d in cur.description], r)) for r in cur]
                    for r in rows:
                        if "body_encoding" in r:
                            r["body"] = unpacked_body(r["body"], r["body_encoding"])
                    out[t] = sorted(repr(tuple(r.values())) for r in rows)
        finally:
            db.close()
        return out
    q = ("SELECT table_name, column_name FROM information_schema.columns "
         "WHERE table_schema = 'public' AND (column_name = 'tenant_id' OR "
         "(table_name = 'tenants' AND column_name = 'id'))")
    listing = subprocess.run(["psql", "-X", "-At", "-F", "|", "-d", url, "-c", q],
                             capture_output=True, text=True, check=True).stdout
    for line in sorted(set(listing.splitlines())):
        t, col = line.split("|")
        rows = subprocess.run(  # psql interpolates :'tid' only in its input, not in -c
            ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-v", f"tid={tenant_id}", "-d", url],
            input=f'SELECT row_to_json(x)::text FROM "{t}" x WHERE "{col}" = :\'tid\';\n',
            capture_output=True, text=True, check=True).stdout
        if t == "webhook_deliveries":
            docs = [json.loads(line) for line in rows.splitlines()]
            for d in docs:  # bytea comes as "\\x" and hex digits
                d["body"] = unpacked_body(bytes.fromhex(d["body"][2:]), d["body_encoding"])
            rows = "\n".join(json.dumps(d) for d in docs)
        out[t] = sorted(rows.splitlines())
    return out


def settled_rows(srv, tenant_id):
    """tenant_rows once nothing moves any more (the outbox marks a mail sent
    just after the sink has it)."""
    prev = tenant_rows(srv, tenant_id)
    for _ in range(50):
        time.sleep(0.1)
        cur = tenant_rows(srv, tenant_id)
        if cur == prev:
            return cur
        prev = cur
    raise AssertionError("the organization's rows keep changing on their own")


# ---- calling a route ----------------------------------------------------------------


def routes_of(tables, *, console=None):
    for r in tables["routes"]:
        if r["access"] != "authenticated":
            continue
        if console is not None and r["console"] != console:
            continue
        yield r


def param_kinds(path):
    kinds = []
    segs = path.strip("/").split("/")
    for i, s in enumerate(segs):
        if s.startswith("{"):
            assert i > 0 and segs[i - 1] in PARAM_KINDS, (
                f"{path}: say in PARAM_KINDS which object {s} names")
            kinds.append(PARAM_KINDS[segs[i - 1]])
    return kinds


def fill(path, ids):
    it = iter(ids)
    return re.sub(r"\{[a-z_]+\}", lambda _m: next(it), path)


def query_of(route, ids):
    """The route's object-naming query parameters filled with ids (by kind), or ""."""
    params = QUERIES.get(f"{route['method']} {route['path']}")
    if not params:
        return ""
    from urllib.parse import urlencode
    return "?" + urlencode({name: ids[kind][0] for name, kind in params.items()})


def attempt(org, route, cred, path):
    key = f"{route['method']} {route['path']}"
    sample = BODIES.get(key, {})
    headers = cred.headers()
    data = None
    if route["console"]:
        if route["method"] == "POST":
            from urllib.parse import urlencode
            data = urlencode(dict(sample, csrf=cred.form_token()))
            headers.update({"Content-Type": "application/x-www-form-urlencoded",
                            "Origin": org.srv.base_url, "Sec-Fetch-Site": "same-origin"})
    elif route["method"] in ("POST", "PUT", "PATCH"):
        data = json.dumps(sample)
        headers.update({"Content-Type": "application/json",
                        "Idempotency-Key": pysecrets.token_hex(8)})
    return org.raw(route["method"], path, data, headers)


def denied(r):
    if r.status_code != 403:
        return False
    if r.headers.get("Content-Type", "").startswith("application/json"):
        return r.json()["error"]["code"] == "permission_denied"
    return "permission_denied" in r.text


def reaches(tables, route, cred):
    """Whether the permission table lets cred call route at all."""
    perm = tables["permissions"][route["permission"]]
    role = cred.user.role
    if cred.kind in ("key", "key_token"):
        if route["console"]:
            return False
        scopes = tables["roles_scopes"][role] | {"keys:write"}
        if route["keys_route"]:
            return True  # keys:write, which every test key holds
        return role in perm["roles"] and bool(set(perm["scopes"]) & scopes)
    if cred.kind == "token" and route["console"]:
        return False
    return role in perm["roles"]


# ---- the suites ---------------------------------------------------------------------


def test_every_route_is_covered(tables):
    """A path parameter of an unknown kind fails here first, with a message."""
    n = 0
    for r in routes_of(tables):
        param_kinds(r["path"])
        n += 1
    assert n >= 10, n


def test_cross_tenant_ids_are_404_and_change_nothing(srv, tables, world):
    a, b, b_ids = world
    before = settled_rows(srv, b.id)
    for table in ("users", "sessions", "api_keys", "invitations", "token_families",
                  "refresh_tokens", "integrations", "webhook_deliveries", "repositories",
                  "commits", "jobs", "changelog_entries", "changelog_versions",
                  "outbound_endpoints"):
        assert before.get(table), f"B has no {table} rows to protect"
    b_secrets = {b.id} | {u.email for u in b.users.values()} | {
        i for ids in b_ids.values() for i in ids}
    # a Super Admin of A per kind of credential, so that one signing out
    # everywhere does not end the others (sign-in is rate limited per address)
    creds = [Cred(a.invite("super_admin"), k) for k in KINDS]
    tried = 0
    for route in routes_of(tables):
        kinds = param_kinds(route["path"])
        targets = [[]]
        if kinds:
            targets = [[b_ids[k][i % len(b_ids[k])] for k in kinds]
                       for i in range(max(len(b_ids[k]) for k in kinds))]
        for cred in creds:
            if cred.kind != "session" and route["console"]:
                continue  # the console is cookie-only
            for ids in targets:
                path = fill(route["path"], ids) + query_of(route, b_ids)
                r = attempt(a, route, cred, path)
                tried += 1
                where = f"{cred.kind} {route['method']} {path}"
                leaked = [s for s in b_secrets if s in r.text]
                assert not leaked, f"{where}: answer carries B's {leaked}: {r.text[:300]}"
                if kinds:
                    ok = r.status_code == 404 or (denied(r) and not reaches(tables, route, cred))
                    assert ok, f"{where}: {r.status_code} {r.text[:300]}"
                if r.status_code < 400:  # it may have signed A out (sign-out, revoke-all)
                    for c in creds:
                        if not c.alive():
                            c.renew()
    assert tried > 40, tried
    after = tenant_rows(srv, b.id)
    changed = {t: (sorted(set(before.get(t, [])) - set(after.get(t, []))),
                   sorted(set(after.get(t, [])) - set(before.get(t, []))))
               for t in set(before) | set(after) if before.get(t) != after.get(t)}
    assert not changed, f"B's data changed (table: (rows gone, rows new)): {changed}"
    # and the snapshot does see a change when B's owner makes one
    r = b.call("DELETE", f"/api/v1/api-keys/{b_ids['api_key'][0]}", cookie=b.owner_cookie())
    assert r.status_code == 204, r.text
    assert tenant_rows(srv, b.id)["api_keys"] != after["api_keys"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_role_gets_what_the_table_says(srv, tables, world, kind):
    # an organization of its own: sign-in is rate limited per address, and
    # the routes that sign out make the suite sign in again
    a = Org(srv, tables, f"roles-{kind}")
    mismatches, tried = [], 0
    for role in ROLES:
        cred = Cred(a.users[role], kind)
        for route in routes_of(tables):
            if route["console"] and kind != "session":
                continue
            path = fill(route["path"], [str(uuid.uuid4()) for _ in param_kinds(route["path"])])
            r = attempt(a, route, cred, path)
            tried += 1
            want = reaches(tables, route, cred)
            if denied(r) == want or r.status_code == 401 or r.status_code >= 500:
                mismatches.append(f"{role} {kind} {route['method']} {route['path']}: "
                                  f"{r.status_code} (table says {'allow' if want else 'deny'})")
            if r.status_code < 400 and not cred.alive():
                cred.renew()
    assert not mismatches, "\n".join(mismatches)
    assert tried >= 4 * 10


def test_public_feed_shows_one_tenant_only(srv, world):
    """The public feed (no session) of A names only A's published entries for
    everyone and developers; B's entries, and B's entry ids as A's cursor, are
    never answered from A's feed; a session of A changes nothing."""
    from feed_util import seed, slug_of
    a, b, _ = world
    f = srv.factory
    a_slug, b_slug = slug_of(f, srv, a.id), slug_of(f, srv, b.id)
    mine = seed(f, srv, a.id, [{"title": "A's public entry"}])
    theirs = seed(f, srv, b.id, [{"title": "B-SECRET published"},
                                 {"title": "B-SECRET internal", "audience": "internal"},
                                 {"title": "B-SECRET draft", "status": "draft"}])
    for ext in ("json", "atom"):
        r = a.raw("GET", f"/feed/{a_slug}.{ext}", headers={"Cookie": a.owner_cookie()})
        assert r.status_code == 200, r.text
        assert mine[0] in r.text
        assert "B-SECRET" not in r.text and not any(t in r.text for t in theirs), r.text[:300]
        assert "Set-Cookie" not in r.headers
        r = a.raw("GET", f"/feed/{a_slug}.{ext}?cursor={theirs[0]}")
        assert r.status_code == 400 and "B-SECRET" not in r.text, r.text
    r = b.raw("GET", f"/feed/{b_slug}.json")
    assert [i["id"] for i in r.json()["items"]][:1] == [theirs[0]]
