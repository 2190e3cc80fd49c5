"""The error tree. Every exception oauthkit raises is an :class:`OAuthError`.

::

    OAuthError  (classic alias: Error)
    ├── ConfigurationError (ValueError)   our caller's mistake: bad client secrets,
    │   │                                 non-https endpoint, missing field
    │   ├── InvalidClientSecretsError     (classic) the client_secrets file is unusable
    │   └── UnknownClientSecretsFlowError (classic) a client type we have no flow for
    ├── TransportError                    network failure or timeout; ``__cause__`` is the
    │   │                                 original exception of the HTTP library
    │   └── RefreshOutcomeUnknownError    a refresh's answer was lost twice (or the retry
    │                                     met invalid_grant): the grant is NOT marked dead
    ├── InvalidResponseError              the server broke the spec: not JSON, no
    │                                     access_token, absurd expires_in, a redirect
    ├── AuthorizationError                the redirect said error=..., or state/iss mismatch
    ├── TokenEndpointError                an RFC 6749 §5.2 error body, one subclass a code:
    │   ├── InvalidRequestError           invalid_request
    │   ├── InvalidClientError            invalid_client
    │   ├── InvalidGrantError             invalid_grant: the user must authorize again
    │   ├── UnauthorizedClientError       unauthorized_client
    │   ├── UnsupportedGrantTypeError     unsupported_grant_type
    │   ├── InvalidScopeError             invalid_scope
    │   ├── AccessDeniedError             access_denied (RFC 8628 §3.5)
    │   ├── ExpiredTokenError             expired_token (RFC 8628 §3.5)
    │   ├── AuthorizationPendingError     authorization_pending (RFC 8628 §3.5)
    │   ├── SlowDownError                 slow_down (RFC 8628 §3.5)
    │   └── UnsupportedTokenTypeError     unsupported_token_type (RFC 7009 §2.2.1)
    ├── FlowExchangeError                 (classic) context: exchanging a code failed
    ├── RefreshError                      context: refreshing failed
    │   │                                 (classic alias: AccessTokenRefreshError)
    │   ├── HttpAccessTokenRefreshError   (classic) the refresh request failed
    │   └── AccessTokenCredentialsError   (classic) these credentials cannot refresh
    ├── TokenRevokeError                  (classic) context: revoking failed
    ├── IdTokenError                      an ID token failed validation
    └── StorageError                      a store failed; nothing was half-written
        └── NotPersistedError             a refresh succeeded, saving it failed: the new
                                          token is in memory, the save retried in the
                                          background

*What* went wrong and *while doing what* are separate axes. A failure is raised as its
"what" class (say :class:`InvalidGrantError`) combined with the class of the operation
that failed (say :class:`HttpAccessTokenRefreshError`), so both ``except InvalidGrantError``
and the classic ``except AccessTokenRefreshError`` catch it.

Every error carries structured fields (``error``, ``description``, ``uri``, ``status``).
No message ever contains a token or a secret: messages are built only from those fields,
and server-supplied text is truncated and stripped of control characters.
"""

from __future__ import annotations

# typing loads only under a type checker: `import oauthkit` stays fast (no typing, re...)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "AccessDeniedError",
    "AccessTokenCredentialsError",
    "AccessTokenRefreshError",
    "AuthorizationError",
    "AuthorizationPendingError",
    "ConfigurationError",
    "Error",
    "ExpiredTokenError",
    "FlowExchangeError",
    "HttpAccessTokenRefreshError",
    "IdTokenError",
    "InvalidClientError",
    "InvalidClientSecretsError",
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
    "UnknownClientSecretsFlowError",
    "UnsupportedGrantTypeError",
    "UnsupportedTokenTypeError",
    "in_context",
    "token_endpoint_error",
]

_MAX_TEXT = 300


def _clean(text: str | None) -> str | None:
    """Server-supplied text, made safe to show: printable, bounded."""
    if text is None:
        return None
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    if len(text) > _MAX_TEXT:
        text = text[:_MAX_TEXT] + "..."
    return text


