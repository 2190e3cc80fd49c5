"""What every transport shares: limits and the mapping of failures."""

from __future__ import annotations

from oauthkit._errors import InvalidResponseError
from oauthkit._protocol.rfc6749 import MAX_BODY

__all__ = ["CONNECT_TIMEOUT", "MAX_BODY", "READ_TIMEOUT", "too_large"]

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0


def too_large(status: int) -> InvalidResponseError:
    return InvalidResponseError(
        f"the response body exceeds {MAX_BODY} bytes; refusing to read it", status=status
    )
