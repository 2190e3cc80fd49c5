"""Credentials: token state, expiry, the refresh policy, ``apply(headers)`` and JSON.

One class per kind of credentials, with the classic constructor and attributes. The one
place that mutates a credentials object is :meth:`OAuth2Credentials._adopt` (a refresh or
a fresher copy from the store); everything else reads.

Concurrency: one refresh at a time per object. Threads serialise on a lock and re-check
after acquiring it; asyncio tasks on one loop share one in-flight refresh. So N callers on
expired credentials cause exactly one token request.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

if TYPE_CHECKING:
    import asyncio

from oauthkit import _drivers, _jwt, _refresh
from oauthkit._clock import SYSTEM_CLOCK, Clock, utc
from oauthkit._errors import (
    AccessTokenCredentialsError,
    ConfigurationError,
    HttpAccessTokenRefreshError,
    InvalidGrantError,
    InvalidResponseError,
    NotPersistedError,
    OAuthError,
    RefreshError,
    RefreshOutcomeUnknownError,
    StorageError,
    TokenRevokeError,
    TransportError,
    in_context,
)
from oauthkit._flows import RetryPolicy, revoke_flow, token_flow
from oauthkit._models import Request, Response, Token
from oauthkit._protocol import rfc6749, rfc6750, rfc7009
from oauthkit._redact import fingerprint
from oauthkit._refresh import LockTimeoutError, VersionConflictError

__all__ = [
    "EXPIRY_FORMAT",
    "GOOGLE_AUTH_URI",
    "GOOGLE_DEVICE_URI",
    "GOOGLE_REVOKE_URI",
    "GOOGLE_TOKEN_INFO_URI",
    "GOOGLE_TOKEN_URI",
    "AccessTokenCredentials",
    "AccessTokenInfo",
    "Credentials",
    "OAuth2Credentials",
    "Storage",
    "scopes_to_string",
    "string_to_scopes",
]

logger = logging.getLogger("oauthkit")

GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_DEVICE_URI = "https://oauth2.googleapis.com/device/code"
GOOGLE_REVOKE_URI = "https://oauth2.googleapis.com/revoke"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
GOOGLE_TOKEN_INFO_URI = "https://oauth2.googleapis.com/tokeninfo"

EXPIRY_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""How the classic JSON writes ``token_expiry`` (UTC)."""

DEFAULT_REFRESH_MARGIN = datetime.timedelta(seconds=60)
DEFAULT_RETRY = RetryPolicy()

AccessTokenInfo = collections.namedtuple("AccessTokenInfo", ["access_token", "expires_in"])
"""(classic) An access token and the seconds it has left (``None`` when unknown)."""

C = TypeVar("C", bound="Credentials")


def string_to_scopes(scopes: str | Iterable[str] | None) -> list[str]:
    """Scopes as a list, from a space-delimited string or an iterable (classic helper)."""
    if not scopes:
        return []
    if isinstance(scopes, str):
        return scopes.split()
    return list(scopes)


def scopes_to_string(scopes: str | Iterable[str] | None) -> str:
    """Scopes as one space-delimited string (RFC 6749 §3.3)."""
    return rfc6749.scopes_to_string(scopes) or ""


_DONE: Any = object()
"""Marker: the exclusive section found nothing left to do."""


class Storage(Protocol):
    """What credentials need of a store (the classic ``oauthkit.client.Storage`` API)."""

    def acquire_lock(self) -> None: ...
    def release_lock(self) -> None: ...
    def locked_get(self) -> Credentials | None: ...
    def locked_put(self, credentials: Credentials) -> None: ...
    def delete(self) -> None: ...


# --- the closed registry of credential types for new_from_json ----------------------------

_TYPES: dict[str, type[Credentials]] = {}
_KNOWN_MODULES = frozenset(
    {
        "oauthkit.client",
        "oauthkit.service_account",
        "oauth2client.client",
        "oauth2client.service_account",
        "oauth2client.contrib.gce",
        "oauth2client.googleapiclient.oauth2client.client",
    }
)


# Credential classes defined in other layer-1 modules, imported on first use by name.
_LAZY_TYPES = {
    "ServiceAccountCredentials": "oauthkit._service_account",
    "_JWTAccessCredentials": "oauthkit._service_account",
    "ClientCredentials": "oauthkit._client_credentials",
    # layer 2, named here only so that stored JSON finds its class (nothing is imported
    # from the data itself: the table is closed)
    "GoogleCredentials": "oauthkit._adc",
    "GceCredentials": "oauthkit._adc",
}


def _register(cls: type[C]) -> type[C]:
    _TYPES[cls.__name__] = cls
    return cls


