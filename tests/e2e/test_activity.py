"""Activity end to end (issue 6 item 9, I1-I6, T4, Z1, U1/U2) on both
backends: an organization's GitHub integration receives signed, real fixture
deliveries (push, pull_request) through its webhook URL; once they are
processed the API lists the delivery, the repository, the commit and the pull
request with the fixture's values; pagination with limit=1 walks every row
through next_cursor; a malformed cursor, a cursor of another list and limit
101 are 400 naming the parameter; another organization sees none of it and
gets 404 for the delivery and the repository; an Editor reads but cannot
retry jobs; a delivery whose normalization fails for good is a dead job that
the API and the console list, and a retry runs it again (it dies again, its
attempts counted afresh); the console pages are strict HTML.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets as pysecrets
import time
from pathlib import Path

from e2e_util import assert_error
from test_console import Browser, assert_strict_page
from test_members import COOKIE, PASSWORD, Api, join, owner, srv  # noqa: F401 (fixture)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks" / "github"
PUSH = json.loads((FIXTURES / "push.json").read_text())
PR = json.loads((FIXTURES / "pull-request.json").read_text())


def idem():
    return {"Idempotency-Key": "act-" + pysecrets.token_hex(8)}


def integration(api):
    r = api.call("POST", "/api/v1/integrations", {"provider": "github", "name": "GitHub"},
                 headers=idem())
    assert r.status_code == 201, r.text
    return r.json()


def deliver(srv, integ, event, body):
    """POSTs body to the integration's webhook URL as GitHub signs it."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sig = hmac.new(integ["secret"].encode(), raw, hashlib.sha256).hexdigest()
    path = integ["webhook_url"][len(srv.base_url):]
    r = srv.request("POST", path, data=raw, headers={
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(pysecrets.token_hex(16)),
        "X-Hub-Signature-256": "sha256=" + sig,
        "X-Forwarded-For": f"10.201.{pysecrets.randbelow(250)}.{pysecrets.randbelow(250)}",
    })
    assert r.status_code == 202, r.text
    return r.json()["delivery_id"]


def wait_status(api, delivery_id, want, timeout=20.0):
    deadline = time.time() + timeout
    seen = None
    while time.time() < deadline:
        r = api.call("GET", "/api/v1/deliveries?limit=100")
        assert r.status_code == 200, r.text
        for d in r.json()["deliveries"]:
            if d["id"] == delivery_id:
                seen = d
                if d["status"] == want:
                    return d
        time.sleep(0.1)
    raise AssertionError(f"delivery {delivery_id} is not {want}: {seen}")


def walk(api, path, key):
    """Every row of a listing, one a page, through next_cursor."""
    rows, cursor = [], None
    for _ in range(50):
        sep = "&" if "?" in path else "?"
        url = f"{path}{sep}limit=1" + (f"&cursor={cursor}" if cursor else "")
        r = api.call("GET", url)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body[key]) <= 1
        rows += body[key]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows
        assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor), cursor
    raise AssertionError("pagination does not end")


def fed(srv):
    """An organization whose GitHub integration received a push and a pull request."""
    boss = owner(srv)
    integ = integration(boss)
    push_id = deliver(srv, integ, "push", PUSH)
    pr_id = deliver(srv, integ, "pull_request", PR)
    wait_status(boss, push_id, "processed")
    wait_status(boss, pr_id, "processed")
    return boss, integ, push_id, pr_id


