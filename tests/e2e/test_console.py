"""Console front door end to end (U1, U2, A2–A5): the server-rendered pages
driven as a browser would, with form posts, cookies, redirects and mail from a
real SMTP sink, on both storage backends.

`Browser` keeps cookies itself: the console's cookies are Secure (__Host-),
which an HTTP client library would not send back over plain HTTP on loopback,
and it sends the headers a real browser sends with a form post (Origin,
Sec-Fetch-Site). The headless-Chromium test (test_browser.py) covers the real
browser.
"""

import html
import itertools
import re
import secrets as pysecrets
from html.parser import HTMLParser

import pytest

from e2e_util import assert_security_headers, wait_mail

PASSWORD = "correct horse battery staple"
SESSION = "__Host-shiplog_session"
PRE = "__Host-shiplog_pre"
CONSOLE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
               "frame-ancestors 'none'; base-uri 'none'; report-uri /csp-report")
_ips = itertools.count(1)


def new_email(tag="user"):
    return f"{tag}-{pysecrets.token_hex(6)}@example.com"


class Page(HTMLParser):
    """What the tests look at in a page: forms and their fields, labels, links."""

    def __init__(self, text):
        super().__init__()
        self.forms, self.labels, self.ids, self.links = [], set(), {}, []
        self.inline = []  # script elements and style attributes: must stay empty
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" or "style" in a or any(k.startswith("on") for k in a):
            self.inline.append((tag, a))
        if "id" in a:
            self.ids[a["id"]] = (tag, a)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "fields": {}})
        elif tag == "input" and self.forms:
            self.forms[-1]["fields"][a.get("name")] = a
        elif tag == "label":
            self.labels.add(a.get("for"))
        elif tag == "a":
            self.links.append(a.get("href"))

    def form(self, action):
        for f in self.forms:
            if f["action"] == action:
                return f
        raise AssertionError(f"no form posting to {action}: {[f['action'] for f in self.forms]}")


class Browser:
    """One browser profile: its own cookies and client address."""

    def __init__(self, srv):
        self.srv = srv
        self.cookies = {}
        n = next(_ips)
        self.ip = f"10.77.{(n >> 8) & 255}.{n & 255}"

    def _send(self, method, path, data=None, headers=None):
        h = {"X-Forwarded-For": self.ip}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        h.update(headers or {})
        r = self.srv.request(method, path, data=data, headers=h)
        for sc in r.raw.headers.getlist("Set-Cookie"):
            name, _, rest = sc.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in sc:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return r

    def get(self, path):
        r = self._send("GET", path)
        if r.headers.get("Content-Type", "").startswith("text/html"):
            r.page = Page(r.text)
        return r

    def post(self, path, fields, *, csrf=True, page=None, headers=None, form=None):
        """Posts fields to path like a browser submitting the form of `page`
        (by default the page at `form`, or at path), its csrf token included."""
        data = dict(fields)
        if csrf:
            page = page or self.get(form or path).page
            data.setdefault("csrf", page.form(path)["fields"]["csrf"]["value"])
        h = {"Content-Type": "application/x-www-form-urlencoded",
             "Origin": self.srv.base_url, "Sec-Fetch-Site": "same-origin"}
        h.update(headers or {})
        r = self._send("POST", path, data=data, headers=h)
        if r.headers.get("Content-Type", "").startswith("text/html"):
            r.page = Page(r.text)
        return r


@pytest.fixture(scope="module")
def console(module_server_factory, sink):
    url, mail_dir = sink
    srv = module_server_factory.start(env={"SHIPLOG_SMTP_URL": url, "SHIPLOG_BCRYPT_COST": "10",
                                           "SHIPLOG_TRUSTED_PROXIES": "127.0.0.1/32"})
    srv.mail_dir = mail_dir
    return srv


def link_in(srv, text, page):
    m = re.search(re.escape(srv.base_url) + "(/" + page + r"\?token=[A-Za-z0-9._-]+)", text)
    assert m, text
    return m.group(1)


