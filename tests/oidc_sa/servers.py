"""Real local HTTP servers (127.0.0.1, ephemeral ports) for the service-account, ADC and
ID-token tests.

- :class:`JwtBearerServer`: an RFC 7523 §2.1 token endpoint that verifies each assertion
  with the service account's PUBLIC key (PyJWT, RS256 only, ``aud`` = its own token URL),
  plus ``/api``, a resource that accepts only tokens it issued.
- :class:`MetadataServer`: the GCE metadata protocol: requests without
  ``Metadata-Flavor: Google`` get 403; answers carry the header (unless told not to).
- :class:`StaticServer`: serves JSON documents by path and counts every request (a JWKS,
  a discovery document, or a trap a hostile token points at).

Each response is written in one buffer with ``Content-Length``; HTTP/1.1 keep-alive.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import jwt

Reply = tuple[int, dict[str, str], bytes]


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    out = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    out.update(headers or {})
    return status, out, json.dumps(data).encode()


class _Base:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer.lock:
                    outer.requests.append((self.command, self.path, headers, body))
                status, out, data = outer.handle(self.command, self.path, headers, body)
                head = [f"HTTP/1.1 {status} X"]
                head += [f"{k}: {v}" for k, v in out.items()]
                head.append(f"Content-Length: {len(data)}")
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)

            do_GET = do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        raise NotImplementedError

    def count(self, path: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if path is None or r[1].split("?")[0] == path)

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()


class JwtBearerServer(_Base):
    """A JWT-bearer token endpoint at ``/token`` verifying assertions with ``public_key``."""

    def __init__(self, public_key: Any, expires_in: int = 3600) -> None:
        super().__init__()
        self.public_key = public_key
        self.expires_in = expires_in
        self.claims: list[dict[str, Any]] = []
        self.headers_seen: list[dict[str, Any]] = []
        self.issued: set[str] = set()
        self.gate: threading.Event | None = None  # hold token answers until set
        self._ids = itertools.count(1)

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        path = path.split("?", maxsplit=1)[0]
        if path == "/api":
            auth = headers.get("authorization", "")
            with self.lock:
                ok = auth.startswith("Bearer ") and auth[7:] in self.issued
            return _json(200, {"ok": True}) if ok else _json(401, {"error": "invalid_token"})
        if path != "/token" or method != "POST":
            return _json(404, {"error": "not_found"})
        if self.gate is not None:
            self.gate.wait(10)
        form = dict(parse_qsl(body.decode()))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return _json(400, {"error": "unsupported_grant_type"})
        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(
                assertion,
                self.public_key,
                algorithms=["RS256"],
                audience=self.token_uri,
                options={"require": ["iss", "aud", "iat", "exp"], "verify_iat": False},
            )
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as exc:
            return _json(400, {"error": "invalid_grant", "error_description": type(exc).__name__})
        if claims["exp"] - claims["iat"] > 3600:
            return _json(400, {"error": "invalid_grant", "error_description": "too long"})
        token = f"sa-token-{next(self._ids)}"
        with self.lock:
            self.claims.append(claims)
            self.headers_seen.append(header)
            self.issued.add(token)
        return _json(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}
        )


class MetadataServer(_Base):
    """The GCE metadata server protocol (what google-auth's ``compute_engine`` expects)."""

    def __init__(self, *, send_flavor: bool = True, project: str = "test-project") -> None:
        super().__init__()
        self.send_flavor = send_flavor
        self.project = project
        self._ids = itertools.count(1)

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        flavor = {"Metadata-Flavor": "Google"} if self.send_flavor else {}
        if headers.get("metadata-flavor") != "Google":
            return 403, {"Content-Type": "text/plain"}, b"Missing Metadata-Flavor:Google header."
        bare = path.split("?", maxsplit=1)[0]
        if bare == "/":
            return 200, {"Content-Type": "application/text", **flavor}, b"computeMetadata/\n"
        if bare == "/computeMetadata/v1/project/project-id":
            return 200, {"Content-Type": "application/text", **flavor}, self.project.encode()
        if bare == "/computeMetadata/v1/instance/service-accounts/default/token":
            token = f"gce-token-{next(self._ids)}"
            return _json(
                200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}, flavor
            )
        return 404, {"Content-Type": "text/plain", **flavor}, b"not found"


class StaticServer(_Base):
    """JSON documents by path (``docs``); any other path answers 404. Counts requests."""

    def __init__(self, docs: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.docs: dict[str, Any] = dict(docs or {})
        self.hook: Callable[[str], None] | None = None

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        bare = path.split("?", maxsplit=1)[0]
        doc = self.docs.get(bare)
        if doc is None:
            return _json(404, {"error": "not_found"})
        return _json(200, doc() if callable(doc) else doc)
