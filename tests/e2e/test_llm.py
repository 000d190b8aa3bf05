"""The LLM provider of changelog drafts (D2, D3): GET/PUT /api/v1/settings/llm
and GET /api/v1/llm/calls against the real binary, on both backends.

Who may: Admins and Super Admins (integrations.manage); Members and Editors
get 403. The API key is write-only: answers show api_key_set and a hint,
the database holds it only sealed, the audit event never carries it; absent
keeps it, null removes it. Every limit is tried at its value and one past it
(400 validation_failed naming the field), as are a base URL with userinfo,
another scheme, and a literal private address (the outbound policy refuses
it, SHIPLOG_OUTBOUND_ALLOW_PRIVATE being off). Another organization keeps
its own settings and sees none of the other's calls. The call log pages
newest first with a cursor. The console's form on /integrations saves the
same settings (CSRF-guarded, an empty key field keeps the key, a refusal
named on the page). llm_draft itself runs against local servers in
tests/llm/test_llm_service.c.
"""

import json
import sqlite3
import subprocess

from e2e_util import assert_error
from test_console import Browser, assert_strict_page, login, verified_account
from test_isolation import tenant_rows
from test_members import join, owner, srv  # noqa: F401 (fixture)

PATH = "/api/v1/settings/llm"
CALLS = "/api/v1/llm/calls"
KEY = "sk-e2e-0123456789abcdefQRST"
DEFAULTS = {"provider": "none", "base_url": None, "model": None, "monthly_token_budget": 0,
            "max_output_tokens": 1024, "api_key_set": False, "api_key_hint": None,
            "updated_at": None}


def settings(api):
    r = api.call("GET", PATH)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["tokens_used_this_month"] >= 0 and got["month_start"] > 0
    return {k: v for k, v in got.items() if k not in ("tokens_used_this_month", "month_start")}


def put(api, body):
    return api.call("PUT", PATH, body)


def anthropic(**kw):
    body = {"provider": "anthropic", "model": "claude-test", "monthly_token_budget": 50000,
            "api_key": KEY}
    body.update(kw)
    return body


def test_settings_roles_key_and_other_organization(srv):  # noqa: F811
    a, b = owner(srv), owner(srv)
    assert settings(a) == DEFAULTS
    r = put(a, anthropic(max_output_tokens=600))
    assert r.status_code == 200, r.text
    assert KEY not in r.text
    got = settings(a)
    assert got["provider"] == "anthropic"
    assert got["base_url"] == "https://api.anthropic.com"
    assert got["model"] == "claude-test"
    assert got["monthly_token_budget"] == 50000 and got["max_output_tokens"] == 600
    assert got["api_key_set"] is True and got["api_key_hint"] == "QRST"
    assert got["updated_at"] > 0
    # B is untouched and cannot use a provider without a key of its own
    assert settings(b) == DEFAULTS
    err = assert_error(put(b, {"provider": "openai", "model": "m", "monthly_token_budget": 1}),
                       400, "validation_failed")
    assert [f["path"] for f in err["fields"]] == ["api_key"]
    assert settings(b) == DEFAULTS

    # absent keeps the key; another base URL and provider
    r = put(a, {"provider": "openai", "base_url": "https://llm.example.com/v1/",
                "model": "gpt-test", "monthly_token_budget": 10})
    assert r.status_code == 200, r.text
    got = settings(a)
    assert got["provider"] == "openai" and got["base_url"] == "https://llm.example.com/v1/"
    assert got["api_key_set"] is True and got["api_key_hint"] == "QRST"

    # roles: Admins and up read and change; Members and Editors do neither
    admin, member, editor = join(srv, a, "admin"), join(srv, a, "member"), join(srv, a, "editor")
    assert settings(admin)["provider"] == "openai"
    assert put(admin, anthropic(monthly_token_budget=20000)).status_code == 200
    for who in (member, editor):
        assert_error(who.call("GET", PATH), 403, "permission_denied")
        assert_error(put(who, {"provider": "none", "monthly_token_budget": 0}), 403,
                     "permission_denied")
        assert_error(who.call("GET", CALLS), 403, "permission_denied")
    assert settings(a)["monthly_token_budget"] == 20000

    # null removes the key (with provider none: a provider needs one)
    err = assert_error(put(a, anthropic(api_key=None)), 400, "validation_failed")
    assert [f["path"] for f in err["fields"]] == ["api_key"]
    assert put(a, {"provider": "none", "monthly_token_budget": 0, "api_key": None}).status_code \
        == 200
    got = settings(a)
    assert got["api_key_set"] is False and got["api_key_hint"] is None

    # the key is nowhere in A's data in plaintext; every change is audited, without it
    rows = tenant_rows(srv, a.tenant_id)
    text = repr(rows)
    assert KEY not in text and "0123456789abcdef" not in text
    changed = [x for x in rows["audit_log"] if "settings.llm_changed" in x]
    assert len(changed) == 4, changed
    assert any("replaced" in x for x in changed) and any("removed" in x for x in changed)
    assert not [x for x in tenant_rows(srv, b.tenant_id)["audit_log"]
                if "settings.llm_changed" in x]


