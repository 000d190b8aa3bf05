"""Changelog drafts end to end (issue 7 items 1, 2, 4; D1, D2, D4, T4, Z1) on
both backends: a signed GitHub webhook of a merged pull request becomes a
draft entry (classified from its Conventional Commit title, written by the
rules provider, e-mail addresses masked); an Editor edits it (a new version
with author; a stale version is 409) and submits it; only an Admin approves
and publishes; a Member only reads; reviewers must be members; the history
lists every version; another organization gets 404 for the entry and sees
none of it; named limits one byte past give 400 naming the field; the
classification rules are read by Members and replaced by Admins only.
"""

import copy
import json

from e2e_util import assert_error
from test_activity import PR, deliver, integration, wait_status
from test_members import Api, join, owner, srv  # noqa: F401 (fixture)


def merged_pr(number=7, title="feat(ui): dark mode for every page",
              body="Adds a dark theme.\n\nQuestions: jane.doe@corp.example", labels=("ui",)):
    """The fixture pull_request event, closed as merged into the default branch."""
    ev = copy.deepcopy(PR)
    ev["action"] = "closed"
    pr = ev["pull_request"]
    pr.update({"number": number, "title": title, "body": body, "state": "closed",
               "merged": True, "merged_at": "2026-11-30T10:00:00Z",
               "closed_at": "2026-11-30T10:00:00Z", "updated_at": "2026-11-30T10:00:01Z",
               "labels": [{"name": n} for n in labels]})
    pr["base"]["ref"] = ev["repository"]["default_branch"]
    ev["number"] = number
    return ev


def only_draft(api, number):
    r = api.call("GET", "/api/v1/drafts?limit=100")
    assert r.status_code == 200, r.text
    found = [d for d in r.json()["drafts"] if d["source"]["number"] == number
             and d["source"]["kind"] == "pull_request"]
    assert len(found) == 1, r.json()
    return found[0]


def draft_from_webhook(srv, boss, number):
    integ = integration(boss)
    wait_status(boss, deliver(srv, integ, "pull_request", merged_pr(number)), "processed")
    return only_draft(boss, number)


def test_merged_pr_becomes_a_draft_and_goes_through_review(srv):  # noqa: F811
    boss = owner(srv)
    editor, member, admin = join(srv, boss, "editor"), join(srv, boss, "member"), \
        join(srv, boss, "admin")
    d = draft_from_webhook(srv, boss, 7)
    assert d["status"] == "draft" and d["version"] == 1 and not d["human_edited"]
    assert d["impact"] == "feature" and d["category"] == "feature", d
    assert d["provider"] == "rules"
    assert "dark mode" in d["title"].lower(), d
    assert "jane.doe@corp.example" not in json.dumps(d), d
    assert d["source"]["url"].endswith("/pull/7"), d
    path = f"/api/v1/drafts/{d['id']}"

    # a Member reads, nothing more
    assert member.call("GET", path).status_code == 200
    assert_error(member.call("PATCH", path, {"version": 1, "title": "Mine"}), 403,
                 "permission_denied")
    assert_error(member.call("POST", path + "/submit", {}), 403, "permission_denied")

    # an Editor edits (a stale version is refused), assigns a reviewer, submits
    assert_error(editor.call("PATCH", path, {"version": 2, "title": "Dark mode"}), 409)
    r = editor.call("PATCH", path, {"version": 1, "title": "Dark mode",
                                    "body": "Every page now has a dark theme.",
                                    "labels": ["ui", "themes"], "reviewers": [admin.user_id]})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["version"] == 2 and d["human_edited"] and d["title"] == "Dark mode"
    assert d["labels"] == ["ui", "themes"] and d["reviewers"] == [admin.user_id]
    r = admin.call("GET", "/api/v1/drafts?reviewer=me")
    assert [x["id"] for x in r.json()["drafts"]] == [d["id"]], r.text
    assert_error(editor.call("POST", path + "/approve", {}), 403, "permission_denied")
    assert_error(editor.call("POST", path + "/publish", {}), 403, "permission_denied")
    assert_error(admin.call("POST", path + "/publish", {}), 409)  # not approved
    r = editor.call("POST", path + "/submit", {"version": 2})
    assert r.status_code == 200 and r.json()["status"] == "in_review", r.text
    assert r.json()["submitted_by"] == editor.user_id
    r = admin.call("GET", "/api/v1/drafts?status=in_review")
    assert [x["id"] for x in r.json()["drafts"]] == [d["id"]]

    # an Admin rejects with a note; the Editor's edit sends it back to draft
    r = admin.call("POST", path + "/reject", {"note": "Name the setting."})
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    assert r.json()["decision_note"] == "Name the setting."
    r = editor.call("PATCH", path, {"version": 2, "body": "Settings > Theme > Dark."})
    assert r.status_code == 200 and r.json()["status"] == "draft" and r.json()["version"] == 3
    assert editor.call("POST", path + "/submit", {"version": 3}).status_code == 200
    r = admin.call("POST", path + "/approve", {"version": 3})
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    assert r.json()["decided_by"] == admin.user_id
    r = admin.call("POST", path + "/publish", {"version": 3})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"] == "published" and d["published_by"] == admin.user_id and d["published_at"]
    assert_error(editor.call("PATCH", path, {"version": 3, "title": "Later"}), 409)
    assert_error(admin.call("POST", path + "/publish", {}), 409)

    # the history: every version with its author, newest first
    r = member.call("GET", path + "/versions")
    assert r.status_code == 200, r.text
    v = r.json()["versions"]
    assert [x["version"] for x in v] == [3, 2, 1]
    assert [x["kind"] for x in v] == ["edit", "edit", "generated"]
    assert v[0]["author"] == editor.user_id and v[2]["author"] == "rules"
    assert v[0]["body"] == "Settings > Theme > Dark."

    # the same merge told again (a redelivery after publication) changes nothing
    integ = integration(boss)
    wait_status(boss, deliver(srv, integ, "pull_request", merged_pr(7)), "processed")
    again = boss.call("GET", path).json()
    assert again["version"] == 3 and again["status"] == "published" and again["title"] == "Dark mode"


