"""Service accounts: the JWT-bearer grant (RFC 7523 §2.1) and self-signed JWT access.

:class:`ServiceAccountCredentials` keeps oauth2client's API (``from_json_keyfile_name``,
``create_scoped``, ``create_delegated``, ``sign_blob``...) over oauthkit's credentials:
the private key is parsed once into a :class:`~oauthkit._jwt.SigningKey`; tokens are cached
until the refresh margin; concurrent callers share one token request (the lock-and-recheck
of :class:`~oauthkit._credentials.OAuth2Credentials`).

Stored JSON (:meth:`ServiceAccountCredentials.to_json`) leaves the private key out unless
``include_private_key=True``; oauth2client's JSON, which always holds it, still loads.
No assertion or key ever reaches a log line, an exception message or a ``repr``.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO, TypeVar

from oauthkit import _drivers, _jwt
from oauthkit._clock import SYSTEM_CLOCK, utc
from oauthkit._credentials import (
    EXPIRY_FORMAT,
    GOOGLE_REVOKE_URI,
    GOOGLE_TOKEN_URI,
    OAuth2Credentials,
    _load_json,
    _parse_expiry,
    _register,
    string_to_scopes,
)
from oauthkit._errors import ConfigurationError, OAuthError
from oauthkit._flows import token_flow
from oauthkit._models import Request, Token
from oauthkit._protocol import rfc6749, rfc7523
from oauthkit._redact import fingerprint

__all__ = ["SERVICE_ACCOUNT", "ServiceAccountCredentials", "_JWTAccessCredentials"]

logger = logging.getLogger("oauthkit")

SERVICE_ACCOUNT = "service_account"
_PKCS12_KEY = "_private_key_pkcs12"
_OPTIONS = ("clock", "refresh_margin", "retry")


def _scrubbing(flow: _drivers.Flow[Token], secrets: list[str]) -> _drivers.Flow[Token]:
    """``flow``, with the assertions it sent removed from any error the server echoed."""
    try:
        return (yield from flow)
    except OAuthError as exc:
        exc.scrub(*secrets)
        raise


def _as_signer(signer: Any, private_key_id: str | None) -> _jwt.SigningKey | None:
    if signer is None or isinstance(signer, _jwt.SigningKey):
        return signer
    if isinstance(signer, (str, bytes)):
        return _jwt.load_private_key(signer, kid=private_key_id)
    raise ConfigurationError("signer must be a PEM private key or an oauthkit SigningKey")


_C = TypeVar("_C", bound="ServiceAccountCredentials")


@_register
class ServiceAccountCredentials(OAuth2Credentials):
    """Credentials of a service account (classic ``oauth2client.service_account``).

    ``signer`` is the private key: a PEM string or a parsed
    :class:`~oauthkit._jwt.SigningKey`. Extra keyword arguments are added to every
    assertion as claims (classic ``**kwargs``), except ``clock``, ``refresh_margin`` and
    ``retry``, which configure the credentials as for :class:`OAuth2Credentials`.

    Tokens come from ``token_uri`` (Google's by default, or the key file's) through the
    JWT-bearer grant (RFC 7523 §2.1): ``iss`` the service account, ``aud`` the token
    endpoint, ``scope``, ``sub`` when delegated, an hour at most (SECURITY.md C23).
    """

    MAX_TOKEN_LIFETIME_SECS = 3600
    _public_module = "oauthkit.service_account"

    def __init__(
        self,
        service_account_email: str,
        signer: Any,
        scopes: str | Iterable[str] = "",
        private_key_id: str | None = None,
        client_id: str | None = None,
        user_agent: str | None = None,
        token_uri: str = GOOGLE_TOKEN_URI,
        revoke_uri: str | None = GOOGLE_REVOKE_URI,
        **kwargs: Any,
    ) -> None:
        options = {k: kwargs.pop(k) for k in _OPTIONS if k in kwargs}
        super().__init__(
            None,
            client_id,
            None,
            None,
            None,
            token_uri,
            user_agent,
            revoke_uri=revoke_uri,
            scopes=scopes,
            **options,
        )
        self._service_account_email = service_account_email
        self._signer = _as_signer(signer, private_key_id)
        self._scopes = rfc6749.scopes_to_string(string_to_scopes(scopes)) or ""
        self._private_key_id = private_key_id
        self._user_agent = user_agent
        self._kwargs: dict[str, Any] = dict(kwargs)
        self._private_key_pkcs8_pem: str | None = signer if isinstance(signer, str) else None
        self._private_key_pkcs12: bytes | None = None
        self._private_key_password: str | None = None
        self._options = options

    # --- construction (classic factories) ---------------------------------------------------

    @classmethod
    def _from_parsed_json_keyfile(
        cls,
        keyfile_dict: Mapping[str, Any],
        scopes: str | Iterable[str],
        token_uri: str | None = None,
        revoke_uri: str | None = None,
        **kwargs: Any,
    ) -> ServiceAccountCredentials:
        if keyfile_dict.get("type") != SERVICE_ACCOUNT:
            raise ConfigurationError(
                f"expected a {SERVICE_ACCOUNT!r} key file, got type "
                f"{str(keyfile_dict.get('type'))[:40]!r}",
                error="unexpected_credentials_type",
            )
        try:
            email = keyfile_dict["client_email"]
            pem = keyfile_dict["private_key"]
            key_id = keyfile_dict["private_key_id"]
            client_id = keyfile_dict["client_id"]
        except KeyError as exc:
            raise ConfigurationError(f"the key file lacks {exc.args[0]!r}") from None
        token_uri = token_uri or keyfile_dict.get("token_uri") or GOOGLE_TOKEN_URI
        revoke_uri = revoke_uri or keyfile_dict.get("revoke_uri") or GOOGLE_REVOKE_URI
        signer = _jwt.load_private_key(pem, kid=key_id)
        creds = cls(
            email,
            signer,
            scopes=scopes,
            private_key_id=key_id,
            client_id=client_id,
            token_uri=token_uri,
            revoke_uri=revoke_uri,
            **kwargs,
        )
        creds._private_key_pkcs8_pem = pem
        return creds

    @classmethod
    def from_json_keyfile_name(
        cls,
        filename: str,
        scopes: str | Iterable[str] = "",
        token_uri: str | None = None,
        revoke_uri: str | None = None,
        **kwargs: Any,
    ) -> ServiceAccountCredentials:
        """Credentials from a Google JSON key file; its ``token_uri`` is honoured unless
        ``token_uri`` is given."""
        with open(filename, encoding="utf-8") as fh:
            try:
                data = json.load(fh)
            except ValueError:
                raise ConfigurationError("the key file is not JSON") from None
        if not isinstance(data, dict):
            raise ConfigurationError("the key file is not a JSON object")
        return cls._from_parsed_json_keyfile(data, scopes, token_uri, revoke_uri, **kwargs)

    @classmethod
    def from_json_keyfile_dict(
        cls,
        keyfile_dict: Mapping[str, Any],
        scopes: str | Iterable[str] = "",
        token_uri: str | None = None,
        revoke_uri: str | None = None,
        **kwargs: Any,
    ) -> ServiceAccountCredentials:
        """Credentials from a parsed Google JSON key file (its ``token_uri`` honoured)."""
        return cls._from_parsed_json_keyfile(keyfile_dict, scopes, token_uri, revoke_uri, **kwargs)

    @classmethod
    def _from_p12_keyfile_contents(
        cls,
        service_account_email: str,
        private_key_pkcs12: bytes,
        private_key_password: str | None = None,
        scopes: str | Iterable[str] = "",
        token_uri: str = GOOGLE_TOKEN_URI,
        revoke_uri: str | None = GOOGLE_REVOKE_URI,
    ) -> ServiceAccountCredentials:
        password = private_key_password or "notasecret"
        signer = _jwt.load_pkcs12(private_key_pkcs12, password)
        creds = cls(
            service_account_email, signer, scopes=scopes, token_uri=token_uri, revoke_uri=revoke_uri
        )
        creds._private_key_pkcs12 = private_key_pkcs12
        creds._private_key_password = password
        return creds

    @classmethod
    def from_p12_keyfile(
        cls,
        service_account_email: str,
        filename: str,
        private_key_password: str | None = None,
        scopes: str | Iterable[str] = "",
        token_uri: str = GOOGLE_TOKEN_URI,
        revoke_uri: str | None = GOOGLE_REVOKE_URI,
    ) -> ServiceAccountCredentials:
        """Credentials from a legacy PKCS#12 key file (password ``notasecret`` by default)."""
        with open(filename, "rb") as fh:
            contents = fh.read()
        return cls._from_p12_keyfile_contents(
            service_account_email, contents, private_key_password, scopes, token_uri, revoke_uri
        )

    @classmethod
    def from_p12_keyfile_buffer(
        cls,
        service_account_email: str,
        file_buffer: BinaryIO,
        private_key_password: str | None = None,
        scopes: str | Iterable[str] = "",
        token_uri: str = GOOGLE_TOKEN_URI,
        revoke_uri: str | None = GOOGLE_REVOKE_URI,
    ) -> ServiceAccountCredentials:
        """Credentials from a stream holding a PKCS#12 key file."""
        return cls._from_p12_keyfile_contents(
            service_account_email,
            file_buffer.read(),
            private_key_password,
            scopes,
            token_uri,
            revoke_uri,
        )

    # --- variants (copies; the original is never changed) ------------------------------------

    def _copy(
        self,
        *,
        scopes: str | Iterable[str] | None = None,
        claims: Mapping[str, Any] | None = None,
        drop_claims: Iterable[str] = (),
    ) -> ServiceAccountCredentials:
        kwargs = {k: v for k, v in self._kwargs.items() if k not in set(drop_claims)}
        if claims:
            kwargs.update(claims)
        result = ServiceAccountCredentials(
            self._service_account_email,
            self._signer,
            scopes=self._scopes if scopes is None else scopes,
            private_key_id=self._private_key_id,
            client_id=self.client_id,
            user_agent=self._user_agent,
            token_uri=self.token_uri or GOOGLE_TOKEN_URI,
            revoke_uri=self.revoke_uri,
            **kwargs,
            **self._options,
        )
        return self._carry_key(result)

    def _carry_key(self, result: _C) -> _C:
        """``result`` with this account's key material kept (for ``to_json`` on request)."""
        result._private_key_pkcs8_pem = self._private_key_pkcs8_pem
        result._private_key_pkcs12 = self._private_key_pkcs12
        result._private_key_password = self._private_key_password
        return result

    def create_scoped_required(self) -> bool:
        """True when no scope is set (classic)."""
        return not self._scopes

    def create_scoped(self, scopes: str | Iterable[str]) -> ServiceAccountCredentials:
        """A copy asking for ``scopes``."""
        return self._copy(scopes=scopes)

    def create_with_claims(self, claims: Mapping[str, Any]) -> ServiceAccountCredentials:
        """A copy whose assertions carry ``claims`` as well."""
        return self._copy(claims=claims)

    def create_delegated(self, sub: str) -> ServiceAccountCredentials:
        """A copy acting for the user ``sub`` (domain-wide delegation)."""
        return self._copy(claims={"sub": sub})

    def create_jwt_access(self, audience: str | None = None) -> _JWTAccessCredentials:
        """Self-signed JWT access credentials for the same account (no token endpoint):
        ``aud`` is ``audience`` (say ``https://pubsub.googleapis.com/``) or, without it,
        the ``scope`` claim carries the scopes, both forms Google accepts."""
        claims = dict(self._kwargs)
        if audience:
            claims["aud"] = audience
        result = _JWTAccessCredentials(
            self._service_account_email,
            self._signer,
            scopes=self._scopes,
            private_key_id=self._private_key_id,
            client_id=self.client_id,
            user_agent=self._user_agent,
            token_uri=self.token_uri or GOOGLE_TOKEN_URI,
            revoke_uri=self.revoke_uri,
            additional_claims=claims,
            **self._options,
        )
        return self._carry_key(result)

    # --- identity and signing -----------------------------------------------------------------

    @property
    def service_account_email(self) -> str:
        return self._service_account_email

    @property
    def serialization_data(self) -> dict[str, Any]:
        """The JSON key file this came from (classic; it holds the private key)."""
        return {
            "type": SERVICE_ACCOUNT,
            "client_email": self._service_account_email,
            "private_key_id": self._private_key_id,
            "private_key": self._private_key_pkcs8_pem,
            "client_id": self.client_id,
        }

    def _require_signer(self) -> _jwt.SigningKey:
        if self._signer is None:
            raise ConfigurationError(
                "these service-account credentials were stored without their private key; "
                "load them from the key file (or from_json(..., private_key=...))",
                error="no_private_key",
            )
        return self._signer

    def sign_blob(self, blob: bytes | str) -> tuple[str | None, bytes]:
        """Sign ``blob`` with the account's key: ``(private_key_id, signature)`` (classic)."""
        data = blob.encode("utf-8") if isinstance(blob, str) else blob
        return self._private_key_id, self._require_signer().sign(data)

    def _assertion_template(self) -> bytes:
        """The claims set of :meth:`_generate_assertion` as JSON with ``%d`` for ``iat`` and
        ``exp``: everything else is fixed per credentials, so it is serialized once (and
        again only if ``token_uri``, the scopes or the claims object are replaced)."""
        cached = self.__dict__.get("_template")
        if (
            cached is not None
            and cached[0] is self.token_uri
            and cached[1] is self._scopes
            and cached[2] is self._kwargs
        ):
            template: bytes = cached[3]
            return template
        claims = rfc7523.grant_assertion_claims(
            self._service_account_email,
            self.token_uri or GOOGLE_TOKEN_URI,
            datetime.datetime.fromtimestamp(0, datetime.timezone.utc),
            scope=self._scopes or None,
            lifetime=self.MAX_TOKEN_LIFETIME_SECS,
            extra=self._kwargs,
        )
        del claims["iat"], claims["exp"]
        rest = json.dumps(claims, separators=(",", ":")).replace("%", "%%")
        template = ('{"iat":%d,"exp":%d' + ("," + rest[1:] if claims else "}")).encode("utf-8")
        self._template = (self.token_uri, self._scopes, self._kwargs, template)
        return template

    def _generate_assertion(self) -> str:
        """A fresh grant assertion (RFC 7523 §2.1, §3): ``iss`` the account, ``aud`` the
        token endpoint, ``scope``, an hour of validity, the extra claims."""
        signer = self._require_signer()
        clock = self._clock
        iat = int(time.time()) if clock is SYSTEM_CLOCK else int(clock.now().timestamp())
        payload = self._assertion_template() % (iat, iat + self.MAX_TOKEN_LIFETIME_SECS)
        return signer.sign_payload(payload)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} email={self._service_account_email!r} "
            f"scopes={self._scopes!r} expiry={self.token_expiry!s} "
            f"access_token={fingerprint(self.access_token)}>"
        )

    # --- the grant ---------------------------------------------------------------------------

    def _refresh_flow(self) -> _drivers.Flow[Token]:
        token_uri = rfc6749.require_secure_endpoint(self.token_uri or "", "token_uri")
        self._require_signer()
        extra = {"user-agent": self.user_agent} if self.user_agent else None
        sent: list[str] = []

        def make_request() -> Request:
            assertion = self._generate_assertion()
            sent.append(assertion)
            return rfc7523.jwt_bearer_request(token_uri, assertion, extra_headers=extra)

        return _scrubbing(token_flow(make_request, self._clock, self._retry), sent)

    # --- pickling and JSON -------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_signer", None)
        material = self._private_key_pkcs8_pem or self._private_key_pkcs12
        if material is None and self._signer is not None:
            raise TypeError("credentials built from a SigningKey object do not pickle")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._signer = self._signer_from_material(
            self._private_key_pkcs8_pem,
            self._private_key_pkcs12,
            self._private_key_password,
            self._private_key_id,
        )

    @staticmethod
    def _signer_from_material(
        pem: str | None, pkcs12: bytes | None, password: str | None, kid: str | None
    ) -> _jwt.SigningKey | None:
        if pem:
            return _jwt.load_private_key(pem, kid=kid)
        if pkcs12:
            return _jwt.load_pkcs12(pkcs12, password or "notasecret", kid=kid)
        return None

    def to_json(self, include_private_key: bool = False) -> str:
        """The credentials as oauth2client's JSON (``_class``/``_module`` and attributes).

        The private key is left out unless ``include_private_key`` is true (then the JSON
        also loads in oauth2client): a store then holds only the cached access token and
        the account's identity; :meth:`from_json` takes the key back as ``private_key``.
        """
        expiry = self.token_expiry
        data: dict[str, Any] = {
            "access_token": self.access_token,
            "client_id": self.client_id,
            "client_secret": None,
            "refresh_token": None,
            "token_expiry": utc(expiry).strftime(EXPIRY_FORMAT) if expiry else None,
            "token_uri": self.token_uri,
            "user_agent": self.user_agent,
            "revoke_uri": self.revoke_uri,
            "id_token": None,
            "id_token_jwt": None,
            "token_response": self.token_response,
            "scopes": sorted(self.scopes),
            "token_info_uri": self.token_info_uri,
            "invalid": self.invalid,
            "assertion_type": None,
            "_service_account_email": self._service_account_email,
            "_scopes": self._scopes,
            "_private_key_id": self._private_key_id,
            "_user_agent": self._user_agent,
            "_kwargs": self._kwargs,
            "_class": type(self).__name__,
            "_module": self._public_module,
        }
        if include_private_key:
            if self._private_key_pkcs12 is not None:
                data[_PKCS12_KEY] = base64.b64encode(self._private_key_pkcs12).decode("ascii")
                data["_private_key_password"] = self._private_key_password
            elif self._private_key_pkcs8_pem is not None:
                data["_private_key_pkcs8_pem"] = self._private_key_pkcs8_pem
            else:
                raise ConfigurationError("these credentials hold no serializable private key")
        return json.dumps(data)

    @classmethod
    def from_json(
        cls, json_data: str | bytes | Mapping[str, Any], private_key: str | None = None
    ) -> ServiceAccountCredentials:
        """Credentials from :meth:`to_json` output or oauth2client's JSON (with its key).
        ``private_key`` (PEM) supplies the key when the JSON was stored without one."""
        data = _load_json(json_data)
        pem = private_key or data.get("_private_key_pkcs8_pem")
        p12_text = data.get(_PKCS12_KEY)
        p12 = base64.b64decode(p12_text) if isinstance(p12_text, str) and not pem else None
        password = data.get("_private_key_password")
        try:
            key_id = data.get("_private_key_id")
            signer = cls._signer_from_material(pem, p12, password, key_id)
            kwargs = data.get("_kwargs") or {}
            if not isinstance(kwargs, dict):
                raise ConfigurationError("credentials JSON _kwargs is not an object")
            creds = cls(
                data["_service_account_email"],
                signer,
                scopes=data.get("_scopes") or "",
                private_key_id=key_id,
                client_id=data.get("client_id"),
                user_agent=data.get("_user_agent"),
                token_uri=data.get("token_uri") or GOOGLE_TOKEN_URI,
                revoke_uri=data.get("revoke_uri"),
                **{k: v for k, v in kwargs.items() if k not in _OPTIONS},
            )
        except KeyError as exc:
            raise ConfigurationError(
                f"credentials JSON lacks {exc.args[0]!r}", error="corrupt_credentials"
            ) from None
        creds._private_key_pkcs8_pem = pem if isinstance(pem, str) else None
        creds._private_key_pkcs12 = p12
        creds._private_key_password = password if p12 else None
        creds.access_token = data.get("access_token")
        creds.token_expiry = _parse_expiry(data.get("token_expiry"))
        creds.invalid = bool(data.get("invalid", False))
        if isinstance(data.get("token_response"), dict):
            creds.token_response = dict(data["token_response"])
        return creds