def test_limits(srv):  # noqa: F811
    a = owner(srv)

    def refused(body, field):
        err = assert_error(put(a, body), 400, "validation_failed")
        assert field in [f["path"] for f in err["fields"]], err

    def fits(body):
        r = put(a, body)
        assert r.status_code == 200, r.text

    base = "https://llm.example.com/"
    fits(anthropic(base_url=base + "a" * (512 - len(base))))
    refused(anthropic(base_url=base + "a" * (513 - len(base))), "base_url")
    for bad in ("ftp://llm.example.com", "llm.example.com", "https://u:p@llm.example.com",
                "https://llm.example.com/?q=1", "https://llm.example.com/#x",
                "http://127.0.0.1:8080", "http://10.1.2.3/v1", "http://[::1]/",
                "http://169.254.169.254/latest"):
        refused(anthropic(base_url=bad), "base_url")
    fits(anthropic(model="m" * 128))
    refused(anthropic(model="m" * 129), "model")
    refused(anthropic(model="has space"), "model")
    refused({"provider": "anthropic", "monthly_token_budget": 1, "api_key": KEY}, "model")
    fits(anthropic(api_key="k" * 512))
    refused(anthropic(api_key="k" * 513), "api_key")
    refused(anthropic(api_key="two words"), "api_key")
    refused(anthropic(api_key="x\r\nX-Evil: 1"), "api_key")
    refused(anthropic(api_key=""), "api_key")
    fits(anthropic(monthly_token_budget=1000000000))
    refused(anthropic(monthly_token_budget=1000000001), "monthly_token_budget")
    refused(anthropic(monthly_token_budget=-1), "monthly_token_budget")
    fits(anthropic(max_output_tokens=4096))
    refused(anthropic(max_output_tokens=4097), "max_output_tokens")
    refused(anthropic(max_output_tokens=0), "max_output_tokens")
    refused(anthropic(provider="gemini"), "provider")
    refused({"provider": "none"}, "monthly_token_budget")
    refused(anthropic(extra=1), "extra")
    # the body: 4096 bytes (spaces pad a valid one) and one byte past
    body = json.dumps(anthropic(max_output_tokens=4096, monthly_token_budget=50000))
    r = a.call("PUT", PATH, raw=body + " " * (4096 - len(body)))
    assert r.status_code == 200, r.text
    assert_error(a.call("PUT", PATH, raw=body + " " * (4097 - len(body))), 413)
    # nothing refused was stored
    got = settings(a)
    assert got["max_output_tokens"] == 4096 and got["monthly_token_budget"] == 50000


def insert_calls(srv, tenant_id, n):
    """n call rows for tenant_id, written behind the server's back (the draft job writes them)."""
    rows = [(tenant_id, f"{i:032x}", 1700000000 + i, "anthropic", "m", 10 * i, i, i % 2,
             5, "ok" if i % 3 else "timeout") for i in range(1, n + 1)]
    url = srv.factory.backend_env.get("SHIPLOG_MIGRATE_DATABASE_URL")
    sql = ("INSERT INTO llm_calls (tenant_id, id, at, operation, provider, model, tokens_in,"
           " tokens_out, estimated, latency_ms, outcome) VALUES ")
    if url is None:
        db = sqlite3.connect(str(srv.data_dir / "shiplog.db"))
        try:
            db.executemany(sql + "(?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?)", rows)
            db.commit()
        finally:
            db.close()
        return
    values = ", ".join(f"('{t}', '{i}', {at}, 'draft', '{p}', '{m}', {ti}, {to}, {e}, {lat},"
                       f" '{o}')" for t, i, at, p, m, ti, to, e, lat, o in rows)
    subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql + values],
                   capture_output=True, text=True, check=True)