def test_schedule_reviewers_and_limits(srv):  # noqa: F811
    boss = owner(srv)
    d = draft_from_webhook(srv, boss, 8)
    path = f"/api/v1/drafts/{d['id']}"
    other = owner(srv)
    r = boss.call("PATCH", path, {"version": 1, "reviewers": [other.user_id]})
    assert_error(r, 400, "validation_failed")
    assert "reviewers[0]" in r.text
    for body, field in (({"version": 1, "title": "x" * 201}, "title"),
                        ({"version": 1, "title": ""}, "title"),
                        ({"version": 1, "title": "two\nlines"}, "title"),
                        ({"version": 1, "body": "x" * 10001}, "body"),
                        ({"version": 1, "labels": ["l"] * 21}, "labels"),
                        ({"version": 1, "labels": ["x" * 65]}, "labels[0]"),
                        ({"version": 1, "category": "epic"}, "category"),
                        ({"title": "no version"}, "version")):
        r = boss.call("PATCH", path, body)
        assert_error(r, 400, "validation_failed")
        assert field in r.text, (field, r.text)
    ok = boss.call("PATCH", path, {"version": 1, "title": "x" * 200})
    assert ok.status_code == 200, ok.text
    assert_error(boss.call("POST", path + "/reject", {"note": "n" * 501}), 400)
    for q in ("status=nope", "limit=101", "cursor=zz", "reviewer=%22x"):
        assert_error(boss.call("GET", "/api/v1/drafts?" + q), 400, "validation_failed")

    # scheduled: publish_at in the future holds it back
    assert boss.call("POST", path + "/submit", {}).status_code == 200
    assert boss.call("POST", path + "/approve", {}).status_code == 200
    r = boss.call("POST", path + "/publish", {"publish_at": 4102444800})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "scheduled" and r.json()["publish_at"] == 4102444800
    assert r.json()["published_at"] is None


def test_other_organization_and_rules(srv):  # noqa: F811
    boss = owner(srv)
    d = draft_from_webhook(srv, boss, 9)
    other = owner(srv)
    path = f"/api/v1/drafts/{d['id']}"
    assert_error(other.call("GET", path), 404)
    assert_error(other.call("GET", path + "/versions"), 404)
    assert_error(other.call("PATCH", path, {"version": 1, "title": "Theirs"}), 404)
    for action in ("submit", "approve", "reject", "publish"):
        assert_error(other.call("POST", f"{path}/{action}", {}), 404)
    assert other.call("GET", "/api/v1/drafts").json()["drafts"] == []
    assert boss.call("GET", path).json()["version"] == 1

    # rules: read by anyone, replaced by Admins; a bad document names its member
    member = join(srv, boss, "member")
    r = member.call("GET", "/api/v1/settings/rules")
    assert r.status_code == 200 and "labels" in r.json(), r.text
    assert_error(member.call("PUT", "/api/v1/settings/rules", {"fallback": "fix"}), 403)
    r = boss.call("PUT", "/api/v1/settings/rules", {"labels": {"ui": "epic"}})
    assert_error(r, 400, "validation_failed")
    assert "labels" in r.text
    r = boss.call("PUT", "/api/v1/settings/rules", {"labels": {"ui": "fix"}, "fallback": "fix"})
    assert r.status_code == 200 and r.json()["labels"] == {"ui": "fix"}, r.text
    assert other.call("GET", "/api/v1/settings/rules").json()["labels"] != {"ui": "fix"}
    # the tenant's rules apply to the next change: a plain title with label "ui" is a fix
    integ = integration(boss)
    wait_status(boss, deliver(srv, integ, "pull_request",
                              merged_pr(10, title="Tidy the header", body="")), "processed")
    assert only_draft(boss, 10)["impact"] == "fix"