class Credentials:
    """Base of all credentials (classic API): ``authorize``, ``refresh``, ``revoke``,
    ``apply``, ``to_json`` and ``new_from_json``."""

    NON_SERIALIZED_MEMBERS: ClassVar[frozenset[str]] = frozenset({"store"})
    _public_module: ClassVar[str] = "oauthkit.client"

    def authorize(self, http: Any) -> Any:
        """Attach these credentials to ``http`` (an ``httplib2.Http``, ``requests.Session``,
        ``httpx.Client`` or ``httpx.AsyncClient``) and return it.

        Every request then carries ``Authorization: Bearer``; the token is refreshed ahead of
        expiry and once after a 401, and the request replayed.
        """
        return _drivers.authorize(self, http)

    def refresh(self, http: Any = None) -> None:
        raise NotImplementedError

    def revoke(self, http: Any = None) -> None:
        raise NotImplementedError

    def apply(self, headers: MutableMapping[str, str]) -> None:
        raise NotImplementedError

    def _to_json(self, strip: Iterable[str], to_serialize: Mapping[str, Any] | None = None) -> str:
        data = dict(self.__dict__ if to_serialize is None else to_serialize)
        for member in strip:
            data.pop(member, None)
        for key in [k for k in data if k.startswith("_")]:
            del data[key]
        expiry = data.get("token_expiry")
        if isinstance(expiry, datetime.datetime):
            data["token_expiry"] = utc(expiry).strftime(EXPIRY_FORMAT)
        data["_class"] = type(self).__name__
        data["_module"] = self._public_module
        for key, value in list(data.items()):
            if isinstance(value, bytes):
                data[key] = value.decode("utf-8")
            elif isinstance(value, (set, frozenset)):
                data[key] = sorted(value)
        return json.dumps(data)

    def to_json(self) -> str:
        """The credentials as JSON, in the format oauth2client wrote (``_class``,
        ``_module`` and the attributes), so either library can read it."""
        return self._to_json(self.NON_SERIALIZED_MEMBERS)

    @classmethod
    def new_from_json(cls, json_data: str | bytes) -> Credentials:
        """Credentials from :meth:`to_json` output, including JSON oauth2client wrote.

        The type is looked up by name in a closed registry of oauthkit's credential
        classes; nothing named in the data is ever imported. Raises
        :class:`ConfigurationError` (a ``ValueError``) for anything else.
        """
        data = _load_json(json_data)
        module, name = data.get("_module"), data.get("_class")
        if isinstance(name, str) and name in _LAZY_TYPES and name not in _TYPES:
            import importlib

            importlib.import_module(_LAZY_TYPES[name])
        if module not in _KNOWN_MODULES or not isinstance(name, str) or name not in _TYPES:
            raise ConfigurationError(
                f"unknown credentials type {str(module)[:60]}.{str(name)[:60]}",
                error="unknown_credentials_type",
            )
        return _TYPES[name].from_json(data)

    @classmethod
    def from_json(cls, json_data: str | bytes | Mapping[str, Any]) -> Credentials:
        return cls()


