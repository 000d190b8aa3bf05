"""The console's changelog review pages end to end (issue 7 item 4; D4, D5,
U1, U2, T4) on both backends, driven as a browser would: a merged pull
request's webhook makes a draft; the queue lists it by status; an Editor
edits it through the form (a new version, shown in the history with the
Editor's address) and submits it; a stale version is a conflict that keeps
what was typed; an Admin rejects with a note, approves and publishes or
schedules through the forms; a Member sees no controls and a forged post is
refused; every page is strict HTML without inline script or style, and a
post without the form token is refused; another organization gets 404.
"""

import html
import re
from html.parser import HTMLParser

from test_activity import PR, console_of, deliver, integration, wait_status
from test_console import assert_strict_page
from test_drafts import draft_from_webhook, merged_pr
from test_members import join, owner, srv  # noqa: F401 (fixture)


class Controls(HTMLParser):
    """What assert_strict_page's parser does not keep: textareas, selects and their options."""

    def __init__(self, text):
        super().__init__()
        self.textareas, self.selected, self._in = {}, {}, None
        self._select = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "textarea":
            self._in = a["name"]
            self.textareas[self._in] = ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and "selected" in a and self._select:
            self.selected[self._select] = a["value"]

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._in = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._in:
            self.textareas[self._in] += data


def actions(page):
    """The form actions of a page under /drafts."""
    return [f["action"] for f in page.forms if (f["action"] or "").startswith("/drafts")]


def editor_fields(r, path, **changes):
    """The editor's form as the page r shows it (title, body, selects, labels), with changes."""
    form = r.page.form(path)["fields"]
    c = Controls(r.text)
    fields = {"version": form["version"]["value"], "title": form["title"]["value"],
              "body": c.textareas["body"], "category": c.selected["category"],
              "audience": c.selected["audience"], "labels": form["labels"].get("value", "")}
    for name, a in form.items():
        if name.startswith("reviewer-") and "checked" in a:
            fields[name] = a["value"]
    fields.update(changes)
    return fields


def reviewer_box(page, path, user_id):
    for name, a in page.form(path)["fields"].items():
        if name.startswith("reviewer-") and a.get("value") == user_id:
            return name
    raise AssertionError(f"no reviewer box for {user_id}")


def csrf_of(page):
    """A page's form token (any form: tokens belong to the session, not the form)."""
    return page.forms[0]["fields"]["csrf"]["value"]


def text(r):
    return html.unescape(r.text)


