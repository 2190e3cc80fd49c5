"""Plain values exchanged between the protocol core, the flows and the transports.

Layer 0: no I/O. A flow builds :class:`Request` values and reads :class:`Response` values;
a transport turns one into the other. :class:`Sleep` asks a driver to wait (backoff,
polling) so that flows never call ``time.sleep`` themselves.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Request", "Response", "Sleep", "Token"]


@dataclass(frozen=True)
class Request:
    """An HTTP request as data.

    ``follow_redirects`` is ``False`` for every request the library itself sends to an
    authorization server (RFC 9700 §4.12: credentials never follow a redirect).
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    follow_redirects: bool = False

    def __repr__(self) -> str:  # the body and headers may carry secrets
        return f"Request({self.method} {self.url.split('?', 1)[0]})"


@dataclass(frozen=True)
class Response:
    """An HTTP response as data. Header names are lower-case."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __repr__(self) -> str:  # the body may carry tokens
        return f"Response({self.status}, {len(self.body)} bytes)"


@dataclass(frozen=True)
class Sleep:
    """Ask the driver to wait ``seconds`` before resuming the flow."""

    seconds: float


@dataclass(frozen=True)
class Token:
    """A parsed successful token response (RFC 6749 §5.1).

    ``expires_at`` is timezone-aware UTC, computed from ``expires_in`` and the injected
    clock at the time the response was parsed; ``None`` when the server gave no lifetime.
    ``raw`` holds every member of the response, known or not.
    """

    access_token: str
    token_type: str
    expires_at: datetime.datetime | None = None
    refresh_token: str | None = None
    scope: tuple[str, ...] | None = None
    id_token: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Token(token_type={self.token_type!r}, expires_at={self.expires_at!r}, "
            f"scope={self.scope!r}, refresh_token={'present' if self.refresh_token else None})"
        )