def signup(console, b, addr, password=PASSWORD):
    r = b.post("/signup", {"organization": "Acme <b>Inc</b>", "email": addr,
                           "password": password})
    assert r.status_code == 200, r.text
    assert "Check your mailbox" in r.text
    return link_in(console, wait_mail(console.mail_dir, addr, "Confirm your e-mail"), "verify")


def verified_account(console, b):
    addr = new_email()
    link = signup(console, b, addr)
    page = b.get(link).page
    token = page.form("/verify")["fields"]["token"]["value"]
    assert b.post("/verify", {"token": token}, page=page).status_code == 200
    return addr


def login(b, addr, password=PASSWORD):
    r = b.post("/login", {"email": addr, "password": password}, form="/login")
    assert r.status_code == 303 and r.headers["Location"] == "/account/sessions", r.text
    return r


def assert_strict_page(path, r):
    """A console page: HTML under the console CSP, no script or inline style,
    every form carrying the token and every visible control labelled."""
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Content-Security-Policy"] == CONSOLE_CSP
    assert_security_headers(r)
    page = r.page
    assert page.inline == [], page.inline  # no script, no inline style or handler
    assert '<html lang="en">' in r.text and "<title>" in r.text and "<h1>" in r.text
    for form in page.forms:
        assert "csrf" in form["fields"], form
        for name, a in form["fields"].items():
            if a.get("type") != "hidden":
                assert a["id"] in page.labels, f"{path}: input {name} has no label"
            if "aria-describedby" in a:
                assert a["aria-describedby"] in page.ids
    for id_, (tag, a) in page.ids.items():
        if tag in ("select", "textarea") or (tag == "input" and a.get("type") != "hidden"):
            assert id_ in page.labels, f"{path}: {tag} {id_} has no label"


PUBLIC_PAGES = ["/signup", "/login", "/logout", "/verify", "/magic", "/reset",
                "/verify?token=x", "/magic?token=x", "/reset?token=x", "/invite"]


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_pages_are_strict_accessible_html(console, path):
    b = Browser(console)
    r = b.get(path)
    assert r.status_code == 200, r.text
    assert_strict_page(path, r)
    # the first page sets the pre-session cookie the forms are bound to
    assert PRE in b.cookies


def test_stylesheet_is_served(console):
    r = console.get("/console.css")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/css; charset=utf-8"
    assert "body" in r.text


def test_signup_verify_signin_sessions_signout(console):
    b = Browser(console)
    addr = new_email()
    link = signup(console, b, addr)
    # the link opens a page; GET alone (a mail scanner) confirms nothing
    for _ in range(2):
        page = b.get(link).page
        token = page.form("/verify")["fields"]["token"]["value"]
    r = b.post("/verify", {"token": token}, page=page)
    assert r.status_code == 200 and "Address confirmed" in r.text, r.text
    r = b.post("/verify", {"token": token}, page=page)
    assert r.status_code == 400 and "not valid" in r.text

    r = login(b, addr)
    sc = [c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith(SESSION + "=")]
    assert len(sc) == 1 and sc[0].endswith("; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=43200")
    r = b.get("/account/sessions")
    assert r.status_code == 200 and "This browser" in r.text, r.text
    assert r.headers["Content-Security-Policy"] == CONSOLE_CSP
    assert b.ip in r.text  # the session's client address is listed
    assert r.page.inline == []
    assert b.get("/").headers["Location"] == "/account/sessions"

    r = b.post("/logout", {}, form="/account/sessions")
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    assert SESSION not in b.cookies
    r = b.get("/account/sessions")
    assert r.status_code == 303 and r.headers["Location"] == "/login"


def test_wrong_password_is_one_answer_and_keeps_the_address(console):
    b = Browser(console)
    addr = verified_account(console, b)
    for who in (addr, new_email("nobody")):
        r = b.post("/login", {"email": who, "password": "not the password at all"}, form="/login")
        assert r.status_code == 401
        assert "The e-mail address or the password is not correct." in r.text
        assert r.page.form("/login")["fields"]["email"]["value"] == who
        assert SESSION not in b.cookies