class OAuthError(Exception):
    """Base of every oauthkit error.

    Attributes: ``error`` (a machine-readable code such as ``invalid_grant``),
    ``description`` (human-readable), ``uri`` (``error_uri`` from the server),
    ``status`` (the HTTP status, when a response was involved).
    """

    default_error: str = "oauth_error"

    def __init__(
        self,
        description: str | None = None,
        *,
        error: str | None = None,
        uri: str | None = None,
        status: int | None = None,
    ) -> None:
        self.error: str = _clean(error) or self.default_error
        self.description: str | None = _clean(description)
        self.uri: str | None = _clean(uri)
        self.status: int | None = status
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [self.description or self.error]
        if self.description and self.error and self.error != self.default_error:
            parts = [f"{self.error}: {self.description}"]
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        return " ".join(parts)

    def __str__(self) -> str:
        return self._message()

    def scrub(self, *secrets: str | None) -> OAuthError:
        """Remove every occurrence of ``secrets`` from the server-supplied text (a hostile or
        careless server may echo a token back in ``error_description``); returns ``self``."""
        for secret in secrets:
            if secret and len(secret) >= 4:
                if self.description:
                    self.description = self.description.replace(secret, "***")
                if self.uri:
                    self.uri = self.uri.replace(secret, "***")
        self.args = (self._message(),)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._message()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        cls = type(self)
        bases = cls.__bases__ if _is_combined(cls) else (cls,)
        return (_rebuild, (bases, self.__dict__.copy()))


Error = OAuthError


class ConfigurationError(OAuthError, ValueError):
    """The caller's mistake: a bad argument, file or endpoint. Fix the code or config."""

    default_error = "configuration_error"


class InvalidClientSecretsError(ConfigurationError):
    """The client_secrets file is missing, corrupt or lacks a field (the message names it)."""

    default_error = "invalid_client_secrets"


class UnknownClientSecretsFlowError(ConfigurationError):
    """The client_secrets file describes a client type oauthkit has no flow for."""

    default_error = "unknown_client_type"


class TransportError(OAuthError):
    """The request could not be completed: connection refused, timeout, TLS failure.

    ``__cause__`` holds the HTTP library's original exception.
    """

    default_error = "transport_error"


class RefreshOutcomeUnknownError(TransportError):
    """A refresh request's answer was lost (timeout, connection reset) and the one retry
    with the same refresh token failed too, by another lost answer or by ``invalid_grant``
    (the server may have rotated the token on the first request and refuse its reuse),
    and the store held no newer token (SECURITY.md §6.3 item 2).

    The grant is *not* marked invalid: the outcome is unknown, not a rejection. Retry
    later; if the server did rotate, the user must authorize again. Raised combined with
    :class:`HttpAccessTokenRefreshError`; ``__cause__`` is the last failure.
    """

    default_error = "refresh_outcome_unknown"


class InvalidResponseError(OAuthError):
    """The server answered something the spec does not allow (not JSON, no access_token,
    a redirect from the token endpoint, an absurd ``expires_in``...)."""

    default_error = "invalid_response"


class AuthorizationError(OAuthError):
    """The authorization response is an error (``error=access_denied``) or cannot be
    trusted (``state`` missing or wrong, ``iss`` wrong, a parameter repeated)."""

    default_error = "authorization_error"


class TokenEndpointError(OAuthError):
    """The token endpoint answered with an RFC 6749 §5.2 error body."""

    default_error = "token_endpoint_error"


class InvalidRequestError(TokenEndpointError):
    default_error = "invalid_request"


class InvalidClientError(TokenEndpointError):
    """Client authentication failed: wrong client id or secret."""

    default_error = "invalid_client"


class InvalidGrantError(TokenEndpointError):
    """The grant (code or refresh token) is invalid, expired or revoked.

    When refreshing, this means the user must authorize again; the credentials are
    marked ``invalid``.
    """

    default_error = "invalid_grant"


class UnauthorizedClientError(TokenEndpointError):
    default_error = "unauthorized_client"


class UnsupportedGrantTypeError(TokenEndpointError):
    default_error = "unsupported_grant_type"


class InvalidScopeError(TokenEndpointError):
    default_error = "invalid_scope"


class AccessDeniedError(TokenEndpointError):
    default_error = "access_denied"


class ExpiredTokenError(TokenEndpointError):
    default_error = "expired_token"


class AuthorizationPendingError(TokenEndpointError):
    default_error = "authorization_pending"


class SlowDownError(TokenEndpointError):
    default_error = "slow_down"