def test_deliveries_and_normalized_rows(srv):  # noqa: F811
    boss, integ, push_id, pr_id = fed(srv)

    listed = boss.call("GET", "/api/v1/deliveries").json()
    assert {d["id"] for d in listed["deliveries"]} == {pr_id, push_id}
    times = [d["received_at"] for d in listed["deliveries"]]
    assert times == sorted(times, reverse=True)  # newest first (one second may hold both)
    assert listed["next_cursor"] is None
    d = [d for d in listed["deliveries"] if d["id"] == push_id][0]
    assert d["provider"] == "github" and d["event"] == "push" and d["status"] == "processed"
    assert d["integration_id"] == integ["id"] and d["error"] is None
    assert d["body_bytes"] == len(json.dumps(PUSH).encode())
    assert isinstance(d["received_at"], int) and d["processed_at"] >= d["received_at"]
    assert "body" not in d
    only = boss.call("GET", "/api/v1/deliveries?status=processed").json()["deliveries"]
    assert len(only) == 2
    assert boss.call("GET", "/api/v1/deliveries?status=dead").json()["deliveries"] == []

    one = boss.call("GET", f"/api/v1/deliveries/{push_id}")
    assert one.status_code == 200, one.text
    assert one.json()["body"]["after"] == PUSH["after"]
    assert one.json()["body"]["repository"]["full_name"] == PUSH["repository"]["full_name"]

    repos = boss.call("GET", "/api/v1/repositories").json()["repositories"]
    names = {r["full_name"]: r for r in repos}
    assert set(names) == {PUSH["repository"]["full_name"], PR["repository"]["full_name"]}
    push_repo = names[PUSH["repository"]["full_name"]]
    assert push_repo["id"] == f"github:repo:{PUSH['repository']['id']}"

    commits = boss.call("GET", f"/api/v1/commits?repo_id={push_repo['id']}").json()["commits"]
    assert [c["sha"] for c in commits] == [c["id"] for c in PUSH["commits"]]
    c = commits[0]
    assert c["message"] == PUSH["commits"][0]["message"] and c["branch"] == "master"
    assert c["repo_id"] == push_repo["id"]
    assert isinstance(c["authored_at"] or c["committed_at"], int)
    assert c["author"]["name"] == PUSH["commits"][0]["author"]["name"]
    assert "email" not in c["author"]

    prs = boss.call("GET", "/api/v1/pull-requests").json()["pull_requests"]
    assert len(prs) == 1
    p = prs[0]
    assert p["number"] == PR["number"] and p["title"] == PR["pull_request"]["title"]
    assert p["state"] == "open" and p["author"]["login"] == PR["pull_request"]["user"]["login"]
    assert p["repo_id"] == f"github:repo:{PR['repository']['id']}"
    assert boss.call("GET", "/api/v1/pull-requests?state=merged").json()["pull_requests"] == []
    assert boss.call("GET", "/api/v1/deployments").json() == {"deployments": [],
                                                               "next_cursor": None}
    jobs = boss.call("GET", "/api/v1/jobs").json()["jobs"]
    assert {j["ref"] for j in jobs} == {push_id, pr_id}
    assert all(j["status"] == "done" and j["kind"] == "ingest.normalize" for j in jobs)


def test_pagination_and_bad_parameters(srv):  # noqa: F811
    boss, _, push_id, pr_id = fed(srv)
    walked = [d["id"] for d in walk(boss, "/api/v1/deliveries", "deliveries")]
    assert walked == [d["id"] for d in boss.call("GET", "/api/v1/deliveries").json()["deliveries"]]
    assert sorted(walked) == sorted([pr_id, push_id])
    assert len(walk(boss, "/api/v1/repositories", "repositories")) == 2
    assert len(walk(boss, "/api/v1/jobs", "jobs")) == 2
    assert len(walk(boss, "/api/v1/commits", "commits")) == len(PUSH["commits"])
    assert len(walk(boss, "/api/v1/pull-requests?state=open", "pull_requests")) == 1

    assert len(boss.call("GET", "/api/v1/deliveries?limit=100").json()["deliveries"]) == 2
    for bad in ("101", "0", "-1", "+5", "1x", "", "99999999999"):
        err = assert_error(boss.call("GET", f"/api/v1/deliveries?limit={bad}"), 400,
                           "validation_failed")
        assert err["fields"][0]["path"] == "limit", err
    cursor = boss.call("GET", "/api/v1/deliveries?limit=1").json()["next_cursor"]
    other = boss.call("GET", "/api/v1/repositories?limit=1").json()["next_cursor"]
    forged = base64.urlsafe_b64encode(b"d2.1.0.x").decode().rstrip("=")
    for bad in ("not-a-cursor!", cursor + "A", cursor[:-1] + "%3D", other, forged, "A" * 2000):
        err = assert_error(boss.call("GET", f"/api/v1/deliveries?cursor={bad}"), 400,
                           "validation_failed")
        assert err["fields"][0]["path"] == "cursor", err
    assert_error(boss.call("GET", "/api/v1/deliveries?limit=1&limit=2"), 400, "validation_failed")
    err = assert_error(boss.call("GET", "/api/v1/deliveries?status=nope"), 400,
                       "validation_failed")
    assert err["fields"][0]["path"] == "status"
    err = assert_error(boss.call("GET", "/api/v1/pull-requests?state=draft"), 400,
                       "validation_failed")
    assert err["fields"][0]["path"] == "state"
    err = assert_error(boss.call("GET", "/api/v1/commits?repo_id=" + "r" * 257), 400,
                       "validation_failed")
    assert err["fields"][0]["path"] == "repo_id"
    # unknown parameters are ignored, as in the rest of the API
    assert len(boss.call("GET", "/api/v1/deliveries?unknown=1").json()["deliveries"]) == 2


