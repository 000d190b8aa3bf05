"""End-to-end fixtures: start the real `shiplog` binary on 127.0.0.1:0 with a
throwaway data directory, and (for the PostgreSQL backend) a throwaway cluster
made by scripts/pgtmp.

Every test runs once per backend selected by SHIPLOG_E2E_BACKENDS
(comma-separated, default "sqlite,postgresql").

Environment:
  SHIPLOG_BIN           path of the binary (default build/shiplog, relative to the repo root)
  SHIPLOG_E2E_BACKENDS  sqlite,postgresql
"""

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from e2e_util import http_session, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
PGTMP = REPO_ROOT / "scripts" / "pgtmp"
LISTEN_TIMEOUT = 15.0
LISTEN_RE = re.compile(r"^listening on (https?)://127\.0\.0\.1:(\d+)$")

# A fixed development key so every server of a run (and every node sharing one
# PostgreSQL database) uses the same master key. Tests about the key remove it.
DEV_MASTER_KEY = "5f" * 32

# Keep the test clients and the server off any proxy from the environment.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
for _v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_v, None)


def _binary():
    p = Path(os.environ.get("SHIPLOG_BIN") or "build/shiplog")
    if not p.is_absolute():
        p = REPO_ROOT / p
    return p


def _backends():
    raw = os.environ.get("SHIPLOG_E2E_BACKENDS") or "sqlite,postgresql"
    out = [b.strip() for b in raw.split(",") if b.strip()]
    for b in out:
        if b not in ("sqlite", "postgresql"):
            raise pytest.UsageError(f"SHIPLOG_E2E_BACKENDS: unknown backend {b!r}")
    return out


