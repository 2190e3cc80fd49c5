"""Transports: oauthkit's requests sent through the HTTP client you already use.

- no client: oauthkit's own requests (token, revocation, discovery, JWKS) go through a
  small keep-alive pool of the standard library's ``http.client`` (sync) or a private
  ``httpx.AsyncClient`` (async), apart from your API traffic
- ``httpx`` (sync and async): ``credentials.authorize(client)`` sets an ``httpx.Auth``
- ``requests``: ``credentials.authorize(session)`` sets a ``requests`` auth
- ``httplib2``: the classic ``credentials.authorize(httplib2.Http())``

``credentials.authorize(client)`` picks the right one for any of them. Each transport maps
its library's exceptions to :class:`oauthkit.TransportError` (the original is
``__cause__``), never follows redirects on token requests, and bounds what it reads.

Importing this package imports none of those libraries: the adapters registered here load
their module on first use.
"""

from __future__ import annotations

from oauthkit import _drivers

# typing loads only under a type checker: `import oauthkit` stays fast (no typing, re...)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__: list[str] = []


def _httpx_transport(client: Any) -> _drivers.Transport:
    from oauthkit.transport._httpx import HttpxTransport

    return HttpxTransport(client)


def _httpx_async_transport(client: Any) -> _drivers.AsyncTransport:
    from oauthkit.transport._httpx import AsyncHttpxTransport

    return AsyncHttpxTransport(client)


def _httpx_authorize(credentials: Any, client: Any) -> Any:
    from oauthkit.transport._httpx import BearerAuth

    client.auth = BearerAuth(credentials)
    return client


def _requests_transport(session: Any) -> _drivers.Transport:
    from oauthkit.transport._requests import RequestsTransport

    return RequestsTransport(session)


def _requests_authorize(credentials: Any, session: Any) -> Any:
    from oauthkit.transport._requests import BearerAuth

    session.auth = BearerAuth(credentials)
    return session


def _httplib2_transport(http: Any) -> _drivers.Transport:
    from oauthkit.transport._httplib2 import Httplib2Transport

    return Httplib2Transport(http)


def _httplib2_authorize(credentials: Any, http: Any) -> Any:
    from oauthkit.transport._httplib2 import authorize

    return authorize(credentials, http)


def _default() -> _drivers.Transport:
    from oauthkit.transport._stdlib import default_transport

    return default_transport()


def _default_async() -> _drivers.AsyncTransport:
    from oauthkit.transport._httpx import AsyncHttpxTransport

    return AsyncHttpxTransport(None)


_drivers.register_adapter("httpx.Client", sync=_httpx_transport)
_drivers.register_adapter("httpx.AsyncClient", asynchronous=_httpx_async_transport)
_drivers.register_authorizer("httpx.Client", _httpx_authorize)
_drivers.register_authorizer("httpx.AsyncClient", _httpx_authorize)
_drivers.register_adapter("requests.sessions.Session", sync=_requests_transport)
_drivers.register_authorizer("requests.sessions.Session", _requests_authorize)
_drivers.register_adapter("httplib2.Http", sync=_httplib2_transport)
_drivers.register_authorizer("httplib2.Http", _httplib2_authorize)
_drivers.register_default(_default, _default_async)