def test_other_organization_and_roles(srv):  # noqa: F811
    boss, integ, push_id, _ = fed(srv)
    repo_id = f"github:repo:{PUSH['repository']['id']}"
    other = owner(srv)
    for path, key in [("/api/v1/deliveries", "deliveries"), ("/api/v1/repositories",
                                                             "repositories"),
                      ("/api/v1/commits", "commits"), (f"/api/v1/commits?repo_id={repo_id}",
                                                       "commits"),
                      ("/api/v1/pull-requests", "pull_requests"), ("/api/v1/jobs", "jobs")]:
        r = other.call("GET", path)
        assert r.status_code == 200 and r.json()[key] == [], r.text
    r = other.call("GET", f"/api/v1/deliveries/{push_id}")
    assert_error(r, 404)
    assert PUSH["after"] not in r.text
    job = boss.call("GET", "/api/v1/jobs").json()["jobs"][0]
    assert_error(other.call("POST", f"/api/v1/jobs/{job['id']}/retry", {}), 404)
    assert_error(other.call("POST", "/api/v1/jobs/nothex/retry", {}), 404)

    editor = join(srv, boss, "editor")
    assert len(editor.call("GET", "/api/v1/deliveries").json()["deliveries"]) == 2
    assert len(editor.call("GET", "/api/v1/commits").json()["commits"]) == 1
    assert_error(editor.call("POST", f"/api/v1/jobs/{job['id']}/retry", {}), 403,
                 "permission_denied")
    assert_error(editor.call("GET", f"/api/v1/deliveries/{push_id}"), 403, "permission_denied")
    # a job that is not dead is not retried
    assert_error(boss.call("POST", f"/api/v1/jobs/{job['id']}/retry", {}), 409, "not_dead")

    b = Browser(srv)
    b.cookies[COOKIE] = other.cookie
    r = b.get(f"/activity/repositories/{repo_id}")
    assert r.status_code == 404


def console_of(api):
    b = Browser(api.srv)
    b.cookies[COOKIE] = api.cookie
    return b


def test_console_pages(srv):  # noqa: F811
    boss, _, push_id, _ = fed(srv)
    b = console_of(boss)
    r = b.get("/activity")
    assert r.status_code == 200, r.text
    assert_strict_page("/activity", r)
    assert '<a href="/activity">Activity</a>' in r.text
    assert "<caption>Recent deliveries</caption>" in r.text
    assert "pull_request" in r.text and "processed" in r.text
    assert "No dead jobs." in r.text
    repo_id = f"github:repo:{PUSH['repository']['id']}"
    assert f'href="/activity/repositories/{repo_id}"' in r.text
    assert PUSH["repository"]["full_name"] in r.text

    r = b.get(f"/activity/repositories/{repo_id}")
    assert r.status_code == 200, r.text
    assert_strict_page("/activity/repositories", r)
    assert PUSH["commits"][0]["id"][:12] in r.text
    assert "test a push event" in r.text
    assert "<caption>Commits</caption>" in r.text
    r = b.get(f"/activity/repositories/github:repo:{PR['repository']['id']}")
    assert r.status_code == 200 and PR["pull_request"]["title"] in r.text
    assert b.get("/activity/repositories/github:repo:1").status_code == 404


def test_dead_letter_and_retry(srv):  # noqa: F811
    boss = owner(srv)
    integ = integration(boss)
    broken = json.loads(json.dumps(PR))
    del broken["number"]
    del broken["pull_request"]["number"]
    dead_id = deliver(srv, integ, "pull_request", broken)
    d = wait_status(boss, dead_id, "dead")
    assert d["error"], d

    dead = boss.call("GET", "/api/v1/jobs?status=dead").json()["jobs"]
    assert [j["ref"] for j in dead] == [dead_id]
    job = dead[0]
    assert job["attempts"] == 1 and job["last_error"] and job["finished_at"]
    assert boss.call("GET", "/api/v1/jobs?status=done").json()["jobs"] == []

    b = console_of(boss)
    page = b.get("/activity")
    assert page.status_code == 200
    assert_strict_page("/activity", page)
    action = f"/activity/jobs/{job['id']}/retry"
    assert page.page.form(action)

    # the editor sees the dead letter but no retry button, and cannot retry
    editor = join(srv, boss, "editor")
    ep = console_of(editor).get("/activity")
    assert ep.status_code == 200 and job["id"] in ep.text and action not in ep.text

    r = boss.call("POST", f"/api/v1/jobs/{job['id']}/retry", {})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == job["id"] and r.json()["status"] == "pending"
    assert r.json()["attempts"] == 0
    again = wait_dead(boss, job["id"])
    assert again["attempts"] == 1 and again["last_error"], again
    wait_status(boss, dead_id, "dead")

    # the console's retry button, with its CSRF token; a forged post changes nothing
    assert b.post(action, {}, csrf=False).status_code == 403
    r = b.post(action, {}, page=b.get("/activity").page)
    assert r.status_code == 303 and r.headers["Location"] == "/activity", r.text
    wait_dead(boss, job["id"])
    # an Editor's post, token and all, is refused
    token = ep.page.form("/logout")["fields"]["csrf"]["value"]
    r = console_of(editor).post(action, {"csrf": token}, csrf=False)
    assert r.status_code == 403, r.text


def wait_dead(api, job_id, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for j in api.call("GET", "/api/v1/jobs?status=dead").json()["jobs"]:
            if j["id"] == job_id:
                return j
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not die again")