def test_unverified_account_cannot_open_the_console(console):
    b = Browser(console)
    addr = new_email()
    signup(console, b, addr)
    login(b, addr)  # the password is right: a session, but not the console (A2)
    r = b.get("/account/sessions")
    assert r.status_code == 403 and "Confirm your e-mail address" in r.text
    r = b.post("/verify/resend", {}, page=r.page)
    assert r.status_code == 200 and "new link" in r.text
    link = link_in(console, wait_mail(console.mail_dir, addr, "Confirm your e-mail", n=2),
                   "verify")
    page = b.get(link).page
    r = b.post("/verify", {"token": page.form("/verify")["fields"]["token"]["value"]}, page=page)
    assert r.status_code == 200
    assert b.get("/account/sessions").status_code == 200


def test_csrf_refusals(console):
    b = Browser(console)
    page = b.get("/login").page
    good = page.form("/login")["fields"]["csrf"]["value"]
    fields = {"email": "x@example.com", "password": "y" * 12}
    # no token, a forged token, a token of another browser
    assert b.post("/login", fields, csrf=False).status_code == 403
    assert b.post("/login", dict(fields, csrf="0" * 64), csrf=False).status_code == 403
    other = Browser(console)
    theirs = other.get("/login").page.form("/login")["fields"]["csrf"]["value"]
    r = b.post("/login", dict(fields, csrf=theirs), csrf=False)
    assert r.status_code == 403 and "did not come from shiplog" in r.text
    assert r.headers["Content-Type"].startswith("text/html")
    # the right token from the wrong site
    for h in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
              {"Sec-Fetch-Site": "same-site"}):
        assert b.post("/login", dict(fields, csrf=good), csrf=False, headers=h).status_code == 403
    # JSON or multipart instead of a form
    r = b.post("/login", dict(fields, csrf=good), csrf=False,
               headers={"Content-Type": "application/json"})
    assert r.status_code == 415
    # a well-formed post with the right token gets through to the password check
    assert b.post("/login", dict(fields, csrf=good), csrf=False).status_code == 401


def test_token_is_bound_to_the_session(console):
    b = Browser(console)
    addr = verified_account(console, b)
    before = b.get("/login").page.form("/login")["fields"]["csrf"]["value"]
    login(b, addr)
    sessions = b.get("/account/sessions").page
    token = sessions.form("/logout")["fields"]["csrf"]["value"]
    assert token != before  # a new token at sign-in
    r = b.post("/account/sessions/revoke-all", {"csrf": before}, csrf=False)
    assert r.status_code == 403
    r = b.post("/account/sessions/revoke-all", {}, page=sessions)
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    # the old session's token is worth nothing once it is gone
    b.cookies.pop(SESSION, None)
    assert b.post("/login", {"email": addr, "password": PASSWORD, "csrf": token},
                  csrf=False).status_code == 403


def test_magic_link_and_code(console):
    b = Browser(console)
    addr = verified_account(console, b)
    r = b.post("/magic", {"email": addr}, form="/magic")
    assert r.status_code == 200 and "a mail is on its way" in r.text
    text = wait_mail(console.mail_dir, addr, "sign-in link")
    link = link_in(console, text, "magic")
    for _ in range(2):  # GET (a scanner) spends nothing
        page = b.get(link).page
    r = b.post("/magic/consume", {"token": page.form("/magic/consume")["fields"]["token"]["value"]},
               page=page)
    assert r.status_code == 303 and r.headers["Location"] == "/account/sessions", r.text
    assert SESSION in b.cookies
    # the form's token was bound to the pre-session: the signed-in browser needs a new page
    page = b.get(link).page
    r = b.post("/magic/consume", {"token": page.form("/magic/consume")["fields"]["token"]["value"]},
               page=page)
    assert r.status_code == 400 and "not valid" in r.text

    b2 = Browser(console)
    b2.post("/magic", {"email": addr}, form="/magic")
    code = re.search(r"code on the sign-in page: ([A-Z0-9]{8})",
                     wait_mail(console.mail_dir, addr, "sign-in link", n=2)).group(1)
    r = b2.post("/magic/consume", {"email": addr, "code": code.lower()}, form="/magic")
    assert r.status_code == 303, r.text
    assert b2.get("/account/sessions").status_code == 200


