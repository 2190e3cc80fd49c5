"""The default transport for oauthkit's own requests when the caller gives no client.

Token, revocation, discovery and JWKS requests are small and few, so the standard
library's ``http.client`` serves them, over a small keep-alive pool kept apart from the
caller's API traffic (RFC 9700 §4.12). It costs a third of httpx's time per request and
nothing to import, which is what a token fetch and a command-line start pay for.

It behaves as ``httpx.Client()`` does by default where that matters: certificates are
verified against certifi's bundle (or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set),
``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` are honoured (plain
``http://`` proxies; ``https://`` targets through a ``CONNECT`` tunnel), redirects are never
followed, and bodies are bounded. Anything else (SOCKS proxies, client certificates,
HTTP/2) is a client you configure yourself and pass in.
"""

from __future__ import annotations

import atexit
import base64
import http.client
import os
import select
import socket
import ssl
import threading
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from oauthkit._errors import ConfigurationError, TransportError
from oauthkit._models import Request, Response
from oauthkit.transport._common import CONNECT_TIMEOUT, MAX_BODY, READ_TIMEOUT, too_large

__all__ = ["StdlibTransport", "default_transport"]

_MAX_IDLE = 4
_Key = tuple[str, str, int]  # scheme, host, port of the server
_Proxy = tuple[str, int, "str | None"]  # host, port, Proxy-Authorization


def default_ssl_context() -> ssl.SSLContext:
    """Verification as httpx does it: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` if set, else
    certifi's bundle (python.org builds for macOS have no system store)."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context()
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def env_proxies() -> dict[str, str]:
    """``{"http": url, "https": url, "no": hosts}`` from the environment (either case)."""
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return {}
    import urllib.request

    return urllib.request.getproxies_environment()


class StdlibTransport:
    """Sends through ``http.client`` connections, kept alive and reused per server.

    ``ssl_context``: used for ``https://`` (default: :func:`default_ssl_context`); one
    that skips certificate or host-name verification is refused (SECURITY.md C48);
    ``proxies``: ``{"http": url, "https": url, "all": url, "no": "host,host"}`` (default:
    from the environment); ``timeout``: (connect, read) seconds. Thread-safe: a connection
    serves one request at a time.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        proxies: Mapping[str, str] | None = None,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
    ) -> None:
        if ssl_context is not None and (
            ssl_context.verify_mode != ssl.CERT_REQUIRED or not ssl_context.check_hostname
        ):
            raise ConfigurationError(
                "this SSL context does not verify certificates and host names; oauthkit "
                "will not send credentials over it (RFC 6749 §10.9)"
            )
        self._ssl = ssl_context
        self._proxies = dict(env_proxies() if proxies is None else proxies)
        self._connect_timeout, self._read_timeout = timeout
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"StdlibTransport(proxies={sorted(k for k in self._proxies if k != 'no')})"

    def send(self, request: Request) -> Response:
        parts = urlsplit(request.url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"cannot send to a {scheme or 'relative'} URL")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            raise ConfigurationError("the URL has an invalid port") from exc
        key: _Key = (scheme, parts.hostname, port)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        headers = dict(request.headers)
        proxy = self._proxy_for(scheme, parts.hostname)
        if proxy is not None and scheme == "http":
            target = f"http://{parts.netloc.rpartition('@')[2]}{target}"  # absolute form
            if proxy[2]:
                headers["Proxy-Authorization"] = proxy[2]
        conn = self._take(key)
        reused = conn is not None
        try:
            if conn is None:
                conn = self._connect(key, proxy)
            try:
                conn.request(request.method, target, request.body or None, headers)
            except (BrokenPipeError, ConnectionResetError):
                if not reused:
                    raise
                # the server closed the idle connection as we wrote: it saw no request
                conn.close()
                conn = self._connect(key, proxy)
                conn.request(request.method, target, request.body or None, headers)
            resp = conn.getresponse()
            body = resp.read(MAX_BODY + 1)
            if len(body) > MAX_BODY:
                conn.close()
                raise too_large(resp.status)
            merged: dict[str, str] = {}
            for raw_name, value in resp.getheaders():
                name = raw_name.lower()
                merged[name] = f"{merged[name]}, {value}" if name in merged else value
            if resp.will_close or not resp.isclosed():
                conn.close()
            else:
                self._give_back(key, conn)
            return Response(resp.status, merged, body)
        except (OSError, http.client.HTTPException) as exc:
            if conn is not None:
                conn.close()
            raise TransportError(f"{type(exc).__name__} talking to the server") from exc

    def close(self) -> None:
        with self._guard:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    # --- the pool -----------------------------------------------------------------------------

    def _take(self, key: _Key) -> http.client.HTTPConnection | None:
        with self._guard:
            conns = self._idle.get(key)
            while conns:
                conn = conns.pop()
                if _usable(conn):
                    return conn
                conn.close()
        return None

    def _give_back(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        with self._guard:
            conns = self._idle.setdefault(key, [])
            if len(conns) < _MAX_IDLE:
                conns.append(conn)
                return
        conn.close()

    def _connect(self, key: _Key, proxy: _Proxy | None) -> http.client.HTTPConnection:
        scheme, host, port = key
        to_host, to_port = (proxy[0], proxy[1]) if proxy is not None else (host, port)
        conn: http.client.HTTPConnection
        if scheme == "https":
            if self._ssl is None:
                self._ssl = default_ssl_context()
            conn = http.client.HTTPSConnection(
                to_host, to_port, timeout=self._connect_timeout, context=self._ssl
            )
            if proxy is not None:
                tunnel = {"Proxy-Authorization": proxy[2]} if proxy[2] else None
                conn.set_tunnel(host, port, tunnel)
        else:
            conn = http.client.HTTPConnection(to_host, to_port, timeout=self._connect_timeout)
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(self._read_timeout)
            # http.client writes headers and body separately: no Nagle wait between them
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _proxy_for(self, scheme: str, host: str) -> _Proxy | None:
        url = self._proxies.get(scheme) or self._proxies.get("all")
        if not url or _bypassed(host, self._proxies.get("no", "")):
            return None
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme != "http" or not parts.hostname:
            raise ConfigurationError(
                f"{parts.scheme}:// proxies need a client configured for them; pass one in"
            )
        auth = None
        if parts.username is not None:
            raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            auth = "Basic " + base64.b64encode(raw).decode("ascii")
        return parts.hostname, parts.port or 80, auth


def _usable(conn: http.client.HTTPConnection) -> bool:
    """An idle connection is reusable unless the server closed it (its socket is readable:
    EOF, or bytes nobody asked for)."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _bypassed(host: str, no_proxy: str) -> bool:
    """``NO_PROXY`` as curl and httpx read it: ``*``, exact hosts and domain suffixes."""
    host = host.lower().rstrip(".")
    for raw in no_proxy.replace(" ", "").split(","):
        entry = raw.lower().lstrip(".").rstrip(".")
        if entry == "*":
            return True
        if entry and (host == entry or host.endswith("." + entry)):
            return True
    return False


_default: StdlibTransport | None = None
_default_lock = threading.Lock()


def default_transport() -> StdlibTransport:
    """The process-wide transport for requests made without a client: its own connection
    pool, separate from the API traffic (RFC 9700 §4.12; CVE-2024-35195)."""
    global _default  # noqa: PLW0603 - a lazily built process-wide pool
    with _default_lock:
        if _default is None:
            _default = StdlibTransport()
            atexit.register(_default.close)
        return _default
