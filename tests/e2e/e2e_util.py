"""Helpers shared by the end-to-end tests: raw HTTP over sockets, assertions on
the error shape and on the security headers, and log-line parsing.

Nothing here knows how the server is started; see conftest.py for that.
"""

import datetime as _dt
import email
import email.policy
import http.client
import json
import re
import select
import socket
import ssl
import threading
import time

import requests
from requests.structures import CaseInsensitiveDict

HEX32 = re.compile(r"^[0-9a-f]{32}$")

# Words that must never appear in an error body (internal detail, H5).
LEAK_MARKERS = (
    "postgres", "sqlite", "libpq", "pq_", "select ", "insert ", "update ",
    "relation ", "syntax error", "/tmp/", "/work/", "/var/", "/home/", "/root",
    "traceback", ".c:", "errno", "connection refused", "could not connect",
    "5432", "shiplog_owner", "shiplog_login",
)

HSTS_VALUE = "max-age=63072000; includeSubDomains; preload"

VALID_CSP_REPORT = {
    "csp-report": {
        "document-uri": "https://app.example.com/page",
        "referrer": "",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "original-policy": "default-src 'none'; script-src 'self'",
        "disposition": "enforce",
        "blocked-uri": "https://evil.example/x.js",
        "status-code": 200,
    }
}


def csp_body(extra=None, pad_to=None):
    """A valid CSP report as bytes, optionally padded with spaces to pad_to bytes."""
    doc = json.loads(json.dumps(VALID_CSP_REPORT))
    if extra:
        doc["csp-report"].update(extra)
    raw = json.dumps(doc).encode()
    if pad_to is not None:
        assert pad_to >= len(raw), (pad_to, len(raw))
        raw = raw + b" " * (pad_to - len(raw))
    return raw


def http_session():
    s = requests.Session()
    s.trust_env = False  # never go through a proxy from the environment
    return s


class RawResponse:
    """A response read from a raw socket, shaped like requests.Response where it matters."""

    def __init__(self, status, reason, header_items, body):
        self.status_code = status
        self.reason = reason
        self.header_items = header_items  # list of (name, value), as received
        hdrs = CaseInsensitiveDict()
        for k, v in header_items:
            hdrs[k] = (hdrs[k] + ", " + v) if k in hdrs else v
        self.headers = hdrs
        self.content = body

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)

    def __repr__(self):
        return f"<RawResponse {self.status_code} {dict(self.headers)!r} {self.content[:300]!r}>"


def _connect(port, host="127.0.0.1", timeout=30, tls_context=None):
    sock = socket.create_connection((host, port), timeout=timeout)
    if tls_context is not None:
        sock = tls_context.wrap_socket(sock, server_hostname=host)
    return sock


