"""Native TLS (H1): TLS 1.2 and 1.3 only, strong ciphers, HSTS when TLS is on."""

import http.client
import socket
import ssl
import subprocess
import threading

import pytest

from e2e_util import HSTS_VALUE, assert_error, assert_security_headers


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return crt, key


@pytest.fixture(scope="module")
def tls_server(module_server_factory, cert):
    crt, key = cert
    return module_server_factory.start(env={"SHIPLOG_TLS_CERT_FILE": crt, "SHIPLOG_TLS_KEY_FILE": key})


def _ctx(cert, lo, hi, ciphers=None):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(str(cert))
    c.minimum_version, c.maximum_version = lo, hi
    if ciphers:
        c.set_ciphers(ciphers)
    return c


def _get(port, ctx, path="/health"):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read(), conn.sock.version()
    finally:
        conn.close()


def test_listening_line_is_https(tls_server):
    assert tls_server.scheme == "https"
    assert tls_server.stdout_lines[-1] == f"listening on https://127.0.0.1:{tls_server.port}"


@pytest.mark.parametrize("version,name", [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                                          (ssl.TLSVersion.TLSv1_3, "TLSv1.3")], ids=["tls1.2", "tls1.3"])
def test_https_get(tls_server, cert, version, name):
    status, headers, body, negotiated = _get(tls_server.port, _ctx(cert[0], version, version))
    assert status == 200, body
    assert negotiated == name
    assert headers.get("strict-transport-security") == HSTS_VALUE


def test_https_security_headers_on_errors(tls_server):
    r = tls_server.get("/nope")
    assert_error(r, 404, "not_found")
    assert_security_headers(r, hsts=True)


def test_tls12_forward_secrecy_and_aead(tls_server, cert):
    """With a default client offer, TLS 1.2 negotiates an ECDHE/DHE AEAD suite."""
    c = _ctx(cert[0], ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as raw:
        with c.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            name, _, _ = s.cipher()
    assert name.startswith(("ECDHE-", "DHE-")), name
    assert "GCM" in name or "CHACHA20" in name, name


def _handshake(port, ctx):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.version()


def _old_ctx(cert, hi, ciphers="DEFAULT:@SECLEVEL=0"):
    c = _ctx(cert, ssl.TLSVersion.TLSv1, hi)
    c.set_ciphers(ciphers)
    return c


def _local_openssl_speaks(cert, key, hi, ciphers="DEFAULT:@SECLEVEL=0"):
    """Whether this machine's OpenSSL can complete a handshake capped at hi with
    these ciphers at all (against an in-process server), so a refusal by
    shiplog means shiplog refused."""
    srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv_ctx.load_cert_chain(str(cert), str(key))
    srv_ctx.minimum_version = ssl.TLSVersion.TLSv1
    srv_ctx.set_ciphers(ciphers)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]

    def accept():
        try:
            conn, _ = lsock.accept()
            conn.settimeout(5)
            with srv_ctx.wrap_socket(conn, server_side=True):
                pass
        except Exception:
            pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        _handshake(port, _old_ctx(cert, hi, ciphers))
        return True
    except (ssl.SSLError, OSError):
        return False
    finally:
        t.join(5)
        lsock.close()


@pytest.mark.parametrize("hi", [ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1], ids=["tls1.1", "tls1.0"])
def test_old_tls_refused(tls_server, cert, hi):
    if not _local_openssl_speaks(cert[0], cert[1], hi):
        pytest.skip(f"local OpenSSL cannot offer {hi.name}")
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        v = _handshake(tls_server.port, _old_ctx(cert[0], hi))
        pytest.fail(f"handshake succeeded with {v}")
    assert tls_server.get("/health").status_code == 200


@pytest.mark.parametrize("ciphers", ["ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA",  # CBC + SHA-1
                                     "ECDHE-ECDSA-NULL-SHA"],                          # no encryption
                         ids=["cbc-sha1", "null"])
def test_weak_tls12_ciphers_refused(tls_server, cert, ciphers):
    full = ciphers + ":@SECLEVEL=0"
    if not _local_openssl_speaks(cert[0], cert[1], ssl.TLSVersion.TLSv1_2, full):
        pytest.skip(f"local OpenSSL cannot offer {ciphers}")
    c = _ctx(cert[0], ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, full)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        _handshake(tls_server.port, c)
        pytest.fail(f"handshake succeeded offering only {ciphers}")


def test_plain_http_to_tls_port_not_served(tls_server):
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try:
            data = s.recv(100)
        except (ConnectionResetError, socket.timeout):
            data = b""
    assert not data.startswith(b"HTTP/1.1 200"), data
    assert tls_server.get("/health").status_code == 200


def test_tls_needs_both_files(server, cert):
    srv = server.start(env={"SHIPLOG_TLS_CERT_FILE": cert[0]}, expect_listen=False)
    assert srv.wait(10) != 0
    assert "SHIPLOG_TLS_KEY_FILE" in srv.stderr_text()
