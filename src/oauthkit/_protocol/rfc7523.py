"""RFC 7523, JWT Profile for OAuth 2.0 Client Authentication and Authorization Grants.

Pure functions: claims sets and token requests as data. Signing is done by the caller's
:class:`~oauthkit._jwt.SigningKey`; the time comes from the caller (an injected clock).
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Mapping
from typing import Any

from oauthkit._errors import ConfigurationError
from oauthkit._models import Request
from oauthkit._protocol import rfc6749

__all__ = [
    "CLIENT_ASSERTION_LIFETIME",
    "CLIENT_ASSERTION_TYPE",
    "GRANT_ASSERTION_LIFETIME",
    "JWT_BEARER_GRANT",
    "client_assertion_claims",
    "grant_assertion_claims",
    "jwt_bearer_request",
]

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_ASSERTION_LIFETIME = 60
"""Seconds a client assertion lives: short, it is used once (SECURITY.md C22)."""
GRANT_ASSERTION_LIFETIME = 3600
"""Seconds a JWT-bearer grant assertion lives; Google accepts at most one hour (C23)."""


def _epoch(now: datetime.datetime) -> int:
    return int(now.timestamp())


def client_assertion_claims(
    client_id: str, audience: str, now: datetime.datetime, lifetime: int = CLIENT_ASSERTION_LIFETIME
) -> dict[str, Any]:
    """Claims of a client authentication assertion (RFC 7523 §2.2, §3).

    ``iss`` = ``sub`` = the client id; ``aud`` is ONE string, the authorization server's
    issuer identifier (draft-ietf-oauth-rfc7523bis: an array or the token endpoint URL
    invites audience injection, CVE-2025-27370); a short ``exp``; a fresh ``jti``.
    """
    if not isinstance(audience, str) or not audience:
        raise ConfigurationError("a client assertion needs the issuer as its audience")
    if lifetime <= 0 or lifetime > 300:
        raise ConfigurationError("a client assertion lives between 1 s and 5 min")
    iat = _epoch(now)
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": iat,
        "exp": iat + lifetime,
        "jti": secrets.token_urlsafe(24),
    }


def grant_assertion_claims(
    issuer: str,
    audience: str,
    now: datetime.datetime,
    *,
    scope: str | None = None,
    subject: str | None = None,
    lifetime: int = GRANT_ASSERTION_LIFETIME,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Claims of a JWT authorization grant (RFC 7523 §2.1, §3): ``iss`` the service account,
    ``aud`` the token endpoint (Google) or issuer, ``iat``/``exp`` at most an hour apart,
    ``scope`` (Google's extension) and ``sub`` for delegation. ``extra`` claims are added
    last (the classic ``create_with_claims``) but cannot stretch the lifetime."""
    if lifetime <= 0 or lifetime > GRANT_ASSERTION_LIFETIME:
        raise ConfigurationError("a grant assertion lives at most one hour")
    iat = _epoch(now)
    claims: dict[str, Any] = {"iss": issuer, "aud": audience, "iat": iat, "exp": iat + lifetime}
    if scope:
        claims["scope"] = scope
    if subject:
        claims["sub"] = subject
    if extra:
        claims.update({k: v for k, v in extra.items() if k not in ("iat", "exp")})
    return claims


def jwt_bearer_request(
    token_uri: str,
    assertion: str,
    scope: str | None = None,
    client: rfc6749.ClientAuth | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> Request:
    """The access token request of the JWT-bearer grant (RFC 7523 §2.1)."""
    form = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion, "scope": scope}
    return rfc6749.token_request(token_uri, form, client, extra_headers)
