"""The device authorization grant's polling (RFC 8628 §3.4, §3.5), written once as a flow.

:func:`device_token_flow` is a generator flow (see ``_drivers``): it yields
:class:`~oauthkit._models.Sleep` between polls and a token :class:`~oauthkit._models.Request`
per poll, so the sync driver, the async driver and a :class:`~oauthkit._clock.FakeClock`
all run it unchanged. :func:`poll` runs it for a classic ``OAuth2WebServerFlow`` and a
:class:`~oauthkit._webflow.DeviceFlowInfo`.

Polling rules (§3.5): wait ``interval`` seconds (5 when the server gave none) before each
request; ``authorization_pending`` -> poll again; ``slow_down`` -> add 5 seconds to the
interval for this and every later poll; ``access_denied`` and ``expired_token`` end the
flow as :class:`~oauthkit._errors.AccessDeniedError` and
:class:`~oauthkit._errors.ExpiredTokenError`; the device code's ``expires_in`` is honoured
locally too. A network failure backs off exponentially (§3.5: "SHOULD ... exponential
backoff").
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from oauthkit import _drivers
from oauthkit._clock import SYSTEM_CLOCK, Clock
from oauthkit._credentials import OAuth2Credentials
from oauthkit._errors import (
    AuthorizationPendingError,
    ExpiredTokenError,
    FlowExchangeError,
    OAuthError,
    SlowDownError,
    TransportError,
    in_context,
)
from oauthkit._models import Request, Sleep, Token
from oauthkit._protocol import rfc6749, rfc8628
from oauthkit._webflow import DeviceFlowInfo, OAuth2WebServerFlow

__all__ = ["SLOW_DOWN_STEP", "device_token_flow", "poll"]

SLOW_DOWN_STEP = 5  # seconds added to the interval on every slow_down (RFC 8628 §3.5)
MAX_BACKOFF = 300.0


def device_token_flow(
    make_request: Callable[[], Request],
    interval: float,
    expires_at: datetime.datetime | None,
    clock: Clock,
) -> _drivers.Flow[Token]:
    """Poll the token endpoint until the user approved (RFC 8628 §3.4, §3.5).

    Returns the :class:`Token`; raises :class:`ExpiredTokenError` (from the server, or when
    ``expires_at`` passes), :class:`AccessDeniedError`, or any other token endpoint error.
    """
    interval = float(interval if interval and interval > 0 else rfc8628.DEFAULT_INTERVAL)
    wait = interval
    while True:
        if expires_at is not None and clock.now() + datetime.timedelta(seconds=wait) > expires_at:
            raise ExpiredTokenError(
                "the device code expired before the user approved the request",
                error="expired_token",
            )
        yield Sleep(wait)
        wait = interval
        try:
            response = yield make_request()
        except TransportError:
            # §3.5: back off on connection timeouts, never poll faster than `interval`.
            interval = min(interval * 2, MAX_BACKOFF)
            wait = interval
            continue
        if response is None:  # pragma: no cover - a driver bug
            raise TransportError("no response")
        try:
            return rfc6749.parse_token_response(response, clock.now())
        except AuthorizationPendingError:
            continue
        except SlowDownError:
            interval += SLOW_DOWN_STEP
            wait = interval


def poll(
    flow: OAuth2WebServerFlow,
    info: DeviceFlowInfo,
    http: Any = None,
    clock: Clock | None = None,
) -> OAuth2Credentials:
    """Poll until the user approves the device request ``info`` started with
    ``flow.step1_get_device_and_user_codes()``; return the flow's ``OAuth2Credentials``.

    Errors are raised as their RFC 8628 class combined with :class:`FlowExchangeError`
    (``except ExpiredTokenError`` and the classic ``except FlowExchangeError`` both work).
    """
    clock = clock or getattr(flow, "_clock", None) or SYSTEM_CLOCK
    client = flow._client_auth()
    token_uri = flow.token_uri
    device_code = info.device_code

    def make_request() -> Request:
        return rfc8628.device_token_request(token_uri, device_code, client)

    try:
        token = _drivers.run(
            device_token_flow(make_request, info.interval, info.user_code_expiry, clock),
            _drivers.to_transport(http),
            clock,
        )
        return flow._credentials(token)
    except OAuthError as exc:
        exc.scrub(flow.client_secret, device_code)
        raise in_context(exc, FlowExchangeError) from exc.__cause__
