"""The authorization-code flow for web and installed apps (classic ``OAuth2WebServerFlow``).

Secure by default: PKCE ``S256`` on every flow (RFC 7636; RFC 9700 §2.1.1), a fresh
``state`` bound to the flow and compared in constant time (RFC 6749 §10.12), ``iss``
checked when the server sends it (RFC 9207), a ``nonce`` when ``openid`` is requested,
repeated parameters refused (RFC 6749 §3.1), https endpoints except on loopback.

A flow is a plain object: it pickles (the classic way to keep it between the two steps)
and round-trips through JSON (:meth:`to_json`, :meth:`from_json`) for apps that must not
unpickle session data.
"""

from __future__ import annotations

import collections
import datetime
import hmac
import json
import logging
import secrets
import sys
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from oauthkit import _drivers, clientsecrets
from oauthkit._clock import SYSTEM_CLOCK, Clock
from oauthkit._credentials import (
    GOOGLE_AUTH_URI,
    GOOGLE_DEVICE_URI,
    GOOGLE_REVOKE_URI,
    GOOGLE_TOKEN_INFO_URI,
    GOOGLE_TOKEN_URI,
    OAuth2Credentials,
    _coerce_signing_key,
    _jwt_payload,
    string_to_scopes,
)
from oauthkit._discovery import JwksCache
from oauthkit._errors import (
    AuthorizationError,
    ConfigurationError,
    FlowExchangeError,
    IdTokenError,
    OAuthError,
    UnknownClientSecretsFlowError,
    in_context,
)
from oauthkit._flows import token_flow
from oauthkit._idtoken import IdTokenVerifier
from oauthkit._models import Request
from oauthkit._protocol import oidc, rfc6749, rfc7636, rfc8628, rfc9207

__all__ = [
    "DeviceFlowInfo",
    "Flow",
    "OAuth2WebServerFlow",
    "credentials_from_clientsecrets_and_code",
    "credentials_from_code",
    "flow_from_clientsecrets",
]

logger = logging.getLogger("oauthkit")

# Keyword arguments of OAuth2WebServerFlow that configure oauthkit itself; every other
# extra keyword becomes an authorization request parameter (classic behaviour).
_OPTIONS = (
    "issuer",
    "token_endpoint_auth_method",
    "client_signing_key",
    "allow_insecure_redirect",
    "require_iss",
    "clock",
    "jwks_uri",
    "id_token_algorithms",
    "max_age",
    "require_acr",
)

_JSON_FIELDS = (
    "client_id",
    "scope",
    "redirect_uri",
    "user_agent",
    "auth_uri",
    "token_uri",
    "revoke_uri",
    "login_hint",
    "device_uri",
    "token_info_uri",
    "authorization_header",
    "params",
    "pkce",
    "code_verifier",
    "state",
    "nonce",
    "issuer",
    "token_endpoint_auth_method",
    "allow_insecure_redirect",
    "require_iss",
    "jwks_uri",
    "id_token_algorithms",
    "max_age",
    "require_acr",
)


class DeviceFlowInfo(
    collections.namedtuple(
        "DeviceFlowInfo",
        ("device_code", "user_code", "interval", "verification_url", "user_code_expiry"),
    )
):
    """(classic) What the device authorization endpoint answered (RFC 8628 §3.2)."""

    __slots__ = ()

    def __repr__(self) -> str:  # the device code is a bearer secret until used
        return (
            f"DeviceFlowInfo(user_code={self.user_code!r}, "
            f"verification_url={self.verification_url!r})"
        )


class Flow:
    """Base class of flows (classic)."""


def _is_google(uri: str) -> bool:
    return (urlsplit(uri).hostname or "").endswith("accounts.google.com")


def _redirect_params(code: Any) -> dict[str, str]:
    """Parameters of an authorization response given as a mapping (a dict, Django's
    QueryDict, Werkzeug's MultiDict) or a full redirect URL. Repeats are refused."""
    if isinstance(code, str):
        return rfc6749.query_params(urlsplit(code).query)
    out: dict[str, str] = {}
    getlist = getattr(code, "getlist", None)
    for key in list(code.keys()):
        values: Any = getlist(key) if callable(getlist) else code[key]
        if isinstance(values, (list, tuple)):
            if len(values) != 1:
                raise AuthorizationError(
                    f"parameter {str(key)[:40]!r} appears more than once in the authorization "
                    "response",
                    error="invalid_authorization_response",
                )
            values = values[0]
        if isinstance(values, bytes):
            values = values.decode("utf-8", "replace")
        out[str(key)] = str(values)
    return out