def _load_json(json_data: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(json_data, Mapping):
        return dict(json_data)
    try:
        text = json_data.decode("utf-8") if isinstance(json_data, bytes) else json_data
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError, TypeError):
        raise ConfigurationError(
            "credentials JSON is corrupt", error="corrupt_credentials"
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError("credentials JSON is not an object", error="corrupt_credentials")
    return data


def _parse_expiry(value: Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return utc(value)
    if not isinstance(value, str) or not value:
        return None
    for fmt in (EXPIRY_FORMAT, "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return datetime.datetime.strptime(value, fmt).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            continue
    return None


def _jwt_payload(jwt: str | None) -> dict[str, Any] | None:
    """The payload of a JWT, decoded but NOT verified (the classic ``id_token`` attribute)."""
    if not jwt:
        return None
    parts = jwt.split(".")
    if len(parts) != 3:
        raise InvalidResponseError("id_token is not a JWT")
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        data = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeDecodeError):
        raise InvalidResponseError("id_token payload is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidResponseError("id_token payload is not a JSON object")
    return data


def _coerce_signing_key(key: Any) -> _jwt.SigningKey | None:
    """A client signing key given as a :class:`~oauthkit._jwt.SigningKey` or a PEM string."""
    if key is None or isinstance(key, _jwt.SigningKey):
        return key
    if isinstance(key, (str, bytes)):
        return _jwt.load_private_key(key)
    raise ConfigurationError("a client signing key is a SigningKey or a PEM private key")


def _lost_response_guard(make_flow: Callable[[], _drivers.Flow[Token]]) -> _drivers.Flow[Token]:
    """A refresh flow whose lost answers are handled per SECURITY.md §6.3 item 2.

    The first transport failure (a timeout or reset: the server may have rotated the
    refresh token and the answer got lost) is retried once with the same refresh token:
    by the flow if its policy allows a retry, else by a fresh flow. A second one, or
    ``invalid_grant`` after the first (the server rotated and refuses reuse), ends it
    with :class:`RefreshOutcomeUnknownError` instead, so the grant is not marked dead.
    """
    flow = make_flow()
    lost: TransportError | None = None
    throw: TransportError | None = None
    answer: Response | None = None
    try:
        while True:
            try:
                step = flow.throw(throw) if throw is not None else flow.send(answer)
            except StopIteration as stop:
                token: Token = stop.value
                return token
            except (TransportError, InvalidGrantError) as exc:
                if lost is None:
                    raise
                if exc is lost:  # the policy allows no retry: the one retry is ours
                    flow.close()
                    flow, throw, answer = make_flow(), None, None
                    continue
                raise RefreshOutcomeUnknownError(
                    "the answer to a refresh request was lost and the retry failed "
                    f"({exc.error}); the server may have rotated the refresh token"
                ) from exc
            throw = None
            try:
                answer = yield step
            except TransportError as exc:
                if lost is not None:
                    raise RefreshOutcomeUnknownError(
                        "the answers to a refresh request and to its retry were lost; "
                        "the server may have rotated the refresh token"
                    ) from exc
                lost = throw = exc
    finally:
        flow.close()


def _store_name(store: Any) -> str:
    """A store and key for messages and logs: class, path (files) and key, no secrets."""
    backend = getattr(store, "backend", store)
    path = getattr(backend, "path", None)
    name = type(backend).__name__ + (f" {path}" if isinstance(path, str) else "")
    key = getattr(store, "key", None)
    return f"{name} key {key[:80]!r}" if isinstance(key, str) and key else name


@_register
class OAuth2Credentials(Credentials):
    """Credentials for a user's grant: an access token, usually a refresh token, and what is
    needed to refresh it (classic constructor; normally built by a flow).

    ``token_expiry`` is timezone-aware UTC; a naive value is read as UTC (the classic
    format). Keyword-only extras: ``token_endpoint_auth_method`` (``client_secret_basic``
    by default when there is a secret, ``client_secret_post``, ``client_secret_jwt``,
    ``private_key_jwt`` or ``none``), ``issuer`` and ``client_signing_key`` (below), ``clock``,
    ``refresh_margin`` (refresh this long before expiry; capped at half the token's
    lifetime when that is known), ``retry`` (backoff for 5xx, 429 and network errors) and
    ``id_token_verifier`` (an :class:`~oauthkit._idtoken.IdTokenVerifier`: ID tokens from
    refreshes are validated against the issuer's keys, OIDC Core §12.2).

    The JWT client authentication methods (RFC 7523 §2.2) need ``issuer``, the
    authorization server's issuer identifier (the assertion's ``aud``); ``private_key_jwt``
    also needs ``client_signing_key``, a :class:`~oauthkit._jwt.SigningKey` or a PEM private
    key. Refresh, revoke and introspection then authenticate with that method. ``issuer``
    is saved by :meth:`to_json`; the signing key never is (nor pickled): after
    :meth:`from_json`, :meth:`new_from_json`, a store's ``get()`` or unpickling, give it
    back with :meth:`set_client_signing_key`.
    """

    def __init__(
        self,
        access_token: str | None,
        client_id: str | None,
        client_secret: str | None,
        refresh_token: str | None,
        token_expiry: datetime.datetime | None,
        token_uri: str | None,
        user_agent: str | None,
        revoke_uri: str | None = None,
        id_token: Mapping[str, Any] | None = None,
        token_response: Mapping[str, Any] | None = None,
        scopes: str | Iterable[str] | None = None,
        token_info_uri: str | None = None,
        id_token_jwt: str | None = None,
        *,
        token_endpoint_auth_method: str | None = None,
        clock: Clock | None = None,
        refresh_margin: datetime.timedelta = DEFAULT_REFRESH_MARGIN,
        retry: RetryPolicy = DEFAULT_RETRY,
        id_token_verifier: Any = None,
        issuer: str | None = None,
        client_signing_key: Any = None,
    ) -> None:
        self.access_token = access_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.store: Storage | None = None
        self.token_expiry = utc(token_expiry) if token_expiry else None
        self.token_uri = token_uri
        self.user_agent = user_agent
        self.revoke_uri = revoke_uri
        self.id_token = dict(id_token) if id_token is not None else None
        self.id_token_jwt = id_token_jwt
        self.token_response = dict(token_response) if token_response is not None else None
        self.scopes: set[str] = set(string_to_scopes(scopes))
        self.token_info_uri = token_info_uri
        self.token_endpoint_auth_method = token_endpoint_auth_method
        self.issuer = issuer
        self.invalid = False
        self._clock: Clock = clock or SYSTEM_CLOCK
        self._refresh_margin = refresh_margin
        self._retry = retry
        self._lifetime: datetime.timedelta | None = None
        self._deadline: tuple[Any, Any, datetime.datetime] | None = None
        self._lock = threading.Lock()
        self._inflight: asyncio.Future[None] | None = None
        self._id_token_verifier = id_token_verifier
        self._store_version: int | None = None
        self._pending_persist = False
        self._reread = False
        self._client_signing_key = _coerce_signing_key(client_signing_key)

    # --- pickling and repr: no locks, no store, no secrets --------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in ("store", "_lock", "_inflight", "_client_signing_key"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("issuer", None)
        state.setdefault("_reread", False)
        self.__dict__.update(state)
        self._client_signing_key = None  # never pickled: see set_client_signing_key
        self.store = None
        self._lock = threading.Lock()
        self._inflight = None
        self._deadline = None

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} client_id={self.client_id!r} "
            f"scopes={sorted(self.scopes)!r} expiry={self.token_expiry!s} "
            f"access_token={fingerprint(self.access_token)} invalid={self.invalid}>"
        )

    # --- JSON ----------------------------------------------------------------------------

    @classmethod
    def from_json(cls, json_data: str | bytes | Mapping[str, Any]) -> OAuth2Credentials:
        """Credentials from :meth:`to_json` output (or oauth2client's). A ``private_key_jwt``
        client's signing key is not in the JSON: :meth:`set_client_signing_key`."""
        data = _load_json(json_data)
        try:
            creds = cls(
                data["access_token"],
                data["client_id"],
                data["client_secret"],
                data["refresh_token"],
                _parse_expiry(data.get("token_expiry")),
                data["token_uri"],
                data["user_agent"],
                revoke_uri=data.get("revoke_uri"),
                id_token=data.get("id_token"),
                id_token_jwt=data.get("id_token_jwt"),
                token_response=data.get("token_response"),
                scopes=data.get("scopes"),
                token_info_uri=data.get("token_info_uri"),
                token_endpoint_auth_method=data.get("token_endpoint_auth_method"),
                issuer=data.get("issuer"),
            )
        except KeyError as exc:
            raise ConfigurationError(
                f"credentials JSON lacks {exc.args[0]!r}", error="corrupt_credentials"
            ) from None
        creds.invalid = bool(data.get("invalid", False))
        return creds

    def set_client_signing_key(self, key: Any) -> None:
        """Attach the ``private_key_jwt`` signing key (a :class:`~oauthkit._jwt.SigningKey`
        or a PEM private key) to credentials loaded from JSON, a store or a pickle, none of
        which ever holds it. ``None`` detaches it."""
        self._client_signing_key = _coerce_signing_key(key)

    # --- classic state -------------------------------------------------------------------

    def set_store(self, store: Storage | None) -> None:
        """Bind a store: the credentials write themselves back after every refresh (under the
        store's lock, adopting a fresher token another process saved) and delete themselves
        from it on revoke."""
        self.store = store

    @property
    def access_token_expired(self) -> bool:
        """True if the access token is past its expiry (or the credentials are invalid)."""
        if self.invalid:
            return True
        if self.token_expiry is None:
            return False
        return self._clock.now() >= self.token_expiry

    def _expires_in(self) -> int | None:
        if self.token_expiry is None:
            return None
        left = (self.token_expiry - self._clock.now()).total_seconds()
        return max(0, int(left))

    def _needs_refresh(self) -> bool:
        if not self.access_token or self.invalid or self._reread:
            return True
        expiry = self.token_expiry
        if expiry is None:
            return False
        # The deadline is derived once per (expiry, lifetime): this runs on every request.
        cache = self._deadline
        if cache is None or cache[0] is not expiry or cache[1] is not self._lifetime:
            margin = self._refresh_margin
            if self._lifetime is not None:
                margin = min(margin, self._lifetime / 2)
            cache = (expiry, self._lifetime, expiry - margin)
            self._deadline = cache
        return self._clock.now() >= cache[2]

    def has_scopes(self, scopes: str | Iterable[str]) -> bool:
        """Whether the credentials hold every scope in ``scopes``."""
        return set(string_to_scopes(scopes)).issubset(self.scopes)

    def apply(self, headers: MutableMapping[str, str]) -> None:
        """Add ``Authorization: Bearer <token>`` to ``headers`` (RFC 6750 §2.1)."""
        if not self.access_token:
            raise ConfigurationError("these credentials hold no access token yet")
        headers["Authorization"] = rfc6750.authorization_header(self.access_token)

    def _client_auth(self) -> rfc6749.ClientAuth | None:
        if not self.client_id:
            return None
        return rfc6749.ClientAuth(
            self.client_id,
            self.client_secret,
            self.token_endpoint_auth_method,
            signing_key=getattr(self, "_client_signing_key", None),
            audience=getattr(self, "issuer", None),
            clock=self._clock,
        )

    # --- getting a valid token (single-flight) --------------------------------------------

    def get_access_token(self, http: Any = None) -> AccessTokenInfo:
        """A valid access token and its remaining lifetime, refreshing first if the token is
        missing, expired or within the refresh margin. Concurrent callers share one refresh.

        With a store, :class:`NotPersistedError` means the refresh succeeded but saving it
        failed: ``self.access_token`` is the new, valid token, and the save is retried in
        the background."""
        if self._needs_refresh():
            with self._lock:
                if self._needs_refresh():
                    self._refresh(http)
        return AccessTokenInfo(access_token=self.access_token, expires_in=self._expires_in())

    def token_for_request(self, http: Any = None) -> str:
        """The access token to send now: :meth:`get_access_token` without computing the
        remaining lifetime (the transports call this on every request).

        A refresh whose save failed does not fail the request: the new token is valid, the
        failure is logged at WARNING, the save is retried in the background, and at exit a
        save that never landed is logged at ERROR."""
        if self._needs_refresh():
            with self._lock:
                if self._needs_refresh():
                    self._refresh_for_request(http)
        token = self.access_token
        if not token:  # pragma: no cover - a refresh either sets a token or raises
            raise ConfigurationError("these credentials hold no access token")
        return token

    async def async_token_for_request(self, client: Any = None) -> str:
        """:meth:`token_for_request` for asyncio."""
        if self._needs_refresh():
            # as in token_for_request: logged, held in memory, retried in the background
            with contextlib.suppress(NotPersistedError):
                await self._async_single_flight(client, None)
        token = self.access_token
        if not token:  # pragma: no cover
            raise ConfigurationError("these credentials hold no access token")
        return token

    def refresh(self, http: Any = None) -> None:
        """Refresh the access token now (classic). ``http`` is any supported HTTP client;
        ``None`` uses the default transport. :class:`NotPersistedError`: as in
        :meth:`get_access_token`, the new token is held and valid."""
        with self._lock:
            self._refresh(http)

    def refresh_if_token(self, used_token: str | None, http: Any = None) -> None:
        """Refresh because a resource server refused ``used_token`` (a 401) — unless another
        caller has already replaced it, in which case the new token is used as it is.
        A failed save does not raise (see :meth:`token_for_request`)."""
        with self._lock:
            if self.access_token == used_token or self.invalid:
                self._refresh_for_request(http)

    def _refresh_for_request(self, http: Any) -> None:
        # logged by _write_back; the token is valid; the save is retried in the background
        with contextlib.suppress(NotPersistedError):
            self._refresh(http)

    async def async_get_access_token(self, client: Any = None) -> AccessTokenInfo:
        """:meth:`get_access_token` for asyncio (``client``: an ``httpx.AsyncClient`` or
        ``None``). Tasks on one loop share one refresh."""
        if self._needs_refresh():
            await self._async_single_flight(client, None)
        return AccessTokenInfo(access_token=self.access_token, expires_in=self._expires_in())

    async def async_refresh_if_token(self, used_token: str | None, client: Any = None) -> None:
        if self.access_token == used_token or self.invalid:
            with contextlib.suppress(NotPersistedError):  # see token_for_request
                await self._async_single_flight(client, used_token)

    async def _async_single_flight(self, client: Any, used_token: str | None) -> None:
        import asyncio  # lazily: asyncio costs ~60 ms of import time for sync-only users

        loop = asyncio.get_running_loop()
        inflight = self._inflight
        if inflight is not None and inflight.get_loop() is loop:
            await asyncio.shield(inflight)
            return
        future: asyncio.Future[None] = loop.create_future()
        self._inflight = future
        try:
            if self.store is not None:
                await self._async_refresh_with_store(client)
            else:
                transport = _drivers.to_async_transport(client)
                try:
                    token = await _drivers.run_async(self._refresh_flow(), transport)
                except OAuthError as exc:
                    raise self._refresh_failed(exc) from exc.__cause__
                self._adopt_token(token)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        else:
            future.set_result(None)
        finally:
            self._inflight = None

    async def _async_refresh_with_store(self, client: Any) -> None:
        """The store protocol of :meth:`_refresh` for asyncio: the lock, reads and writes
        run on one worker thread (locks are per thread), the token request on the loop."""
        import concurrent.futures

        store = self.store
        if store is None:  # unbound meanwhile: nothing to coordinate with
            return
        import asyncio

        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(1, "oauthkit-store") as worker:

            async def call(fn: Any, *args: Any) -> Any:
                return await loop.run_in_executor(worker, fn, *args)

            try:
                await call(store.acquire_lock)
            except LockTimeoutError:
                if not await call(self._adopt_if_usable, getattr(store, "peek", None)):
                    raise
                return
            try:
                version = await call(self._section_enter, store)
                if version is _DONE:
                    return
                transport = _drivers.to_async_transport(client)
                used = self.refresh_token
                for attempt in (1, 2):  # step 6: one retry with a newer stored token
                    try:
                        token = await _drivers.run_async(self._refresh_flow(), transport)
                        break
                    except OAuthError as exc:
                        err = self._refresh_failed(exc)
                        if not isinstance(err, (InvalidGrantError, RefreshOutcomeUnknownError)):
                            raise err from exc.__cause__
                        again = None
                        if attempt == 1:
                            again = await call(self._section_reread, store, used)
                        if again is None:
                            await call(self._save_rejection, store, version, err)
                            raise err from exc.__cause__
                        version = again
                        self.invalid = False
                        if not self._needs_refresh():
                            return
                self._adopt_token(token)
                await call(self._write_back, store, version)
            finally:
                await call(store.release_lock)

    # --- the refresh itself ---------------------------------------------------------------

    def _refresh_flow(self) -> _drivers.Flow[Token]:
        if not self.refresh_token:
            raise HttpAccessTokenRefreshError(
                "these credentials have no refresh token; authorize again",
                error="no_refresh_token",
            )
        token_uri = rfc6749.require_secure_endpoint(self.token_uri or "", "token_uri")
        client = self._client_auth()
        if client is None:
            raise ConfigurationError("refreshing needs a client_id")
        refresh_token = self.refresh_token

        def make_request() -> Request:
            extra = {"user-agent": self.user_agent} if self.user_agent else None
            return rfc6749.refresh_request(token_uri, refresh_token, client, None, extra)

        return _lost_response_guard(lambda: token_flow(make_request, self._clock, self._retry))

    def _refresh(self, http: Any) -> None:
        """Refresh, through the store's exclusive section when there is a store.

        The one implementation of SECURITY.md §6.4's common protocol, over every store:

        1. in-process single-flight (``self._lock`` in the callers; the store's own
           per-key process lock for other objects holding the same key);
        2. the store's cross-process (SQL, Redis: cross-machine) exclusive section; on
           :class:`LockTimeoutError` the stored access token is used if still valid, else
           the error is raised — never refresh without the ability to persist (§6.3.4);
        3. re-read the record: a fresher valid token is adopted and nothing is requested;
           the stored refresh token (the latest rotation) is the one used;
        4. the token request;
        5. a compare-and-swap write on the version read in 3, durable, *before* the new
           token is returned (§6.3.3, §6.3.5); if it fails the token stays in memory,
           :class:`NotPersistedError` is raised, the write is retried in the background
           (:class:`~oauthkit._refresh.PersistRetrier`) and first thing by the next refresh;
        6. on ``invalid_grant`` the record is re-read once: a newer refresh token there is
           tried, else the credentials are marked invalid (kept, not deleted) and the
           error raised (RFC 6749 §5.2);
        7. a lost answer (§6.3 item 2) is retried once with the same refresh token
           (:func:`_lost_response_guard`); if that fails too the record is re-read as in
           6, else :class:`RefreshOutcomeUnknownError` is raised and nothing is marked
           invalid or written.
        """
        store = self.store
        if store is None:
            self._do_refresh_request(http)
            return
        try:
            store.acquire_lock()
        except LockTimeoutError:
            if self._adopt_if_usable(getattr(store, "peek", None)):
                return
            raise
        try:
            version = self._section_enter(store)
            if version is _DONE:
                return
            used = self.refresh_token
            for attempt in (1, 2):  # step 6: one retry with a newer stored token
                try:
                    self._do_refresh_request(http)
                    break
                except (InvalidGrantError, RefreshOutcomeUnknownError) as exc:
                    again = self._section_reread(store, used) if attempt == 1 else None
                    if again is None:
                        self._save_rejection(store, version, exc)
                        raise
                    version = again
                    self.invalid = False
                    if not self._needs_refresh():
                        return
            self._write_back(store, version)
        finally:
            store.release_lock()

    def _adopt_if_usable(self, peek: Any) -> bool:
        stored = peek() if peek is not None else None
        if (
            isinstance(stored, OAuth2Credentials)
            and not stored.invalid
            and stored.access_token
            and not stored._needs_refresh()
        ):
            self._adopt(stored)
            return True
        return False

    def _section_enter(self, store: Storage) -> Any:
        """Step 3 under the lock: returns the version read, or ``_DONE`` when a fresher
        stored token was adopted (or a pending write landed and the token is good)."""
        getter = getattr(store, "locked_get_versioned", None)
        if getter is not None:
            stored, version = getter()
        else:
            stored, version = store.locked_get(), None
        self._reread = False
        if self._pending_persist:
            # our in-memory token is newer than the store's (the last write failed): save
            # it, CAS on the version it was refreshed from; if someone wrote since, theirs
            # is adopted below instead; if the store still fails, our refresh token is the
            # latest, so the refresh goes on with it (and its save is retried again)
            try:
                self._put(store, self._store_version)
            except VersionConflictError:
                self._pending_persist = False
                if self._is_own_record(stored):
                    # the write reported as failed landed after all (a database that
                    # failed its fsync at commit, then recovered it): nothing is lost
                    self._store_version = version
                    return _DONE if not self._needs_refresh() else version
            except StorageError:
                return self._store_version
            else:
                self._pending_persist = False
                return _DONE if not self._needs_refresh() else self._store_version
        if isinstance(stored, OAuth2Credentials) and not stored.invalid:
            if (
                stored.access_token
                and stored.access_token != self.access_token
                and not stored._needs_refresh()
            ):
                self._adopt(stored)
                self._store_version = version
                return _DONE
            if stored.refresh_token:
                self.refresh_token = stored.refresh_token  # the latest rotation wins
        return version

    def _section_reread(self, store: Storage, used: str | None) -> Any:
        """Steps 6 and 7: the version to retry with if the store holds another refresh token
        (adopted into ``self``), else ``None``."""
        getter = getattr(store, "locked_get_versioned", None)
        stored, version = getter() if getter is not None else (store.locked_get(), None)
        if (
            isinstance(stored, OAuth2Credentials)
            and not stored.invalid
            and stored.refresh_token
            and stored.refresh_token != used
        ):
            self._adopt(stored)
            return version
        return None

    def _put(self, store: Storage, expected: int | None) -> None:
        """Compare-and-swap on ``expected`` when the store supports versions."""
        put = getattr(store, "locked_put_versioned", None)
        if put is not None:
            put(self, expected)
        else:
            store.locked_put(self)

    def _write_back(self, store: Storage, expected: int | None) -> None:
        """Step 5. On a store failure the state stays in memory, marked pending (CAS on
        ``expected``, the version it derives from), the write is handed to the background
        retrier and :class:`NotPersistedError` raised (chained to the store's error)."""
        try:
            self._put(store, expected)
        except StorageError as exc:
            self._pending_persist = True
            self._store_version = expected
            target = _store_name(store)
            logger.warning(
                "refreshed credentials could not be saved to %s (%s); the new token is "
                "kept in memory and the save retried in the background",
                target,
                exc.error,
            )
            _refresh.PERSIST_RETRIER.schedule(self)
            err = NotPersistedError(
                f"refreshed credentials could not be saved to {target} ({exc}); the new "
                "token is held in memory and the save is retried in the background"
            )
            err.reason = exc.error
            raise err from exc
        self._pending_persist = False

    def _save_rejection(self, store: Storage, expected: int | None, exc: OAuthError) -> None:
        """Save ``invalid`` after a final ``invalid_grant`` (§6.4 step 6); a failed save is
        left to the background retrier, so the caller sees the rejection. After an unknown
        outcome nothing is written: the grant may be alive."""
        if isinstance(exc, InvalidGrantError):
            with contextlib.suppress(NotPersistedError):
                self._write_back(store, expected)

    def _retry_persist(self) -> bool:
        """One background attempt at a pending save (for :class:`~oauthkit._refresh.
        PersistRetrier`), under the store's lock, CAS on the version the unsaved state
        derives from. ``True`` when nothing is left to save; on a CAS conflict the other
        writer's record wins and is re-read (adopted) on next use."""
        store = self.store
        if store is None or not self._pending_persist:
            return True
        target = _store_name(store)
        try:
            store.acquire_lock()
        except StorageError:
            return False
        try:
            if not self._pending_persist:
                return True
            try:
                self._put(store, self._store_version)
            except VersionConflictError:
                getter = getattr(store, "locked_get_versioned", None)
                stored, version = getter() if getter is not None else (None, None)
                if self._is_own_record(stored):  # the failed write had landed after all
                    self._store_version = version
                else:
                    logger.warning(
                        "%s changed before the unsaved refresh could be saved; the stored "
                        "credentials win and are read on next use",
                        target,
                    )
                    self._reread = True
            except StorageError as exc:
                logger.debug("background save to %s failed (%s)", target, exc.error)
                return False
            else:
                logger.warning("refreshed credentials saved to %s on a later attempt", target)
            self._pending_persist = False
            return True
        finally:
            store.release_lock()

    def _is_own_record(self, stored: Any) -> bool:
        """Whether the store holds exactly our tokens: a write reported as failed may still
        have been committed (SQL and Redis servers that fail an fsync, then recover)."""
        return (
            isinstance(stored, OAuth2Credentials)
            and stored.access_token == self.access_token
            and stored.refresh_token == self.refresh_token
            and stored.invalid == self.invalid
        )

    def _persist_target(self) -> str:
        return _store_name(self.store)

    def _do_refresh_request(self, http: Any) -> None:
        """The token request and adoption of its answer (no store access)."""
        logger.debug("refreshing access token for client %s", self.client_id)
        try:
            flow = self._refresh_flow()
            token = _drivers.run(flow, _drivers.to_transport(http), self._clock)
        except OAuthError as exc:
            raise self._refresh_failed(exc) from exc.__cause__
        self._adopt_token(token)

    def _refresh_failed(self, exc: OAuthError) -> OAuthError:
        """Scrub secrets from ``exc`` and type it as a refresh failure; ``invalid_grant``
        marks the credentials invalid (the store protocol then saves that)."""
        secrets = (self.refresh_token, self.access_token, self.client_secret)
        exc.scrub(*secrets)
        if isinstance(exc.__cause__, OAuthError):  # a lost answer's retry that failed
            exc.__cause__.scrub(*secrets)
        if isinstance(exc, InvalidGrantError):
            self.invalid = True
            logger.info("refresh token rejected (invalid_grant): the user must authorize again")
        if isinstance(exc, (ConfigurationError, RefreshError)):
            return exc
        return in_context(exc, HttpAccessTokenRefreshError)

    def _adopt_token(self, token: Token) -> None:
        """Take a fresh token response: the one place a refresh mutates the credentials.

        An ID token in it is checked first (:meth:`_check_id_token`); if it fails, an
        :class:`IdTokenError` is raised and nothing is adopted."""
        claims = self._check_id_token(token)
        self.token_response = dict(token.raw)
        self.access_token = token.access_token
        if token.refresh_token:  # RFC 6749 §6: absent means "keep the one you have"
            self.refresh_token = token.refresh_token
        self.token_expiry = token.expires_at
        self._lifetime = (
            token.expires_at - self._clock.now() if token.expires_at is not None else None
        )
        if token.scope is not None:
            self.scopes = set(token.scope)
        if claims is not None:
            self.id_token = claims
            self.id_token_jwt = token.id_token
        self.invalid = False

    def _check_id_token(self, token: Token) -> dict[str, Any] | None:
        """The claims of a new ID token in ``token`` (``None`` if there is none or it is the
        one already held), checked against the issuer's keys when a verifier is set
        (OIDC Core §3.1.3.7) and, when these credentials already hold an ID token, as a
        refreshed one (OIDC Core §12.2: same ``iss``, ``sub``, ``aud``, ``azp``,
        ``auth_time``; SECURITY.md C37)."""
        if not token.id_token or token.id_token == self.id_token_jwt:
            return None
        verifier = getattr(self, "_id_token_verifier", None)
        if verifier is not None:
            claims: dict[str, Any] | None = verifier.verify(
                token.id_token, access_token=token.access_token
            )
        else:
            claims = _jwt_payload(token.id_token)
        if self.id_token and claims is not None:
            from oauthkit._protocol import oidc

            oidc.check_refreshed_id_token(self.id_token, claims)
        return claims

    def _adopt(self, other: OAuth2Credentials) -> None:
        self.access_token = other.access_token
        self.refresh_token = other.refresh_token
        self.token_expiry = other.token_expiry
        self.token_response = other.token_response
        self.id_token = other.id_token
        self.id_token_jwt = other.id_token_jwt
        if other.scopes:
            self.scopes = set(other.scopes)
        self.invalid = other.invalid
        self._reread = False

    # --- revoke and scopes ------------------------------------------------------------------

    def revoke(self, http: Any = None) -> None:
        """Revoke the grant (RFC 7009): the refresh token if there is one (which revokes its
        access tokens too), else the access token.

        Locally the credentials become ``invalid`` and are deleted from their store whatever
        the server answers; a failure is then raised as :class:`TokenRevokeError`.
        """
        token = self.refresh_token or self.access_token
        hint = "refresh_token" if self.refresh_token else "access_token"
        failure: OAuthError | None = None
        try:
            if not token:
                raise ConfigurationError("there is no token to revoke")
            uri = rfc6749.require_secure_endpoint(self.revoke_uri or "", "revoke_uri")
            client = self._client_auth()

            def make_request() -> Request:
                return rfc7009.revocation_request(uri, token, hint, client)

            _drivers.run(
                revoke_flow(make_request, self._retry), _drivers.to_transport(http), self._clock
            )
        except OAuthError as exc:
            failure = exc.scrub(token, self.client_secret)
        self.invalid = True
        if self.store is not None:
            self.store.delete()
        if failure is not None:
            if isinstance(failure, ConfigurationError):
                raise failure
            raise in_context(failure, TokenRevokeError) from failure.__cause__

    def retrieve_scopes(self, http: Any = None) -> set[str]:
        """Ask the server which scopes the access token holds and return them.

        ``token_info_uri`` is Google's tokeninfo endpoint (the token is sent in a POST body,
        never in the URL) or an RFC 7662 introspection endpoint (client authenticated)."""
        uri = rfc6749.require_secure_endpoint(self.token_info_uri or "", "token_info_uri")
        token = self.get_access_token(http).access_token
        google = uri.startswith(GOOGLE_TOKEN_INFO_URI)
        form = {"access_token": token} if google else {"token": token}
        client = None if google else self._client_auth()
        request = rfc6749.token_request(uri, form, client)
        response = _drivers.to_transport(http).send(request)
        if response.status != 200:
            raise rfc6749.parse_error_body(response, "token info")
        data = rfc6749.parse_json_object(response, "token info")
        scope = data.get("scope")
        if not isinstance(scope, str):
            raise InvalidResponseError("the token info response has no scope")
        self.scopes = set(scope.split())
        return set(self.scopes)


@_register
class AccessTokenCredentials(OAuth2Credentials):
    """Credentials holding only an access token obtained some other way (classic). They
    cannot refresh: when the token is refused, :class:`AccessTokenCredentialsError`."""

    def __init__(
        self, access_token: str, user_agent: str | None = None, revoke_uri: str | None = None
    ) -> None:
        super().__init__(
            access_token, None, None, None, None, None, user_agent, revoke_uri=revoke_uri
        )

    @classmethod
    def from_json(cls, json_data: str | bytes | Mapping[str, Any]) -> AccessTokenCredentials:
        data = _load_json(json_data)
        token = data.get("access_token")
        if not isinstance(token, str):
            raise ConfigurationError("credentials JSON lacks 'access_token'")
        creds = cls(token, data.get("user_agent"), data.get("revoke_uri"))
        creds.invalid = bool(data.get("invalid", False))
        return creds

    def _refresh_flow(self) -> _drivers.Flow[Token]:
        raise AccessTokenCredentialsError(
            "the access token is expired or invalid and cannot be refreshed"
        )

    def _do_refresh_request(self, http: Any) -> None:
        self._refresh_flow()

    def _refresh(self, http: Any) -> None:
        self._refresh_flow()
