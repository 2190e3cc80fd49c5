"""A local, spec-compliant OAuth 2.0 authorization server for tests.

The protocol logic is Authlib's server side (``authlib.oauth2.rfc6749`` grants,
``rfc7636.CodeChallenge``, ``rfc7009.RevocationEndpoint``, ``rfc9207.IssuerParameter``
and ``ResourceProtector``); this module adds in-memory storage and a stdlib
``ThreadingHTTPServer`` bound to ``127.0.0.1`` on an ephemeral port.

Nothing here is meant for production: storage is in memory, there is a single
configured end user, and the transport is plain HTTP on the loopback interface.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import html
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, cast
from urllib.parse import parse_qsl, unquote_plus, urlsplit

try:
    from authlib.oauth2 import AuthorizationServer, JsonRequest, OAuth2Request, ResourceProtector
    from authlib.oauth2.rfc6749 import (
        AuthorizationCodeGrant,
        ClientMixin,
        InvalidClientError,
        InvalidRequestError,
        JsonPayload,
        MissingAuthorizationError,
        OAuth2Error,
        OAuth2Payload,
        RefreshTokenGrant,
        TokenMixin,
        UnsupportedTokenTypeError,
    )
    from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
    from authlib.oauth2.rfc7009 import RevocationEndpoint
    from authlib.oauth2.rfc7636 import CodeChallenge
    from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
    from authlib.oauth2.rfc9207 import IssuerParameter
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "oauthkit.testing needs Authlib; install the extra: pip install 'oauthkit[testing]'"
    ) from exc

__all__ = ["LocalAuthorizationServer"]

_log = logging.getLogger("oauthkit.testing")

#: Request bodies larger than this are refused with 413.
MAX_BODY_BYTES: Final = 64 * 1024
#: Oversized bodies up to this size are read and discarded before answering 413, so the
#: client reads the answer instead of a connection reset.
_MAX_DRAIN_BYTES: Final = 1024 * 1024
#: Lifetime of authorization codes, in seconds.
CODE_LIFETIME: Final = 60
#: Lifetime of a pending consent page (auto_consent=False), in seconds.
_CONSENT_LIFETIME: Final = 600
#: Used codes are remembered this long after they expire, to detect replays.
_USED_CODE_MEMORY: Final = 600

_AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post", "none")
_GRANT_TYPES: Final = ("authorization_code", "refresh_token")
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "::1", "localhost"})

Params = list[tuple[str, str]]


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class _User:
    sub: str
    name: str


@dataclass
class _Client(ClientMixin):  # type: ignore[misc]
    """A registered client; implements Authlib's ``ClientMixin``."""

    client_id: str
    client_secret: str | None = field(repr=False)
    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str
    scope: str
    grant_types: tuple[str, ...]

    def info(self) -> dict[str, Any]:
        """RFC 7591-style client information."""
        info: dict[str, Any] = {
            "client_id": self.client_id,
            "redirect_uris": list(self.redirect_uris),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "scope": self.scope,
            "grant_types": list(self.grant_types),
            "response_types": ["code"],
        }
        if self.client_secret is not None:
            info["client_secret"] = self.client_secret
        return info

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # RFC 6749 §3.1.2.3: with several registered URIs the request must name one.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The registered scope when none is requested; the requested scope when it is a
        subset of the registered one; ``None`` (-> ``invalid_scope``) otherwise."""
        allowed = self.scope.split()
        if not scope:
            return " ".join(allowed)
        requested = list(dict.fromkeys(scope.split()))
        if not set(requested) <= set(allowed):
            return None
        return " ".join(requested)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(_redirect_uri_matches(r, redirect_uri) for r in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        if self.client_secret is None:
            return False
        return secrets.compare_digest(
            self.client_secret.encode("utf-8"), client_secret.encode("utf-8")
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def _redirect_uri_matches(registered: str, requested: str) -> bool:
    """Exact string match, except that loopback ``http`` redirect URIs match any port
    (RFC 8252 §7.3); scheme, host, path and query must still be identical."""
    if requested == registered:
        return True
    try:
        reg = urlsplit(registered)
        req = urlsplit(requested)
        req.port  # noqa: B018 - raises ValueError on a malformed port
        reg_port = reg.port
    except ValueError:
        return False
    if reg.scheme != "http" or reg.hostname not in _LOOPBACK_HOSTS or reg_port is not None:
        # Only port-less loopback registrations are "any port".
        return False
    return (
        req.scheme == "http"
        and req.username is None
        and req.password is None
        and req.hostname == reg.hostname
        and req.path == reg.path
        and req.query == reg.query
        and not req.fragment
        and "#" not in requested
    )


@dataclass
class _Family:
    """Every token descending from one authorization code (one grant)."""

    id: str
    revoked: bool = False


@dataclass
class _AuthorizationCode:
    code: str = field(repr=False)
    client_id: str
    redirect_uri: str | None
    scope: str
    user: _User
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float
    used: bool = False
    family: _Family | None = None

    # Authlib's AuthorizationCodeMixin
    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class _AccessToken(TokenMixin):  # type: ignore[misc]
    token: str = field(repr=False)
    client_id: str
    user: _User
    scope: str
    issued_at: float
    expires_in: int
    family: _Family
    clock: Callable[[], float] = field(repr=False)
    revoked: bool = False

    def check_client(self, client: _Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return self.clock() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked or self.family.revoked

    def get_user(self) -> _User:
        return self.user

    def is_active(self) -> bool:
        return not self.is_revoked() and not self.is_expired()


@dataclass
class _RefreshToken(TokenMixin):  # type: ignore[misc]
    token: str = field(repr=False)
    client_id: str
    user: _User
    scope: str
    family: _Family
    revoked: bool = False
    rotated: bool = False

    def check_client(self, client: _Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return self.revoked or self.family.revoked

    def get_user(self) -> _User:
        return self.user

    def is_active(self) -> bool:
        return not self.is_revoked() and not self.rotated


class _Store:
    """In-memory storage. Every method must be called with ``lock`` held; the server
    holds it for the whole of each OAuth operation so single-use checks are atomic."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.clients: dict[str, _Client] = {}
        self.codes: dict[str, _AuthorizationCode] = {}
        self.access_tokens: dict[str, _AccessToken] = {}
        self.refresh_tokens: dict[str, _RefreshToken] = {}
        self.consents: dict[str, tuple[float, Params]] = {}
        self.token_requests = 0
        self.requests_log: list[tuple[str, str]] = []

    def prune(self) -> None:
        now = self.clock()
        for code, record in list(self.codes.items()):
            if now > record.expires_at + _USED_CODE_MEMORY:
                del self.codes[code]
        for nonce, (expires_at, _) in list(self.consents.items()):
            if now > expires_at:
                del self.consents[nonce]