def base_env():
    """The caller's environment without any SHIPLOG_* variable: the server
    rejects unknown SHIPLOG_* names (SHIPLOG_BIN, SHIPLOG_E2E_BACKENDS are ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLOG_")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "ignore:ssl.TLSVersion:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore::urllib3.exceptions.InsecureRequestWarning")


@pytest.fixture(scope="session")
def shiplog_bin():
    p = _binary()
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail(f"shiplog binary not found at {p} (set SHIPLOG_BIN)", pytrace=False)
    return p


# --------------------------------------------------------------------------
# PostgreSQL via scripts/pgtmp


class PgCluster:
    def __init__(self, directory):
        self.dir = Path(directory)
        self.port = None
        self.owner_url = None
        self.app_url = None

    def _run(self, verb, timeout=120):
        r = subprocess.run([str(PGTMP), verb, str(self.dir)], capture_output=True, text=True,
                           timeout=timeout, cwd=REPO_ROOT, env=base_env())
        if r.returncode != 0:
            raise RuntimeError(f"pgtmp {verb} {self.dir} failed ({r.returncode}):\n"
                               f"{r.stdout}\n{r.stderr}")
        return r.stdout

    def start(self):
        vals = {}
        for line in self._run("start").splitlines():
            if "=" in line:
                k, _, v = line.strip().partition("=")
                vals[k] = v
        missing = {"PORT", "OWNER_URL", "APP_URL", "VAULT_OWNER_URL", "VAULT_APP_URL"} - set(vals)
        if missing:
            raise RuntimeError(f"pgtmp start printed no {sorted(missing)}: {vals}")
        self.port, self.owner_url, self.app_url = int(vals["PORT"]), vals["OWNER_URL"], vals["APP_URL"]
        self.vault_owner_url, self.vault_app_url = vals["VAULT_OWNER_URL"], vals["VAULT_APP_URL"]
        return self

    def stop(self):
        self._run("stop")

    def destroy(self):
        try:
            self._run("destroy")
        finally:
            shutil.rmtree(self.dir.parent, ignore_errors=True)

    def env(self):
        return {"SHIPLOG_DATABASE_URL": self.app_url,
                "SHIPLOG_MIGRATE_DATABASE_URL": self.owner_url,
                "SHIPLOG_KEYVAULT_DATABASE_URL": self.vault_app_url,
                "SHIPLOG_MIGRATE_KEYVAULT_DATABASE_URL": self.vault_owner_url}


def new_pg_cluster():
    """A cluster in a fresh directory under /tmp (not pytest's 0700 tmp tree,
    which the postgres user could not enter)."""
    if not os.access(PGTMP, os.X_OK):
        pytest.fail(f"{PGTMP} missing or not executable", pytrace=False)
    parent = Path(tempfile.mkdtemp(prefix="shiplog-e2e-pg-", dir="/tmp"))
    os.chmod(parent, 0o755)
    return PgCluster(parent / "cluster")


@pytest.fixture(scope="session")
def pg_session():
    cluster = new_pg_cluster()
    try:
        cluster.start()
    except Exception:
        cluster.destroy()
        raise
    yield cluster
    cluster.destroy()


@pytest.fixture
def pg_factory():
    """Dedicated clusters for tests that stop/start the database."""
    made = []

    def make():
        c = new_pg_cluster()
        made.append(c)
        return c.start()

    yield make
    for c in made:
        try:
            c.destroy()
        except Exception as e:  # teardown must go on
            print(f"pgtmp destroy failed: {e}")


# --------------------------------------------------------------------------
# Backend parametrisation: every test runs once per selected backend.


@pytest.fixture(scope="session", params=_backends(), autouse=True)
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def backend_env(backend, request):
    if backend == "postgresql":
        return request.getfixturevalue("pg_session").env()
    return {}


# --------------------------------------------------------------------------
# The server


class Server:
    def __init__(self, proc, data_dir, log_path, stdout_q):
        self.proc = proc
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self._stdout_q = stdout_q
        self.stdout_lines = []
        self._stdout_eof = False
        self.scheme = None
        self.port = None
        self.http = http_session()

    @property
    def base_url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, path):
        return self.base_url + path

    def request(self, method, path, **kw):
        """One request on a fresh connection (no pooled keep-alive connection that
        the server may have closed for idleness in the meantime); tests about
        keep-alive use self.http directly."""
        kw.setdefault("timeout", 15)
        kw.setdefault("allow_redirects", False)
        if self.scheme == "https":
            kw.setdefault("verify", False)
        with http_session() as s:
            return s.request(method, self.url(path), **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def drain_stdout(self, wait_eof=0.0):
        """stdout lines so far; with wait_eof, waits up to that long for EOF."""
        if self._stdout_eof:
            return self.stdout_lines
        deadline = time.monotonic() + wait_eof
        while True:
            try:
                line = self._stdout_q.get(timeout=max(0.0, deadline - time.monotonic())) \
                    if wait_eof else self._stdout_q.get_nowait()
            except queue.Empty:
                return self.stdout_lines
            if line is None:
                self._stdout_eof = True
                return self.stdout_lines
            self.stdout_lines.append(line)

    def stderr_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def logs(self):
        """Parsed JSON log lines written to stderr so far (non-JSON lines are
        returned as {"_raw": line} so tests can spot them)."""
        out = []
        for line in self.stderr_text().splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = {"_raw": line}
            out.append(obj if isinstance(obj, dict) else {"_raw": line})
        return out

    def wait_log(self, pred, timeout=5.0):
        """First parsed log line satisfying pred, waiting up to timeout seconds."""
        def find():
            for obj in self.logs():
                if pred(obj):
                    return obj
            return None
        return wait_until(find, timeout)

    def access_log(self, request_id, timeout=5.0):
        return self.wait_log(lambda o: o.get("msg") == "request" and o.get("request_id") == request_id,
                             timeout)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.http.close()


class ServerFactory:
    """Starts shiplog processes; kills whatever is left at teardown."""

    def __init__(self, binary, backend_env, tmp_dir_fn):
        self.binary = binary
        self.backend_env = backend_env
        self._tmp_dir = tmp_dir_fn
        self.started = []

    def env_for(self, env=None, use_backend=True):
        e = base_env()
        e["SHIPLOG_MASTER_KEY"] = DEV_MASTER_KEY
        if use_backend:
            e.update(self.backend_env)
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = str(v)
        return e

    def run_cli(self, args, env=None, use_backend=True, timeout=60):
        """Runs a non-serving subcommand; returns CompletedProcess (text)."""
        return subprocess.run([str(self.binary)] + list(args), env=self.env_for(env, use_backend),
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def start(self, env=None, *, data_dir=None, use_backend=True, expect_listen=True,
              extra_args=(), listen="127.0.0.1:0"):
        data_dir = Path(data_dir) if data_dir else self._tmp_dir()
        data_dir.mkdir(parents=True, exist_ok=True)
        log_path = data_dir.parent / f"{data_dir.name}.stderr.log"
        n = 1
        while log_path.exists():
            n += 1
            log_path = data_dir.parent / f"{data_dir.name}.stderr.{n}.log"
        args = [str(self.binary), "serve", "--listen", listen, "--data", str(data_dir)] + list(extra_args)
        errf = open(log_path, "wb")
        proc = subprocess.Popen(args, env=self.env_for(env, use_backend), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=errf, start_new_session=True)
        errf.close()
        q = queue.Queue()

        def reader():
            for raw in proc.stdout:
                q.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
            q.put(None)

        threading.Thread(target=reader, daemon=True).start()
        srv = Server(proc, data_dir, log_path, q)
        self.started.append(srv)
        if not expect_listen:
            return srv
        deadline = time.monotonic() + LISTEN_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = q.get(timeout=max(0.05, remaining))
            except queue.Empty:
                srv.kill()
                pytest.fail(f"no 'listening on' line within {LISTEN_TIMEOUT}s; stderr:\n"
                            f"{srv.stderr_text()[-4000:]}", pytrace=False)
            if line is None:
                rc = proc.wait(timeout=10)
                pytest.fail(f"shiplog exited ({rc}) before listening; stdout {srv.stdout_lines!r}; "
                            f"stderr:\n{srv.stderr_text()[-4000:]}", pytrace=False)
            srv.stdout_lines.append(line)
            m = LISTEN_RE.match(line)
            if m:
                srv.scheme, srv.port = m.group(1), int(m.group(2))
                return srv
            if remaining <= 0:
                srv.kill()
                pytest.fail(f"unexpected stdout {srv.stdout_lines!r}", pytrace=False)

    def close(self):
        for s in self.started:
            s.kill()


@pytest.fixture
def server(shiplog_bin, backend_env, tmp_path):
    """Factory: server.start(env={...}) -> Server. env values of None remove a variable."""
    counter = iter(range(1, 1000))
    f = ServerFactory(shiplog_bin, backend_env, lambda: tmp_path / f"data{next(counter)}")
    yield f
    f.close()


@pytest.fixture(scope="module")
def module_server_factory(shiplog_bin, backend_env, tmp_path_factory):
    f = ServerFactory(shiplog_bin, backend_env,
                      lambda: tmp_path_factory.mktemp("data"))
    yield f
    f.close()


@pytest.fixture(scope="module")
def shared_server(module_server_factory):
    """One server with default settings shared by the read-only tests of a module."""
    return module_server_factory.start()


@pytest.fixture
def deploy(server, backend, pg_factory):
    """deploy(master_key) -> deployment.Deployment (server + CLI on one data dir)."""
    from deployment import Deployment

    def make(key):
        return Deployment(server, backend, pg_factory, key)
    return make


# --------------------------------------------------------------------------
# A real SMTP server on loopback (scripts/smtpsink: aiosmtpd), one per module


@pytest.fixture(scope="module")
def sink():
    """(SMTP URL for SHIPLOG_SMTP_URL, directory where each mail lands as .eml)."""
    d = Path(tempfile.mkdtemp(prefix="shiplog-smtpsink-"))
    out = subprocess.run([str(REPO_ROOT / "scripts" / "smtpsink"), "start", str(d)],
                         capture_output=True, text=True, check=True, timeout=60,
                         env=base_env()).stdout
    vals = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    yield vals["URL"], Path(vals["MAIL_DIR"])
    subprocess.run([str(REPO_ROOT / "scripts" / "smtpsink"), "destroy", str(d)], timeout=60,
                   env=base_env())
