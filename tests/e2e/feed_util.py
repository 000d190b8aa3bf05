"""Seeding published changelog entries straight into the test server's
database (the SQLite file, or PostgreSQL as the owner through psql), for the
feed and widget tests. The full webhook -> review -> publish path has its
own tests; these only need rows as the store writes them.
"""

import json
import secrets
import sqlite3
import subprocess
import time

PSQL = "/usr/lib/postgresql/15/bin/psql"

COLUMNS = ("tenant_id", "id", "source_id", "source_kind", "repo_id", "source_number", "source_url",
           "impact", "impact_reason", "status", "title", "body", "category", "audience", "labels",
           "provider", "version", "reviewers", "changed_at", "created_at", "updated_at",
           "submitted_by", "decided_by", "decision_note", "published_by", "published_at")

# What a feed must never show, planted in every seeded row.
NEVER = ("SOURCE-URL-MARKER", "REASON-MARKER", "REVIEWER-MARKER", "DECIDER-MARKER",
         "NOTE-MARKER", "PUBLISHER-MARKER", "github:pr:", "github:repo:")


def owner_url(factory):
    return factory.backend_env.get("SHIPLOG_MIGRATE_DATABASE_URL")


def create_tenant(factory, srv, slug, name=None):
    """A tenant made by `shiplog admin tenant create` on srv's database; its id."""
    r = factory.run_cli(["admin", "tenant", "create", "--slug", slug, "--name", name or slug.title(),
                         "--data", str(srv.data_dir)])
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def tenant_of_slug(factory, srv, slug):
    rows = query(factory, srv, "SELECT id FROM tenants WHERE slug = '%s'" % slug.replace("'", "''"))
    return rows[0][0] if rows else None


def slug_of(factory, srv, tenant_id):
    rows = query(factory, srv, "SELECT slug FROM tenants WHERE id = '%s'" % tenant_id)
    return rows[0][0]


def _literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def query(factory, srv, sql):
    url = owner_url(factory)
    if url is None:
        db = sqlite3.connect(srv.data_dir / "shiplog.db", timeout=30)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()
    out = subprocess.run([PSQL, "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                         capture_output=True, text=True, check=True).stdout
    return [tuple(line.split("\t")) for line in out.splitlines() if line]


def execute(factory, srv, statements):
    url = owner_url(factory)
    if url is None:
        db = sqlite3.connect(srv.data_dir / "shiplog.db", timeout=30)
        try:
            with db:
                for s in statements:
                    db.execute(s)
        finally:
            db.close()
        return
    script = "BEGIN;\n" + "".join(s + ";\n" for s in statements) + "COMMIT;\n"
    r = subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url], input=script,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def seed(factory, srv, tenant_id, entries):
    """Inserts entries (dicts: title, body, status, audience, category, labels,
    published_at) for tenant_id; returns their ids in order."""
    repo = "github:repo:" + secrets.token_hex(4)
    stmts = [f"INSERT INTO repositories (tenant_id, id, full_name) VALUES "
             f"({_literal(tenant_id)}, {_literal(repo)}, 'o/r')"]
    ids = []
    now = int(time.time())
    for e in entries:
        eid = secrets.token_hex(16)
        ids.append(eid)
        status = e.get("status", "published")
        published = e.get("published_at", now) if status == "published" else None
        row = {
            "tenant_id": tenant_id, "id": eid, "source_id": "github:pr:" + eid, "source_kind": "pr",
            "repo_id": repo, "source_number": 987654321,
            "source_url": "https://SOURCE-URL-MARKER.example/pull/1",
            "impact": e.get("category", "feature"), "impact_reason": "REASON-MARKER",
            "status": status, "title": e["title"], "body": e.get("body", ""),
            "category": e.get("category", "feature"), "audience": e.get("audience", "everyone"),
            "labels": json.dumps(e.get("labels", [])), "provider": "rules", "version": 1,
            "reviewers": '["REVIEWER-MARKER"]', "changed_at": now, "created_at": now,
            "updated_at": now, "submitted_by": None, "decided_by": "DECIDER-MARKER",
            "decision_note": "NOTE-MARKER", "published_by": "PUBLISHER-MARKER",
            "published_at": published,
        }
        stmts.append("INSERT INTO changelog_entries (%s) VALUES (%s)" % (
            ", ".join(COLUMNS), ", ".join(_literal(row[c]) for c in COLUMNS)))
    execute(factory, srv, stmts)
    return ids