# --------------------------------------------------------------------------- HTTP plumbing


@dataclass
class _HttpRequest:
    """A parsed HTTP request, framework-neutral; ``params`` are the OAuth parameters
    (query for GET, form body for POST, or the stored ones for a consent decision)."""

    method: str
    uri: str
    path: str
    query: str
    headers: Message
    body: bytes
    query_params: Params
    form_params: Params
    params: Params


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        """The ``Location`` header (Authlib's ``IssuerParameter`` reads and rewrites it)."""
        for name, value in self.headers:
            if name.lower() == "location":
                return value
        return None

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(n, v) for n, v in self.headers if n.lower() != "location"]
        self.headers.append(("Location", value))


def _first_values(params: Iterable[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in params:
        values.setdefault(key, value)
    return values


def _json_response(
    status: int, payload: Mapping[str, Any], headers: Iterable[tuple[str, str]] = ()
) -> _Response:
    hdrs = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
    hdrs.extend(headers)
    return _Response(status, json.dumps(payload).encode("utf-8"), hdrs)


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, params: Params) -> None:
        self._data = _first_values(params)
        self._datalist: dict[str, list[str]] = {}
        for key, value in params:
            self._datalist.setdefault(key, []).append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class _OAuth2Request(OAuth2Request):  # type: ignore[misc]
    """Authlib 1.9 request: ``OAuth2Request(method, uri, headers=...)`` plus a
    ``payload`` (an ``OAuth2Payload``) and the ``args`` / ``form`` properties."""

    def __init__(self, http: _HttpRequest) -> None:
        super().__init__(method=http.method, uri=http.uri, headers=http.headers)
        self.payload = _Payload(http.params)
        self._args = _first_values(http.query_params)
        self._form = _first_values(http.form_params)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _JsonPayload(JsonPayload):  # type: ignore[misc]
    def __init__(self, body: bytes) -> None:
        try:
            self._data: Any = json.loads(body) if body else {}
        except ValueError:
            self._data = {}

    @property
    def data(self) -> Any:
        return self._data


class _JsonRequest(JsonRequest):  # type: ignore[misc]
    def __init__(self, http: _HttpRequest) -> None:
        super().__init__(http.method, http.uri, http.headers)
        self.payload = _JsonPayload(http.body)


# --------------------------------------------------------------------------- Authlib glue


def _store_of(grant_or_endpoint: Any) -> _Store:
    return cast(_Store, grant_or_endpoint.server.store)


class _S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE restricted to ``S256``; ``plain`` (explicit, or implied by a missing
    ``code_challenge_method``) is refused, and public clients must use it."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - Authlib's attribute
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}  # noqa: RUF012

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data: dict[str, str] = grant.request.payload.data
        client: _Client = grant.request.client
        challenge = data.get("code_challenge")
        method = data.get("code_challenge_method")
        if not challenge and not method:
            if client.is_public:
                raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
            return
        if challenge and method is None:
            # RFC 7636 §4.3: the default is "plain", which this server refuses.
            raise InvalidRequestError("Missing 'code_challenge_method'; only 'S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: _AuthorizationCode) -> Any:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(
        self, authorization_code: _AuthorizationCode
    ) -> Any:
        return authorization_code.code_challenge_method


