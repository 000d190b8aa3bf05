"""The public changelog feed (W1) and the widget's script (W2) against the real
server, on both backends: JSON Feed and Atom shapes, pagination by cursor,
ETag / If-None-Match, open CORS without credentials, the in-memory cache and
its TTL, and that nothing unpublished, internal or of another tenant ever
appears. Entries are seeded straight into the database (feed_util.py)."""

import secrets
import time
import xml.etree.ElementTree as ET

import pytest

from e2e_util import assert_error, assert_security_headers
from feed_util import NEVER, create_tenant, seed

ATOM = "{http://www.w3.org/2005/Atom}"
EVIL = "https://anyone.example"
HOSTILE = "<script>alert(1)</script> ]]> & \"q\" \x01 \u2603"


@pytest.fixture(scope="module")
def srv(module_server_factory):
    s = module_server_factory.start(env={"SHIPLOG_FEED_CACHE_TTL_MS": "1500"})
    s.factory = module_server_factory
    return s


def new_slug(tag):
    return f"{tag}-{secrets.token_hex(3)}"


@pytest.fixture(scope="module")
def world(srv):
    """acme: public entries and every kind that must stay hidden; other: one public entry."""
    f = srv.factory
    acme, other = new_slug("acme"), new_slug("other")
    a, b = create_tenant(f, srv, acme, "Acme <Tools>"), create_tenant(f, srv, other)
    t = int(time.time()) - 10000
    public = seed(f, srv, a, [
        {"title": "Old fix", "category": "fix", "published_at": t + 1, "labels": ["bug"]},
        {"title": "API v2", "category": "feature", "audience": "developers", "published_at": t + 2,
         "labels": ["api", "sdk"]},
        {"title": HOSTILE, "body": "line one\nline two " + HOSTILE, "category": "security",
         "published_at": t + 3},
    ])
    hidden = seed(f, srv, a, [
        {"title": "HIDDEN internal", "audience": "internal", "published_at": t + 9},
        {"title": "HIDDEN draft", "status": "draft"},
        {"title": "HIDDEN in review", "status": "in_review"},
        {"title": "HIDDEN approved", "status": "approved"},
        {"title": "HIDDEN rejected", "status": "rejected"},
        {"title": "HIDDEN scheduled", "status": "scheduled"},
    ])
    theirs = seed(f, srv, b, [{"title": "HIDDEN other tenant", "published_at": t + 20}])
    return {"acme": acme, "other": other, "a": a, "b": b, "public": public, "hidden": hidden,
            "theirs": theirs}


def no_leaks(text):
    for marker in NEVER + ("HIDDEN",):
        assert marker not in text, f"{marker!r} in the feed"


def test_json_feed_shape(srv, world):
    r = srv.get(f"/feed/{world['acme']}.json")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/feed+json"
    assert r.headers["Cache-Control"] == "public, max-age=60"
    no_leaks(r.text)
    doc = r.json()
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["title"] == "Acme <Tools> changelog"
    assert doc["feed_url"] == srv.url(f"/feed/{world['acme']}.json")
    assert "next_url" not in doc
    items = doc["items"]
    assert [i["id"] for i in items] == list(reversed(world["public"]))  # newest first
    assert items[0]["title"] == HOSTILE  # the text itself, escaped only on the wire
    assert items[0]["content_text"] == "line one\nline two " + HOSTILE
    assert items[0]["_shiplog"] == {"category": "security", "category_heading": "Security",
                                    "audience": "everyone",
                                    "published_at": items[0]["_shiplog"]["published_at"]}
    assert items[1]["tags"] == ["api", "sdk"] and items[1]["_shiplog"]["audience"] == "developers"
    assert items[2]["_shiplog"]["category"] == "fix"
    assert items[2]["_shiplog"]["category_heading"] == "Fixes"
    for i in items:  # customer-facing fields only
        assert set(i) == {"id", "title", "content_text", "date_published", "tags", "_shiplog"}
        assert i["date_published"].endswith("Z")
    assert "\\u003cscript" in r.text and "<script>" not in r.text


