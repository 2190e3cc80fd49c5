"""The httpx transport (sync, and the default for asyncio) and :class:`BearerAuth`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Any

import httpx

from oauthkit._errors import TransportError
from oauthkit._models import Request, Response
from oauthkit._protocol import rfc6750
from oauthkit.transport._common import CONNECT_TIMEOUT, MAX_BODY, READ_TIMEOUT, too_large

__all__ = ["AsyncHttpxTransport", "BearerAuth", "HttpxTransport"]

_TIMEOUT = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)


def _response(status: int, headers: httpx.Headers, body: bytes) -> Response:
    return Response(status, {k.lower(): v for k, v in headers.items()}, body)


class HttpxTransport:
    """Sends through an ``httpx.Client`` (or a private one when ``client`` is ``None``)."""

    def __init__(self, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(timeout=_TIMEOUT, follow_redirects=False)

    def send(self, request: Request) -> Response:
        try:
            with self._client.stream(
                request.method,
                request.url,
                headers=dict(request.headers),
                content=request.body or None,
                follow_redirects=request.follow_redirects,
            ) as resp:
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise too_large(resp.status_code)
                return _response(resp.status_code, resp.headers, bytes(body))
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__} talking to the server") from exc

    def close(self) -> None:
        self._client.close()


class AsyncHttpxTransport:
    """Sends through an ``httpx.AsyncClient``; with ``None``, a short-lived private one per
    request (refreshes are rare, and a client must not outlive its event loop)."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client

    async def send(self, request: Request) -> Response:
        if self._client is None:
            async with httpx.AsyncClient(timeout=_TIMEOUT, follow_redirects=False) as client:
                return await self._send(client, request)
        return await self._send(self._client, request)

    async def _send(self, client: httpx.AsyncClient, request: Request) -> Response:
        try:
            async with client.stream(
                request.method,
                request.url,
                headers=dict(request.headers),
                content=request.body or None,
                follow_redirects=request.follow_redirects,
            ) as resp:
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise too_large(resp.status_code)
                return _response(resp.status_code, resp.headers, bytes(body))
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__} talking to the server") from exc


class BearerAuth(httpx.Auth):
    """``httpx.Auth`` presenting ``credentials`` (sync and async clients alike).

    The token is refreshed ahead of expiry; after a 401 that names the token invalid
    (RFC 6750 §3.1) it is refreshed once and the request replayed. Refreshes go through
    oauthkit's own token transport, never through the authorized client.
    """

    requires_request_body = True

    def __init__(self, credentials: Any) -> None:
        self.credentials = credentials

    def __repr__(self) -> str:
        return f"BearerAuth({self.credentials!r})"

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.credentials.token_for_request()
        request.headers["Authorization"] = rfc6750.authorization_header(token)
        response = yield request
        if rfc6750.is_invalid_token(response.status_code, response.headers):
            response.read()
            self.credentials.refresh_if_token(token)
            token = self.credentials.token_for_request()
            request.headers["Authorization"] = rfc6750.authorization_header(token)
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.credentials.async_token_for_request()
        request.headers["Authorization"] = rfc6750.authorization_header(token)
        response = yield request
        if rfc6750.is_invalid_token(response.status_code, response.headers):
            await response.aread()
            await self.credentials.async_refresh_if_token(token)
            token = await self.credentials.async_token_for_request()
            request.headers["Authorization"] = rfc6750.authorization_header(token)
            yield request
