"""The benchmark's authorization and resource server: stdlib only, 127.0.0.1 only.

Endpoints:

- ``POST /token`` — RFC 6749 §6 refresh grant with refresh-token rotation and reuse
  detection (RFC 9700 §4.14.2): presenting a refresh token that was already exchanged
  revokes the whole grant (its live refresh token and its access tokens) and answers
  ``invalid_grant``, as do unknown and revoked refresh tokens. An optional latency (set by
  ``POST /_reset``) is slept before the request is decided, so concurrent refreshes overlap
  the way they do against a real provider.
- ``GET /api`` — a protected resource: 200 for a live access token, else 401 with
  ``WWW-Authenticate: Bearer error="invalid_token"`` (RFC 6750 §3.1).
- ``POST /_grant`` — issue a new grant (a refresh-token family) and return its tokens.
- ``GET /_stats`` — the counters as JSON; ``POST /_reset`` zeroes them, forgets every grant
  and applies the JSON body's settings (``latency_ms``, ``expires_in``, ``rotate``).

Why not the stdlib defaults: ``BaseHTTPRequestHandler`` writes the header block and the body
in separate ``send`` calls; with Nagle's algorithm on, the second waits for the client's
delayed ACK (~40 ms per request on Linux). Here each response is one buffer written once,
and ``TCP_NODELAY`` is set on every accepted connection.

Run as a script it serves on a free port, prints ``{"port": N}`` on its first stdout line
and stops when its standard input closes (so it never outlives the scenario that started
it), or on SIGTERM.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["BenchServer", "ServerState"]

MAX_BODY = 64 * 1024
MAX_LATENCY_MS = 5_000.0


@dataclass
class _Grant:
    """One refresh-token family (RFC 9700 §4.14.2)."""

    grant_id: int
    refresh_token: str
    used: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    revoked: bool = False


_COUNTERS = (
    "token_requests",
    "token_ok",
    "invalid_grant",
    "reuse_detected",
    "invalid_client",
    "api_requests",
    "api_ok",
    "api_401",
    "grants_issued",
    "grants_revoked",
)


class ServerState:
    """Grants, tokens, counters and settings, all under one lock."""

    def __init__(self, latency_ms: float = 0.0, expires_in: int = 3600) -> None:
        self.lock = threading.Lock()
        self.latency_ms = latency_ms
        self.expires_in = expires_in
        self.rotate = True
        self._ids = itertools.count(1)
        self.grants: dict[int, _Grant] = {}
        self.by_refresh: dict[str, _Grant] = {}
        self.live_access: dict[str, _Grant] = {}
        self.counters = dict.fromkeys(_COUNTERS, 0)

    def reset(self, settings: dict[str, Any]) -> None:
        with self.lock:
            self.latency_ms = min(float(settings.get("latency_ms", 0.0)), MAX_LATENCY_MS)
            self.expires_in = int(settings.get("expires_in", 3600))
            self.rotate = bool(settings.get("rotate", True))
            self.grants.clear()
            self.by_refresh.clear()
            self.live_access.clear()
            self.counters = dict.fromkeys(_COUNTERS, 0)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            out: dict[str, Any] = dict(self.counters)
            out["grants_live"] = sum(1 for g in self.grants.values() if not g.revoked)
            return out

    def _issue(self, grant: _Grant) -> dict[str, Any]:
        """Mint an access token (and, with rotation, a new refresh token). Lock held."""
        n = next(self._ids)
        access = f"at-{grant.grant_id}-{n}"
        grant.access_tokens.add(access)
        self.live_access[access] = grant
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": "email profile",
        }
        if self.rotate:
            grant.used.add(grant.refresh_token)
            grant.refresh_token = f"rt-{grant.grant_id}-{n}"
            self.by_refresh[grant.refresh_token] = grant
            body["refresh_token"] = grant.refresh_token
        return body

    def new_grant(self) -> dict[str, Any]:
        with self.lock:
            grant_id = next(self._ids)
            grant = _Grant(grant_id, f"rt-{grant_id}-0")
            self.grants[grant_id] = grant
            self.by_refresh[grant.refresh_token] = grant
            self.counters["grants_issued"] += 1
            body = self._issue(grant)
            body["grant_id"] = grant_id
            return body

    def _revoke(self, grant: _Grant) -> None:
        if not grant.revoked:
            grant.revoked = True
            self.counters["grants_revoked"] += 1
        for access in grant.access_tokens:
            self.live_access.pop(access, None)
        grant.access_tokens.clear()

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        """The token endpoint's decision for one request (RFC 6749 §5.1, §5.2, §6)."""
        with self.lock:
            self.counters["token_requests"] += 1
            latency = self.latency_ms
        if latency > 0:
            time.sleep(latency / 1000.0)
        if not _client_id(form, authorization):
            with self.lock:
                self.counters["invalid_client"] += 1
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        presented = form.get("refresh_token", "")
        with self.lock:
            grant = self.by_refresh.get(presented)
            if grant is None or grant.revoked:
                self.counters["invalid_grant"] += 1
                return 400, {"error": "invalid_grant", "error_description": "unknown or revoked"}
            if presented != grant.refresh_token:
                self.counters["reuse_detected"] += 1
                self.counters["invalid_grant"] += 1
                self._revoke(grant)
                return 400, {"error": "invalid_grant", "error_description": "refresh token reused"}
            self.counters["token_ok"] += 1
            return 200, self._issue(grant)

    def api(self, authorization: str) -> bool:
        token = authorization[7:] if authorization[:7].lower() == "bearer " else ""
        with self.lock:
            self.counters["api_requests"] += 1
            ok = token in self.live_access
            self.counters["api_ok" if ok else "api_401"] += 1
            return ok