class UnsupportedTokenTypeError(TokenEndpointError):
    default_error = "unsupported_token_type"


class FlowExchangeError(OAuthError):
    """(classic) Exchanging an authorization code for credentials failed."""

    default_error = "flow_exchange_error"


class RefreshError(OAuthError):
    """Refreshing the access token failed."""

    default_error = "refresh_error"


AccessTokenRefreshError = RefreshError


class HttpAccessTokenRefreshError(RefreshError):
    """(classic) The refresh request failed; ``status`` holds the HTTP status if any."""

    default_error = "refresh_error"


class AccessTokenCredentialsError(RefreshError):
    """(classic) These credentials hold only an access token and cannot refresh it."""

    default_error = "access_token_expired"


class TokenRevokeError(OAuthError):
    """(classic) Revoking a token failed."""

    default_error = "revoke_error"


class IdTokenError(OAuthError):
    """An ID token failed validation; ``error`` names the check that failed."""

    default_error = "invalid_id_token"


class StorageError(OAuthError):
    """A credential store failed. The stored record is whole: the old one, or, when the
    failure came after the commit (an fsync error, a lost connection), possibly the new
    one; never a partial record. Re-read before deciding which."""

    default_error = "storage_error"


class NotPersistedError(StorageError):
    """A refresh succeeded but saving its result to the store failed.

    The credentials object already holds the new token: a caller catching this may go on
    with ``credentials.access_token``. The save is retried in the background (and once
    more at interpreter exit, where a save that never landed is logged at ERROR).
    ``reason`` is the store's reason code (``no_space``, ``io_error``...) and
    ``__cause__`` the store's error.
    """

    default_error = "not_persisted"
    reason: str | None = None


_BY_CODE: dict[str, type[TokenEndpointError]] = {
    cls.default_error: cls
    for cls in (
        InvalidRequestError,
        InvalidClientError,
        InvalidGrantError,
        UnauthorizedClientError,
        UnsupportedGrantTypeError,
        InvalidScopeError,
        AccessDeniedError,
        ExpiredTokenError,
        AuthorizationPendingError,
        SlowDownError,
        UnsupportedTokenTypeError,
    )
}


def token_endpoint_error(
    error: str, description: str | None, uri: str | None, status: int | None
) -> TokenEndpointError:
    """The :class:`TokenEndpointError` subclass for an RFC 6749 §5.2 ``error`` code."""
    cls = _BY_CODE.get(error, TokenEndpointError)
    return cls(description, error=error, uri=uri, status=status)


_COMBINED: dict[tuple[type[OAuthError], type[OAuthError]], type[OAuthError]] = {}


def _is_combined(cls: type) -> bool:
    return getattr(cls, "_oauthkit_combined", False) is True


def _combine(what: type[OAuthError], context: type[OAuthError]) -> type[OAuthError]:
    if issubclass(context, what):  # the context class is already the more specific one
        return context
    key = (what, context)
    cls = _COMBINED.get(key)
    if cls is None:
        cls = type(
            what.__name__,
            (what, context),
            {
                "_oauthkit_combined": True,
                "default_error": what.default_error,
                "__module__": what.__module__,
                "__qualname__": what.__qualname__,
                "__doc__": what.__doc__,
            },
        )
        _COMBINED[key] = cls
    return cls


def in_context(exc: OAuthError, context: type[OAuthError]) -> OAuthError:
    """``exc`` re-typed so that it is also an instance of ``context``.

    The returned exception has the same fields, message, cause and traceback; callers
    ``raise in_context(e, FlowExchangeError) from e.__cause__``.
    """
    if isinstance(exc, context):
        return exc
    what = type(exc).__bases__[0] if _is_combined(type(exc)) else type(exc)
    cls = _combine(what, context)
    new = cls.__new__(cls)
    new.__dict__.update(exc.__dict__)
    new.args = exc.args
    new.__cause__ = exc.__cause__
    new.__suppress_context__ = True
    new.__traceback__ = exc.__traceback__
    return new


def _rebuild(bases: tuple[type[OAuthError], ...], state: dict[str, Any]) -> OAuthError:
    cls = bases[0] if len(bases) == 1 else _combine(bases[0], bases[1])
    new = cls.__new__(cls)
    new.__dict__.update(state)
    new.args = (new._message(),)
    return new
