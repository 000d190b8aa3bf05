"""Outbound webhooks end to end (W3, T4, Z1) on both backends: an Admin
registers an endpoint and gets its whsec_ secret once (a replay of the
Idempotency-Key answers it null); lists and reads show the hint only; a test
event ("Send test event") reaches a receiver on 127.0.0.1 — allowed because
this server runs with SHIPLOG_OUTBOUND_ALLOW_PRIVATE=true — which checks the
Standard Webhooks signature itself with hmac; the delivery log shows the
attempt; a failing receiver is retried; rotation signs with the new secret;
delete ends it; bad URLs and a description one byte too long are 400 naming
the field; without the operator's allowance a loopback or private literal
is refused at registration; another organization's ids are 404 and an
Editor gets 403.

What publishing an entry sends (outbound_enqueue) is tested in C
(tests/outbound): nothing publishes entries yet.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets as pysecrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from e2e_util import assert_error, wait_until
from test_members import join, owner  # noqa: F401

SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$")
MSG_ID = re.compile(r"^msg_[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def srv(module_server_factory, sink):
    url, mail_dir = sink
    s = module_server_factory.start(env={"SHIPLOG_SMTP_URL": url, "SHIPLOG_BCRYPT_COST": "10",
                                         "SHIPLOG_TRUSTED_PROXIES": "127.0.0.1/32",
                                         "SHIPLOG_OUTBOUND_ALLOW_PRIVATE": "true"})
    s.mail_dir = mail_dir
    s.factory = module_server_factory
    return s


class Receiver:
    """A webhook receiver on 127.0.0.1: keeps every request, answers `status`."""

    def __init__(self):
        self.requests = []
        self.status = 200
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.lock:
                    outer.requests.append((self.path, dict(self.headers.items()), body))
                    status = outer.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def for_message(self, msg_id):
        with self.lock:
            return [r for r in self.requests if r[1].get("webhook-id") == msg_id]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def idem():
    return {"Idempotency-Key": "ep-" + pysecrets.token_hex(8)}


def register(api, body, status=201, headers=None):
    r = api.call("POST", "/api/v1/endpoints", body, headers=headers or idem())
    assert r.status_code == status, r.text
    return r


def verify(secret, headers, body):
    """The receiver's side of Standard Webhooks, with nothing of shiplog."""
    key = base64.b64decode(secret[len("whsec_"):])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split(" ")
               if s.startswith("v1,")]
    assert any(hmac.compare_digest(want, o) for o in offered), headers
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 300


def send_test(api, ep_id):
    r = api.call("POST", f"/api/v1/endpoints/{ep_id}/test", {})
    assert r.status_code == 202, r.text
    assert r.json()["event_type"] == "webhook.test"
    assert MSG_ID.match(r.json()["message_id"])
    return r.json()["message_id"]


def log_of(api, ep_id):
    r = api.call("GET", f"/api/v1/endpoints/{ep_id}/deliveries")
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


# --------------------------------------------------------------------------