def raw_request(port, method, path, headers=(), body=b"", *, host="127.0.0.1",
                timeout=30, chunked=False, close=True, body_chunk_delay=None,
                chunk_size=65536, host_header=True, version="HTTP/1.1"):
    """Sends one request on a fresh connection and reads the response.

    The request is written from a separate thread while the response is read, so
    a server that answers before reading the whole body (413, 404 …) is handled.
    body_chunk_delay: seconds to sleep between body chunks of chunk_size bytes.
    """
    sock = _connect(port, host, timeout)
    lines = [f"{method} {path} {version}"]
    if host_header:
        lines.append(f"Host: {host}:{port}")
    names = {k.lower() for k, _ in headers}
    for k, v in headers:
        lines.append(f"{k}: {v}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif body and "content-length" not in names:
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    send_error = []

    def sender():
        try:
            sock.sendall(head)
            view = memoryview(body)
            for i in range(0, len(view), chunk_size):
                piece = view[i:i + chunk_size]
                if chunked:
                    sock.sendall(b"%x\r\n" % len(piece) + bytes(piece) + b"\r\n")
                else:
                    sock.sendall(piece)
                if body_chunk_delay:
                    time.sleep(body_chunk_delay)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError as e:  # the server may answer and close early
            send_error.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        resp = http.client.HTTPResponse(sock, method=method)
        resp.begin()
        data = resp.read()
        out = RawResponse(resp.status, resp.reason, resp.getheaders(), data)
    finally:
        t.join(timeout)
        sock.close()
    return out


def assert_no_leak(text):
    # request ids are random hex and may contain a marker such as "5432" by chance
    low = re.sub(r"[0-9a-f]{32}", "<id>", text.lower())
    for marker in LEAK_MARKERS:
        assert marker not in low, f"error body leaks internal detail {marker!r}: {text[:500]!r}"


def assert_error(resp, status, code=None):
    """Checks the one error shape (H5) and returns the inner error object."""
    assert resp.status_code == status, (
        f"expected {status}, got {resp.status_code}: {resp.headers!r} {resp.content[:500]!r}")
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip().lower() == "application/json", f"Content-Type {ctype!r}"
    try:
        body = json.loads(resp.content)
    except ValueError as e:
        raise AssertionError(f"error body is not JSON: {resp.content[:300]!r}") from e
    assert isinstance(body, dict) and set(body) == {"error"}, f"body {body!r}"
    err = body["error"]
    assert isinstance(err, dict), body
    if code is not None:
        assert err.get("code") == code, f"expected code {code!r}, got {err!r}"
    assert isinstance(err.get("code"), str) and err["code"], err
    assert isinstance(err.get("message"), str) and err["message"], err
    sid = err.get("support_id")
    assert isinstance(sid, str) and HEX32.match(sid), f"support_id {sid!r}"
    assert resp.headers.get("X-Request-Id") == sid, (
        f"support_id {sid!r} != X-Request-Id {resp.headers.get('X-Request-Id')!r}")
    assert_no_leak(resp.text)
    return err


def assert_security_headers(resp, *, delivery=False, hsts=False):
    h = resp.headers
    where = f"{resp.status_code} response"
    assert h.get("X-Content-Type-Options") == "nosniff", f"{where}: X-Content-Type-Options {h.get('X-Content-Type-Options')!r}"
    assert h.get("X-Frame-Options") == "DENY", f"{where}: X-Frame-Options {h.get('X-Frame-Options')!r}"
    assert h.get("Referrer-Policy") == "strict-origin-when-cross-origin", f"{where}: Referrer-Policy {h.get('Referrer-Policy')!r}"
    csp = h.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp, f"{where}: CSP {csp!r}"
    assert "frame-ancestors 'none'" in csp, f"{where}: CSP {csp!r}"
    assert h.get("Permissions-Policy", "").strip(), f"{where}: Permissions-Policy missing"
    assert h.get("Cross-Origin-Opener-Policy") == "same-origin", f"{where}: COOP {h.get('Cross-Origin-Opener-Policy')!r}"
    corp = h.get("Cross-Origin-Resource-Policy")
    if delivery:
        assert corp in ("same-origin", "cross-origin"), f"{where}: CORP {corp!r}"
    else:
        assert corp == "same-origin", f"{where}: CORP {corp!r}"
    rid = h.get("X-Request-Id", "")
    assert HEX32.match(rid), f"{where}: X-Request-Id {rid!r}"
    if not delivery:
        assert h.get("Cache-Control") == "no-store", f"{where}: Cache-Control {h.get('Cache-Control')!r}"
    if hsts:
        assert h.get("Strict-Transport-Security") == HSTS_VALUE, f"{where}: HSTS {h.get('Strict-Transport-Security')!r}"


def parse_rfc3339(s):
    m = re.match(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$", s)
    assert m, f"not RFC 3339: {s!r}"
    tz = "+00:00" if m.group(4) == "Z" else m.group(4)
    return _dt.datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{tz}")


def wait_until(pred, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def wait_closed(sock, timeout):
    """Waits until the peer closes sock (EOF or reset); returns True if it did.
    Any bytes the server sends before closing (e.g. a 408) are ignored."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        try:
            if sock.recv(65536) == b"":
                return True
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            return True
        except (socket.timeout, ssl.SSLError):
            return True
    return False


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------
# Mail delivered to the SMTP sink (conftest.py `sink`)


def read_mails(mail_dir, to):
    """Every message in mail_dir addressed to `to`, oldest first."""
    out = []
    for p in sorted(mail_dir.glob("*.eml")):
        msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        if msg["To"] == to:
            out.append(msg)
    return out


def wait_mail(mail_dir, to, subject_part, n=1):
    """The text of the n-th mail to `to` whose subject has subject_part (waits up to 15 s)."""
    def found():
        ms = [m for m in read_mails(mail_dir, to) if subject_part in m["Subject"]]
        return ms if len(ms) >= n else None
    ms = wait_until(found, 15)
    assert ms, f"no mail {subject_part!r} to {to} (have {[m['Subject'] for m in read_mails(mail_dir, to)]})"
    return ms[n - 1].get_content()
