"""oauthkit: OAuth 2.0 and OpenID Connect for Python clients.

The modern face. Flows acquire credentials; credentials hold and refresh tokens and
authorize any HTTP client (httpx, requests, httplib2)::

    import oauthkit

    flow = oauthkit.OAuth2WebServerFlow(client_id, client_secret, scope="openid email",
                                        redirect_uri="https://app.example/callback",
                                        auth_uri=..., token_uri=...)
    url = flow.step1_get_authorize_url()          # send the user there
    credentials = flow.step2_exchange(request_params)
    client = credentials.authorize(httpx.Client())

The classic oauth2client API lives at the same paths under ``oauthkit`` (``oauthkit.client``,
``oauthkit.clientsecrets``...). Names load lazily so ``import oauthkit`` stays cheap.
"""

from __future__ import annotations

import importlib

from oauthkit import transport as _transport  # noqa: F401 - registers the HTTP adapters

# typing loads only under a type checker: `import oauthkit` stays fast (no typing, re...)
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from oauthkit._adc import default
    from oauthkit._client_credentials import ClientCredentials
    from oauthkit._clock import Clock, FakeClock
    from oauthkit._credentials import (
        AccessTokenCredentials,
        AccessTokenInfo,
        Credentials,
        OAuth2Credentials,
    )
    from oauthkit._discovery import JwksCache, ProviderMetadata, discover
    from oauthkit._errors import (
        AccessDeniedError,
        AuthorizationError,
        AuthorizationPendingError,
        ConfigurationError,
        ExpiredTokenError,
        FlowExchangeError,
        IdTokenError,
        InvalidClientError,
        InvalidGrantError,
        InvalidRequestError,
        InvalidResponseError,
        InvalidScopeError,
        NotPersistedError,
        OAuthError,
        RefreshError,
        RefreshOutcomeUnknownError,
        SlowDownError,
        StorageError,
        TokenEndpointError,
        TokenRevokeError,
        TransportError,
        UnauthorizedClientError,
        UnsupportedGrantTypeError,
        UnsupportedTokenTypeError,
    )
    from oauthkit._flows import RetryPolicy
    from oauthkit._idtoken import IdTokenVerifier, fetch_userinfo
    from oauthkit._service_account import ServiceAccountCredentials
    from oauthkit._storage import Storage
    from oauthkit._webflow import OAuth2WebServerFlow, flow_from_clientsecrets

__version__ = "0.1.0"

_LAZY = {
    "Clock": "oauthkit._clock",
    "FakeClock": "oauthkit._clock",
    "AccessTokenCredentials": "oauthkit._credentials",
    "AccessTokenInfo": "oauthkit._credentials",
    "Credentials": "oauthkit._credentials",
    "OAuth2Credentials": "oauthkit._credentials",
    "RetryPolicy": "oauthkit._flows",
    "default": "oauthkit._adc",
    "ClientCredentials": "oauthkit._client_credentials",
    "JwksCache": "oauthkit._discovery",
    "ProviderMetadata": "oauthkit._discovery",
    "discover": "oauthkit._discovery",
    "IdTokenVerifier": "oauthkit._idtoken",
    "fetch_userinfo": "oauthkit._idtoken",
    "ServiceAccountCredentials": "oauthkit._service_account",
    "Storage": "oauthkit._storage",
    "OAuth2WebServerFlow": "oauthkit._webflow",
    "flow_from_clientsecrets": "oauthkit._webflow",
    **{
        name: "oauthkit._errors"
        for name in (
            "AccessDeniedError",
            "AuthorizationError",
            "AuthorizationPendingError",
            "ConfigurationError",
            "ExpiredTokenError",
            "FlowExchangeError",
            "IdTokenError",
            "InvalidClientError",
            "InvalidGrantError",
            "InvalidRequestError",
            "InvalidResponseError",
            "InvalidScopeError",
            "NotPersistedError",
            "OAuthError",
            "RefreshError",
            "RefreshOutcomeUnknownError",
            "SlowDownError",
            "StorageError",
            "TokenEndpointError",
            "TokenRevokeError",
            "TransportError",
            "UnauthorizedClientError",
            "UnsupportedGrantTypeError",
            "UnsupportedTokenTypeError",
        )
    },
}

__all__ = [
    "AccessDeniedError",
    "AccessTokenCredentials",
    "AccessTokenInfo",
    "AuthorizationError",
    "AuthorizationPendingError",
    "ClientCredentials",
    "Clock",
    "ConfigurationError",
    "Credentials",
    "ExpiredTokenError",
    "FakeClock",
    "FlowExchangeError",
    "IdTokenError",
    "IdTokenVerifier",
    "InvalidClientError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidResponseError",
    "InvalidScopeError",
    "JwksCache",
    "NotPersistedError",
    "OAuth2Credentials",
    "OAuth2WebServerFlow",
    "OAuthError",
    "ProviderMetadata",
    "RefreshError",
    "RefreshOutcomeUnknownError",
    "RetryPolicy",
    "ServiceAccountCredentials",
    "SlowDownError",
    "Storage",
    "StorageError",
    "TokenEndpointError",
    "TokenRevokeError",
    "TransportError",
    "UnauthorizedClientError",
    "UnsupportedGrantTypeError",
    "UnsupportedTokenTypeError",
    "__version__",
    "default",
    "discover",
    "fetch_userinfo",
    "flow_from_clientsecrets",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'oauthkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