class _AuthorizationCodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = list(_AUTH_METHODS)  # noqa: RUF012

    def save_authorization_code(self, code: str, request: Any) -> None:
        store = _store_of(self)
        data: dict[str, str] = request.payload.data
        client: _Client = request.client
        store.prune()
        store.codes[code] = _AuthorizationCode(
            code=code,
            client_id=client.client_id,
            redirect_uri=data.get("redirect_uri"),
            scope=request.scope or "",
            user=request.user,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            expires_at=store.clock() + CODE_LIFETIME,
        )

    def query_authorization_code(self, code: str, client: _Client) -> _AuthorizationCode | None:
        store = _store_of(self)
        record = store.codes.get(code)
        if record is None:
            return None
        if record.used:
            # RFC 6749 §4.1.2: deny, and revoke the tokens issued from this code.
            if record.family is not None:
                record.family.revoked = True
            return None
        if store.clock() >= record.expires_at or record.client_id != client.client_id:
            return None
        return record

    def delete_authorization_code(self, authorization_code: _AuthorizationCode) -> None:
        # Kept (marked used) rather than deleted, so that a replay can be detected.
        authorization_code.used = True

    def authenticate_user(self, authorization_code: _AuthorizationCode) -> _User:
        return authorization_code.user


class _RefreshTokenGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = list(_AUTH_METHODS)  # noqa: RUF012

    def authenticate_refresh_token(self, refresh_token: str) -> _RefreshToken | None:
        store = _store_of(self)
        record = store.refresh_tokens.get(refresh_token)
        if record is None:
            return None
        if record.rotated:
            # Reuse of a rotated refresh token (RFC 9700 §4.14.2): revoke the whole grant.
            record.family.revoked = True
            return None
        return None if record.is_revoked() else record

    def authenticate_user(self, refresh_token: _RefreshToken) -> _User:
        return refresh_token.user

    def issue_token(self, user: _User, refresh_token: _RefreshToken) -> dict[str, Any]:
        scope = self.request.payload.scope or refresh_token.get_scope()
        rotate: bool = self.server.rotate_refresh_tokens
        token: dict[str, Any] = self.generate_token(
            user=user, scope=scope, include_refresh_token=rotate
        )
        return token

    def revoke_old_credential(self, refresh_token: _RefreshToken) -> None:
        if self.server.rotate_refresh_tokens:
            refresh_token.rotated = True


