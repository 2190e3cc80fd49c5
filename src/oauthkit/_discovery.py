"""Authorization-server metadata (OIDC Discovery 1.0, RFC 8414) and the issuer's JWKS.

Both are fetched through the same transports as every other request (any HTTP client the
caller holds, or the default), never following redirects. The JWKS is cached and, when an
ID token names a ``kid`` the cache does not know (key rotation, OIDC Core §10.1.1),
refetched at most once per ``min_refetch_interval``.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Mapping
from typing import Any

from oauthkit import _drivers, _jwt
from oauthkit._clock import SYSTEM_CLOCK, Clock
from oauthkit._errors import InvalidResponseError
from oauthkit._flows import RetryPolicy, _with_retry
from oauthkit._models import Request
from oauthkit._protocol import oidc, rfc6749

__all__ = ["JwksCache", "ProviderMetadata", "discover", "fetch_json_flow"]

_JSON_HEADERS = {"accept": "application/json"}
_ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "revocation_endpoint",
    "introspection_endpoint",
    "device_authorization_endpoint",
    "registration_endpoint",
    "end_session_endpoint",
)


_FETCH_RETRY = RetryPolicy(attempts=2)


def fetch_json_flow(
    url: str, what: str, policy: RetryPolicy = _FETCH_RETRY
) -> _drivers.Flow[dict[str, Any]]:
    """GET a JSON object (metadata, JWKS, certificates), retrying 5xx/network errors once."""

    def make_request() -> Request:
        return Request("GET", url, dict(_JSON_HEADERS))

    response = yield from _with_retry(make_request, policy)
    if 300 <= response.status < 400:
        raise InvalidResponseError(f"the {what} answered with a redirect", status=response.status)
    if response.status != 200:
        raise InvalidResponseError(f"the {what} request failed", status=response.status)
    return rfc6749.parse_json_object(response, what)


class ProviderMetadata:
    """An authorization server's metadata, checked: the ``issuer`` equals the configured
    one exactly and every endpoint is https (or loopback)."""

    def __init__(self, data: Mapping[str, Any], issuer: str) -> None:
        oidc.check_discovered_issuer(data, issuer)
        for name in _ENDPOINTS:
            value = data.get(name)
            if value is not None:
                if not isinstance(value, str):
                    raise InvalidResponseError(f"metadata {name} is not a string")
                rfc6749.require_secure_endpoint(value, name)
        self.raw = dict(data)
        self.issuer = issuer

    def get(self, name: str) -> Any:
        return self.raw.get(name)

    @property
    def token_endpoint(self) -> str:
        value = self.raw.get("token_endpoint")
        if not isinstance(value, str):
            raise InvalidResponseError("the metadata has no token_endpoint")
        return value

    @property
    def jwks_uri(self) -> str | None:
        value = self.raw.get("jwks_uri")
        return value if isinstance(value, str) else None

    @property
    def token_endpoint_auth_methods(self) -> list[str] | None:
        value = self.raw.get("token_endpoint_auth_methods_supported")
        return [str(v) for v in value] if isinstance(value, list) else None

    @property
    def id_token_algorithms(self) -> tuple[str, ...]:
        value = self.raw.get("id_token_signing_alg_values_supported")
        if not isinstance(value, list):
            return oidc.DEFAULT_ALGORITHMS
        return tuple(str(v) for v in value if v in _jwt.ASYMMETRIC_ALGORITHMS)

    def __repr__(self) -> str:
        return f"ProviderMetadata(issuer={self.issuer!r})"


def discover(
    issuer: str, http: Any = None, *, clock: Clock = SYSTEM_CLOCK, oauth: bool = False
) -> ProviderMetadata:
    """Fetch and check the issuer's metadata (OIDC Discovery §4; RFC 8414 §3 with
    ``oauth``). Raises :class:`InvalidResponseError` (``issuer_mismatch`` when the
    document names another issuer, even by a trailing slash) or :class:`TransportError`."""
    rfc6749.require_secure_endpoint(issuer, "issuer")
    url = oidc.discovery_url(issuer, oauth=oauth)
    data = _drivers.run(fetch_json_flow(url, "discovery"), _drivers.to_transport(http), clock)
    return ProviderMetadata(data, issuer)


class JwksCache:
    """The issuer's signing keys, fetched lazily through ``http`` and cached.

    :meth:`keys` returns the cached keys (fetching on first use). :meth:`refetch` fetches
    again unless it already refetched less than ``min_refetch_interval`` ago, so a key
    rotated just before signing is found at once while a flood of tokens with made-up
    ``kid`` values costs at most one request per interval. Threads
    share one fetch. Pickles without its keys, lock or HTTP client.
    """

    def __init__(
        self,
        jwks_uri: str,
        http: Any = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        min_refetch_interval: datetime.timedelta = datetime.timedelta(seconds=60),
    ) -> None:
        self.jwks_uri = rfc6749.require_secure_endpoint(jwks_uri, "jwks_uri")
        self.http = http
        self.min_refetch_interval = min_refetch_interval
        self.fetches = 0
        self._clock = clock
        self._keys: list[_jwt.VerifyingKey] | None = None
        self._fetched_at: datetime.datetime | None = None
        self._refetched_at: datetime.datetime | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {
            "jwks_uri": self.jwks_uri,
            "min_refetch_interval": self.min_refetch_interval,
            "_clock": self._clock,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["jwks_uri"],
            clock=state["_clock"],
            min_refetch_interval=state["min_refetch_interval"],
        )

    def __repr__(self) -> str:
        return f"JwksCache({self.jwks_uri!r})"

    def _fetch(self, http: Any) -> list[_jwt.VerifyingKey]:
        transport = _drivers.to_transport(http if http is not None else self.http)
        data = _drivers.run(fetch_json_flow(self.jwks_uri, "JWKS"), transport, self._clock)
        keys = _jwt.verifying_keys_from_jwks(data)
        self.fetches += 1
        self._keys = keys
        self._fetched_at = self._clock.now()
        return keys

    def keys(self, http: Any = None) -> list[_jwt.VerifyingKey]:
        keys = self._keys
        if keys is not None:
            return keys
        with self._lock:
            if self._keys is not None:
                return self._keys
            return self._fetch(http)

    def refetch(self, http: Any = None) -> list[_jwt.VerifyingKey] | None:
        """Fetch again for an unknown ``kid``; ``None`` when rate-limited (OIDC Core
        §10.1.1; SECURITY.md C38)."""
        seen = self._fetched_at
        with self._lock:
            if self._fetched_at != seen and self._keys is not None:
                return self._keys  # another thread just refetched
            last = self._refetched_at
            if last is not None and self._clock.now() - last < self.min_refetch_interval:
                return None
            self._refetched_at = self._clock.now()
            return self._fetch(http)
