"""RFC 6749, The OAuth 2.0 Authorization Framework: requests built and responses parsed as
data. No I/O here: the caller sends the :class:`~oauthkit._models.Request` and hands back
the :class:`~oauthkit._models.Response`.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hmac
import ipaddress
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from oauthkit._errors import (
    AuthorizationError,
    ConfigurationError,
    InvalidResponseError,
    TokenEndpointError,
    token_endpoint_error,
)
from oauthkit._models import Request, Response, Token

__all__ = [
    "FORM_HEADERS",
    "MAX_BODY",
    "MAX_EXPIRES_IN",
    "METHODS",
    "OOB_REDIRECT_URIS",
    "ClientAuth",
    "authorization_code_request",
    "authorization_url",
    "choose_auth_method",
    "is_loopback_url",
    "parse_authorization_response",
    "parse_error_body",
    "parse_json_object",
    "parse_token_response",
    "query_params",
    "refresh_request",
    "require_safe_redirect_uri",
    "require_secure_endpoint",
    "scopes_to_string",
    "token_request",
]

FORM_HEADERS = {
    "content-type": "application/x-www-form-urlencoded",
    "accept": "application/json",
}
MAX_BODY = 1024 * 1024
"""The largest token-endpoint body we parse (bytes); RFC 6749 §5.1 sets no size, we do."""

MAX_EXPIRES_IN = 10 * 365 * 24 * 3600
"""An ``expires_in`` above ten years is a server bug, not a lifetime."""

OOB_REDIRECT_URIS = frozenset(
    {"urn:ietf:wg:oauth:2.0:oob", "urn:ietf:wg:oauth:2.0:oob:auto", "oob"}
)


# --- endpoints and redirect URIs (§3.1, §3.1.2, §10.9; RFC 8252 §7.3, §8.3) ---------------


def is_loopback_url(url: str) -> bool:
    """True when ``url`` names a loopback host: 127.0.0.0/8, ::1 or ``localhost``
    (RFC 8252 §7.3, §8.3)."""
    host = urlsplit(url).hostname
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure_endpoint(url: str, what: str, *, allow_insecure: bool = False) -> str:
    """Check an authorization-server endpoint (RFC 6749 §3.1, §3.2, §10.9).

    It must be an absolute ``https`` URI without fragment; plain ``http`` is accepted only on
    loopback (a local test server) or with ``allow_insecure``. Raises
    :class:`ConfigurationError` naming ``what``.
    """
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{what} is missing")
    problem = _endpoint_problem(url, allow_insecure)
    if problem is not None:
        raise ConfigurationError(f"{what} {problem}")
    return url


@functools.lru_cache(maxsize=64)  # every token request checks its endpoint again
def _endpoint_problem(url: str, allow_insecure: bool) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a valid URL"
    if parts.fragment:
        return "must not contain a fragment (RFC 6749 §3.1)"
    if not parts.hostname:
        return "must be an absolute URL"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and (allow_insecure or is_loopback_url(url)):
        return None
    return "must use https (RFC 6749 §10.9); plain http is allowed only on loopback"


def require_safe_redirect_uri(uri: str, *, allow_insecure: bool = False) -> str:
    """Check a redirect URI (RFC 6749 §3.1.2; RFC 9700 §2.6; RFC 8252 §7.3, §8.3).

    Absolute, no fragment; ``https``, or ``http`` only on a loopback host, or a private-use
    scheme (``com.example.app:/cb``, RFC 8252 §7.1). The out-of-band URN is refused: the
    providers disabled it, use the device grant (RFC 8628) instead.
    """
    if not isinstance(uri, str) or not uri:
        raise ConfigurationError("redirect_uri is missing")
    if uri in OOB_REDIRECT_URIS:
        raise ConfigurationError(
            "the out-of-band redirect URI is not supported (providers disabled it); use the "
            "loopback redirect (tools.run_flow) or the device grant instead"
        )
    parts = urlsplit(uri)
    if parts.fragment:
        raise ConfigurationError("redirect_uri must not contain a fragment (RFC 6749 §3.1.2)")
    if not parts.scheme:
        raise ConfigurationError("redirect_uri must be an absolute URI (RFC 6749 §3.1.2)")
    if parts.scheme == "https":
        return uri
    if parts.scheme == "http":
        if allow_insecure or is_loopback_url(uri):
            return uri
        raise ConfigurationError(
            "redirect_uri uses plain http on a non-loopback host: the authorization code "
            "would cross the network unencrypted (RFC 9700 §2.6). Use https, a loopback "
            "address, or pass allow_insecure_redirect=True for local development"
        )
    if "." in parts.scheme:  # private-use URI scheme of a native app (RFC 8252 §7.1)
        return uri
    raise ConfigurationError(f"redirect_uri scheme {parts.scheme!r} is not allowed")


# --- authorization request and response (§4.1.1, §4.1.2, §3.1) ---------------------------


def scopes_to_string(scopes: str | Iterable[str] | None) -> str | None:
    """Scopes as the space-delimited string of RFC 6749 §3.3."""
    if scopes is None:
        return None
    if isinstance(scopes, str):
        return scopes
    return " ".join(scopes)


def authorization_url(endpoint: str, params: Mapping[str, str | None]) -> str:
    """The authorization request URI (RFC 6749 §4.1.1).

    ``params`` are added to the endpoint's own query, which is kept (§3.1); a parameter
    whose value is ``None`` is left out. Only ``response_type=code`` is allowed: implicit
    and hybrid response types deliver tokens through the browser (RFC 9700 §2.1.2).
    """
    if params.get("response_type") != "code":
        raise ConfigurationError(
            "only response_type=code is supported; the implicit grant is unsafe (RFC 9700 §2.1.2)"
        )
    parts = urlsplit(endpoint)
    query = parse_qsl(parts.query, keep_blank_values=True)
    taken = {k for k, v in params.items() if v is not None}
    query = [(k, v) for k, v in query if k not in taken]
    query.extend((k, v) for k, v in params.items() if v is not None)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def query_params(query: str) -> dict[str, str]:
    """Parse a query string, refusing repeated parameters (RFC 6749 §3.1: "Request and
    response parameters MUST NOT be included more than once")."""
    out: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in out:
            raise AuthorizationError(
                f"parameter {key!r} appears more than once in the authorization response",
                error="invalid_authorization_response",
            )
        out[key] = value
    return out


def parse_authorization_response(params: Mapping[str, str], expected_state: str | None) -> str:
    """The authorization code from a redirect's parameters (RFC 6749 §4.1.2, §4.1.2.1).

    ``expected_state`` is compared in constant time; a missing, empty or different
    ``state`` raises :class:`AuthorizationError` (``state_mismatch``) before anything
    else is trusted. An ``error`` parameter raises :class:`AuthorizationError` carrying
    the provider's ``error``, ``error_description`` and ``error_uri``. Check ``iss``
    (RFC 9207) before calling this.
    """
    if expected_state is not None:
        got = params.get("state")
        if not got or not hmac.compare_digest(got.encode("utf-8"), expected_state.encode("utf-8")):
            raise AuthorizationError(
                "the state parameter is missing or does not match this flow (possible CSRF)",
                error="state_mismatch",
            )
    if "error" in params:
        raise AuthorizationError(
            params.get("error_description"),
            error=params["error"] or "authorization_error",
            uri=params.get("error_uri"),
        )
    code = params.get("code")
    if not code:
        raise AuthorizationError(
            "the authorization response has no code", error="invalid_authorization_response"
        )
    return code


# --- token requests (§2.3.1, §4.1.3, §6) --------------------------------------------------


@dataclass(frozen=True)
class ClientAuth:
    """How the client authenticates at the token endpoint (RFC 6749 §2.3; RFC 7523 §2.2).

    ``method`` is ``client_secret_basic`` (the default when there is a secret),
    ``client_secret_post``, ``client_secret_jwt`` (an HS256 assertion keyed with the
    secret), ``private_key_jwt`` (an assertion signed with ``signing_key``, a
    :class:`~oauthkit._jwt.SigningKey`) or ``none`` (a public client).

    The JWT methods need ``audience``: the authorization server's issuer identifier, sent
    as a single string (SECURITY.md C22). ``clock`` (injected) dates the assertions.
    """

    client_id: str
    client_secret: str | None = None
    method: str | None = None
    signing_key: Any = None
    audience: str | None = None
    clock: Any = None

    def __post_init__(self) -> None:
        method = self.resolved_method
        if method not in METHODS:
            raise ConfigurationError(f"unsupported client authentication method {method!r}")
        if method == "private_key_jwt":
            if self.signing_key is None:
                raise ConfigurationError("private_key_jwt needs a signing key")
        elif method != "none" and not self.client_secret:
            raise ConfigurationError(f"{method} needs a client_secret")
        if method in ("private_key_jwt", "client_secret_jwt") and not self.audience:
            raise ConfigurationError(
                f"{method} needs the issuer identifier as the assertion audience"
            )

    @property
    def resolved_method(self) -> str:
        if self.method:
            return self.method
        if self.signing_key is not None:
            return "private_key_jwt"
        return "client_secret_basic" if self.client_secret else "none"

    def __repr__(self) -> str:
        return f"ClientAuth(client_id={self.client_id!r}, method={self.resolved_method!r})"

    def _assertion(self) -> str:
        from oauthkit import _jwt
        from oauthkit._clock import SYSTEM_CLOCK
        from oauthkit._protocol import rfc7523

        clock = self.clock or SYSTEM_CLOCK
        claims = rfc7523.client_assertion_claims(self.client_id, self.audience or "", clock.now())
        key = self.signing_key
        if self.resolved_method == "client_secret_jwt":
            key = _jwt.SigningKey((self.client_secret or "").encode("utf-8"), "HS256")
        token: str = key.sign_jwt(claims)
        return token

    def apply(self, form: dict[str, str], headers: dict[str, str]) -> None:
        """Add the client's authentication to a token-endpoint request."""
        method = self.resolved_method
        if method == "client_secret_basic":
            # §2.3.1: id and secret are form-urlencoded before they are joined and encoded.
            pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret or '', safe='')}"
            headers["authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode(
                "ascii"
            )
        elif method == "client_secret_post":
            form["client_id"] = self.client_id
            form["client_secret"] = self.client_secret or ""
        elif method in ("private_key_jwt", "client_secret_jwt"):
            # RFC 7523 §2.2: a fresh assertion per request (unique jti, short exp).
            form["client_id"] = self.client_id
            form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            form["client_assertion"] = self._assertion()
        else:
            form["client_id"] = self.client_id


