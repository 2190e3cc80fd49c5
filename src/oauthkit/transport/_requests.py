"""The requests transport and :class:`BearerAuth` (a ``requests.auth.AuthBase``)."""

from __future__ import annotations

import contextlib
from typing import Any

import requests
import requests.auth

from oauthkit._errors import ConfigurationError, TransportError
from oauthkit._models import Request, Response
from oauthkit._protocol import rfc6750
from oauthkit.transport._common import CONNECT_TIMEOUT, MAX_BODY, READ_TIMEOUT, too_large

__all__ = ["BearerAuth", "RequestsTransport"]


class RequestsTransport:
    """Sends through a ``requests.Session``.

    Token requests are sent with ``auth=None`` semantics: the session's own ``auth`` is
    bypassed so a ``BearerAuth`` on the session cannot overwrite client authentication.
    """

    def __init__(self, session: requests.Session) -> None:
        self._session = session

    def send(self, request: Request) -> Response:
        try:
            prepared = requests.Request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body or None,
            ).prepare()
            settings = self._session.merge_environment_settings(prepared.url, {}, None, None, None)
            verify = settings.get("verify", True)
            if verify is False or self._session.verify is False:
                raise ConfigurationError(
                    "this session disables TLS verification; oauthkit will not send "
                    "credentials over it (RFC 6749 §10.9)"
                )
            resp = self._session.send(
                prepared,
                allow_redirects=request.follow_redirects,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                stream=True,
                verify=verify,
                cert=settings.get("cert"),
                proxies=settings.get("proxies"),
            )
            try:
                body = bytearray()
                for chunk in resp.iter_content(65536):
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise too_large(resp.status_code)
                headers = {k.lower(): v for k, v in resp.headers.items()}
                return Response(resp.status_code, headers, bytes(body))
            finally:
                resp.close()
        except requests.RequestException as exc:
            raise TransportError(f"{type(exc).__name__} talking to the server") from exc


class BearerAuth(requests.auth.AuthBase):
    """Presents ``credentials`` on every request of a ``requests.Session``.

    Refreshed ahead of expiry, and once after a 401 naming the token invalid, replaying the
    request (rewinding a seekable body). Refreshes use oauthkit's token transport.
    """

    def __init__(self, credentials: Any) -> None:
        self.credentials = credentials
        self._hook = self._handle_response  # one bound method, registered on every request

    def __repr__(self) -> str:
        return f"BearerAuth({self.credentials!r})"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = "Bearer " + self.credentials.token_for_request()
        body = r.body
        if body is not None and hasattr(body, "seek") and hasattr(body, "tell"):
            with contextlib.suppress(OSError):
                r._oauthkit_position = body.tell()  # type: ignore[attr-defined]
        # what r.register_hook() does, without its isinstance(hook, Callable) ABC check
        r.hooks["response"].append(self._hook)
        return r

    def _handle_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        """After a 401 naming the token invalid: refresh once and replay (RFC 6750 §3.1)."""
        if response.status_code != 401 or not rfc6750.is_invalid_token(401, dict(response.headers)):
            return response
        sent = response.request
        used = str(sent.headers.get("Authorization", "")).removeprefix("Bearer ")
        request = sent.copy()
        position = getattr(sent, "_oauthkit_position", None)
        if position is not None:
            request.body.seek(position)  # type: ignore[union-attr]
        response.content  # noqa: B018 - drain so the connection can be reused
        response.close()
        self.credentials.refresh_if_token(used)
        request.headers["Authorization"] = "Bearer " + self.credentials.token_for_request()
        request.hooks["response"] = []
        replay = response.connection.send(request, **kwargs)
        replay.history.append(response)
        replay.request = request
        return replay
