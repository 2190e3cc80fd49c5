"""ID-token verification against the issuer's keys, UserInfo, and the classic
``verify_id_token`` (OIDC Core §3.1.3.7, §5.3, §12.2; SECURITY.md §1.3).

The keys come from the issuer's ``jwks_uri`` (a :class:`~oauthkit._discovery.JwksCache`)
or Google's certificate endpoint; never from the token's own headers, and no request ever
goes to a URL taken from a token.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Mapping
from typing import Any

from oauthkit import _drivers, _jwt
from oauthkit._clock import SYSTEM_CLOCK, Clock
from oauthkit._discovery import JwksCache, ProviderMetadata, fetch_json_flow
from oauthkit._errors import IdTokenError, InvalidResponseError, OAuthError, in_context
from oauthkit._models import Request
from oauthkit._protocol import oidc, rfc6749, rfc6750

__all__ = [
    "GOOGLE_CERTS_URI",
    "GOOGLE_ISSUERS",
    "IdTokenVerifier",
    "fetch_userinfo",
    "verify_id_token",
]

GOOGLE_CERTS_URI = "https://www.googleapis.com/oauth2/v3/certs"
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")


class IdTokenVerifier:
    """Validates ID tokens of one issuer for one client (OIDC Core §3.1.3.7).

    ``algorithms`` is the allow-list (default RS256; ``none`` is refused); ``leeway``
    the clock skew tolerated on ``exp``/``iat``/``nbf``. An unknown ``kid`` triggers one
    rate-limited JWKS refetch (key rotation), then fails with ``unknown_kid``.
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        jwks: JwksCache,
        *,
        algorithms: Collection[str] = oidc.DEFAULT_ALGORITHMS,
        leeway: datetime.timedelta = oidc.DEFAULT_LEEWAY,
        client_secret: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.jwks = jwks
        self.algorithms = oidc.require_algorithms(algorithms)
        self.leeway = leeway
        self._client_secret = client_secret
        self._clock = clock

    @classmethod
    def from_metadata(
        cls, metadata: ProviderMetadata, client_id: str, http: Any = None, **kwargs: Any
    ) -> IdTokenVerifier:
        """A verifier for the discovered issuer and its ``jwks_uri``."""
        jwks_uri = metadata.jwks_uri
        if jwks_uri is None:
            raise InvalidResponseError("the issuer's metadata has no jwks_uri")
        clock = kwargs.get("clock", SYSTEM_CLOCK)
        return cls(metadata.issuer, client_id, JwksCache(jwks_uri, http, clock=clock), **kwargs)

    def __repr__(self) -> str:
        return f"IdTokenVerifier(issuer={self.issuer!r}, client_id={self.client_id!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client_secret"] = None  # given back by whoever restores the flow
        return state

    def verify(
        self,
        token: str,
        *,
        nonce: str | None = None,
        access_token: str | None = None,
        http: Any = None,
        max_age: datetime.timedelta | None = None,
    ) -> dict[str, Any]:
        """The validated claims of ``token``; raises :class:`IdTokenError` naming the check.

        ``nonce`` and ``max_age`` are what the authorization request sent (OIDC Core
        §3.1.3.7 items 11 and 13): pass them for the ID token of a code exchange, not for
        one from a refresh (it keeps the original ``auth_time``, §12.2)."""
        keys = self.jwks.keys(http)
        try:
            return self._validate(token, keys, nonce, access_token, max_age)
        except IdTokenError as exc:
            if exc.error != "unknown_kid":
                raise
            fresh = self.jwks.refetch(http)
            if fresh is None:
                raise
            return self._validate(token, fresh, nonce, access_token, max_age)

    def _validate(
        self,
        token: str,
        keys: list[_jwt.VerifyingKey],
        nonce: str | None,
        access_token: str | None,
        max_age: datetime.timedelta | None = None,
    ) -> dict[str, Any]:
        return oidc.validate_id_token(
            token,
            keys=keys,
            issuer=self.issuer,
            client_id=self.client_id,
            now=self._clock.now(),
            algorithms=self.algorithms,
            leeway=self.leeway,
            nonce=nonce,
            access_token=access_token,
            client_secret=self._client_secret,
            max_age=max_age,
        )