METHODS = (
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "none",
)
"""Client authentication methods, in the order :func:`choose_auth_method` prefers them
when the server supports several (RFC 9700 §2.5 prefers asymmetric ones)."""


def choose_auth_method(supported: Iterable[str] | None, *, has_key: bool, has_secret: bool) -> str:
    """The client authentication method to use, from the server's metadata
    ``token_endpoint_auth_methods_supported`` (RFC 8414 §2; default
    ``client_secret_basic``) and what the client holds: a private key first
    (RFC 9700 §2.5), then a secret (basic, post, jwt), else ``none``."""
    offered = list(supported) if supported is not None else ["client_secret_basic"]
    prefs: list[str] = []
    if has_key:
        prefs.append("private_key_jwt")
    if has_secret:
        prefs += ["client_secret_basic", "client_secret_post", "client_secret_jwt"]
    for method in prefs:
        if method in offered:
            return method
    if not has_key and not has_secret:
        return "none"
    raise ConfigurationError(
        "the server supports none of the client authentication methods this client can use"
    )


def token_request(
    token_uri: str,
    form: Mapping[str, str | None],
    client: ClientAuth | None,
    extra_headers: Mapping[str, str] | None = None,
) -> Request:
    """A POST to the token endpoint (RFC 6749 §3.2) with the client's authentication."""
    body = {k: v for k, v in form.items() if v is not None}
    headers = dict(FORM_HEADERS)
    if extra_headers:
        headers.update({k.lower(): v for k, v in extra_headers.items()})
    if client is not None:
        client.apply(body, headers)
    return Request("POST", token_uri, headers, urlencode(body).encode("ascii"))


