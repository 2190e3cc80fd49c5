"""RFC 6750, Bearer Token Usage: presenting a token and reading the resource server's
challenge. Tokens go in the Authorization header only, never in a URL (§2.3, §5.3)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from oauthkit._models import Response

__all__ = ["authorization_header", "is_invalid_token", "parse_www_authenticate"]

_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def authorization_header(access_token: str) -> str:
    """The value of the Authorization header (§2.1)."""
    return f"Bearer {access_token}"


def parse_www_authenticate(value: str | None) -> dict[str, str]:
    """The auth-params of a ``WWW-Authenticate: Bearer ...`` challenge (§3), or {}."""
    if not value or not value.strip().lower().startswith("bearer"):
        return {}
    out: dict[str, str] = {}
    for match in _PARAM.finditer(value.strip()[6:]):
        key, quoted, bare = match.groups()
        out[key] = quoted.replace('\\"', '"') if quoted is not None else bare
    return out


def is_invalid_token(response: Response | int, headers: Mapping[str, str] | None = None) -> bool:
    """Whether a resource server's answer means "this access token is no good" (§3.1):
    401, unless its challenge names another error (such as ``insufficient_scope``).

    Cheap on the hot path: the headers are looked at only for a 401."""
    if isinstance(response, Response):
        status = response.status
        if status != 401:
            return False
        challenge = response.header("www-authenticate")
    else:
        if response != 401:
            return False
        challenge = None
        for key, value in (headers or {}).items():
            if key.lower() == "www-authenticate":
                challenge = value
    error = parse_www_authenticate(challenge).get("error")
    return error in (None, "invalid_token")