def _client_id(form: dict[str, str], authorization: str) -> str:
    """The client_id from HTTP Basic (client_secret_basic) or the form (client_secret_post)."""
    if authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:]).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[0]
    return form.get("client_id", "")


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
_JSON = "application/json"
_OK_BODY = b'{"ok":true}'


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # TCP_NODELAY on each accepted connection
        wbufsize = -1  # buffered; the handler flushes once per request

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(
            self, status: int, body: bytes, extra: tuple[tuple[str, str], ...] = ()
        ) -> None:
            head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
            head.append(f"Content-Type: {_JSON}")
            head.append(f"Content-Length: {len(body)}")
            head.extend(f"{k}: {v}" for k, v in extra)
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            self.wfile.flush()

        def _json(self, status: int, data: dict[str, Any]) -> None:
            self._reply(status, json.dumps(data).encode())

        def _body(self) -> bytes:
            length = min(int(self.headers.get("content-length") or 0), MAX_BODY)
            return self.rfile.read(length) if length > 0 else b""

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/api":
                if state.api(self.headers.get("authorization") or ""):
                    self._reply(200, _OK_BODY)
                else:
                    self._reply(
                        401, b"{}", (("WWW-Authenticate", 'Bearer error="invalid_token"'),)
                    )
            elif path == "/_stats":
                self._json(200, state.stats())
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            body = self._body()
            if path == "/token":
                form = dict(parse_qsl(body.decode("utf-8", "replace")))
                status, data = state.token(form, self.headers.get("authorization") or "")
                self._json(status, data)
            elif path == "/_grant":
                self._json(200, state.new_grant())
            elif path == "/_reset":
                settings = json.loads(body) if body else {}
                state.reset(settings if isinstance(settings, dict) else {})
                self._json(200, {"reset": True})
            else:
                self._json(404, {"error": "not_found"})

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # 32 clients connecting at once must not overflow the backlog


class BenchServer:
    """The server on ``127.0.0.1`` and a free port, in a background thread of this process.

    Use as a context manager; ``url`` is ``http://127.0.0.1:PORT``.
    """

    def __init__(self, latency_ms: float = 0.0, expires_in: int = 3600) -> None:
        self.state = ServerState(latency_ms, expires_in)
        self._httpd = _Server(("127.0.0.1", 0), _handler(self.state))
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def __enter__(self) -> BenchServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(10)
        self._httpd.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--expires-in", type=int, default=3600)
    parser.add_argument(
        "--max-seconds", type=float, default=3600.0, help="stop after this long in any case"
    )
    args = parser.parse_args(argv)
    with BenchServer(args.latency_ms, args.expires_in) as server:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        print(json.dumps({"port": server.port}), flush=True)
        watcher = threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True)
        watcher.start()
        stop.wait(args.max_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