def authorization_code_request(
    token_uri: str,
    code: str,
    redirect_uri: str | None,
    client: ClientAuth,
    code_verifier: str | None = None,
    extra: Mapping[str, str | None] | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> Request:
    """The access token request of the code grant (RFC 6749 §4.1.3; RFC 7636 §4.5)."""
    form: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    if extra:
        form.update(extra)
    return token_request(token_uri, form, client, extra_headers)


def refresh_request(
    token_uri: str,
    refresh_token: str,
    client: ClientAuth,
    scope: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> Request:
    """The refresh request (RFC 6749 §6)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "scope": scope}
    return token_request(token_uri, form, client, extra_headers)


# --- token responses (§5.1, §5.2) ---------------------------------------------------------


def parse_json_object(response: Response, what: str) -> dict[str, Any]:
    """The body of ``response`` as a JSON object (RFC 6749 §5.1: ``application/json``), or
    :class:`InvalidResponseError`."""
    if len(response.body) > MAX_BODY:
        raise InvalidResponseError(f"the {what} response is too large", status=response.status)
    try:
        data = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        ctype = (response.header("content-type") or "unknown").split(";")[0]
        raise InvalidResponseError(
            f"the {what} response is not JSON (content-type {ctype})", status=response.status
        ) from None
    if not isinstance(data, dict):
        raise InvalidResponseError(
            f"the {what} response is not a JSON object", status=response.status
        )
    return data


def parse_error_body(response: Response, what: str) -> TokenEndpointError | InvalidResponseError:
    """The error an unsuccessful response stands for (RFC 6749 §5.2).

    A JSON body with a string ``error`` gives the matching :class:`TokenEndpointError`
    subclass; anything else (an HTML error page, a proxy's 502) an
    :class:`InvalidResponseError` with the status.
    """
    try:
        data = parse_json_object(response, what)
    except InvalidResponseError as exc:
        return exc
    error = data.get("error")
    if not isinstance(error, str) or not error:
        return InvalidResponseError(
            f"the {what} failed without an OAuth error code", status=response.status
        )
    desc = data.get("error_description")
    uri = data.get("error_uri")
    return token_endpoint_error(
        error,
        desc if isinstance(desc, str) else None,
        uri if isinstance(uri, str) else None,
        response.status,
    )


def _optional_str(data: Mapping[str, Any], name: str, status: int) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidResponseError(f"token response member {name!r} is not a string", status=status)
    return value


def _expires_in(value: Any, status: int) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidResponseError("token response expires_in is not a number", status=status)
    if isinstance(value, str):  # some servers send "3600"
        try:
            value = int(value.strip())
        except ValueError:
            raise InvalidResponseError(
                "token response expires_in is not a number", status=status
            ) from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidResponseError("token response expires_in is not a number", status=status)
    if value < 0:
        raise InvalidResponseError("token response expires_in is negative", status=status)
    if value > MAX_EXPIRES_IN:
        raise InvalidResponseError("token response expires_in is absurdly large", status=status)
    return float(value)


def parse_token_response(response: Response, now: datetime.datetime, what: str = "token") -> Token:
    """Parse a token endpoint response strictly (RFC 6749 §5.1, §5.2).

    ``access_token`` and ``token_type`` are required; ``token_type`` must be ``Bearer``
    (RFC 6750) since that is the only way we know to present a token; ``expires_in``
    must be a sane non-negative number; unknown members are kept in ``Token.raw``.
    ``now`` (timezone-aware) anchors ``expires_at``.

    Raises :class:`TokenEndpointError` (a subclass per §5.2 code) for error bodies,
    :class:`InvalidResponseError` for anything that breaks the spec, including a
    redirect (RFC 9700 §4.12: token requests never follow one).
    """
    status = response.status
    if 300 <= status < 400:
        raise InvalidResponseError(
            f"the {what} endpoint answered with a redirect, which is never followed",
            status=status,
        )
    if status != 200:
        raise parse_error_body(response, what)
    data = parse_json_object(response, what)
    if "error" in data and "access_token" not in data:
        raise parse_error_body(response, what)
    access_token = data.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise InvalidResponseError(
            f"the {what} response has no access_token (RFC 6749 §5.1)", status=status
        )
    token_type = data.get("token_type")
    if not isinstance(token_type, str) or not token_type:
        raise InvalidResponseError(
            f"the {what} response has no token_type (RFC 6749 §5.1)", status=status
        )
    if token_type.lower() != "bearer":
        raise InvalidResponseError(
            f"the {what} response has token_type {token_type[:20]!r}; only Bearer is supported",
            status=status,
        )
    lifetime = _expires_in(data.get("expires_in"), status)
    expires_at = now + datetime.timedelta(seconds=lifetime) if lifetime is not None else None
    scope = _optional_str(data, "scope", status)
    return Token(
        access_token=access_token,
        token_type="Bearer",
        expires_at=expires_at,
        refresh_token=_optional_str(data, "refresh_token", status) or None,
        scope=tuple(scope.split()) if scope is not None else None,
        id_token=_optional_str(data, "id_token", status),
        raw=data,
    )