def test_call_log(srv):  # noqa: F811
    a, b = owner(srv), owner(srv)
    r = a.call("GET", CALLS)
    assert r.status_code == 200, r.text
    assert r.json() == {"calls": [], "next_cursor": None}
    insert_calls(srv, a.tenant_id, 5)
    r = a.call("GET", CALLS + "?limit=2")
    assert r.status_code == 200, r.text
    page = r.json()
    assert [c["id"] for c in page["calls"]] == [f"{5:032x}", f"{4:032x}"]
    first = page["calls"][0]
    assert first == {"id": f"{5:032x}", "at": 1700000005, "operation": "draft",
                     "provider": "anthropic", "model": "m", "tokens_in": 50, "tokens_out": 5,
                     "estimated": True, "latency_ms": 5, "outcome": "ok", "http_status": None}
    ids = [c["id"] for c in page["calls"]]
    while page["next_cursor"]:
        page = a.call("GET", f"{CALLS}?limit=2&cursor={page['next_cursor']}").json()
        ids += [c["id"] for c in page["calls"]]
    assert ids == [f"{i:032x}" for i in range(5, 0, -1)]
    # B sees none of A's
    assert b.call("GET", CALLS).json() == {"calls": [], "next_cursor": None}
    # the query's limits
    for q in ("limit=0", "limit=101", "limit=x", "cursor=zz", "cursor=" + "a" * 33,
              "cursor=" + "A" * 32):
        err = assert_error(a.call("GET", f"{CALLS}?{q}"), 400, "validation_failed")
        assert [f["path"] for f in err["fields"]] == [q.split("=")[0]], err
    assert len(a.call("GET", CALLS + "?limit=100").json()["calls"]) == 5


def test_console_form(srv):  # noqa: F811
    b = Browser(srv)
    login(b, verified_account(srv, b))
    r = b.get("/integrations")
    assert r.status_code == 200, r.text
    assert_strict_page("/integrations", r)
    form = r.page.form("/integrations/llm")
    assert form["fields"]["api_key"]["type"] == "password"
    assert "value" not in form["fields"]["api_key"]
    assert "No key is stored." in r.text and "0 of 0 tokens used this month." in r.text
    fields = {"provider": "anthropic", "base_url": "", "model": "claude-test",
              "monthly_token_budget": "7000", "max_output_tokens": "300", "api_key": KEY}
    # a forged post without the token changes nothing
    assert b.post("/integrations/llm", fields, csrf=False).status_code == 403
    r = b.post("/integrations/llm", fields, form="/integrations")
    assert r.status_code == 303 and r.headers["Location"] == "/integrations", r.text
    page = b.get("/integrations")
    assert KEY not in page.text and "ending in QRST" in page.text
    assert "0 of 7000 tokens used this month." in page.text
    assert 'value="claude-test"' in page.text and "https://api.anthropic.com" in page.text
    # an empty key field keeps the key; a refusal is named on the page
    r = b.post("/integrations/llm", {**fields, "api_key": "", "model": "m" * 129},
               form="/integrations")
    assert r.status_code == 400 and "model: at most 128 bytes" in r.text, r.text
    r = b.post("/integrations/llm", {**fields, "api_key": "", "base_url": "http://127.0.0.1/"},
               form="/integrations")
    assert r.status_code == 400 and "base_url" in r.text, r.text
    r = b.post("/integrations/llm", {**fields, "api_key": "", "provider": "openai",
                                     "base_url": "https://llm.example.com/v1"},
               form="/integrations")
    assert r.status_code == 303, r.text
    page = b.get("/integrations")
    assert "ending in QRST" in page.text and "https://llm.example.com/v1" in page.text
    r = b.post("/integrations/llm", {**fields, "provider": "none", "api_key": "",
                                     "remove_key": "1"}, form="/integrations")
    assert r.status_code == 303, r.text
    assert "No key is stored." in b.get("/integrations").text
