"""Token-endpoint conversations, each written once as a generator (see ``_drivers``).

These flows hold the retry policy: which failures are worth another try, how long to wait,
and how often. They never sleep themselves; they yield :class:`Sleep`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from oauthkit._clock import Clock
from oauthkit._drivers import Flow
from oauthkit._errors import InvalidResponseError, TransportError
from oauthkit._models import Request, Response, Sleep, Token
from oauthkit._protocol import rfc6749, rfc7009

__all__ = ["RetryPolicy", "revoke_flow", "token_flow"]

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retry with exponential backoff and full jitter.

    ``attempts`` counts every try, the first included. ``Retry-After`` (in seconds) is
    honoured up to ``max_delay``.
    """

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, retry: int, response: Response | None) -> float:
        if response is not None:
            after = response.header("retry-after")
            if after is not None and after.strip().isdigit():
                return min(float(after.strip()), self.max_delay)
        backoff: float = min(self.max_delay, self.base_delay * (2 ** (retry - 1)))
        return backoff * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


NO_RETRY = RetryPolicy(attempts=1)


def _with_retry(make_request: Callable[[], Request], policy: RetryPolicy) -> Flow[Response]:
    """Send a request, retrying on network errors, 429 and 5xx, and return the last response."""
    tries = 0
    while True:
        tries += 1
        try:
            response = yield make_request()
        except TransportError:
            if tries >= policy.attempts:
                raise
            yield Sleep(policy.delay(tries, None))
            continue
        if response is None:  # pragma: no cover - a driver bug
            raise InvalidResponseError("no response")
        if response.status in RETRYABLE_STATUS and tries < policy.attempts:
            yield Sleep(policy.delay(tries, response))
            continue
        return response


def token_flow(
    make_request: Callable[[], Request], clock: Clock, policy: RetryPolicy = NO_RETRY
) -> Flow[Token]:
    """One token-endpoint request (code exchange, refresh, any grant) parsed strictly
    (RFC 6749 §5.1, §5.2), with ``policy`` deciding about retries."""
    response = yield from _with_retry(make_request, policy)
    return rfc6749.parse_token_response(response, clock.now())


def revoke_flow(make_request: Callable[[], Request], policy: RetryPolicy) -> Flow[None]:
    """RFC 7009 revocation; 503 and network errors retried per ``policy`` (§2.2.1)."""
    response = yield from _with_retry(make_request, policy)
    rfc7009.parse_revocation_response(response)