def test_atom_shape(srv, world):
    r = srv.get(f"/feed/{world['acme']}.atom")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    no_leaks(r.text)
    assert "<script>" not in r.text
    root = ET.fromstring(r.content)
    assert root.tag == ATOM + "feed"
    assert root.find(ATOM + "id").text == f"urn:uuid:{world['a']}"
    assert root.find(ATOM + "title").text == "Acme <Tools> changelog"
    assert root.find(ATOM + "updated").text.endswith("Z")
    assert root.find(ATOM + "author/" + ATOM + "name").text == "Acme <Tools>"
    links = {l.get("rel"): l.get("href") for l in root.findall(ATOM + "link")}
    assert links["self"] == srv.url(f"/feed/{world['acme']}.atom")
    assert links["alternate"] == srv.url(f"/feed/{world['acme']}.json")
    assert "next" not in links
    entries = root.findall(ATOM + "entry")
    assert [e.find(ATOM + "id").text for e in entries] == \
        [f"urn:shiplog:entry:{i}" for i in reversed(world["public"])]
    first = entries[0]
    # XML cannot carry U+0001: it arrives as U+FFFD; everything else exactly
    assert first.find(ATOM + "title").text == HOSTILE.replace("\x01", "\ufffd")
    assert first.find(ATOM + "content").get("type") == "text"
    cats = {(c.get("scheme"), c.get("term")) for c in first.findall(ATOM + "category")}
    assert ("urn:shiplog:category", "security") in cats
    assert ("urn:shiplog:audience", "everyone") in cats
    labels = {c.get("term") for c in entries[1].findall(ATOM + "category")
              if c.get("scheme") == "urn:shiplog:label"}
    assert labels == {"api", "sdk"}


def test_other_tenant_sees_only_its_own(srv, world):
    r = srv.get(f"/feed/{world['other']}.json")
    assert r.status_code == 200
    assert [i["id"] for i in r.json()["items"]] == world["theirs"]
    a = srv.get(f"/feed/{world['acme']}.json").text
    assert world["theirs"][0] not in a and "other tenant" not in a


