"""Ingest settings (I7, I8): GET/PUT /api/v1/settings/ingest and the bot
patterns applied when a delivery is normalized.

Who may: any member reads (content.read); only a Super Admin changes them
(tenant.manage; no API key scope grants it), so an Admin gets 403. Every
limit is tried at its value and one past it (400 validation_failed naming
the field); another organization keeps its own settings. A tenant's pattern
"ci-*" makes a signed GitHub push's commit by "ci-runner-7" a bot commit in
the database, and not the same push sent to an organization without it.
The retention sweep itself runs on a fake clock in tests/ingest/test_retention.c.
"""

import json
import secrets as pysecrets
import sqlite3
import subprocess

from e2e_util import assert_error
from test_hooks import deliver, fixture, integration, wait_for
from test_isolation import tenant_rows
from test_members import join, owner, srv  # noqa: F401 (fixture)

PATH = "/api/v1/settings/ingest"
DEFAULTS = {"retention_days": 90, "bot_patterns": [], "default_retention_days": 90}


def put(api, body):
    return api.call("PUT", PATH, body)


def test_get_put_roles_and_other_organization(srv):  # noqa: F811
    a, b = owner(srv), owner(srv)
    assert a.call("GET", PATH).json() == DEFAULTS
    r = put(a, {"retention_days": 30, "bot_patterns": ["ci-*", "Build Bot ?"]})
    assert r.status_code == 200, r.text
    want = {"retention_days": 30, "bot_patterns": ["ci-*", "Build Bot ?"],
            "default_retention_days": 90}
    assert r.json() == want
    assert a.call("GET", PATH).json() == want
    # B is untouched, and B's change does not reach A
    assert b.call("GET", PATH).json() == DEFAULTS
    assert put(b, {"retention_days": 7, "bot_patterns": []}).status_code == 200
    assert a.call("GET", PATH).json() == want
    # PUT replaces: both members are required
    err = assert_error(put(a, {"retention_days": 10}), 400, "validation_failed")
    assert [f["path"] for f in err["fields"]] == ["bot_patterns"]
    err = assert_error(put(a, {"bot_patterns": []}), 400, "validation_failed")
    assert [f["path"] for f in err["fields"]] == ["retention_days"]
    assert a.call("GET", PATH).json() == want

    # roles: members read, only Super Admins change
    member, admin = join(srv, a, "member"), join(srv, a, "admin")
    assert member.call("GET", PATH).json() == want
    assert admin.call("GET", PATH).json() == want
    assert_error(put(member, {"retention_days": 1, "bot_patterns": []}), 403, "permission_denied")
    assert_error(put(admin, {"retention_days": 1, "bot_patterns": []}), 403, "permission_denied")
    assert a.call("GET", PATH).json() == want

    # audited with the old and new values
    rows = tenant_rows(srv, a.tenant_id)["audit_log"]
    changed = [x for x in rows if "settings.ingest_changed" in x]
    assert len(changed) == 1, changed
    assert "retention_days_from" in changed[0] and "ci-*" in changed[0]
    assert not [x for x in tenant_rows(srv, b.tenant_id)["audit_log"] if "ci-*" in x]


def test_limits(srv):  # noqa: F811
    a = owner(srv)

    def refused(body, field):
        err = assert_error(put(a, body), 400, "validation_failed")
        assert field in [f["path"] for f in err["fields"]], err

    for days in (1, 3650):
        assert put(a, {"retention_days": days, "bot_patterns": []}).status_code == 200
    refused({"retention_days": 0, "bot_patterns": []}, "retention_days")
    refused({"retention_days": 3651, "bot_patterns": []}, "retention_days")
    refused({"retention_days": "90", "bot_patterns": []}, "retention_days")
    refused({"retention_days": 90.5, "bot_patterns": []}, "retention_days")
    # 64 patterns of 128 bytes fit; a 65th, or a 129th byte, does not
    full = [f"{i:03d}*" + "x" * 124 for i in range(64)]
    assert all(len(p) == 128 for p in full)
    r = put(a, {"retention_days": 45, "bot_patterns": full})
    assert r.status_code == 200, r.text
    assert r.json()["bot_patterns"] == full
    refused({"retention_days": 45, "bot_patterns": full + ["one-more"]}, "bot_patterns")
    refused({"retention_days": 45, "bot_patterns": ["ok", "y" * 129]}, "bot_patterns[1]")
    for bad in ("", "tab\there", "new\nline", "del\x7f", "\u00e9t\u00e9"):
        refused({"retention_days": 45, "bot_patterns": ["ok", bad]}, "bot_patterns[1]")
    refused({"retention_days": 45, "bot_patterns": [5]}, "bot_patterns[0]")
    refused({"retention_days": 45, "bot_patterns": "ci-*"}, "bot_patterns")
    refused({"retention_days": 45, "bot_patterns": [], "extra": 1}, "extra")
    # nothing refused was stored
    got = a.call("GET", PATH).json()
    assert got["retention_days"] == 45 and got["bot_patterns"] == full


def commit_authors(srv, tenant_id):
    """{author_login: author_is_bot} of the tenant's commits, from the database."""
    url = srv.factory.backend_env.get("SHIPLOG_MIGRATE_DATABASE_URL")
    if url is None:
        db = sqlite3.connect(f"file:{srv.data_dir / 'shiplog.db'}?mode=ro", uri=True)
        try:
            return {login: bool(bot) for login, bot in db.execute(
                "SELECT author_login, author_is_bot FROM commits WHERE tenant_id = ?",
                (tenant_id,))}
        finally:
            db.close()
    out = subprocess.run(
        ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-v", f"tid={tenant_id}", "-d", url],
        input="SELECT row_to_json(c)::text FROM (SELECT author_login, author_is_bot"
              " FROM commits WHERE tenant_id = :'tid') c;\n",
        capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    return {r["author_login"]: bool(r["author_is_bot"]) for r in rows}


def push_with_bot_commit():
    doc = json.loads(fixture("github", "push.json"))
    human = doc["commits"][0]
    bot = json.loads(json.dumps(human))
    bot["id"] = "ab" * 20
    bot["message"] = "chore: automated bump"
    bot["author"] = {"name": "CI Runner", "email": "ci@example.com", "username": "ci-runner-7"}
    bot["committer"] = dict(bot["author"])
    doc["commits"] = [human, bot]
    return json.dumps(doc).encode()


def test_bot_patterns_applied(srv):  # noqa: F811
    a, b = owner(srv), owner(srv)
    assert put(a, {"retention_days": 90, "bot_patterns": ["CI-*"]}).status_code == 200
    body = push_with_bot_commit()
    for org in (a, b):
        integ = integration(org, "github")
        r = deliver(srv, integ, body, "push", "d-" + pysecrets.token_hex(8))
        assert r.status_code == 202, r.text

    def processed(org):
        return lambda: any("processed" in x
                           for x in tenant_rows(srv, org.tenant_id)["webhook_deliveries"])

    assert wait_for(processed(a)) and wait_for(processed(b))
    # A's pattern (case-insensitive) marks ci-runner-7 a bot; the human stays one
    assert commit_authors(srv, a.tenant_id) == {"binkkatal": False, "ci-runner-7": True}
    # B has no such pattern: the same push leaves ci-runner-7 a person
    assert commit_authors(srv, b.tenant_id) == {"binkkatal": False, "ci-runner-7": False}
