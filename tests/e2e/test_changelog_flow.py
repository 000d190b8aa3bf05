"""Issue 7's "done when", end to end on both backends: a merged pull request
arriving by signed webhook becomes a draft; an Editor submits it; an Admin
approves and publishes it through the console's forms; it then appears in
the organization's public feed (JSON and Atom, the cached page replaced at
once), in the widget embedded on a host page of a second origin under a
strict CSP (headless Chromium), and in a delivery signed with Standard
Webhooks to the endpoint the organization registered. Before the approval
it appears in none of them.
"""

import json
import secrets as pysecrets
import xml.etree.ElementTree as ET

import pytest

from e2e_util import wait_until
from test_activity import console_of
from test_browser import browser  # noqa: F401  (the headless Chromium fixture)
from test_drafts import draft_from_webhook
from test_members import join, owner
from test_outbound import Receiver, verify
from test_widget import HostPages, load

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def srv(module_server_factory, sink):
    url, mail_dir = sink
    s = module_server_factory.start(env={"SHIPLOG_SMTP_URL": url, "SHIPLOG_BCRYPT_COST": "10",
                                         "SHIPLOG_TRUSTED_PROXIES": "127.0.0.1/32",
                                         "SHIPLOG_OUTBOUND_ALLOW_PRIVATE": "true",
                                         "SHIPLOG_FEED_CACHE_TTL_MS": "60000"})
    s.mail_dir = mail_dir
    s.factory = module_server_factory
    return s


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def feed_titles(srv, slug):
    r = srv.get(f"/feed/{slug}.json")
    assert r.status_code == 200, r.text
    return [i["title"] for i in r.json()["items"]]


def test_merged_pr_to_feed_widget_and_webhook(srv, receiver, browser):  # noqa: F811
    boss = owner(srv)
    editor, admin = join(srv, boss, "editor"), join(srv, boss, "admin")
    me = boss.call("GET", "/api/v1/me").json()
    slug = me["tenant_slug"]
    assert me["feed_url"] == f"{srv.base_url}/feed/{slug}.json"
    r = boss.call("POST", "/api/v1/endpoints", {"url": receiver.url("/changelog")},
                  headers={"Idempotency-Key": "flow-" + pysecrets.token_hex(8)})
    assert r.status_code == 201, r.text
    endpoint = r.json()

    # the webhook makes a draft; nothing is public yet (and the empty page is cached)
    d = draft_from_webhook(srv, boss, 41)
    title = d["title"]
    assert feed_titles(srv, slug) == []
    assert editor.call("POST", f"/api/v1/drafts/{d['id']}/submit", {}).status_code == 200
    assert feed_titles(srv, slug) == [] and receiver.requests == []

    # the Admin approves and publishes in the console
    ab, path = console_of(admin), f"/drafts/{d['id']}"
    page = ab.get(path).page
    r = ab.post(path + "/approve", {"version": str(d["version"])}, page=page)
    assert r.status_code == 303 and r.headers["Location"] == path + "?done=approved", r.text
    r = ab.post(path + "/publish", {"version": str(d["version"])}, page=ab.get(path).page)
    assert r.status_code == 303 and r.headers["Location"] == path + "?done=published", r.text
    got = admin.call("GET", f"/api/v1/drafts/{d['id']}").json()
    assert got["status"] == "published" and got["published_by"] == admin.user_id

    # the feed at once (the cached empty page is gone), JSON and Atom
    assert feed_titles(srv, slug) == [title]
    atom = ET.fromstring(srv.get(f"/feed/{slug}.atom").content)
    assert [e.findtext(ATOM + "title") for e in atom.iter(ATOM + "entry")] == [title]

    # the signed delivery
    assert wait_until(lambda: receiver.requests, 20), "no delivery"
    p, headers, body = receiver.requests[0]
    assert p == "/changelog"
    verify(endpoint["secret"], headers, body)
    event = json.loads(body)
    assert event["type"] == "changelog.entry.published"
    assert event["data"]["id"] == d["id"] and event["data"]["title"] == title

    # the widget on a customer's page of another origin, under a strict CSP
    host = HostPages(srv.base_url, slug)
    try:
        browser.delete_all_cookies()
        s = load(browser, host.origin + "/")
        assert s["state"] == "ready", s
        assert s["titles"] == [title] and s["badge"] == "1"
        assert s["cookie"] == ""
    finally:
        host.close()