def test_pagination(srv):
    f = srv.factory
    slug = new_slug("paged")
    tid = create_tenant(f, srv, slug)
    t = int(time.time()) - 5000
    ids = seed(f, srv, tid, [{"title": f"E{i}", "published_at": t + i // 3} for i in range(45)])
    for ext in ("json", "atom"):
        seen, url, sizes = [], srv.url(f"/feed/{slug}.{ext}"), []
        while url:
            assert url.startswith(srv.base_url), url
            r = srv.get(url[len(srv.base_url):])
            assert r.status_code == 200, r.text
            if ext == "json":
                doc = r.json()
                page = [i["id"] for i in doc["items"]]
                url = doc.get("next_url")
            else:
                root = ET.fromstring(r.content)
                page = [e.find(ATOM + "id").text.rsplit(":", 1)[1]
                        for e in root.findall(ATOM + "entry")]
                url = next((l.get("href") for l in root.findall(ATOM + "link")
                            if l.get("rel") == "next"), None)
            sizes.append(len(page))
            seen += page
        assert sizes == [20, 20, 5], (ext, sizes)
        assert len(set(seen)) == 45 and set(seen) == set(ids), ext


def test_bad_cursors_are_400(srv, world):
    acme = world["acme"]
    for cursor in ("xyz", "0" * 31, "0" * 33, "A" * 32, world["hidden"][0], world["theirs"][0],
                   "0" * 32):
        r = srv.get(f"/feed/{acme}.json", params={"cursor": cursor})
        assert_error(r, 400, "validation_failed")
        assert r.json()["error"]["fields"][0]["path"] == "cursor"
        assert r.headers.get("Access-Control-Allow-Origin") == "*"
        assert r.headers.get("Cache-Control") == "no-store"
    r = srv.get(f"/feed/{acme}.json?cursor=%zz")
    assert_error(r, 400, "validation_failed")
    # an empty cursor is the first page; other parameters are ignored
    r = srv.get(f"/feed/{acme}.json?cursor=&utm_source=x")
    assert r.status_code == 200 and len(r.json()["items"]) == 3
    # a public entry's id is a cursor: what follows it
    r = srv.get(f"/feed/{acme}.json", params={"cursor": world["public"][2]})
    assert [i["id"] for i in r.json()["items"]] == [world["public"][1], world["public"][0]]


def test_unknown_feeds_are_404(srv):
    for path in ("/feed/no-such-tenant.json", "/feed/no-such-tenant.atom", "/feed/ACME.json",
                 "/feed/" + "a" * 64 + ".json", "/feed/-x.json", "/feed/a.b.json",
                 "/feed/acme.rss", "/feed/.json"):
        r = srv.get(path, headers={"Origin": EVIL})
        assert_error(r, 404, "not_found")
        assert r.headers.get("Access-Control-Allow-Origin") == "*", path
        assert r.headers.get("Cache-Control") == "no-store", path


def test_etag_and_304(srv, world):
    path = f"/feed/{world['acme']}.json"
    r = srv.get(path)
    tag = r.headers["ETag"]
    assert tag.startswith('"') and len(tag) == 34
    for inm in (tag, "W/" + tag, f'"other", {tag}', "*", f'"x" ,\tW/{tag}'):
        n = srv.get(path, headers={"If-None-Match": inm})
        assert n.status_code == 304, inm
        assert n.content == b""
        assert n.headers["ETag"] == tag
        assert n.headers["Cache-Control"] == "public, max-age=60"
        assert n.headers["Access-Control-Allow-Origin"] == "*"
    # a tag one digit off (never the tag itself: its last digit may be '0')
    near = tag[:-2] + ("1" if tag[-2] == "0" else "0") + '"'
    for inm in ('"other"', near, "garbage", tag + " junk"):
        assert srv.get(path, headers={"If-None-Match": inm}).status_code == 200, inm
    h = srv.request("HEAD", path)
    assert h.status_code == 200 and h.content == b"" and h.headers["ETag"] == tag
    # the Atom page has its own tag
    assert srv.get(f"/feed/{world['acme']}.atom").headers["ETag"] != tag


def test_open_cors_without_credentials(srv, world):
    path = f"/feed/{world['acme']}.json"
    r = srv.get(path, headers={"Origin": EVIL, "Cookie": "__Host-shiplog_session=x"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers
    assert "ETag" in r.headers["Access-Control-Expose-Headers"]
    assert "Set-Cookie" not in r.headers and "Vary" not in r.headers
    assert_security_headers(r, delivery=True)
    assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    p = srv.request("OPTIONS", path, headers={"Origin": EVIL, "Access-Control-Request-Method": "GET",
                                              "Access-Control-Request-Headers": "if-none-match"})
    assert p.status_code == 204
    assert p.headers["Access-Control-Allow-Origin"] == "*"
    assert "If-None-Match" in p.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in p.headers


def test_cache_serves_until_ttl(srv):
    """A page is served from memory (a row written behind the server's back
    does not show) until SHIPLOG_FEED_CACHE_TTL_MS has passed."""
    f = srv.factory
    slug = new_slug("cached")
    tid = create_tenant(f, srv, slug)
    seed(f, srv, tid, [{"title": "first"}])
    r1 = srv.get(f"/feed/{slug}.json")
    assert [i["title"] for i in r1.json()["items"]] == ["first"]
    seed(f, srv, tid, [{"title": "second", "published_at": int(time.time()) + 5}])
    r2 = srv.get(f"/feed/{slug}.json")
    assert r2.headers["ETag"] == r1.headers["ETag"]  # from memory: no database read
    time.sleep(1.6)
    r3 = srv.get(f"/feed/{slug}.json")
    assert [i["title"] for i in r3.json()["items"]] == ["second", "first"]
    assert r3.headers["ETag"] != r1.headers["ETag"]


def test_cache_off(module_server_factory):
    s = module_server_factory.start(env={"SHIPLOG_FEED_CACHE_TTL_MS": "0"})
    slug = new_slug("nocache")
    tid = create_tenant(module_server_factory, s, slug)
    assert s.get(f"/feed/{slug}.json").json()["items"] == []
    seed(module_server_factory, s, tid, [{"title": "at once"}])
    assert [i["title"] for i in s.get(f"/feed/{slug}.json").json()["items"]] == ["at once"]


def test_widget_script(srv):
    r = srv.get("/widget.js", headers={"Origin": EVIL})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert r.headers["Cache-Control"] == "public, max-age=300"
    assert "attachShadow" in r.text and "innerHTML" not in r.text and "document.cookie" not in r.text
    assert len(r.content) < 8192
    n = srv.get("/widget.js", headers={"If-None-Match": r.headers["ETag"]})
    assert n.status_code == 304 and n.content == b""
    assert srv.request("POST", "/widget.js").status_code == 405