def _max_age_option(value: Any) -> int | None:
    """``max_age`` as whole seconds >= 0 (OIDC Core §3.1.2.1)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError("max_age must be a whole number of seconds >= 0")
    return value


def _require_acr_option(value: Any) -> list[str] | None:
    """``require_acr`` as a list of ``acr`` values (a space-separated string or strings)."""
    if not value:
        return None
    values = value.split() if isinstance(value, str) else list(value)
    if not all(isinstance(v, str) and v for v in values):
        raise ConfigurationError("require_acr must be acr values (strings)")
    return values


def _looks_like_redirect_url(code: str) -> bool:
    return code.startswith(("http://", "https://")) and "?" in code


class OAuth2WebServerFlow(Flow):
    """The authorization-code flow, for web servers and installed apps alike.

    ``scope`` is a string or a list. Endpoints default to Google's; pass ``auth_uri`` and
    ``token_uri`` (and ``revoke_uri``) for any other provider. Extra keyword arguments are
    sent as authorization request parameters (``prompt='consent'``, ``access_type=...``;
    a value of ``None`` removes a default), except these, which configure the flow:

    - ``issuer``: the authorization server's issuer identifier; the ``iss`` of the
      authorization response must equal it (RFC 9207);
    - ``require_iss``: refuse responses without ``iss`` (the server's metadata says
      ``authorization_response_iss_parameter_supported``);
    - ``token_endpoint_auth_method``: ``client_secret_basic`` (default with a secret),
      ``client_secret_post``, ``client_secret_jwt`` (an HS256 assertion keyed with the
      secret), ``private_key_jwt`` (default with ``client_signing_key``) or ``none``. The
      JWT methods (RFC 7523 §2.2) need ``issuer``: it is the assertion's ``aud``;
    - ``client_signing_key``: the ``private_key_jwt`` key, a
      :class:`~oauthkit._jwt.SigningKey` or a PEM private key. It is never serialized nor
      pickled: give it back to :meth:`from_json` (``client_signing_key=``) or set
      ``flow.client_signing_key`` after unpickling. The credentials the flow creates keep
      the method, ``issuer`` and the key, and refresh and revoke with them;
    - ``allow_insecure_redirect``: allow an ``http`` redirect URI on a non-loopback host
      (local development only);
    - ``clock``: an injected clock (tests);
    - ``jwks_uri``: the issuer's JWK Set; with ``issuer``, every ID token (from the code
      exchange and from later refreshes) is validated against it (OIDC Core §3.1.3.7,
      §12.2): signature, ``iss``, ``aud``/``azp``, ``exp``/``iat``/``nbf``, ``nonce``,
      ``at_hash``. Without it only the ``nonce`` of the unverified payload is checked;
    - ``id_token_algorithms``: the JWS algorithms allowed for ID tokens (default
      ``["RS256"]``, OIDC Core §3.1.3.7 step 7; ``none`` is never allowed);
    - ``max_age``: seconds; sent as ``max_age`` (OIDC Core §3.1.2.1, needs ``openid``).
      The ID token of the code exchange must then carry ``auth_time`` no older than
      ``max_age`` (plus the verifier's leeway), else :class:`IdTokenError`
      (``missing_auth_time``, ``invalid_auth_time``, ``auth_time_too_old``; §3.1.3.7 item
      13): start a new flow to make the user authenticate again;
    - ``require_acr``: the Authentication Context Class References this client accepts;
      sent as ``acr_values`` (unless ``acr_values`` is given) and the ID token's ``acr``
      must be one of them, else :class:`IdTokenError` (``acr_not_accepted``; §3.1.3.7
      item 12). Without it ``acr_values`` is only a request and the claims are the app's
      to judge (the server MAY answer with another class).

    ``pkce`` is on by default (``S256``); ``pkce=False`` is for providers that reject it.
    ``authorization_header`` (classic) is sent as the token request's Authorization header
    instead of the client's own authentication.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        scope: str | Iterable[str] | None = None,
        redirect_uri: str | None = None,
        user_agent: str | None = None,
        auth_uri: str = GOOGLE_AUTH_URI,
        token_uri: str = GOOGLE_TOKEN_URI,
        revoke_uri: str | None = GOOGLE_REVOKE_URI,
        login_hint: str | None = None,
        device_uri: str | None = GOOGLE_DEVICE_URI,
        token_info_uri: str | None = GOOGLE_TOKEN_INFO_URI,
        authorization_header: str | None = None,
        pkce: bool | None = True,
        code_verifier: str | None = None,
        **kwargs: Any,
    ) -> None:
        if scope is None:
            raise ConfigurationError("The value of scope must not be None")
        if not isinstance(client_id, str) or not client_id:
            raise ConfigurationError("client_id is missing")
        options = {k: kwargs.pop(k) for k in _OPTIONS if k in kwargs}
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = rfc6749.scopes_to_string(string_to_scopes(scope)) or ""
        self.redirect_uri = redirect_uri
        self.login_hint = login_hint
        self.user_agent = user_agent
        self.auth_uri = rfc6749.require_secure_endpoint(auth_uri, "auth_uri")
        self.token_uri = rfc6749.require_secure_endpoint(token_uri, "token_uri")
        self.revoke_uri = revoke_uri
        self.device_uri = device_uri
        self.token_info_uri = token_info_uri
        self.authorization_header = authorization_header
        self.pkce = pkce is not False
        self.code_verifier = (
            rfc7636.validate_code_verifier(code_verifier) if code_verifier else None
        )
        self.issuer: str | None = options.get("issuer")
        self.require_iss = bool(options.get("require_iss", False))
        self.token_endpoint_auth_method: str | None = options.get("token_endpoint_auth_method")
        self.client_signing_key = _coerce_signing_key(options.get("client_signing_key"))
        if self.token_endpoint_auth_method is None and self.client_signing_key is not None:
            self.token_endpoint_auth_method = "private_key_jwt"  # kept in JSON and pickles
        self.allow_insecure_redirect = bool(options.get("allow_insecure_redirect", False))
        self.jwks_uri: str | None = options.get("jwks_uri")
        self.id_token_algorithms: list[str] | None = (
            list(options["id_token_algorithms"]) if options.get("id_token_algorithms") else None
        )
        self.max_age = _max_age_option(options.get("max_age"))
        self.require_acr = _require_acr_option(options.get("require_acr"))
        if (self.max_age is not None or self.require_acr) and "openid" not in self.scope.split():
            raise ConfigurationError("max_age and require_acr need the openid scope (an ID token)")
        if self.require_acr and "acr_values" not in kwargs:
            kwargs["acr_values"] = " ".join(self.require_acr)
        self.state: str | None = None
        self.nonce: str | None = None
        self._clock: Clock = options.get("clock") or SYSTEM_CLOCK
        self.params = self._initial_params(kwargs)
        # fail now, not at the token endpoint, if the client cannot authenticate as told
        self._client_auth()

    def _initial_params(self, kwargs: dict[str, Any]) -> dict[str, str]:
        params: dict[str, Any] = {"response_type": "code"}
        if _is_google(self.auth_uri):
            params["access_type"] = "offline"
        params.update(kwargs)
        approval = params.pop("approval_prompt", None)
        if approval == "force":
            params["prompt"] = "consent"
        return {k: str(v) for k, v in params.items() if v is not None}

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} client_id={self.client_id!r} scope={self.scope!r} "
            f"auth_uri={self.auth_uri!r} pkce={self.pkce}>"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("client_signing_key", None)  # never pickled: a private key
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("_clock", SYSTEM_CLOCK)
        state.setdefault("max_age", None)  # pickled before these options existed
        state.setdefault("require_acr", None)
        self.__dict__.update(state)
        self.client_signing_key = None

    def _client_auth(self) -> rfc6749.ClientAuth:
        method = self.token_endpoint_auth_method
        key = _coerce_signing_key(getattr(self, "client_signing_key", None))
        if method is None and not self.client_secret:
            method = "none"
        if method in ("private_key_jwt", "client_secret_jwt") and not self.issuer:
            raise ConfigurationError(
                f"{method} needs issuer= (the authorization server's issuer identifier, "
                "the assertion audience)"
            )
        if method == "private_key_jwt" and key is None:
            raise ConfigurationError(
                "private_key_jwt needs client_signing_key= (it is never serialized or "
                "pickled: pass it to from_json or set flow.client_signing_key)"
            )
        return rfc6749.ClientAuth(
            self.client_id,
            self.client_secret,
            method,
            signing_key=key,
            audience=self.issuer,
            clock=self._clock,
        )

    # --- step 1 ---------------------------------------------------------------------------

    def step1_get_authorize_url(
        self, redirect_uri: str | None = None, state: str | None = None
    ) -> str:
        """The URL to send the user to (RFC 6749 §4.1.1).

        A fresh ``state`` is generated unless one is given; it, the PKCE verifier and the
        nonce are kept on the flow for :meth:`step2_exchange`, so keep the flow (pickle or
        :meth:`to_json`) between the two steps.
        """
        if redirect_uri is not None:
            self.redirect_uri = redirect_uri
        if self.redirect_uri is None:
            raise ConfigurationError("The value of redirect_uri must not be None.")
        rfc6749.require_safe_redirect_uri(
            self.redirect_uri, allow_insecure=self.allow_insecure_redirect
        )
        self.state = state if state is not None else secrets.token_urlsafe(32)
        query: dict[str, str | None] = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
        }
        query.update(self.params)
        query["state"] = self.state
        if self.login_hint is not None:
            query["login_hint"] = self.login_hint
        if self.pkce:
            if not self.code_verifier:
                self.code_verifier = rfc7636.generate_code_verifier()
            query["code_challenge"] = rfc7636.code_challenge(self.code_verifier)
            query["code_challenge_method"] = rfc7636.METHOD
        if "openid" in self.scope.split():
            self.nonce = secrets.token_urlsafe(32)
            query["nonce"] = self.nonce
        if self.max_age is not None:
            query["max_age"] = str(self.max_age)
        return rfc6749.authorization_url(self.auth_uri, query)

    # --- device grant (RFC 8628) ------------------------------------------------------------

    def step1_get_device_and_user_codes(self, http: Any = None) -> DeviceFlowInfo:
        """Start the device grant (RFC 8628 §3.1): returns the user code and the URL the user
        must visit; pass the result to :meth:`step2_exchange` as ``device_flow_info``."""
        uri = rfc6749.require_secure_endpoint(self.device_uri or "", "device_uri")
        request = rfc8628.device_authorization_request(uri, self.scope, self._client_auth())
        try:
            response = _drivers.to_transport(http).send(request)
            info = rfc8628.parse_device_authorization(response, self._clock.now())
        except OAuthError as exc:
            raise in_context(exc, FlowExchangeError) from exc.__cause__
        return DeviceFlowInfo(
            info.device_code,
            info.user_code,
            info.interval,
            info.verification_uri_complete or info.verification_uri,
            info.expires_at,
        )

    # --- step 2 -----------------------------------------------------------------------------

    def _code_from(self, code: Any) -> str:
        if isinstance(code, bytes):
            code = code.decode("utf-8")
        if isinstance(code, str) and not _looks_like_redirect_url(code):
            return code
        params = _redirect_params(code)
        expected_state, self.state = self.state, None  # single use (RFC 9700 §4.7.1)
        if expected_state is None:
            raise AuthorizationError(
                "this flow did not start an authorization (or already used its state): keep "
                "the flow between step 1 and step 2",
                error="state_mismatch",
            )
        rfc9207.check_issuer(params, self.issuer, required=self.require_iss)
        return rfc6749.parse_authorization_response(params, expected_state)

    def step2_exchange(
        self,
        code: str | Mapping[str, Any] | None = None,
        http: Any = None,
        device_flow_info: DeviceFlowInfo | None = None,
    ) -> OAuth2Credentials:
        """Exchange the authorization code for credentials (RFC 6749 §4.1.3).

        ``code`` is the code string, the redirect's query parameters (a dict, QueryDict,
        MultiDict) or the full redirect URL. Given parameters or a URL, ``state`` (and
        ``iss``) are checked first and an ``error=`` there raises :class:`FlowExchangeError`
        (also an :class:`AuthorizationError`) with the provider's ``error`` and
        ``description``. Token endpoint failures raise :class:`FlowExchangeError`
        combined with the §5.2 error class (``InvalidGrantError``...).

        With ``device_flow_info`` instead, polls the token endpoint once (RFC 8628 §3.4);
        ``authorization_pending`` raises (poll again after ``interval``).
        """
        if code is None and device_flow_info is None:
            raise ConfigurationError("No code or device_flow_info provided.")
        if code is not None and device_flow_info is not None:
            raise ConfigurationError("Cannot provide both code and device_flow_info.")
        auth_code: str | None = None
        try:
            if device_flow_info is not None:
                device_code = device_flow_info.device_code
                client = self._client_auth()

                def make_request() -> Request:
                    return rfc8628.device_token_request(self.token_uri, device_code, client)
            else:
                auth_code = self._code_from(code)
                make_request = self._code_request(auth_code)
            token = _drivers.run(
                token_flow(make_request, self._clock), _drivers.to_transport(http), self._clock
            )
            credentials = self._credentials(token, http, authorization=device_flow_info is None)
        except ConfigurationError:
            raise
        except OAuthError as exc:
            exc.scrub(self.client_secret, self.code_verifier, auth_code)
            logger.info("code exchange failed: %s", exc.error)
            raise in_context(exc, FlowExchangeError) from exc.__cause__
        if not credentials.refresh_token:
            logger.info(
                "token response has no refresh_token; ask for offline access "
                "with prompt=consent to get one"
            )
        return credentials

    def _code_request(self, code: str) -> Any:
        if self.pkce and not self.code_verifier:
            raise ConfigurationError(
                "this flow has no PKCE code_verifier: call step1_get_authorize_url on the same "
                "flow (keep it between the steps) or pass code_verifier"
            )
        client = self._client_auth()
        extra_headers: dict[str, str] = {}
        if self.user_agent:
            extra_headers["user-agent"] = self.user_agent
        if self.authorization_header is not None:
            extra_headers["authorization"] = self.authorization_header
        verifier = self.code_verifier if self.pkce else None
        redirect_uri = self.redirect_uri

        def make_request() -> Request:
            request = rfc6749.authorization_code_request(
                self.token_uri,
                code,
                redirect_uri,
                client,
                verifier,
                extra_headers=extra_headers,
            )
            if self.authorization_header is not None:  # classic: replaces client auth
                headers = dict(request.headers)
                headers["authorization"] = self.authorization_header
                return Request(request.method, request.url, headers, request.body)
            return request

        return make_request

    def _id_token_verifier(self, http: Any) -> IdTokenVerifier | None:
        if not (self.issuer and self.jwks_uri):
            return None
        jwks = JwksCache(self.jwks_uri, http, clock=self._clock)
        return IdTokenVerifier(
            self.issuer,
            self.client_id,
            jwks,
            algorithms=self.id_token_algorithms or ("RS256",),
            client_secret=self.client_secret,
            clock=self._clock,
        )

    def _credentials(
        self, token: Any, http: Any = None, *, authorization: bool = False
    ) -> OAuth2Credentials:
        """Credentials from the token response, its ID token validated first.

        With ``issuer`` and ``jwks_uri`` known, the ID token is validated fully
        (:class:`IdTokenVerifier`: OIDC Core §3.1.3.7, SECURITY.md C29-C35, C42), the
        nonce sent in step 1 included; otherwise only its nonce is compared. When
        ``openid`` was requested (a nonce was sent) the ID token is required (OIDC Core
        §3.1.3.3). ``max_age`` and ``require_acr`` are checked here, when they were sent
        (``authorization``: an authorization-code exchange, not the device grant), and
        never on refresh: a refreshed ID token keeps the original ``auth_time`` (§12.2).
        Raises :class:`IdTokenError` naming the failed check."""
        id_token = None
        verifier = self._id_token_verifier(http)
        if self.nonce is not None and not token.id_token:
            raise IdTokenError(
                "openid was requested but the token response has no ID token",
                error="missing_id_token",
            )
        max_age = (
            datetime.timedelta(seconds=self.max_age)
            if authorization and self.max_age is not None
            else None
        )
        require_acr = self.require_acr if authorization else None
        if token.id_token and verifier is not None:
            id_token = verifier.verify(
                token.id_token,
                nonce=self.nonce,
                access_token=token.access_token,
                http=http,
                max_age=max_age,
            )
        elif token.id_token:
            id_token = _jwt_payload(token.id_token)
            if self.nonce is not None and id_token is not None:
                got = id_token.get("nonce")
                if not isinstance(got, str) or not hmac.compare_digest(
                    got.encode("utf-8"), self.nonce.encode("utf-8")
                ):
                    raise IdTokenError(
                        "the ID token's nonce does not match this flow", error="nonce_mismatch"
                    )
            if max_age is not None and id_token is not None:
                oidc.check_auth_time(id_token, max_age, now=self._clock.now())
        if (max_age is not None or require_acr) and id_token is None:
            raise IdTokenError(
                "max_age or require_acr was set but the token response has no ID token",
                error="missing_id_token",
            )
        if require_acr and id_token is not None:
            oidc.check_acr(id_token, require_acr)
        scopes = token.scope if token.scope is not None else self.scope
        credentials = OAuth2Credentials(
            token.access_token,
            self.client_id,
            self.client_secret,
            token.refresh_token,
            token.expires_at,
            self.token_uri,
            self.user_agent,
            revoke_uri=self.revoke_uri,
            id_token=id_token,
            id_token_jwt=token.id_token,
            token_response=dict(token.raw),
            scopes=scopes,
            token_info_uri=self.token_info_uri,
            token_endpoint_auth_method=self.token_endpoint_auth_method,
            clock=self._clock,
            id_token_verifier=verifier,
            issuer=self.issuer,
            client_signing_key=_coerce_signing_key(self.client_signing_key),
        )
        credentials._adopt_token(token)
        return credentials

    # --- JSON -------------------------------------------------------------------------------

    def to_json(self, include_client_secret: bool = False) -> str:
        """The flow, mid-flight included (state, PKCE verifier, nonce, redirect URI), as JSON.

        The client secret is left out unless asked for: sessions are often cookies. Give it
        back to :meth:`from_json`. The ``private_key_jwt`` signing key is never included.
        """
        data = {name: getattr(self, name) for name in _JSON_FIELDS}
        if include_client_secret:
            data["client_secret"] = self.client_secret
        data["_class"] = type(self).__name__
        return json.dumps(data)

    @classmethod
    def from_json(
        cls,
        data: str | bytes | Mapping[str, Any],
        client_secret: str | None = None,
        client_signing_key: Any = None,
    ) -> OAuth2WebServerFlow:
        """A flow from :meth:`to_json` output; nothing in it is imported or executed.

        ``client_secret`` and ``client_signing_key`` (``private_key_jwt``) are given back
        here when they were not serialized."""
        try:
            obj = json.loads(data) if isinstance(data, (str, bytes)) else dict(data)
        except ValueError:
            raise ConfigurationError("flow JSON is corrupt") from None
        if not isinstance(obj, dict) or obj.get("_class") != "OAuth2WebServerFlow":
            raise ConfigurationError("not a serialized OAuth2WebServerFlow")
        try:
            params = obj["params"]
            flow = cls(
                obj["client_id"],
                client_secret or obj.get("client_secret"),
                obj["scope"],
                redirect_uri=obj["redirect_uri"],
                user_agent=obj["user_agent"],
                auth_uri=obj["auth_uri"],
                token_uri=obj["token_uri"],
                revoke_uri=obj["revoke_uri"],
                login_hint=obj["login_hint"],
                device_uri=obj["device_uri"],
                token_info_uri=obj["token_info_uri"],
                authorization_header=obj["authorization_header"],
                pkce=obj["pkce"],
                code_verifier=obj["code_verifier"],
                issuer=obj["issuer"],
                require_iss=obj["require_iss"],
                token_endpoint_auth_method=obj["token_endpoint_auth_method"],
                client_signing_key=client_signing_key,
                allow_insecure_redirect=obj["allow_insecure_redirect"],
                jwks_uri=obj.get("jwks_uri"),
                id_token_algorithms=obj.get("id_token_algorithms"),
                max_age=obj.get("max_age"),
                require_acr=obj.get("require_acr"),
            )
        except (KeyError, TypeError) as exc:
            raise ConfigurationError(f"flow JSON lacks {exc}") from None
        if not isinstance(params, dict):
            raise ConfigurationError("flow JSON params is not an object")
        flow.params = {str(k): str(v) for k, v in params.items()}
        flow.state = obj.get("state")
        flow.nonce = obj.get("nonce")
        return flow