@_register
class _JWTAccessCredentials(ServiceAccountCredentials):
    """Self-signed JWT access credentials (classic): the service account signs its own
    bearer token (``iss`` = ``sub`` = the account, ``aud`` or ``scope``, one hour) and no
    token endpoint is involved. Google APIs accept these directly."""

    _MAX_TOKEN_LIFETIME_SECS = 3600

    def __init__(
        self,
        service_account_email: str,
        signer: Any,
        scopes: str | Iterable[str] | None = None,
        private_key_id: str | None = None,
        client_id: str | None = None,
        user_agent: str | None = None,
        token_uri: str = GOOGLE_TOKEN_URI,
        revoke_uri: str | None = GOOGLE_REVOKE_URI,
        additional_claims: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            service_account_email,
            signer,
            scopes=scopes or "",
            private_key_id=private_key_id,
            client_id=client_id,
            user_agent=user_agent,
            token_uri=token_uri,
            revoke_uri=revoke_uri,
            **dict(additional_claims or {}),
            **options,  # clock/refresh_margin/retry configure; any other is a claim
        )

    def create_scoped_required(self) -> bool:
        return False

    def _create_token(
        self, additional_claims: Mapping[str, Any] | None = None
    ) -> tuple[str, datetime.datetime]:
        now = self._clock.now()
        lifetime = datetime.timedelta(seconds=self._MAX_TOKEN_LIFETIME_SECS)
        email = self._service_account_email
        iat = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": email,
            "sub": email,
            "iat": iat,
            "exp": iat + self._MAX_TOKEN_LIFETIME_SECS,
        }
        if self._scopes and "aud" not in self._kwargs:
            claims["scope"] = self._scopes
        claims.update({k: v for k, v in self._kwargs.items() if k not in ("iat", "exp")})
        if additional_claims:
            claims.update(additional_claims)
        return self._require_signer().sign_jwt(claims), now + lifetime

    def _refresh_flow(self) -> _drivers.Flow[Token]:
        token, expiry = self._create_token()
        return Token(token, "Bearer", expires_at=expiry)
        yield  # a flow that needs no request  # pragma: no cover

    def _refresh(self, http: Any) -> None:
        token, expiry = self._create_token()
        self._adopt_token(Token(token, "Bearer", expires_at=expiry))

    def get_access_token(
        self, http: Any = None, additional_claims: Mapping[str, Any] | None = None
    ) -> Any:
        """The cached self-signed token, re-signed near expiry; with ``additional_claims``,
        a one-time token carrying them (classic)."""
        if additional_claims is None:
            return super().get_access_token(http)
        from oauthkit._credentials import AccessTokenInfo

        token, _expiry = self._create_token(additional_claims)
        return AccessTokenInfo(access_token=token, expires_in=self._MAX_TOKEN_LIFETIME_SECS)

    def revoke(self, http: Any = None) -> None:
        """Self-signed tokens cannot be revoked (classic: a no-op)."""

    def create_scoped(self, scopes: str | Iterable[str]) -> ServiceAccountCredentials:
        """OAuth 2.0 service-account credentials with ``scopes`` (classic)."""
        return self._copy(scopes=scopes, drop_claims=("aud",))
