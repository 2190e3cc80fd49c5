"""The default transport (``http.client`` with a keep-alive pool) against real sockets:
a plain HTTP server, a TLS server with its own CA, and a forward proxy (absolute-form
requests and ``CONNECT`` tunnels), all on 127.0.0.1."""

from __future__ import annotations

import datetime
import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from oauthkit._drivers import to_transport
from oauthkit._errors import ConfigurationError, InvalidResponseError, TransportError
from oauthkit._models import Request
from oauthkit._protocol.rfc6749 import MAX_BODY
from oauthkit.transport._stdlib import StdlibTransport, _bypassed, default_transport
from tests.scripted_server import Canned, ScriptedServer

# --- servers -----------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _CountingServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        body = f"{self.client_address[1]} {self.headers.get('x-n', '')}".encode()
        self.send_response(200)
        self.send_header("Set-Cookie", "a=1")
        self.send_header("Set-Cookie", "b=2")
        self.send_header("Content-Length", str(len(body)))
        if self.path == "/close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


class _CountingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        self.context = context

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        self.connections += 1
        if self.context is not None:
            sock = self.context.wrap_socket(sock, server_side=True)
        return sock, addr


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[_CountingServer] = []

    def start(context: ssl.SSLContext | None = None) -> _CountingServer:
        srv = _CountingServer(context)
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.shutdown()
        srv.server_close()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """A server context whose certificate (for 127.0.0.1 and localhost) a test CA signs;
    and the CA's PEM file."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("oauthkit test CA"))
        .issuer_name(_name("oauthkit test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("tls")
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "server.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(d / "server.pem")
    return context, d / "ca.pem"


class _Proxy:
    """A forward proxy: absolute-form requests are answered by the proxy itself (naming
    what it was asked), ``CONNECT`` is tunnelled to the target."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.seen: list[tuple[str, dict[str, str]]] = []
        self._thread = threading.Thread(target=self._accept)
        self._thread.start()

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        self._thread.join()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            lines = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
            self.seen.append((lines[0], headers))
            method, target, _ = lines[0].split(" ")
            if method != "CONNECT":
                body = f"proxied {target}".encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                return
            host, _, port = target.rpartition(":")
            with socket.create_connection((host, int(port))) as upstream:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                pump = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
                pump.start()
                _pipe(conn, upstream)
                pump.join(5)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        return


@pytest.fixture
def proxy() -> Iterator[_Proxy]:
    p = _Proxy()
    yield p
    p.close()


@pytest.fixture
def make() -> Iterator[Any]:
    """``StdlibTransport(**kwargs)``, closed after the test."""
    made: list[StdlibTransport] = []

    def new(**kwargs: Any) -> StdlibTransport:
        made.append(StdlibTransport(**kwargs))
        return made[-1]

    yield new
    for transport in made:
        transport.close()


def get(transport: StdlibTransport, url: str, **headers: str) -> Any:
    return transport.send(Request("GET", url, headers, b""))


# --- behaviour ---------------------------------------------------------------------------------


def test_default_transport_is_the_shared_stdlib_pool() -> None:
    assert to_transport(None) is default_transport()
    assert isinstance(default_transport(), StdlibTransport)


def test_sends_method_headers_and_body_and_reads_the_answer(
    make: Any, server: ScriptedServer
) -> None:
    server.queue("/echo", Canned(201, {"ok": 1}, {"X-Thing": "v"}))
    transport = make(proxies={})
    resp = transport.send(Request("POST", server.url + "/echo?q=1", {"x-custom": "1"}, b"payload"))
    transport.close()
    seen = server.requests_to("/echo")[0]
    assert (seen.method, seen.path, seen.body) == ("POST", "/echo?q=1", b"payload")
    assert seen.headers["x-custom"] == "1"
    assert (resp.status, resp.body) == (201, b'{"ok": 1}')
    assert resp.headers["x-thing"] == "v"


def test_connections_are_kept_alive_and_repeated_headers_merged(make: Any, serve: Any) -> None:
    srv = serve()
    transport = make(proxies={})
    url = f"http://127.0.0.1:{srv.server_address[1]}/"
    ports = {get(transport, url).body.split()[0] for _ in range(5)}
    first = get(transport, url)
    transport.close()
    assert srv.connections == 1
    assert len(ports) == 1
    assert first.headers["set-cookie"] == "a=1, b=2"


def test_a_connection_the_server_closes_is_not_reused(make: Any, serve: Any) -> None:
    srv = serve()
    transport = make(proxies={})
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    assert get(transport, base + "/close").status == 200
    assert get(transport, base + "/").status == 200
    assert get(transport, base + "/").status == 200
    transport.close()
    assert srv.connections == 2


def test_an_idle_connection_dropped_by_the_server_is_replaced(make: Any, serve: Any) -> None:
    srv = serve()
    transport = make(proxies={})
    url = f"http://127.0.0.1:{srv.server_address[1]}/"
    assert get(transport, url).status == 200
    (conn,) = transport._idle[("http", "127.0.0.1", srv.server_address[1])]
    assert conn.sock is not None
    conn.sock.shutdown(socket.SHUT_RD)  # what a server's FIN looks like: readable, EOF
    assert get(transport, url).status == 200
    transport.close()
    assert srv.connections == 2