def test_review_through_the_console(srv):  # noqa: F811
    boss = owner(srv)
    editor, admin, member = (join(srv, boss, role) for role in ("editor", "admin", "member"))
    d = draft_from_webhook(srv, boss, 21)
    path = f"/drafts/{d['id']}"
    eb, ab, mb = console_of(editor), console_of(admin), console_of(member)

    # the queue: in review by default (empty yet), the draft under "Drafts"
    r = eb.get("/drafts")
    assert r.status_code == 200, r.text
    assert_strict_page("/drafts", r)
    assert '<a href="/drafts">Changelog</a>' in r.text  # in the navigation
    assert 'href="/drafts?status=in_review" aria-current="page"' in r.text
    assert path not in r.text and "No entries here." in r.text
    r = eb.get("/drafts?status=draft")
    assert r.status_code == 200 and f'href="{path}"' in r.text, r.text
    assert_strict_page("/drafts?status=draft", r)
    assert "PR #21" in r.text and 'href="https://' in r.text and "feature" in r.text

    # the editor: the form, the submit step, nothing an Editor may not do
    r = eb.get(path)
    assert r.status_code == 200, r.text
    assert_strict_page(path, r)
    assert actions(r.page) == [path, path + "/submit"], actions(r.page)
    assert r.page.form(path)["fields"]["version"]["value"] == "1"
    assert "Impact" in r.text and "feat" in r.text  # the impact and its reason
    box = reviewer_box(r.page, path, admin.user_id)
    fields = editor_fields(r, path, title="Dark mode", body="Every page.\r\nEven this one.",
                           labels="ui, themes ,", **{box: admin.user_id})
    r = eb.post(path, fields, page=r.page)
    assert r.status_code == 303 and r.headers["Location"] == path + "?done=saved", r.text
    r = eb.get(path + "?done=saved")
    assert "Saved." in r.text and r.page.form(path)["fields"]["version"]["value"] == "2"
    api = editor.call("GET", f"/api/v1/drafts/{d['id']}").json()
    assert api["version"] == 2 and api["title"] == "Dark mode", api
    assert api["body"] == "Every page.\nEven this one." and api["labels"] == ["ui", "themes"]
    assert api["reviewers"] == [admin.user_id] and api["human_edited"]
    assert "checked" in r.page.form(path)["fields"][box]

    # a regeneration after the edit is kept aside as a suggestion
    integ = integration(boss)
    wait_status(boss, deliver(srv, integ, "pull_request",
                              merged_pr(21, title="feat(ui): darker dark mode")), "processed")

    # the history: newest first, the Editor's address, the suggestion marked
    r = eb.get(path + "/history")
    assert r.status_code == 200, r.text
    assert_strict_page(path + "/history", r)
    t = text(r)
    assert t.index("Version 3 · Suggestion") < t.index("Version 2 · Edit") < \
        t.index("Version 1 · Generated"), t
    assert "Suggestion, not applied" in t
    assert editor.email in t and "Every page.\nEven this one." in t and "rules" in t

    # a stale version: the conflict, and the typed text kept in the form
    r = eb.get(path)
    stale = editor_fields(r, path, version="1", title="Typed & lost?",
                          body="Nothing typed is lost.")
    r = eb.post(path, stale, page=r.page)
    assert r.status_code == 409, r.text
    assert_strict_page(path, r)
    assert "changed" in text(r).lower() and "Your text is kept below" in text(r)
    assert r.page.form(path)["fields"]["title"]["value"] == "Typed & lost?"
    assert Controls(r.text).textareas["body"] == "Nothing typed is lost."
    assert r.page.form(path)["fields"]["version"]["value"] == "2"  # saving again is knowing
    assert editor.call("GET", f"/api/v1/drafts/{d['id']}").json()["title"] == "Dark mode"

    # submitted: under "in review", and assigned to the Admin
    r = eb.get(path)
    r = eb.post(path + "/submit", {"version": "2"}, page=r.page)
    assert r.status_code == 303 and r.headers["Location"] == path + "?done=submitted", r.text
    r = eb.get("/drafts")
    assert f'href="{path}"' in r.text and "In review" in r.text
    r = ab.get("/drafts?status=in_review&mine=1")
    assert f'href="{path}"' in r.text, r.text
    assert_strict_page("/drafts?mine=1", r)
    assert f'href="{path}"' not in eb.get("/drafts?status=in_review&mine=1").text

    # a Member reads, with no controls; a forged post is refused
    r = mb.get(path)
    assert r.status_code == 200 and "Dark mode" in r.text
    assert_strict_page(path, r)
    assert actions(r.page) == [] and "<textarea" not in r.text
    token = csrf_of(r.page)
    for step in ("", "/submit", "/approve", "/reject", "/publish"):
        r = mb.post(path + step, {"version": "2", "title": "Mine", "csrf": token}, csrf=False)
        assert r.status_code == 403 and "permission_denied" in r.text, (step, r.text)
    # an Editor gets no review buttons, and a forged approval is refused too
    r = eb.get(path)
    assert actions(r.page) == [path], actions(r.page)
    r = eb.post(path + "/approve", {"version": "2", "csrf": csrf_of(r.page)}, csrf=False)
    assert r.status_code == 403

    # the Admin: without the form token nothing happens; rejects with a note
    r = ab.get(path)
    assert actions(r.page) == [path, path + "/approve", path + "/reject"], actions(r.page)
    assert_strict_page(path, r)
    r = ab.post(path + "/approve", {"version": "2"}, csrf=False)
    assert r.status_code == 403 and "csrf_refused" in r.text
    r = ab.post(path + "/reject", {"version": "2", "note": "Name the setting."},
                page=ab.get(path).page)
    assert r.status_code == 303 and r.headers["Location"] == path + "?done=rejected", r.text
    r = eb.get(path)
    assert "Rejection note" in r.text and "Name the setting." in r.text
    assert admin.email in r.text  # who decided

    # the Editor's edit sends it back to draft; submitted again, approved, published
    fields = editor_fields(r, path, body="Settings > Theme > Dark.")
    assert eb.post(path, fields, page=r.page).status_code == 303
    assert eb.post(path + "/submit", {"version": "4"}, page=eb.get(path).page).status_code == 303
    r = ab.post(path + "/approve", {"version": "4"}, page=ab.get(path).page)
    assert r.status_code == 303 and r.headers["Location"] == path + "?done=approved", r.text
    r = ab.get(path)
    assert actions(r.page) == [path, path + "/publish", path + "/publish"], actions(r.page)
    assert_strict_page(path, r)
    r = ab.post(path + "/publish", {"version": "4"}, page=r.page)
    assert r.status_code == 303 and r.headers["Location"] == path + "?done=published", r.text
    api = admin.call("GET", f"/api/v1/drafts/{d['id']}").json()
    assert api["status"] == "published" and api["published_by"] == admin.user_id

    # published: read-only for everyone
    for b in (ab, eb):
        r = b.get(path)
        assert actions(r.page) == [] and "Published" in r.text, actions(r.page)
        assert_strict_page(path, r)
    r = ab.get("/drafts?status=published")
    assert f'href="{path}"' in r.text


