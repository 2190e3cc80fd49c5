"""A programmable HTTP server on 127.0.0.1 for fault-injection tests.

It speaks real HTTP over a real socket; the test decides what each path answers. By
default ``/token`` is a working RFC 6749 token endpoint (refresh grant with rotation) and
``/api`` a protected resource that accepts only the current access token. A test can queue
canned responses (status, headers, body) for a path to inject faults: HTML error pages,
truncated JSON, 503s, redirects.

Lost answers (SECURITY.md §6.3 item 2): with ``lose_answers = n`` the next ``n`` refresh
requests are processed (the refresh token rotates) but their answers are held until
``stall`` is set (at exit), past any short client read timeout. The old refresh token is
then refused (``invalid_grant``) unless ``grace = True``, where the just-rotated token is
still honoured once (Auth0 leeway, Cognito ``RetryGracePeriodSeconds``...). ``on_token``
is called with each token request before it is answered.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["Canned", "ScriptedServer"]


@dataclass
class Canned:
    status: int
    body: bytes | str | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_event: threading.Event | None = None  # answer only once this is set

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        body = self.body
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        return body, headers


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


class ScriptedServer:
    def __init__(self, expires_in: int = 3600, rotate: bool = True) -> None:
        self.expires_in = expires_in
        self.rotate = rotate
        self.lock = threading.Lock()
        self.queued: dict[str, deque[Canned]] = defaultdict(deque)
        self.seen: list[Seen] = []
        self._counter = itertools.count(1)
        self.access_tokens: set[str] = {"at-0"}
        self.refresh_token = "rt-0"
        self.token_gate: threading.Event | None = None
        self.lose_answers = 0
        self.grace = False
        self.previous_refresh_token: str | None = None
        self.stall = threading.Event()
        self.on_token: Callable[[Seen], None] | None = None
        self.protected_prefixes: tuple[str, ...] = ("/api",)
        server = self
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stall.set()  # let held answers go (their clients gave up long ago)
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def queue(self, path: str, *responses: Canned) -> None:
        with self.lock:
            self.queued[path].extend(responses)

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for s in self.seen if s.path.split("?")[0] == path)

    def requests_to(self, path: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path.split("?")[0] == path]

    # default behaviours ----------------------------------------------------------------

    def token_endpoint(self, seen: Seen) -> Canned:
        form = seen.form
        if self.on_token is not None:
            self.on_token(seen)
        if self.token_gate is not None:
            self.token_gate.wait(10)
        with self.lock:
            if form.get("grant_type") == "refresh_token":
                presented = form.get("refresh_token")
                in_grace = self.grace and presented == self.previous_refresh_token
                if presented != self.refresh_token and not in_grace:
                    return Canned(400, {"error": "invalid_grant", "error_description": "stale"})
                if in_grace:
                    self.previous_refresh_token = None  # honoured once
                n = next(self._counter)
                access = f"at-{n}"
                self.access_tokens = {access}
                body: dict[str, Any] = {
                    "access_token": access,
                    "token_type": "Bearer",
                    "expires_in": self.expires_in,
                    "scope": "email profile",
                }
                if self.rotate:
                    if not in_grace:
                        self.previous_refresh_token = self.refresh_token
                    self.refresh_token = f"rt-{n}"
                    body["refresh_token"] = self.refresh_token
                if self.lose_answers > 0:
                    self.lose_answers -= 1
                    return Canned(200, body, delay_event=self.stall)
                return Canned(200, body)
            if form.get("grant_type") == "authorization_code":
                n = next(self._counter)
                access = f"at-{n}"
                self.access_tokens.add(access)
                return Canned(
                    200,
                    {
                        "access_token": access,
                        "token_type": "Bearer",
                        "expires_in": self.expires_in,
                        "refresh_token": self.refresh_token,
                    },
                )
        return Canned(400, {"error": "unsupported_grant_type"})

    def api(self, seen: Seen) -> Canned:
        auth = seen.headers.get("authorization", "")
        with self.lock:
            ok = auth.startswith("Bearer ") and auth[7:] in self.access_tokens
        if not ok:
            return Canned(401, b"", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return Canned(200, {"ok": True, "method": seen.method, "body": seen.body.decode()})


def _handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = Seen(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
            path = self.path.split("?")[0]
            with server.lock:
                server.seen.append(seen)
                canned = server.queued[path].popleft() if server.queued[path] else None
            if canned is None:
                if path == "/token":
                    canned = server.token_endpoint(seen)
                elif path.startswith(server.protected_prefixes):
                    canned = server.api(seen)
                elif path == "/revoke":
                    canned = Canned(200, b"")
                else:
                    canned = Canned(404, b"not found")
            if canned.delay_event is not None:
                canned.delay_event.wait(10)
            data, headers = canned.encoded()
            try:
                self.send_response(canned.status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (a held answer): nothing to tell it
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    return Handler