def test_register_deliver_rotate_delete(srv, receiver):
    boss = owner(srv)
    assert_error(boss.call("POST", "/api/v1/endpoints", {"url": receiver.url()}), 400,
                 "idempotency_key_required")
    key = idem()
    made = register(boss, {"url": receiver.url(), "description": "CI bot"}, headers=key).json()
    secret = made["secret"]
    assert SECRET.match(secret), secret
    assert len(base64.b64decode(secret[6:])) == 32
    assert made["secret_hint"] == secret[-4:]
    assert made["url"] == receiver.url() and made["description"] == "CI bot"
    assert made["created_by"] == boss.user_id and made["rotated_at"] is None
    # a retry of the same request: the same endpoint, the secret not shown again
    again = register(boss, {"url": receiver.url(), "description": "CI bot"}, headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == made["id"] and again.json()["secret"] is None
    assert secret not in again.text

    listed = boss.call("GET", "/api/v1/endpoints")
    assert listed.status_code == 200, listed.text
    assert [e["id"] for e in listed.json()["endpoints"]] == [made["id"]]
    assert listed.json()["max"] == 20
    assert secret not in listed.text and "secret" not in listed.json()["endpoints"][0]
    one = boss.call("GET", f"/api/v1/endpoints/{made['id']}")
    assert one.status_code == 200 and secret not in one.text
    assert one.json()["secret_hint"] == secret[-4:]

    # the test event reaches the receiver, signed; the log shows the attempt
    msg = send_test(boss, made["id"])
    assert wait_until(lambda: receiver.for_message(msg), 20), receiver.requests
    path, headers, body = receiver.for_message(msg)[0]
    assert path == "/hook"
    assert headers["Content-Type"] == "application/json"
    verify(secret, headers, body)
    event = json.loads(body)
    assert event["type"] == "webhook.test" and event["data"] == {"endpoint_id": made["id"]}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", event["timestamp"])
    assert wait_until(lambda: log_of(boss, made["id"])[0]["status"] == "delivered", 10)
    entry = log_of(boss, made["id"])[0]
    assert entry["id"] == msg and entry["attempts"] == 1 and entry["last_status"] == 200
    assert entry["payload_bytes"] == len(body)
    assert [a["outcome"] for a in entry["attempt_log"]] == ["delivered"]
    assert entry["attempt_log"][0]["http_status"] == 200
    assert entry["attempt_log"][0]["at"] == int(headers["webhook-timestamp"])

    # a failing receiver: the attempt is logged as failed, with the next one scheduled
    receiver.status = 503
    msg2 = send_test(boss, made["id"])
    assert wait_until(lambda: any(e["id"] == msg2 and e["status"] == "failed"
                                  for e in log_of(boss, made["id"])), 20)
    failed = [e for e in log_of(boss, made["id"]) if e["id"] == msg2][0]
    assert failed["last_status"] == 503 and failed["last_error"] == "HTTP 503"
    assert failed["next_attempt_at"] >= failed["attempt_log"][0]["at"] + 10
    receiver.status = 200

    # rotation: the new secret signs from now on, the old one does not
    rot = boss.call("POST", f"/api/v1/endpoints/{made['id']}/rotate", {})
    assert rot.status_code == 200, rot.text
    new = rot.json()["secret"]
    assert SECRET.match(new) and new != secret and rot.json()["rotated_at"]
    assert boss.call("GET", "/api/v1/endpoints").json()["endpoints"][0]["secret_hint"] == new[-4:]
    msg3 = send_test(boss, made["id"])
    assert wait_until(lambda: receiver.for_message(msg3), 20)
    _, headers, body = receiver.for_message(msg3)[0]
    verify(new, headers, body)
    with pytest.raises(AssertionError):
        verify(secret, headers, body)

    # disabled: no test event (409), enabled: events again
    off = boss.call("POST", f"/api/v1/endpoints/{made['id']}/disable", {})
    assert off.status_code == 200 and off.json()["disabled_at"], off.text
    assert_error(boss.call("POST", f"/api/v1/endpoints/{made['id']}/test", {}), 409,
                 "endpoint_disabled")
    on = boss.call("POST", f"/api/v1/endpoints/{made['id']}/enable", {})
    assert on.status_code == 200 and on.json()["disabled_at"] is None, on.text
    send_test(boss, made["id"])

    assert boss.call("DELETE", f"/api/v1/endpoints/{made['id']}").status_code == 204
    for method, path in [("GET", ""), ("DELETE", ""), ("POST", "/rotate"), ("POST", "/test"),
                         ("GET", "/deliveries"), ("POST", "/disable"), ("POST", "/enable")]:
        body = {} if method == "POST" else None
        assert_error(boss.call(method, f"/api/v1/endpoints/{made['id']}{path}", body), 404)


def test_refusals(srv):
    boss = owner(srv)
    for url in ["ftp://example.com/", "file:///etc/passwd", "http://user:pw@example.com/",
                "example.com/hook", "http://"]:
        r = register(boss, {"url": url}, status=400)
        assert_error(r, 400, "validation_failed")
        assert r.json()["error"]["fields"][0]["path"] == "url", r.text
    # the description at its limit, and one byte past it
    register(boss, {"url": "https://example.com/a", "description": "d" * 1000})
    r = register(boss, {"url": "https://example.com/a", "description": "d" * 1001}, status=400)
    assert r.json()["error"]["fields"][0]["path"] == "description", r.text
    # the log's cursor must be a message id
    ep = register(boss, {"url": "https://example.com/b"}).json()
    assert_error(boss.call("GET", f"/api/v1/endpoints/{ep['id']}/deliveries?before=x"), 400)


def test_private_targets_refused_without_allowance(module_server_factory, sink):
    url, mail_dir = sink
    s = module_server_factory.start(env={"SHIPLOG_SMTP_URL": url, "SHIPLOG_BCRYPT_COST": "10",
                                         "SHIPLOG_TRUSTED_PROXIES": "127.0.0.1/32"})
    s.mail_dir = mail_dir
    s.factory = module_server_factory
    boss = owner(s)
    for target in ["http://127.0.0.1:8080/", "http://[::1]/", "http://169.254.169.254/latest/",
                   "http://10.1.2.3/", "http://192.168.1.1/", "http://[fd00::1]/",
                   "http://localhost:9000/", "http://2130706433/", "http://[::ffff:127.0.0.1]/"]:
        r = register(boss, {"url": target}, status=400)
        assert r.json()["error"]["fields"][0]["path"] == "url", r.text
        assert "not allowed" in r.json()["error"]["message"], r.text
    register(boss, {"url": "https://example.com/hook"})


def test_other_organization_and_roles(srv, receiver):
    a, b = owner(srv), owner(srv)
    made = register(a, {"url": receiver.url("/a")}).json()
    eid = made["id"]
    for method, path in [("GET", ""), ("DELETE", ""), ("POST", "/rotate"), ("POST", "/test"),
                         ("GET", "/deliveries"), ("POST", "/disable"), ("POST", "/enable")]:
        body = {} if method == "POST" else None
        r = b.call(method, f"/api/v1/endpoints/{eid}{path}", body)
        assert_error(r, 404)
        assert receiver.url("/a") not in r.text
    assert b.call("GET", "/api/v1/endpoints").json()["endpoints"] == []
    # A's endpoint is untouched: same secret hint, no message
    one = a.call("GET", f"/api/v1/endpoints/{eid}").json()
    assert one["secret_hint"] == made["secret_hint"] and one["rotated_at"] is None
    assert one["disabled_at"] is None
    assert log_of(a, eid) == []
    assert receiver.requests == []

    editor = join(srv, a, "editor")
    assert_error(editor.call("GET", "/api/v1/endpoints"), 403, "permission_denied")
    assert_error(editor.call("POST", "/api/v1/endpoints", {"url": receiver.url()},
                             headers=idem()), 403, "permission_denied")
    assert_error(editor.call("POST", f"/api/v1/endpoints/{eid}/test", {}), 403,
                 "permission_denied")
    admin = join(srv, a, "admin")
    assert admin.call("GET", f"/api/v1/endpoints/{eid}").status_code == 200
