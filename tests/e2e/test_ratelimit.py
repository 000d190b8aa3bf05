"""Rate limits over HTTP (H8): 429 with Retry-After and RateLimit-* headers,
limits shared by two server processes through a real Redis, and the fall-back
to in-process limits (never to no limit) while Redis is down; readiness
reports Redis as information only."""

import subprocess
import time
from pathlib import Path

import pytest

from e2e_util import assert_error, assert_security_headers, csp_body, http_session

REPO = Path(__file__).resolve().parents[2]
API_LIMIT = 600  # RL_API per minute per client IP (docs/RATELIMITS.md)
PATH = "/csp-report"  # anonymous and doing work: counted per client IP
CSP = {"Content-Type": "application/csp-report"}
BODY = csp_body()


# The sliding window weighs the previous minute by how much of it still
# overlaps, so a test that straddles a minute boundary sees the count decay by
# up to limit/60 per elapsed second: assertions allow that much slack.
SLACK = 30


def hit(srv, session, n):
    codes = []
    for _ in range(n):
        codes.append(session.post(srv.url(PATH), data=BODY, headers=CSP, timeout=5).status_code)
    return codes


def passes_until_refused(srv, session, most):
    """Requests that pass before the first 429 (None if none was refused)."""
    for i in range(most):
        r = session.post(srv.url(PATH), data=BODY, headers=CSP, timeout=5)
        if r.status_code == 429:
            assert_error(r, 429, "rate_limited")
            return i
        assert r.status_code == 204, r.status_code
    return None


@pytest.fixture
def redis(tmp_path):
    d = tmp_path / "redis"
    out = subprocess.run([str(REPO / "scripts" / "redistmp"), "start", str(d)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    vals = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    class R:
        url = vals["URL"]

        @staticmethod
        def stop():
            subprocess.run([str(REPO / "scripts" / "redistmp"), "stop", str(d)], timeout=60,
                           check=True, capture_output=True)

        @staticmethod
        def start():
            subprocess.run([str(REPO / "scripts" / "redistmp"), "start", str(d)], timeout=60,
                           check=True, capture_output=True)
    yield R
    subprocess.run([str(REPO / "scripts" / "redistmp"), "destroy", str(d)], timeout=60,
                   capture_output=True)


def test_limit_reached_gives_429_with_headers(server):
    srv = server.start()
    with http_session() as s:
        codes = hit(srv, s, API_LIMIT)
        assert codes == [204] * API_LIMIT
        extra = passes_until_refused(srv, s, SLACK + 1)
        assert extra is not None, "no 429 after the limit"
        r = s.post(srv.url(PATH), data=BODY, headers=CSP, timeout=5)
    assert_error(r, 429, "rate_limited")
    assert_security_headers(r)
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["RateLimit-Limit"] == str(API_LIMIT)
    assert r.headers["RateLimit-Remaining"] == "0"
    # health checks and constant documents are not limited
    assert srv.get("/health").status_code == 200
    assert srv.get("/.well-known/security.txt").status_code == 200
    assert srv.get("/health/ready").json()["redis"] == "not configured"


def test_two_servers_share_limits_through_redis_and_survive_its_loss(server, redis):
    env = {"SHIPLOG_REDIS_URL": redis.url}
    a = server.start(env=env)
    b = server.start(env=env)
    assert a.get("/health/ready").json()["redis"] == "up"
    with http_session() as s:
        assert hit(a, s, API_LIMIT // 2) == [204] * (API_LIMIT // 2)
        assert hit(b, s, API_LIMIT // 2) == [204] * (API_LIMIT // 2)
        # the allowance is shared: either server refuses now (in-process alone,
        # each would still allow 300 more)
        assert passes_until_refused(a, s, SLACK + 1) is not None
        assert passes_until_refused(b, s, SLACK + 1) is not None

        redis.stop()
        # still serving, still limiting: in-process, continuing from the hits this
        # process itself counted (about 300), so about 300 more pass, then 429
        passed = passes_until_refused(a, s, API_LIMIT)
        assert passed is not None, "no limit at all while Redis is down"
        assert API_LIMIT // 2 - SLACK <= passed <= API_LIMIT // 2 + SLACK, passed
        ready = a.get("/health/ready", timeout=5)
        assert ready.status_code == 200 and ready.json()["redis"] == "down", ready.text
        assert a.get("/health").status_code == 200

        redis.start()
        for _ in range(60):  # the limiter reconnects with backoff (at most 5 s)
            if a.get("/health/ready", timeout=5).json()["redis"] == "up":
                break
            time.sleep(0.2)
        assert a.get("/health/ready", timeout=5).json()["redis"] == "up"
