"""The httplib2 transport and the classic ``credentials.authorize(httplib2.Http())``."""

from __future__ import annotations

import functools
from typing import Any

import httplib2

from oauthkit._errors import TransportError
from oauthkit._models import Request, Response
from oauthkit._protocol import rfc6750
from oauthkit.transport._common import MAX_BODY, too_large

__all__ = ["Httplib2Transport", "authorize"]

_ORIGINAL = "_oauthkit_original_request"


def _original_request(http: httplib2.Http) -> Any:
    return getattr(http.request, _ORIGINAL, http.request)


class Httplib2Transport:
    """Sends through an ``httplib2.Http`` (its unwrapped ``request``, so credentials bound
    to the same object never add a Bearer header to their own token requests)."""

    def __init__(self, http: httplib2.Http) -> None:
        self._request = _original_request(http)

    def send(self, request: Request) -> Response:
        try:
            resp, content = self._request(
                request.url,
                method=request.method,
                body=request.body or None,
                headers=dict(request.headers),
                redirections=httplib2.DEFAULT_MAX_REDIRECTS if request.follow_redirects else 0,
            )
        except httplib2.RedirectLimit as exc:  # a redirect we refused to follow
            resp, content = exc.response, exc.content
        except (TimeoutError, httplib2.HttpLib2Error, OSError) as exc:
            raise TransportError(f"{type(exc).__name__} talking to the server") from exc
        body = content if isinstance(content, bytes) else bytes(content or b"")
        if len(body) > MAX_BODY:
            raise too_large(int(resp.status))
        headers = {str(k).lower(): str(v) for k, v in resp.items() if not str(k).startswith("-")}
        return Response(int(resp.status), headers, body)


def _rewindable(body: Any) -> int | None:
    if body is not None and hasattr(body, "seek") and hasattr(body, "tell"):
        try:
            return int(body.tell())
        except OSError:
            return None
    return None


def authorize(credentials: Any, http: httplib2.Http) -> httplib2.Http:
    """Wrap ``http.request`` so that every request carries the credentials (classic).

    Returns the same object. The token is refreshed ahead of expiry (through ``http``
    itself, unwrapped) and once after a 401, replaying the request and rewinding a seekable
    body. ``http.request.credentials`` is the credentials, as in oauth2client.
    """
    original = _original_request(http)

    @functools.wraps(original)
    def request(
        uri: str,
        method: str = "GET",
        body: Any = None,
        headers: dict[str, str] | None = None,
        redirections: int = httplib2.DEFAULT_MAX_REDIRECTS,
        connection_type: Any = None,
    ) -> tuple[httplib2.Response, bytes]:
        headers = dict(headers or {})
        token = credentials.token_for_request(http)
        headers["Authorization"] = rfc6750.authorization_header(token)
        if credentials.user_agent:
            agent = headers.get("user-agent")
            headers["user-agent"] = (
                f"{credentials.user_agent} {agent}" if agent else credentials.user_agent
            )
        position = _rewindable(body)
        resp, content = original(uri, method, body, headers, redirections, connection_type)
        if resp.status == 401 and rfc6750.is_invalid_token(401, resp):
            credentials.refresh_if_token(token, http)
            token = credentials.token_for_request(http)
            headers["Authorization"] = rfc6750.authorization_header(token)
            if position is not None:
                body.seek(position)
            resp, content = original(uri, method, body, headers, redirections, connection_type)
        return resp, content

    setattr(request, _ORIGINAL, original)
    request.credentials = credentials  # type: ignore[attr-defined]
    http.request = request  # type: ignore[method-assign]
    return http