class _RevocationEndpoint(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = list(_AUTH_METHODS)  # noqa: RUF012

    def check_params(self, request: Any, client: _Client) -> None:
        # An unknown token_type_hint is only a hint (RFC 7009 §2.1): ignore it rather
        # than failing with Authlib's 401 unsupported_token_type.
        if "token" not in request.form:
            raise InvalidRequestError("Missing 'token' in request.")

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> _AccessToken | _RefreshToken | None:
        """Only tokens that are still active; revoking anything else is a no-op."""
        store = _store_of(self)
        access = store.access_tokens.get(token_string)
        refresh = store.refresh_tokens.get(token_string)
        candidates: list[_AccessToken | _RefreshToken | None] = (
            [refresh, access] if token_type_hint == "refresh_token" else [access, refresh]
        )
        for record in candidates:
            if record is not None and record.is_active():
                return record
        return None

    def revoke_token(self, token: _AccessToken | _RefreshToken, request: Any) -> None:
        if isinstance(token, _RefreshToken):
            # Revoking a refresh token ends the grant: it and all its access tokens.
            token.family.revoked = True
        else:
            token.revoked = True


class _BearerValidator(BearerTokenValidator):  # type: ignore[misc]
    def __init__(self, store: _Store) -> None:
        super().__init__()
        self._store = store

    def authenticate_token(self, token_string: str) -> _AccessToken | None:
        return self._store.access_tokens.get(token_string)


class _IssuerParameter(IssuerParameter):  # type: ignore[misc]
    def __init__(self, get_issuer: Callable[[], str]) -> None:
        self._get_issuer = get_issuer

    def get_issuer(self) -> str:
        return self._get_issuer()


def _authenticate_client_secret_basic(query_client: Any, request: Any) -> _Client | None:
    """``client_secret_basic`` with RFC 6749 §2.3.1 decoding: the id and the secret are
    form-urlencoded before base64, so ``+`` means a space. (Authlib's own method uses
    ``urllib.parse.unquote``, which leaves ``+`` alone.)"""
    auth: str | None = request.headers.get("Authorization")
    if not auth:
        return None
    scheme, _, credentials = auth.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        raw_id, sep, raw_secret = decoded.partition(":")
        client_id = unquote_plus(raw_id, errors="strict")
        client_secret = unquote_plus(raw_secret, errors="strict")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not sep or not client_id or not client_secret:
        return None
    client: _Client | None = query_client(client_id)
    if client is None:
        raise InvalidClientError(
            status_code=401, description="The client does not exist on this server."
        )
    return client if client.check_client_secret(client_secret) else None


class _AuthlibServer(AuthorizationServer):  # type: ignore[misc]
    """Authlib's framework-agnostic server, wired to ``_Store`` and ``_Response``."""

    def __init__(
        self,
        store: _Store,
        *,
        access_token_lifetime: int,
        rotate_refresh_tokens: bool,
        get_issuer: Callable[[], str],
    ) -> None:
        super().__init__()
        self.store = store
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=_new_token,
                refresh_token_generator=_new_token,
                expires_generator=access_token_lifetime,
            ),
        )
        self.register_client_auth_method("client_secret_basic", _authenticate_client_secret_basic)
        self.register_grant(_AuthorizationCodeGrant, [_S256CodeChallenge(required=True)])
        self.register_grant(_RefreshTokenGrant)
        self.register_endpoint(_RevocationEndpoint)
        self.issuer_parameter = _IssuerParameter(get_issuer)
        self.register_extension(self.issuer_parameter)

    def query_client(self, client_id: str) -> _Client | None:
        return self.store.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        store = self.store
        client: _Client = request.client
        code: _AuthorizationCode | None = request.authorization_code
        previous: _RefreshToken | None = request.refresh_token
        if previous is not None:
            family = previous.family
            refresh_scope = previous.scope  # RFC 6749 §6: a new refresh token keeps it
        else:
            family = _Family(secrets.token_hex(8))
            refresh_scope = token.get("scope", "")
            if code is not None:
                code.family = family
        access = _AccessToken(
            token=token["access_token"],
            client_id=client.client_id,
            user=request.user,
            scope=token.get("scope", ""),
            issued_at=store.clock(),
            expires_in=int(token["expires_in"]),
            family=family,
            clock=store.clock,
        )
        store.access_tokens[access.token] = access
        if "refresh_token" in token:
            refresh = _RefreshToken(
                token=token["refresh_token"],
                client_id=client.client_id,
                user=request.user,
                scope=refresh_scope,
                family=family,
            )
            store.refresh_tokens[refresh.token] = refresh

    def create_oauth2_request(self, request: _HttpRequest | _OAuth2Request) -> _OAuth2Request:
        if isinstance(request, _OAuth2Request):
            return request
        return _OAuth2Request(request)

    def create_json_request(self, request: _HttpRequest) -> _JsonRequest:
        return _JsonRequest(request)

    def handle_response(
        self, status: int, body: Any, headers: Iterable[tuple[str, str]]
    ) -> _Response:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode("utf-8")
        elif isinstance(body, bytes):
            data = body
        else:
            data = str(body or "").encode("utf-8")
        # Copy: Authlib passes shared module-level header lists.
        return _Response(int(status), data, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal system here."""


def _new_token(**_: Any) -> str:
    return secrets.token_urlsafe(32)


# --------------------------------------------------------------------------- HTTP server


class _HTTPServer(ThreadingHTTPServer):
    """Tracks its connections so that ``close()`` can end keep-alive connections and
    join every handler thread."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, app: LocalAuthorizationServer) -> None:
        self.app = app
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._conn_threads: set[threading.Thread] = set()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="oauthkit-testing-conn",
            daemon=True,
        )
        with self._conn_lock:
            if isinstance(request, socket.socket):
                self._connections.add(request)
            self._conn_threads.add(thread)
        thread.start()

    def _serve_connection(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                if isinstance(request, socket.socket):
                    self._connections.discard(request)
                self._conn_threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: connections dropped by the client (or by ``close()``) are normal."""
        _log.debug("oauthkit.testing: connection error", exc_info=True)

    def close(self) -> None:
        """Stop serving, close the listening socket, end open connections, join."""
        self.shutdown()
        self.server_close()
        with self._conn_lock:
            connections = list(self._connections)
            threads = list(self._conn_threads)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    # One write per response (headers + body), and no Nagle delay on it.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "oauthkit-testing"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no access log on stderr."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        app = cast(_HTTPServer, self.server).app
        parts = urlsplit(self.path)
        app._record_request(self.command, parts.path)
        try:
            request = self._read_request(app, parts.path, parts.query)
            response = request if isinstance(request, _Response) else app._handle(request)
        except Exception:
            _log.exception("oauthkit.testing: error while handling %s %s", self.command, parts.path)
            response = _json_response(500, {"error": "server_error"})
            self.close_connection = True
        self._write(response)

    def _read_request(
        self, app: LocalAuthorizationServer, path: str, query: str
    ) -> _HttpRequest | _Response:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return _json_response(411, {"error": "invalid_request"})
        raw_length = self.headers.get("Content-Length", "0").strip()
        if not raw_length.isdigit():
            self.close_connection = True
            return _json_response(400, {"error": "invalid_request"})
        length = int(raw_length)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            if length <= _MAX_DRAIN_BYTES:
                self.rfile.read(length)
            return _json_response(413, {"error": "request_too_large"})
        body = self.rfile.read(length) if length else b""
        try:
            query_params = _parse_params(query)
            form_params: Params = []
            content_type = self.headers.get_content_type()
            if body and content_type == "application/x-www-form-urlencoded":
                form_params = _parse_params(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _json_response(400, {"error": "invalid_request"})
        return _HttpRequest(
            method=self.command,
            uri=app.issuer + self.path,
            path=path,
            query=query,
            headers=self.headers,
            body=body,
            query_params=query_params,
            form_params=form_params,
            params=query_params if self.command == "GET" else form_params,
        )

    def _write(self, response: _Response) -> None:
        self.send_response(response.status)
        names = {name.lower() for name, _ in response.headers}
        for name, value in response.headers:
            self.send_header(name, value)
        if "content-type" not in names and response.body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)


def _parse_params(text: str) -> Params:
    return parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=200)


# --------------------------------------------------------------------------- public API


_CONSENT_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize {client_id}</title></head>
<body>
<h1>Authorize {client_id}</h1>
<p>Signed in as <strong>{user}</strong>.</p>
<p>The application <strong>{client_id}</strong> asks for: <code>{scope}</code></p>
<form method="post" action="/authorize">
<input type="hidden" name="consent_request" value="{nonce}">
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
</body></html>
"""


class LocalAuthorizationServer:
    """A real OAuth 2.0 authorization server on ``http://127.0.0.1:<ephemeral port>``.

    Endpoints (all URLs are attributes, available once started):

    * ``authorization_endpoint`` ``/authorize`` - authorization code grant only;
      responses carry ``iss`` (RFC 9207); PKCE ``S256`` is required for public clients and
      honoured for confidential ones, ``plain`` is refused. An invalid ``client_id`` or
      an unregistered ``redirect_uri`` yields 400, never a redirect.
    * ``token_endpoint`` ``/token`` - ``authorization_code`` and ``refresh_token`` grants;
      codes are single use (a replay revokes the tokens issued from the code) and live
      60 s; client authentication ``client_secret_basic`` (RFC 6749 §2.3.1
      form-urlencoded), ``client_secret_post`` or ``none``.
    * ``revocation_endpoint`` ``/revoke`` - RFC 7009; revoking a refresh token also
      revokes the access tokens of its grant.
    * ``userinfo_endpoint`` ``/userinfo`` - ``{"sub", "name"}`` for a valid bearer token
      in the ``Authorization`` header.
    * ``metadata_endpoint`` ``/.well-known/oauth-authorization-server`` - RFC 8414.
    * ``api_endpoint`` ``/api/echo`` - any method, bearer token required; echoes
      ``{"sub", "method", "path", "query", "body_len"}``.

    Options: ``access_token_lifetime`` (seconds), ``rotate_refresh_tokens`` (each refresh
    returns a new refresh token and reusing a rotated one revokes the whole grant,
    RFC 9700 §4.14.2), ``auto_consent`` (when false, ``/authorize`` shows an HTML consent
    form whose *deny* button yields ``error=access_denied``), ``user`` (the ``sub`` of the
    signed-in end user) and ``clock`` (a ``time.time``-like function, for testing expiry
    without sleeping).

    Request bodies over 64 KiB are refused with 413. Use as a context manager, or call
    ``start()`` / ``stop()``; ``start()`` returns once the socket is listening.
    """

    def __init__(
        self,
        *,
        access_token_lifetime: int = 3600,
        rotate_refresh_tokens: bool = True,
        auto_consent: bool = True,
        user: str = "alice",
        clock: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(access_token_lifetime, bool) or access_token_lifetime <= 0:
            raise ValueError("access_token_lifetime must be a positive number of seconds")
        if not user:
            raise ValueError("user must be a non-empty string")
        self.access_token_lifetime = int(access_token_lifetime)
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.auto_consent = auto_consent
        self._user = _User(sub=user, name=user.capitalize())
        self._store = _Store(clock or time.time)
        self._oauth = _AuthlibServer(
            self._store,
            access_token_lifetime=self.access_token_lifetime,
            rotate_refresh_tokens=rotate_refresh_tokens,
            get_issuer=lambda: self.issuer,
        )
        self._resource = ResourceProtector()
        self._resource.register_token_validator(_BearerValidator(self._store))
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._issuer: str | None = None

    # -- lifecycle

    def start(self) -> LocalAuthorizationServer:
        """Bind ``127.0.0.1:0`` and serve in a daemon thread; returns once listening."""
        if self._httpd is not None:
            raise RuntimeError("the server is already running")
        httpd = _HTTPServer(self)
        port = httpd.server_address[1]
        self._issuer = f"http://127.0.0.1:{port}"
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"oauthkit-testing-{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every socket; idempotent. Stored state is kept, so the
        server can be started again (on a new port)."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is not None:
            httpd.close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> LocalAuthorizationServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        with self._store.lock:
            clients = sorted(self._store.clients)
        state = self._issuer if self._httpd is not None else "stopped"
        return f"<LocalAuthorizationServer {state} clients={clients}>"

    # -- URLs

    @property
    def issuer(self) -> str:
        """``http://127.0.0.1:<port>`` (RFC 8414 / RFC 9207 issuer identifier)."""
        if self._issuer is None:
            raise RuntimeError("the server has not been started")
        return self._issuer

    @property
    def port(self) -> int:
        return int(self.issuer.rsplit(":", 1)[1])

    @property
    def authorization_endpoint(self) -> str:
        return self.issuer + "/authorize"

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/token"

    @property
    def revocation_endpoint(self) -> str:
        return self.issuer + "/revoke"

    @property
    def userinfo_endpoint(self) -> str:
        return self.issuer + "/userinfo"

    @property
    def metadata_endpoint(self) -> str:
        return self.issuer + "/.well-known/oauth-authorization-server"

    @property
    def api_endpoint(self) -> str:
        return self.issuer + "/api/echo"

    @property
    def user(self) -> str:
        """The ``sub`` of the end user who "logs in" at the authorization endpoint."""
        return self._user.sub

    # -- counters

    @property
    def token_requests(self) -> int:
        """How many ``POST /token`` requests were received (successful or not)."""
        with self._store.lock:
            return self._store.token_requests

    @property
    def requests_log(self) -> list[tuple[str, str]]:
        """A snapshot of ``(method, path)`` for every request received (no query)."""
        with self._store.lock:
            return list(self._store.requests_log)

    def reset_counters(self) -> None:
        """Zero ``token_requests`` and empty ``requests_log``."""
        with self._store.lock:
            self._store.token_requests = 0
            self._store.requests_log.clear()

    def _record_request(self, method: str, path: str) -> None:
        with self._store.lock:
            self._store.requests_log.append((method, path))
            if method == "POST" and path == "/token":
                self._store.token_requests += 1

    # -- clients

    def register_client(
        self,
        client_id: str,
        client_secret: str | None = None,
        *,
        redirect_uris: list[str],
        token_endpoint_auth_method: str = "client_secret_basic",
        scope: str = "openid profile email offline_access",
        grant_types: Iterable[str] = _GRANT_TYPES,
    ) -> dict[str, Any]:
        """Register a client and return its RFC 7591-style information.

        ``token_endpoint_auth_method`` is ``client_secret_basic``, ``client_secret_post``
        (both need ``client_secret``) or ``none`` (a public client; no secret). Redirect
        URIs must be absolute without fragment; a port-less loopback ``http`` URI
        (``127.0.0.1``, ``[::1]``, ``localhost``) matches any port (RFC 8252 §7.3), every
        other URI must match exactly. Raises ``ValueError`` on invalid or duplicate input.
        """
        if not client_id:
            raise ValueError("client_id must be a non-empty string")
        if token_endpoint_auth_method not in _AUTH_METHODS:
            raise ValueError(
                f"unsupported token_endpoint_auth_method {token_endpoint_auth_method!r}"
            )
        if token_endpoint_auth_method == "none":
            if client_secret is not None:
                raise ValueError("a public client ('none' authentication) has no secret")
        elif not client_secret:
            raise ValueError(f"{token_endpoint_auth_method} needs a client_secret")
        uris = tuple(redirect_uris)
        if not uris or isinstance(redirect_uris, str):
            raise ValueError("redirect_uris must be a non-empty list")
        for uri in uris:
            parts = urlsplit(uri)
            if (
                not parts.scheme
                or "#" in uri
                or (parts.scheme in {"http", "https"} and not parts.hostname)
            ):
                raise ValueError(f"invalid redirect URI {uri!r}")
        grants = tuple(dict.fromkeys(grant_types))
        if isinstance(grant_types, str) or not set(grants) <= set(_GRANT_TYPES):
            raise ValueError(f"grant_types must be a subset of {list(_GRANT_TYPES)}")
        client = _Client(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uris=uris,
            token_endpoint_auth_method=token_endpoint_auth_method,
            scope=" ".join(scope.split()),
            grant_types=grants,
        )
        with self._store.lock:
            if client_id in self._store.clients:
                raise ValueError(f"client {client_id!r} is already registered")
            self._store.clients[client_id] = client
        return client.info()

    # -- request handling (runs in the connection threads)

    def _handle(self, request: _HttpRequest) -> _Response:
        path, method = request.path, request.method
        routes: dict[str, tuple[tuple[str, ...], Callable[[_HttpRequest], _Response]]] = {
            "/.well-known/oauth-authorization-server": (("GET",), self._metadata),
            "/authorize": (("GET", "POST"), self._authorize),
            "/token": (("POST",), self._token),
            "/revoke": (("POST",), self._revoke),
            "/userinfo": (("GET", "POST"), self._userinfo),
        }
        if path == "/api/echo":
            return self._echo(request)
        if path not in routes:
            return _json_response(404, {"error": "not_found"})
        methods, handler = routes[path]
        if method not in methods:
            return _json_response(
                405, {"error": "method_not_allowed"}, [("Allow", ", ".join(methods))]
            )
        return handler(request)

    def _metadata(self, request: _HttpRequest) -> _Response:
        with self._store.lock:
            scopes = sorted({s for c in self._store.clients.values() for s in c.scope.split()})
        metadata = {
            "issuer": self.issuer,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
            "revocation_endpoint": self.revocation_endpoint,
            "userinfo_endpoint": self.userinfo_endpoint,
            "scopes_supported": scopes,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(_GRANT_TYPES),
            "token_endpoint_auth_methods_supported": list(_AUTH_METHODS),
            "revocation_endpoint_auth_methods_supported": list(_AUTH_METHODS),
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
        }
        return _json_response(200, metadata)

    def _authorize(self, request: _HttpRequest) -> _Response:
        form = _first_values(request.form_params)
        if request.method == "POST" and "consent_request" in form:
            with self._store.lock:
                pending = self._store.consents.pop(form["consent_request"], None)
            if pending is None or pending[0] < self._store.clock():
                return _json_response(
                    400,
                    {
                        "error": "invalid_request",
                        "error_description": "Unknown or expired consent request.",
                    },
                )
            approved = form.get("decision") == "approve"
            return self._complete_authorization(replace(request, params=pending[1]), approved)
        if self.auto_consent:
            return self._complete_authorization(request, approved=True)
        try:
            with self._store.lock:
                grant: Any = self._oauth.get_consent_grant(request, end_user=None)
        except OAuth2Error as error:
            return self._authorization_error(error)
        except ValueError:  # Authlib refuses to build error text from odd characters
            return _json_response(400, {"error": "invalid_request"})
        nonce = secrets.token_urlsafe(24)
        with self._store.lock:
            self._store.prune()
            self._store.consents[nonce] = (
                self._store.clock() + _CONSENT_LIFETIME,
                list(request.params),
            )
        client: _Client = grant.client
        page = _CONSENT_PAGE.format(
            client_id=html.escape(client.client_id),
            user=html.escape(self._user.sub),
            scope=html.escape(str(grant.request.scope or "")),
            nonce=nonce,
        )
        return _Response(
            200,
            page.encode("utf-8"),
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("X-Frame-Options", "DENY"),
                ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
            ],
        )

    def _complete_authorization(self, request: _HttpRequest, approved: bool) -> _Response:
        user = self._user if approved else None
        try:
            with self._store.lock:
                grant: Any = self._oauth.get_consent_grant(request, end_user=user)
                response: _Response = self._oauth.create_authorization_response(
                    grant.request, grant_user=user, grant=grant
                )
        except OAuth2Error as error:
            return self._authorization_error(error)
        except ValueError:  # Authlib refuses to build error text from odd characters
            return _json_response(400, {"error": "invalid_request"})
        return response

    def _authorization_error(self, error: Any) -> _Response:
        """Redirect the error when Authlib validated the redirect URI, else answer 400."""
        response: _Response = self._oauth.handle_response(*error())
        if response.location is not None:
            # RFC 9207 §2: error responses carry ``iss`` too.
            self._oauth.issuer_parameter.add_issuer_parameter(self._oauth, response)
        return response

    def _token(self, request: _HttpRequest) -> _Response:
        if (error := self._client_auth_conflict(request)) is not None:
            return error
        with self._store.lock:
            response: _Response = self._oauth.create_token_response(request)
        return response

    def _revoke(self, request: _HttpRequest) -> _Response:
        if (error := self._client_auth_conflict(request)) is not None:
            return error
        with self._store.lock:
            response: _Response = self._oauth.create_endpoint_response("revocation", request)
        return response

    @staticmethod
    def _client_auth_conflict(request: _HttpRequest) -> _Response | None:
        """RFC 6749 §2.3: a client MUST NOT use more than one authentication method;
        repeated parameters are refused too (RFC 6749 §3.2)."""
        auth = request.headers.get("Authorization", "")
        keys = [key for key, _ in request.form_params]
        if auth.lower().startswith("basic ") and "client_secret" in keys:
            description = "More than one client authentication method."
        elif len(keys) != len(set(keys)):
            description = "Repeated request parameter."
        else:
            return None
        return _json_response(400, {"error": "invalid_request", "error_description": description})

    def _authenticate_bearer(self, request: _HttpRequest) -> _AccessToken | _Response:
        """The access token from ``Authorization: Bearer`` (RFC 6750 §2.1 only)."""
        try:
            with self._store.lock:
                token: _AccessToken = self._resource.validate_request(None, request)
        except (MissingAuthorizationError, UnsupportedTokenTypeError):
            # RFC 6750 §3.1: no error code when the request has no bearer credentials.
            return _Response(401, b"", [("WWW-Authenticate", 'Bearer realm="oauthkit-testing"')])
        except OAuth2Error as error:
            status, body, headers = error()
            return _json_response(int(status), body, headers)
        return token

    def _userinfo(self, request: _HttpRequest) -> _Response:
        token = self._authenticate_bearer(request)
        if isinstance(token, _Response):
            return token
        return _json_response(200, {"sub": token.user.sub, "name": token.user.name})

    def _echo(self, request: _HttpRequest) -> _Response:
        token = self._authenticate_bearer(request)
        if isinstance(token, _Response):
            return token
        return _json_response(
            200,
            {
                "sub": token.user.sub,
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "body_len": len(request.body),
            },
        )