def test_unknown_address_gets_the_same_page(console):
    b = Browser(console)
    addr = verified_account(console, b)
    pages = []
    for who, path in ((addr, "/reset"), (new_email("nobody"), "/reset"),
                      (addr, "/magic"), (new_email("nobody"), "/magic")):
        r = b.post(path, {"email": who}, form=path)
        assert r.status_code == 200
        pages.append(re.sub(r'value="[^"]*"', "", r.text))
    assert pages[0] == pages[1] and pages[2] == pages[3]


def test_password_reset(console):
    b = Browser(console)
    addr = verified_account(console, b)
    login(b, addr)
    other = Browser(console)
    other.post("/reset", {"email": addr}, form="/reset")
    link = link_in(console, wait_mail(console.mail_dir, addr, "Reset your"), "reset")
    page = other.get(link).page
    token = page.form("/reset/confirm")["fields"]["token"]["value"]
    r = other.post("/reset/confirm", {"token": token, "password": "short"}, page=page)
    assert r.status_code == 400 and "cannot be used" in r.text
    # the refused password did not spend the token; the form keeps it
    assert r.page.form("/reset/confirm")["fields"]["token"]["value"] == token
    new = "a brand new passphrase here"
    r = other.post("/reset/confirm", {"token": token, "password": new}, page=page)
    assert r.status_code == 200 and "Password changed" in r.text
    r = other.post("/reset/confirm", {"token": token, "password": new}, page=page)
    assert r.status_code == 400 and "not valid" in r.text
    # every session signed out; the new password works, the old one does not
    assert b.get("/account/sessions").status_code == 303
    assert b.post("/login", {"email": addr, "password": PASSWORD}, form="/login").status_code == 401
    login(b, addr, new)


def test_revoke_another_session_and_not_another_tenants(console):
    a1, a2, eve = Browser(console), Browser(console), Browser(console)
    addr = verified_account(console, a1)
    login(a1, addr)
    login(a2, addr)
    page = a1.get("/account/sessions").page
    revoke = [f["action"] for f in page.forms if f["action"].endswith("/revoke")]
    assert len(revoke) == 1  # a2's session; a1's own row says "This browser"
    # another tenant's user cannot revoke it (404, as for a made-up id)
    login(eve, verified_account(console, eve))
    eve_page = eve.get("/account/sessions").page
    r = eve.post(revoke[0], {"csrf": eve_page.form("/logout")["fields"]["csrf"]["value"]},
                 csrf=False)
    assert r.status_code == 404
    assert a2.get("/account/sessions").status_code == 200
    r = a1.post(revoke[0], {}, page=page)
    assert r.status_code == 303 and r.headers["Location"] == "/account/sessions"
    assert a2.get("/account/sessions").status_code == 303


def test_field_and_body_limits(console):
    b = Browser(console)
    page = b.get("/signup").page
    local = "a" * 64
    at_limit = local + "@" + "b" * (254 - len(local) - 1 - 4) + ".com"
    assert len(at_limit) == 254
    over = "a" + at_limit
    r = b.post("/signup", {"organization": "x", "email": over, "password": PASSWORD}, page=page)
    assert r.status_code == 400 and "email too long" in r.text, r.text
    assert b.post("/signup", {"organization": "o" * 101, "email": new_email(),
                              "password": PASSWORD}, page=page).status_code == 400
    # the whole form: 16 KiB accepted by the route, one byte more is 413
    csrf = page.form("/signup")["fields"]["csrf"]["value"]
    base = f"csrf={csrf}&email=x%40example.com&password=pppppppppppp&organization="
    body = base + "o" * (16 * 1024 - len(base) + 1)
    r = b._send("POST", "/signup", data=body.encode(), headers={
        "Content-Type": "application/x-www-form-urlencoded", "Origin": console.base_url})
    assert r.status_code == 413
    # a repeated field is refused, never guessed at
    r = b._send("POST", "/login", data=f"csrf={csrf}&email=a%40b.co&email=c%40d.co&password=x",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "not acceptable" in html.unescape(r.text)