def flow_from_clientsecrets(
    filename: str,
    scope: str | Iterable[str],
    redirect_uri: str | None = None,
    message: str | None = None,
    cache: Any = None,
    login_hint: str | None = None,
    device_uri: str | None = None,
    pkce: bool | None = None,
    code_verifier: str | None = None,
    prompt: str | None = None,
    *,
    client_signing_key: Any = None,
    max_age: int | None = None,
) -> OAuth2WebServerFlow:
    """A flow from a ``client_secrets.json`` file (classic).

    The file's optional ``issuer`` and ``token_endpoint_auth_method`` configure the flow;
    ``client_signing_key`` is the ``private_key_jwt`` key (a key is never read from the
    file: :class:`OAuth2WebServerFlow` says how it is kept), and ``prompt`` and
    ``max_age`` are passed to the flow as well.

    Raises :class:`InvalidClientSecretsError` for a bad file — or, when ``message`` is
    given, prints it and exits (classic behaviour for command-line tools) — and
    :class:`UnknownClientSecretsFlowError` for a client type without a flow.
    """
    try:
        client_type, info = clientsecrets.loadfile(filename, cache=cache)
    except clientsecrets.InvalidClientSecretsError as exc:
        if message is not None:
            sys.exit(f"The client secrets were invalid: \n{exc}\n{message}")
        raise
    if client_type not in (clientsecrets.TYPE_WEB, clientsecrets.TYPE_INSTALLED):
        raise UnknownClientSecretsFlowError(f"This OAuth 2.0 flow is unsupported: {client_type!r}")
    kwargs: dict[str, Any] = {
        "redirect_uri": redirect_uri,
        "auth_uri": info["auth_uri"],
        "token_uri": info["token_uri"],
        "login_hint": login_hint,
        "revoke_uri": info.get("revoke_uri"),
        "token_info_uri": info.get("token_info_uri"),
        "device_uri": device_uri or info.get("device_uri"),
    }
    for name in ("issuer", "token_endpoint_auth_method"):
        if info.get(name):
            kwargs[name] = info[name]
    if pkce is not None:
        kwargs["pkce"] = pkce
    if code_verifier is not None:
        kwargs["code_verifier"] = code_verifier
    if prompt is not None:
        kwargs["prompt"] = prompt
    if client_signing_key is not None:
        kwargs["client_signing_key"] = client_signing_key
    if max_age is not None:
        kwargs["max_age"] = max_age
    return OAuth2WebServerFlow(info["client_id"], info.get("client_secret"), scope, **kwargs)


