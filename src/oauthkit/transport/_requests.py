"""The requests transport and :class:`BearerAuth` (a ``requests.auth.AuthBase``)."""

from __future__ import annotations

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

    def __repr__(self) -> str:
        return f"BearerAuth({self.credentials!r})"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.credentials.get_access_token().access_token
        r.headers["Authorization"] = rfc6750.authorization_header(token)
        position = None
        body = r.body
        if hasattr(body, "seek") and hasattr(body, "tell"):
            try:
                position = body.tell()  # type: ignore[union-attr]
            except OSError:
                position = None
        r.register_hook("response", self._on_response(token, position))  # type: ignore[no-untyped-call]
        return r

    def _on_response(self, token: str, position: int | None) -> Any:
        def hook(response: requests.Response, **kwargs: Any) -> requests.Response:
            if response.status_code != 401 or not rfc6750.is_invalid_token(
                401, dict(response.headers)
            ):
                return response
            request = response.request.copy()
            if position is not None:
                request.body.seek(position)  # type: ignore[union-attr]
            response.content  # noqa: B018 - drain so the connection can be reused
            response.close()
            self.credentials.refresh_if_token(token)
            fresh = self.credentials.get_access_token().access_token
            request.headers["Authorization"] = rfc6750.authorization_header(fresh)
            request.hooks["response"] = []
            replay = response.connection.send(request, **kwargs)
            replay.history.append(response)
            replay.request = request
            return replay

        return hook