def _keys_from_certs(data: Mapping[str, Any]) -> list[_jwt.VerifyingKey]:
    """Keys from Google's certificate endpoints: a JWKS (``/oauth2/v3/certs``) or a map
    of key id to PEM X.509 certificate (``/oauth2/v1/certs``, the classic default)."""
    if "keys" in data:
        return _jwt.verifying_keys_from_jwks(data)
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    out: list[_jwt.VerifyingKey] = []
    for kid, pem in data.items():
        if not isinstance(pem, str):
            continue
        try:
            key = x509.load_pem_x509_certificate(pem.encode("ascii")).public_key()
        except (ValueError, UnicodeEncodeError):
            continue
        if isinstance(key, rsa.RSAPublicKey):
            out.append(_jwt.VerifyingKey(key, "RS256", str(kid), "RSA"))
    return out


def verify_id_token(
    id_token: str | bytes,
    audience: str | Collection[str],
    http: Any = None,
    cert_uri: str = GOOGLE_CERTS_URI,
    *,
    issuer: str | Collection[str] = GOOGLE_ISSUERS,
    clock: Clock = SYSTEM_CLOCK,
    leeway: datetime.timedelta = oidc.DEFAULT_LEEWAY,
) -> dict[str, Any]:
    """(classic) Verify a Google ID token and return its claims.

    The certificates are fetched from ``cert_uri`` through ``http`` (any supported
    client, or the default transport); the token must be RS256, signed by one of them,
    issued by ``issuer`` (Google's two spellings by default), for ``audience``, and
    current. Raises :class:`IdTokenError` (classic name ``VerifyJwtTokenError``), also
    when the certificates cannot be fetched (then also a :class:`TransportError` or
    :class:`InvalidResponseError`)."""
    token = id_token.decode("ascii") if isinstance(id_token, bytes) else id_token
    try:
        data = _drivers.run(
            fetch_json_flow(cert_uri, "certificates"), _drivers.to_transport(http), clock
        )
    except OAuthError as exc:  # classic: a failed certificate fetch is VerifyJwtTokenError
        raise in_context(exc, IdTokenError) from exc.__cause__
    keys = _keys_from_certs(data)
    issuers = [issuer] if isinstance(issuer, str) else list(issuer)
    last: IdTokenError | None = None
    for iss in issuers:
        try:
            return oidc.validate_id_token(
                token,
                keys=keys,
                issuer=iss,
                client_id=audience,
                now=clock.now(),
                leeway=leeway,
                max_iat_age=None,
            )
        except IdTokenError as exc:
            if exc.error != "iss_mismatch":
                raise
            last = exc
    raise last or IdTokenError("no issuer to check", error="iss_mismatch")


def fetch_userinfo(credentials: Any, userinfo_uri: str, http: Any = None) -> dict[str, Any]:
    """The UserInfo response for ``credentials`` (OIDC Core §5.3), checked: its ``sub``
    must equal the ``sub`` of the credentials' ID token (§5.3.2), else
    :class:`IdTokenError` (``userinfo_sub_mismatch``) and nothing is returned."""
    uri = rfc6749.require_secure_endpoint(userinfo_uri, "userinfo_endpoint")
    id_token = getattr(credentials, "id_token", None)
    if not isinstance(id_token, Mapping):
        raise IdTokenError("the credentials hold no ID token to check UserInfo against")
    token = credentials.get_access_token(http).access_token
    headers = {"accept": "application/json", "authorization": rfc6750.authorization_header(token)}
    response = _drivers.to_transport(http).send(Request("GET", uri, headers))
    if response.status != 200:
        raise InvalidResponseError("the UserInfo request failed", status=response.status)
    data = rfc6749.parse_json_object(response, "UserInfo")
    oidc.check_userinfo_sub(data, id_token)
    return data