def test_redirects_are_returned_not_followed(make: Any, server: ScriptedServer) -> None:
    server.queue("/token", Canned(302, b"", {"Location": "https://evil.example/"}))
    resp = make(proxies={}).send(Request("POST", server.url + "/token", {}, b"x"))
    assert resp.status == 302
    assert server.count("/token") == 1


def test_a_body_over_the_limit_is_refused(make: Any, server: ScriptedServer) -> None:
    server.queue("/big", Canned(200, b"x" * (MAX_BODY + 10)))
    with pytest.raises(InvalidResponseError, match="exceeds"):
        make(proxies={}).send(Request("GET", server.url + "/big", {}, b""))


def test_a_dead_server_is_a_transport_error(make: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError, match="ConnectionRefusedError"):
        get(make(proxies={}), f"http://127.0.0.1:{port}/token")


def test_a_stalled_answer_times_out(make: Any, server: ScriptedServer) -> None:
    release = threading.Event()
    server.queue("/slow", Canned(200, b"late", delay_event=release))
    transport = make(proxies={}, timeout=(5.0, 0.2))
    try:
        with pytest.raises(TransportError, match="TimeoutError"):
            get(transport, server.url + "/slow")
    finally:
        release.set()


def test_other_schemes_are_refused(make: Any) -> None:
    with pytest.raises(ConfigurationError):
        get(make(proxies={}), "file:///etc/passwd")


def test_tls_is_verified_against_the_given_or_default_trust(
    make: Any, serve: Any, tls: Any
) -> None:
    server_context, ca = tls
    srv = serve(server_context)
    url = f"https://127.0.0.1:{srv.server_address[1]}/"
    with pytest.raises(TransportError, match="SSLCertVerificationError"):
        get(make(proxies={}), url)  # certifi does not know the test CA
    trusting = make(proxies={}, ssl_context=ssl.create_default_context(cafile=ca))
    assert get(trusting, url).status == 200
    trusting.close()


def test_ssl_cert_file_is_honoured(
    make: Any, serve: Any, tls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_context, ca = tls
    srv = serve(server_context)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    transport = make(proxies={})
    assert get(transport, f"https://localhost:{srv.server_address[1]}/").status == 200
    transport.close()


def test_http_proxy_from_the_environment_gets_absolute_form_and_credentials(
    make: Any, proxy: _Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("://", "://u%40x:p%3Aw@"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    resp = get(make(), "http://issuer.example:8080/token?x=1")
    assert resp.body == b"proxied http://issuer.example:8080/token?x=1"
    line, headers = proxy.seen[0]
    assert line == "GET http://issuer.example:8080/token?x=1 HTTP/1.1"
    assert headers["proxy-authorization"] == "Basic dUB4OnA6dw=="  # u@x:p:w
    assert headers["host"] == "issuer.example:8080"


def test_https_goes_through_a_connect_tunnel(
    make: Any, proxy: _Proxy, serve: Any, tls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_context, ca = tls
    srv = serve(server_context)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    transport = make(ssl_context=ssl.create_default_context(cafile=ca))
    resp = get(transport, f"https://localhost:{srv.server_address[1]}/", **{"x-n": "7"})
    transport.close()
    assert resp.status == 200
    assert resp.body.endswith(b" 7")
    assert proxy.seen[0][0] == f"CONNECT localhost:{srv.server_address[1]} HTTP/1.0"


def test_no_proxy_bypasses(
    make: Any, proxy: _Proxy, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = serve()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "example.org,127.0.0.1")
    resp = get(make(), f"http://127.0.0.1:{srv.server_address[1]}/")
    assert resp.status == 200
    assert proxy.seen == []
    assert srv.connections == 1


@pytest.mark.parametrize(
    ("host", "no_proxy", "bypassed"),
    [
        ("auth.example.com", "example.com", True),
        ("auth.example.com", ".example.com", True),
        ("example.com", "example.com", True),
        ("badexample.com", "example.com", False),
        ("anything", "*", True),
        ("auth.example.com", "", False),
    ],
)
def test_no_proxy_matching(host: str, no_proxy: str, bypassed: bool) -> None:
    assert _bypassed(host, no_proxy) is bypassed


def test_socks_proxies_need_a_configured_client(make: Any) -> None:
    transport = make(proxies={"https": "socks5://127.0.0.1:1080"})
    with pytest.raises(ConfigurationError, match="socks5"):
        get(transport, "https://issuer.example/token")


def test_a_context_that_does_not_verify_is_refused() -> None:
    lax = ssl.create_default_context()
    lax.check_hostname = False
    with pytest.raises(ConfigurationError, match="does not verify"):
        StdlibTransport(ssl_context=lax)
    lax.verify_mode = ssl.CERT_NONE
    with pytest.raises(ConfigurationError, match="does not verify"):
        StdlibTransport(ssl_context=lax)