def test_schedule_limits_and_refusals(srv):  # noqa: F811
    boss = owner(srv)
    d = draft_from_webhook(srv, boss, 22)
    path = f"/drafts/{d['id']}"
    b = console_of(boss)
    got = b.get(path)
    page = got.page

    # each field one byte past its limit: 400 naming it, the typed text kept
    for change, name in (({"title": "t" * 201}, "title"),
                         ({"body": "b" * 10001}, "body"),
                         ({"labels": ",".join(["l"] * 21)}, "labels"),
                         ({"labels": "a" * 1321}, "labels"),
                         ({"labels": "x" * 65}, "labels[0]"),
                         ({"version": "1" * 11}, "version"),
                         ({"category": "epic"}, "category"),
                         ({"audience": "nobody"}, "audience")):
        r = b.post(path, editor_fields(got, path, **change), page=page)
        assert r.status_code == 400, (name, r.status_code, r.text[:300])
        assert name in text(r), (name, text(r)[:2000])
        assert_strict_page(path, r)
        if "title" in change:
            assert r.page.form(path)["fields"]["title"]["value"] == change["title"]
        if "body" in change:
            assert Controls(r.text).textareas["body"] == change["body"]
    r = b.post(path, editor_fields(got, path, title="t" * 200, body="b" * 10000), page=page)
    assert r.status_code == 303, r.text[:500]
    assert boss.call("GET", f"/api/v1/drafts/{d['id']}").json()["version"] == 2

    # the editor's form body: DRAFTS_MAX_FORM (64 KiB) bytes are read, one more is 413
    token = csrf_of(got.page)
    head = {"Content-Type": "application/x-www-form-urlencoded", "Origin": srv.base_url,
            "Sec-Fetch-Site": "same-origin"}
    for size, status in ((65536, 303), (65537, 413)):
        raw = (f"csrf={token}&version=2&title=Sized&category=fix&audience=everyone&labels="
               f"&body={'b' * 9000}")
        for i in range(4):
            raw += f"&pad{i}=" + "p" * min(16000, size - len(raw) - len(f"&pad{i}="))
        assert len(raw) == size, len(raw)
        r = b._send("POST", path, data=raw, headers=head)
        assert r.status_code == status, (size, r.status_code, r.text[:300])
    version = boss.call("GET", f"/api/v1/drafts/{d['id']}").json()["version"]
    assert version == 3, version

    # more reviewers than an entry takes, or one that is no member
    other = owner(srv)
    got = b.get(path)
    page = got.page
    r = b.post(path, editor_fields(got, path, **{"reviewer-0": other.user_id}), page=page)
    assert r.status_code == 400 and "reviewers[0]" in text(r), text(r)[:2000]
    boxes = {f"reviewer-{i}": f"{i:08d}-0000-4000-8000-000000000000" for i in range(11)}
    r = b.post(path, editor_fields(got, path, **boxes), page=page)
    assert r.status_code == 400 and "reviewers" in text(r)

    # the queue's and the history's parameters
    for q in ("status=nope", "status=" + "x" * 17, "mine=2", "mine=11", "cursor=zz"):
        r = b.get("/drafts?" + q)
        assert r.status_code == 400, (q, r.status_code)
        assert_strict_page("/drafts?" + q, r)
    for q in ("before=abc", "before=" + "1" * 11, "before=0"):
        assert b.get(f"{path}/history?{q}").status_code == 400, q
    r = b.get(f"{path}/history?before=2")
    assert "Version 1 · Generated" in text(r) and "Version 2" not in text(r)

    # a note one byte too long; a bad time; then scheduled for later
    assert b.post(path + "/submit", {"version": "3"}, page=b.get(path).page).status_code == 303
    r = b.post(path + "/reject", {"version": "3", "note": "n" * 501}, page=b.get(path).page)
    assert r.status_code == 400 and "note" in text(r), text(r)[:2000]
    assert b.post(path + "/approve", {"version": "3"}, page=b.get(path).page).status_code == 303
    page = b.get(path).page
    for when in ("2100-13-01T00:00", "2100-02-30T00:00", "2100-01-01 00:00",
                 "2100-01-01T00:00:000"):
        r = b.post(path + "/publish", {"version": "3", "publish_at": when}, page=page)
        assert r.status_code == 400 and "publish_at" in text(r), (when, r.text[:300])
    r = b.post(path + "/publish", {"version": "1", "publish_at": "2100-01-01T00:00"}, page=page)
    assert r.status_code == 409, r.text[:300]  # a stale version
    r = b.post(path + "/publish", {"version": "3", "publish_at": "2100-01-01T00:00"}, page=page)
    assert r.status_code == 303 and r.headers["Location"] == path + "?done=scheduled", r.text
    api = boss.call("GET", f"/api/v1/drafts/{d['id']}").json()
    assert api["status"] == "scheduled" and api["publish_at"] == 4102444800, api
    r = b.get(path + "?done=scheduled")
    assert "2100-01-01 00:00 UTC" in r.text and actions(r.page) == [], actions(r.page)
    assert f'href="{path}"' in b.get("/drafts?status=scheduled").text


def test_another_organization_gets_404(srv):  # noqa: F811
    boss = owner(srv)
    d = draft_from_webhook(srv, boss, 23)
    path = f"/drafts/{d['id']}"
    other = console_of(owner(srv))
    for p in (path, path + "/history"):
        r = other.get(p)
        assert r.status_code == 404, (p, r.status_code)
        assert_strict_page(p, r)
        assert d["title"] not in text(r)
    token = csrf_of(other.get("/drafts").page)
    for step in ("", "/submit", "/approve", "/reject", "/publish"):
        r = other.post(path + step, {"version": "1", "title": "Theirs", "csrf": token},
                       csrf=False)
        assert r.status_code == 404, (step, r.status_code)
    r = other.get("/drafts?status=all")
    assert r.status_code == 200 and path not in r.text and "No entries here." in r.text
    assert boss.call("GET", f"/api/v1/drafts/{d['id']}").json()["version"] == 1
    assert PR["repository"]["full_name"]  # the fixture the draft came from
    assert re.fullmatch(r"[0-9a-f]{32}", d["id"])