def credentials_from_code(
    client_id: str,
    client_secret: str | None,
    scope: str | Iterable[str],
    code: str,
    redirect_uri: str = "postmessage",
    http: Any = None,
    user_agent: str | None = None,
    token_uri: str = GOOGLE_TOKEN_URI,
    auth_uri: str = GOOGLE_AUTH_URI,
    revoke_uri: str | None = GOOGLE_REVOKE_URI,
    device_uri: str | None = GOOGLE_DEVICE_URI,
    token_info_uri: str | None = GOOGLE_TOKEN_INFO_URI,
    pkce: bool = False,
    code_verifier: str | None = None,
) -> OAuth2Credentials:
    """Exchange a code obtained elsewhere (say by a JavaScript client) for credentials."""
    flow = OAuth2WebServerFlow(
        client_id,
        client_secret,
        scope,
        redirect_uri=redirect_uri,
        user_agent=user_agent,
        auth_uri=auth_uri,
        token_uri=token_uri,
        revoke_uri=revoke_uri,
        device_uri=device_uri,
        token_info_uri=token_info_uri,
        pkce=pkce,
        code_verifier=code_verifier,
    )
    return flow.step2_exchange(code, http=http)


def credentials_from_clientsecrets_and_code(
    filename: str,
    scope: str | Iterable[str],
    code: str,
    message: str | None = None,
    redirect_uri: str = "postmessage",
    http: Any = None,
    cache: Any = None,
    device_uri: str | None = None,
    *,
    client_signing_key: Any = None,
) -> OAuth2Credentials:
    """:func:`credentials_from_code` with the client read from a client secrets file
    (``client_signing_key`` as for :func:`flow_from_clientsecrets`)."""
    flow = flow_from_clientsecrets(
        filename,
        scope,
        message=message,
        cache=cache,
        redirect_uri=redirect_uri,
        device_uri=device_uri,
        pkce=False,
        client_signing_key=client_signing_key,
    )
    return flow.step2_exchange(code, http=http)
