"""The model's drafts end to end (issue 7 items 2 and 3; D2, D3) on both
backends: an organization configures the Anthropic Messages provider with
its base URL pointing at a small local server that speaks that wire format
(the server runs with SHIPLOG_OUTBOUND_ALLOW_PRIVATE so it may call
loopback); a signed merged-PR webhook becomes a rules draft at once and, by
the draft job, the model's draft (a new generated version by "anthropic");
the request that reached the model holds the title, description, labels
and paths after redaction and never the author, an e-mail address or a
secret; the call is logged with tokens and outcome, never content; a model
that fails, or a budget too small for the call, leaves the rules' draft and
logs the outcome. (That the model's text never replaces a person's edit is
tested in tests/changes/test_entries.c.)
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from e2e_util import wait_until
from test_activity import deliver, integration, wait_status
from test_drafts import merged_pr, only_draft
from test_members import owner

ANSWER = {"id": "msg_1", "type": "message", "role": "assistant",
          "content": [{"type": "text", "text": json.dumps(
              {"title": "Dark mode on every page", "body": "Choose it under Settings."})}],
          "stop_reason": "end_turn", "usage": {"input_tokens": 321, "output_tokens": 45}}


class FakeModel:
    """Answers POST /v1/messages as the Anthropic Messages API does; keeps what it got."""

    def __init__(self):
        self.requests, self.status = [], 200
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                model.requests.append({"path": self.path, "headers": dict(self.headers),
                                       "body": body.decode()})
                out = json.dumps(ANSWER if model.status == 200 else
                                 {"type": "error", "error": {"type": "api_error",
                                                             "message": "down"}}).encode()
                self.send_response(model.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def srv(module_server_factory, sink):
    url, mail_dir = sink
    s = module_server_factory.start(env={"SHIPLOG_SMTP_URL": url, "SHIPLOG_BCRYPT_COST": "10",
                                         "SHIPLOG_TRUSTED_PROXIES": "127.0.0.1/32",
                                         "SHIPLOG_OUTBOUND_ALLOW_PRIVATE": "true"})
    s.mail_dir = mail_dir
    s.factory = module_server_factory
    return s


@pytest.fixture
def model():
    m = FakeModel()
    yield m
    m.close()


def configure(api, model, budget=50000):
    r = api.call("PUT", "/api/v1/settings/llm", {
        "provider": "anthropic", "base_url": model.url, "model": "claude-test",
        "monthly_token_budget": budget, "api_key": "sk-ant-e2e-0123456789abcdef"})
    assert r.status_code == 200, r.text


def calls(api):
    r = api.call("GET", "/api/v1/llm/calls")
    assert r.status_code == 200, r.text
    return r.json()["calls"]


def deliver_merge(srv, boss, number, **kw):
    integ = integration(boss)
    ev = merged_pr(number, **kw)
    ev["pull_request"]["user"]["login"] = "octo-author"
    wait_status(boss, deliver(srv, integ, "pull_request", ev), "processed")
    return only_draft(boss, number)


def test_model_writes_the_draft_from_redacted_metadata(srv, model):
    boss = owner(srv)
    configure(boss, model)
    d = deliver_merge(srv, boss, 21, body="Adds a dark theme.\n\nAsk jane.doe@corp.example;"
                                          " token ghp_abcdefghijklmnopqrstuvwxyz0123456789")
    path = f"/api/v1/drafts/{d['id']}"
    assert wait_until(lambda: boss.call("GET", path).json()["provider"] == "anthropic", 20), \
        boss.call("GET", path).text
    d = boss.call("GET", path).json()
    assert d["title"] == "Dark mode on every page" and d["body"] == "Choose it under Settings."
    assert d["version"] == 2 and d["category"] == "feature" and not d["human_edited"]
    v = boss.call("GET", path + "/versions").json()["versions"]
    assert [(x["kind"], x["author"]) for x in v] == [("generated", "anthropic"),
                                                     ("generated", "rules")]

    assert len(model.requests) == 1
    sent = model.requests[0]
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["x-api-key"] == "sk-ant-e2e-0123456789abcdef"
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    body = sent["body"]
    assert "dark mode" in body.lower() and "ui" in body
    for secret in ("jane.doe@corp.example", "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                   "octo-author", "corp.example"):
        assert secret not in body, (secret, body)

    log = calls(boss)
    assert len(log) == 1
    c = log[0]
    assert c["outcome"] == "ok" and c["provider"] == "anthropic" and c["model"] == "claude-test"
    assert c["tokens_in"] == 321 and c["tokens_out"] == 45 and c["latency_ms"] >= 0
    assert "Dark mode" not in json.dumps(log)


def test_failure_and_budget_keep_the_rules(srv, model):
    boss = owner(srv)
    configure(boss, model)
    model.status = 500
    d = deliver_merge(srv, boss, 22)
    assert wait_until(lambda: len(calls(boss)) == 1, 20)
    assert calls(boss)[0]["outcome"] != "ok"
    got = boss.call("GET", f"/api/v1/drafts/{d['id']}").json()
    assert got["provider"] == "rules" and got["version"] == 1

    # a budget too small for one call: nothing is sent, the refusal is logged
    configure(boss, model, budget=10)
    model.status, before = 200, len(model.requests)
    d = deliver_merge(srv, boss, 23)
    assert wait_until(lambda: len(calls(boss)) == 2, 20)
    assert calls(boss)[0]["outcome"] == "budget_exhausted"
    assert len(model.requests) == before
    assert boss.call("GET", f"/api/v1/drafts/{d['id']}").json()["provider"] == "rules"
