"""The client credentials grant (RFC 6749 §4.4) as credentials that fetch on their own.

:class:`ClientCredentials` holds no refresh token (§4.4.3: none should be issued); when its
access token is missing or within the refresh margin it simply asks the token endpoint
again, once for all concurrent callers (the lock-and-recheck of
:class:`~oauthkit._credentials.OAuth2Credentials`). The client authenticates with any
method of :class:`~oauthkit._protocol.rfc6749.ClientAuth`, chosen per client or from the
server's metadata (RFC 8414 ``token_endpoint_auth_methods_supported``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from oauthkit import _drivers, _jwt
from oauthkit._clock import Clock
from oauthkit._credentials import (
    DEFAULT_REFRESH_MARGIN,
    DEFAULT_RETRY,
    OAuth2Credentials,
    _load_json,
    _parse_expiry,
    _register,
    string_to_scopes,
)
from oauthkit._discovery import ProviderMetadata, discover
from oauthkit._errors import ConfigurationError
from oauthkit._flows import RetryPolicy, token_flow
from oauthkit._models import Request, Token
from oauthkit._protocol import rfc6749

__all__ = ["ClientCredentials"]


@_register
class ClientCredentials(OAuth2Credentials):
    """Credentials of the client itself (RFC 6749 §4.4), re-fetched when they run out.

    ``token_endpoint_auth_method`` is one of ``client_secret_basic`` (default with a
    secret), ``client_secret_post``, ``client_secret_jwt``, ``private_key_jwt`` (default
    with ``signing_key``, a :class:`~oauthkit._jwt.SigningKey` or a PEM string). The JWT
    methods need ``issuer``: the assertion's ``aud`` (RFC 7523 §3; SECURITY.md C22).
    ``resource`` is an RFC 8707 resource indicator. The private key is never serialized.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        token_uri: str | None = None,
        scopes: str | Iterable[str] | None = None,
        *,
        issuer: str | None = None,
        signing_key: Any = None,
        token_endpoint_auth_method: str | None = None,
        resource: str | None = None,
        revoke_uri: str | None = None,
        user_agent: str | None = None,
        clock: Clock | None = None,
        refresh_margin: datetime.timedelta = DEFAULT_REFRESH_MARGIN,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        if not client_id:
            raise ConfigurationError("client_id is missing")
        super().__init__(
            None,
            client_id,
            client_secret,
            None,
            None,
            rfc6749.require_secure_endpoint(token_uri or "", "token_uri"),
            user_agent,
            revoke_uri=revoke_uri,
            scopes=scopes,
            token_endpoint_auth_method=token_endpoint_auth_method,
            clock=clock,
            refresh_margin=refresh_margin,
            retry=retry,
        )
        if isinstance(signing_key, (str, bytes)):
            signing_key = _jwt.load_private_key(signing_key)
        self.issuer = issuer
        self.resource = resource
        self._signing_key: _jwt.SigningKey | None = signing_key
        self._client_auth()  # fail now if the client cannot authenticate as configured

    @classmethod
    def from_metadata(
        cls,
        metadata: ProviderMetadata,
        client_id: str,
        client_secret: str | None = None,
        scopes: str | Iterable[str] | None = None,
        *,
        signing_key: Any = None,
        **kwargs: Any,
    ) -> ClientCredentials:
        """Credentials for a discovered server: its ``token_endpoint``, its ``issuer`` as
        the assertion audience, and the authentication method chosen from its
        ``token_endpoint_auth_methods_supported`` and what this client holds
        (:func:`~oauthkit._protocol.rfc6749.choose_auth_method`)."""
        method = kwargs.pop("token_endpoint_auth_method", None) or rfc6749.choose_auth_method(
            metadata.token_endpoint_auth_methods,
            has_key=signing_key is not None,
            has_secret=bool(client_secret),
        )
        return cls(
            client_id,
            client_secret,
            metadata.token_endpoint,
            scopes,
            issuer=metadata.issuer,
            signing_key=signing_key,
            token_endpoint_auth_method=method,
            revoke_uri=metadata.get("revocation_endpoint"),
            **kwargs,
        )

    @classmethod
    def from_issuer(
        cls,
        issuer: str,
        client_id: str,
        client_secret: str | None = None,
        scopes: str | Iterable[str] | None = None,
        *,
        http: Any = None,
        signing_key: Any = None,
        **kwargs: Any,
    ) -> ClientCredentials:
        """Discover ``issuer`` (OIDC Discovery, exact issuer match) and build credentials
        with :meth:`from_metadata`."""
        metadata = discover(issuer, http)
        return cls.from_metadata(
            metadata, client_id, client_secret, scopes, signing_key=signing_key, **kwargs
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} client_id={self.client_id!r} "
            f"method={self._client_auth().resolved_method!r} scopes={sorted(self.scopes)!r} "
            f"expiry={self.token_expiry!s}>"
        )

    def _client_auth(self) -> rfc6749.ClientAuth:
        return rfc6749.ClientAuth(
            self.client_id or "",
            self.client_secret,
            self.token_endpoint_auth_method,
            signing_key=getattr(self, "_signing_key", None),
            audience=self.issuer,
            clock=self._clock,
        )

    def _refresh_flow(self) -> _drivers.Flow[Token]:
        """One client credentials request (RFC 6749 §4.4.2), a fresh client assertion on
        every attempt."""
        token_uri = rfc6749.require_secure_endpoint(self.token_uri or "", "token_uri")
        client = self._client_auth()
        scope = " ".join(sorted(self.scopes)) or None
        form = {"grant_type": "client_credentials", "scope": scope, "resource": self.resource}
        extra = {"user-agent": self.user_agent} if self.user_agent else None

        def make_request() -> Request:
            return rfc6749.token_request(token_uri, form, client, extra)

        return token_flow(make_request, self._clock, self._retry)

    def _adopt_token(self, token: Token) -> None:
        # §4.4.3: a refresh token SHOULD NOT be issued; never hold one, and keep asking
        # for the scopes configured, not the ones granted last time.
        scopes = set(self.scopes)
        super()._adopt_token(Token(token.access_token, token.token_type, token.expires_at))
        self.token_response = dict(token.raw)
        self.refresh_token = None
        self.scopes = scopes

    def set_client_signing_key(self, key: Any) -> None:
        """Attach the ``private_key_jwt`` signing key (it is never serialized or pickled);
        :meth:`from_json` also takes it as ``signing_key``."""
        if isinstance(key, (str, bytes)):
            key = _jwt.load_private_key(key)
        self._signing_key = key

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_signing_key", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._signing_key = None

    @classmethod
    def from_json(
        cls, json_data: str | bytes | Mapping[str, Any], signing_key: Any = None
    ) -> ClientCredentials:
        """Credentials from :meth:`to_json` output; a ``private_key_jwt`` client gets its
        key back as ``signing_key`` (it is never stored)."""
        data = _load_json(json_data)
        try:
            creds = cls(
                data["client_id"],
                data.get("client_secret"),
                data["token_uri"],
                string_to_scopes(data.get("scopes")),
                issuer=data.get("issuer"),
                signing_key=signing_key,
                token_endpoint_auth_method=data.get("token_endpoint_auth_method"),
                resource=data.get("resource"),
                revoke_uri=data.get("revoke_uri"),
                user_agent=data.get("user_agent"),
            )
        except KeyError as exc:
            raise ConfigurationError(
                f"credentials JSON lacks {exc.args[0]!r}", error="corrupt_credentials"
            ) from None
        creds.access_token = data.get("access_token")
        creds.token_expiry = _parse_expiry(data.get("token_expiry"))
        creds.invalid = bool(data.get("invalid", False))
        return creds
