"""CLI (P1), master key rules (P5), graceful shutdown (P6)."""

import os
import signal
import socket
import stat
import subprocess
import threading
import time

import pytest

from e2e_util import csp_body, raw_request

PROD_KEY = "a1" * 32


# ---- CLI -----------------------------------------------------------------------

def test_version(server):
    r = server.run_cli(["--version"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "shiplog 0.1.0\n", repr(r.stdout)


def test_help(server):
    r = server.run_cli(["help"])
    assert r.returncode == 0, r.stderr
    text = r.stdout.lower()
    assert "usage" in text, r.stdout
    for sub in ("serve", "migrate"):
        assert sub in text, f"help does not mention {sub}: {r.stdout!r}"


def test_unknown_subcommand(server):
    r = server.run_cli(["frobnicate"])
    assert r.returncode != 0
    assert r.stdout.strip() == "" or "usage" in (r.stdout + r.stderr).lower()


def test_migrate_idempotent_then_serve(server, tmp_path, backend):
    data = tmp_path / "mig"
    data.mkdir()
    for _ in range(2):
        r = server.run_cli(["migrate", "--data", str(data)])
        assert r.returncode == 0, f"migrate failed ({r.returncode}): {r.stdout}\n{r.stderr}"
    if backend == "sqlite":
        assert any(data.iterdir()), "migrate created nothing in the data directory"
    srv = server.start(data_dir=data)
    assert srv.get("/health/ready").status_code == 200


def test_unknown_setting_refused(server):
    """A mistyped SHIPLOG_* variable is a configuration error, not silently ignored."""
    srv = server.start(env={"SHIPLOG_MAX_BODY_BYTE": "10"}, expect_listen=False)
    rc = srv.wait(10)
    assert rc != 0
    assert "SHIPLOG_MAX_BODY_BYTE" in srv.stderr_text()
    assert srv.drain_stdout(wait_eof=3) == []


# ---- master key ------------------------------------------------------------------

def test_production_without_master_key_refuses(server):
    srv = server.start(env={"SHIPLOG_ENV": "production", "SHIPLOG_MASTER_KEY": None}, expect_listen=False)
    rc = srv.wait(10)
    assert rc == 78, f"exit code {rc}, stderr: {srv.stderr_text()!r}"
    assert "SHIPLOG_MASTER_KEY" in srv.stderr_text()
    assert not any(l.startswith("listening on") for l in srv.drain_stdout(wait_eof=3))


def test_production_with_bad_master_key_refuses(server):
    bad = "zq" * 32
    srv = server.start(env={"SHIPLOG_ENV": "production", "SHIPLOG_MASTER_KEY": bad}, expect_listen=False)
    rc = srv.wait(10)
    assert rc != 0
    err = srv.stderr_text()
    assert "SHIPLOG_MASTER_KEY" in err
    assert bad not in err, "the error message echoes the secret's value"


def test_production_with_short_master_key_refuses(server):
    srv = server.start(env={"SHIPLOG_ENV": "production", "SHIPLOG_MASTER_KEY": "ab" * 16}, expect_listen=False)
    assert srv.wait(10) != 0
    assert "SHIPLOG_MASTER_KEY" in srv.stderr_text()


def test_production_with_master_key_file(server, tmp_path):
    keyfile = tmp_path / "master.key"
    keyfile.write_text(PROD_KEY + "\n")
    keyfile.chmod(0o600)
    srv = server.start(env={"SHIPLOG_ENV": "production", "SHIPLOG_MASTER_KEY": None,
                            "SHIPLOG_MASTER_KEY_FILE": str(keyfile)})
    assert srv.get("/health").status_code == 200
    assert PROD_KEY not in srv.stderr_text()


def test_production_starts_with_master_key(server):
    srv = server.start(env={"SHIPLOG_ENV": "production", "SHIPLOG_MASTER_KEY": PROD_KEY})
    r = srv.get("/health")
    assert r.status_code == 200
    assert not [o for o in srv.logs() if o.get("level") == "warn" and "master key" in str(o).lower()]
    assert PROD_KEY not in srv.stderr_text()


def _key_files(data_dir):
    """The master key file(s): the key vault (keyvault.db*) holds wrapped data keys, not this."""
    return [p for p in data_dir.rglob("*")
            if p.is_file() and "key" in p.name.lower() and not p.name.startswith("keyvault.db")]


def _master_key_warnings(srv):
    return [o for o in srv.logs() if o.get("level") == "warn" and "master key" in str(o).lower()]


def test_development_generates_key_file_once(server, tmp_path):
    data = tmp_path / "devkey"
    srv = server.start(env={"SHIPLOG_MASTER_KEY": None}, data_dir=data)
    assert srv.wait_log(lambda o: o.get("level") == "warn" and "master key" in str(o).lower(), 3), \
        f"no warn line about the master key: {srv.logs()}"
    files = _key_files(data)
    assert len(files) == 1, f"expected one key file in the data dir, found {files}"
    key = files[0]
    mode = stat.S_IMODE(key.stat().st_mode)
    assert mode == 0o600, f"key file mode {oct(mode)}"
    content = key.read_bytes()
    assert content, "empty key file"
    assert content.decode("latin-1").strip() not in srv.stderr_text(), "the generated key is logged"
    srv.kill()

    srv2 = server.start(env={"SHIPLOG_MASTER_KEY": None}, data_dir=data)
    assert srv2.wait_log(lambda o: o.get("level") == "warn" and "master key" in str(o).lower(), 3), \
        "no master key warning on the second start"
    assert key.read_bytes() == content, "the key file was regenerated"
    assert _key_files(data) == files
    assert srv2.get("/health").status_code == 200


def test_no_master_key_warning_with_key(server):
    srv = server.start()
    srv.get("/health")
    assert not _master_key_warnings(srv), _master_key_warnings(srv)


# ---- signals and graceful shutdown --------------------------------------------------

def _slow_post(port, results, idx, duration=2.0, pieces=8):
    body = csp_body(pad_to=1600)
    try:
        r = raw_request(port, "POST", "/csp-report", [("Content-Type", "application/csp-report")], body,
                        chunk_size=len(body) // pieces + 1, body_chunk_delay=duration / pieces, timeout=30)
        results[idx] = r.status_code
    except Exception as e:  # recorded for the assertion
        results[idx] = repr(e)


def _new_connection_answered(port):
    """True if a new connection got any HTTP response."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    except (ConnectionRefusedError, socket.timeout, OSError):
        return False
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = s.recv(100)
        return data.startswith(b"HTTP/")
    except (OSError, socket.timeout):
        return False
    finally:
        s.close()


def test_sigterm_drains_in_flight(server):
    srv = server.start(env={"SHIPLOG_SHUTDOWN_GRACE": 10})
    results = [None, None]
    threads = [threading.Thread(target=_slow_post, args=(srv.port, results, i)) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.6)
    t_sig = time.monotonic()
    srv.signal(signal.SIGTERM)
    time.sleep(0.3)
    answered = _new_connection_answered(srv.port)
    for t in threads:
        t.join(15)
    assert results == [204, 204], f"in-flight requests after SIGTERM: {results}"
    assert not answered, "a new connection was served after SIGTERM"
    rc = srv.wait(12)
    assert rc == 0, f"exit code {rc}"
    assert time.monotonic() - t_sig < 10
    lines = srv.drain_stdout(wait_eof=5)
    assert len([l for l in lines if l]) == 1 and lines[0].startswith("listening on http://"), lines


def test_sigint_exits_zero(server):
    srv = server.start()
    assert srv.get("/health").status_code == 200
    srv.signal(signal.SIGINT)
    assert srv.wait(10) == 0


def test_sigterm_idle_exits_fast(server):
    srv = server.start()
    srv.get("/health")
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    assert srv.wait(10) == 0
    assert time.monotonic() - t0 < 3, "idle server took long to stop"


def test_shutdown_grace_is_bounded(server):
    """A request that never finishes does not hold the process past the grace period."""
    srv = server.start(env={"SHIPLOG_SHUTDOWN_GRACE": 2})
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(b"POST /csp-report HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/csp-report\r\n"
              b"Content-Length: 5000\r\n\r\n{\"csp-report\":")
    time.sleep(0.3)
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    try:
        srv.wait(8)
    except subprocess.TimeoutExpired:
        pytest.fail("still running 8 s after SIGTERM with SHIPLOG_SHUTDOWN_GRACE=2")
    finally:
        s.close()
    assert time.monotonic() - t0 <= 5, f"exited {time.monotonic() - t0:.1f}s after SIGTERM (grace 2 s)"


def test_inline_secrets_leave_the_process_environment(server):
    """/proc/<pid>/environ (and any child process) must not show an inline master
    key or database URL once the configuration has read them."""
    key = "a1" * 32
    srv = server.start(env={"SHIPLOG_MASTER_KEY": key})
    assert srv.get("/health").status_code == 200
    environ = open(f"/proc/{srv.proc.pid}/environ", "rb").read()
    assert key.encode() not in environ
    assert b"SHIPLOG_MASTER_KEY=" + key.encode() not in environ
