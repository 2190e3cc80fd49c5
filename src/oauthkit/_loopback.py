"""The loopback redirect server of a native app (RFC 8252 §7.3, §8.3; RFC 9700 §2.6).

A :class:`LoopbackServer` listens on ``127.0.0.1`` (or ``::1``) only, on a given or an
ephemeral port, for the one authorization response of one flow:

- the redirect URI names the literal loopback address (RFC 8252 §8.3: ``localhost`` may
  resolve elsewhere or be firewalled differently), with one exact path;
- exactly one callback is accepted: a ``GET`` on that path whose ``state`` equals the
  flow's (compared in constant time, RFC 6749 §10.12). A wrong path, a missing or wrong
  ``state``, a repeated parameter (RFC 6749 §3.1), a request before the flow started, or
  a second callback each get an error page, and the server keeps waiting for the real one;
- every connection is served on its own thread with a short socket timeout, so a client
  that opens a connection and never finishes its request blocks nothing;
- the reply page is self-contained (no external resources: RFC 6749 §3.1.2.5, RFC 9700
  §4.2) and sent with ``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer``;
- :meth:`LoopbackServer.wait` has a total timeout, and :meth:`LoopbackServer.close`
  closes the listening socket and every open connection (the port is open only for the
  duration of the authorization request, RFC 8252 §8.3).

Nothing here logs a request line: it carries the authorization code and ``state``.
"""

from __future__ import annotations

import contextlib
import hmac
import html
import http.server
import logging
import socket
import socketserver
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from oauthkit._errors import AuthorizationError, ConfigurationError
from oauthkit._protocol import rfc6749

__all__ = ["DEFAULT_PATH", "LOOPBACK_HOSTS", "LoopbackServer"]

logger = logging.getLogger("oauthkit")

DEFAULT_PATH = "/"
LOOPBACK_HOSTS = ("127.0.0.1", "::1")
CONNECTION_TIMEOUT = 5.0  # seconds a client may take to send its request
TOTAL_TIMEOUT = 300.0  # seconds the user may take to log in and consent

_SECURITY_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Connection", "close"),
)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;margin:3em auto;max-width:36em;padding:0 1em}}
h1{{font-size:1.4em}}</style></head>
<body><h1>{title}</h1><p>{text}</p></body></html>
"""


def _page(title: str, text: str) -> bytes:
    return _PAGE.format(title=html.escape(title), text=html.escape(text)).encode("utf-8")


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    server_version = "oauthkit"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # per-connection timeout: a client that never finishes its request is dropped
        self.connection.settimeout(self.server.connection_timeout)

    def do_GET(self) -> None:
        status, title, text = self.server.owner._callback(self.path)
        body = _page(title, text)
        self.send_response(status)
        for name, value in _SECURITY_HEADERS:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self) -> None:
        body = _page("Method not allowed", "This address accepts only the authorization redirect.")
        self.send_response(405)
        for name, value in _SECURITY_HEADERS:
            self.send_header(name, value)
        self.send_header("Allow", "GET")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds the code and state: never log it. Status codes only.
        if format.startswith('"%s" %s'):
            logger.debug("loopback redirect server answered %s", args[1] if len(args) > 1 else "")
        else:
            logger.debug("loopback redirect server: connection closed early or timed out")


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins every connection's thread
    allow_reuse_address = False

    def __init__(self, owner: LoopbackServer, address: tuple[str, int], family: int) -> None:
        self.address_family = family
        self.owner = owner
        self.connection_timeout = owner.connection_timeout
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(): a DNS lookup, slow offline.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def abort_connections(self) -> None:
        """Cut every connection still open (a client that never finished its request)."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("loopback redirect server: a connection failed", exc_info=True)


class LoopbackServer:
    """A one-shot RFC 8252 loopback redirect server (see the module docstring).

    ``ports`` are tried in order; ``0`` means any free port. Raises :class:`OSError` when
    none can be bound. Use as a context manager, or call :meth:`close`::

        with LoopbackServer(ports=[0]) as server:
            url = flow.step1_get_authorize_url(redirect_uri=server.redirect_uri)
            server.expect(flow.state)
            ...  # open the browser
            credentials = flow.step2_exchange(server.wait())
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        ports: Iterable[int] = (0,),
        path: str = DEFAULT_PATH,
        *,
        connection_timeout: float = CONNECTION_TIMEOUT,
    ) -> None:
        if host == "localhost":  # RFC 8252 §8.3: use the literal address, not the name
            host = "127.0.0.1"
        if host not in LOOPBACK_HOSTS:
            raise ConfigurationError(
                f"the loopback redirect server listens only on 127.0.0.1 or ::1, not {host!r} "
                "(RFC 8252 §7.3)"
            )
        if not path.startswith("/") or "?" in path or "#" in path:
            raise ConfigurationError("the redirect path must be an absolute path")
        self.host = host
        self.path = path
        self.connection_timeout = connection_timeout
        self._state: str | None = None
        self._result: str | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        last_error: OSError | None = None
        server: _Server | None = None
        for port in ports:
            try:
                server = _Server(self, (host, int(port)), family)
                break
            except OSError as exc:
                last_error = exc
        if server is None:
            raise last_error or OSError("no port to bind")
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"oauthkit-loopback-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    @property
    def redirect_uri(self) -> str:
        """``http://127.0.0.1:<port><path>`` (``http://[::1]:<port><path>`` on IPv6)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    def expect(self, state: str) -> None:
        """Start accepting the callback that carries ``state`` (call after step 1)."""
        if not state:
            raise ConfigurationError("the flow has no state: call step1_get_authorize_url first")
        with self._lock:
            self._state = state

    def wait(self, timeout: float = TOTAL_TIMEOUT) -> str:
        """Block until the callback arrives; return the full redirect URL it came to (pass it
        to ``step2_exchange``, which checks ``state`` and ``iss`` again). Raises
        :class:`AuthorizationError` (``timeout``) after ``timeout`` seconds."""
        if not self._done.wait(timeout):
            raise AuthorizationError(
                f"no authorization response reached {self.redirect_uri} within {timeout:.0f} s",
                error="timeout",
            )
        return self._result or ""  # set before the event

    @property
    def received(self) -> bool:
        return self._done.is_set()

    def _callback(self, target: str) -> tuple[int, str, str]:
        """Decide about one request (runs on a connection thread)."""
        parts = urlsplit(target)
        if parts.path != self.path:
            return 404, "Not found", "This address serves only the authorization redirect."
        try:
            params = rfc6749.query_params(parts.query)
        except AuthorizationError:
            return 400, "Bad request", "A parameter appears more than once (RFC 6749 §3.1)."
        with self._lock:
            expected = self._state
            if self._done.is_set():
                return (
                    409,
                    "Already received",
                    "This sign-in already received its response. You can close this window.",
                )
            if expected is None:
                return 503, "Not ready", "No sign-in is in progress on this address."
            got = params.get("state", "")
            if not got or not hmac.compare_digest(got.encode(), expected.encode()):
                return 400, "Bad request", "This response does not belong to this sign-in."
            self._result = self.redirect_uri + ("?" + parts.query if parts.query else "")
            self._done.set()
        if "error" in params:
            return (
                200,
                "Sign-in not completed",
                "The provider refused the request; see the application for details. You can "
                "close this window.",
            )
        return (
            200,
            "Sign-in complete",
            "The application received the authorization. You can close this window.",
        )

    def close(self) -> None:
        """Stop listening, cut open connections, and join every thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.abort_connections()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LoopbackServer({self.redirect_uri!r}, received={self.received})"
