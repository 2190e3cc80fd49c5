"""Layer 1 flows, driven by hand (next/send/throw) and by both drivers."""

from __future__ import annotations

import asyncio
import json

import pytest

from oauthkit._clock import FakeClock
from oauthkit._drivers import run, run_async
from oauthkit._errors import InvalidGrantError, InvalidResponseError, TransportError
from oauthkit._flows import RetryPolicy, revoke_flow, token_flow
from oauthkit._models import Request, Response, Sleep

GOOD = Response(
    200, {}, json.dumps({"access_token": "a", "token_type": "Bearer", "expires_in": 60}).encode()
)


def make_request() -> Request:
    return Request("POST", "https://as.example/token", {}, b"grant_type=refresh_token")


def test_token_flow_by_hand_success() -> None:
    clock = FakeClock()
    flow = token_flow(make_request, clock)
    req = next(flow)
    assert isinstance(req, Request) and req.url == "https://as.example/token"
    with pytest.raises(StopIteration) as done:
        flow.send(GOOD)
    assert done.value.value.access_token == "a"


def test_retry_on_503_honours_retry_after_then_succeeds() -> None:
    clock = FakeClock()
    flow = token_flow(make_request, clock, RetryPolicy(attempts=3))
    next(flow)
    step = flow.send(Response(503, {"retry-after": "7"}, b""))
    assert step == Sleep(7.0)
    assert isinstance(flow.send(None), Request)
    with pytest.raises(StopIteration):
        flow.send(GOOD)


def test_retry_on_network_error_with_exponential_backoff() -> None:
    flow = token_flow(make_request, FakeClock(), RetryPolicy(attempts=3, base_delay=1.0))
    next(flow)
    first = flow.throw(TransportError("boom"))
    assert isinstance(first, Sleep) and 0.5 <= first.seconds <= 1.0
    flow.send(None)
    second = flow.throw(TransportError("boom"))
    assert isinstance(second, Sleep) and 1.0 <= second.seconds <= 2.0
    flow.send(None)
    with pytest.raises(TransportError):
        flow.throw(TransportError("boom"))


def test_retries_are_bounded_and_last_error_is_typed() -> None:
    flow = token_flow(make_request, FakeClock(), RetryPolicy(attempts=2))
    next(flow)
    assert isinstance(flow.send(Response(500, {}, b"<html/>")), Sleep)
    flow.send(None)
    with pytest.raises(InvalidResponseError) as info:
        flow.send(Response(500, {}, b"<html/>"))
    assert info.value.status == 500


def test_no_retry_on_invalid_grant() -> None:
    flow = token_flow(make_request, FakeClock(), RetryPolicy(attempts=5))
    next(flow)
    with pytest.raises(InvalidGrantError):
        flow.send(Response(400, {}, b'{"error": "invalid_grant"}'))


class ListTransport:
    def __init__(self, *responses: Response | Exception) -> None:
        self.responses = list(responses)
        self.sent: list[Request] = []

    def send(self, request: Request) -> Response:
        self.sent.append(request)
        item = self.responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


class AsyncListTransport(ListTransport):
    async def send(self, request: Request) -> Response:  # type: ignore[override]
        return ListTransport.send(self, request)


def test_sync_driver_sleeps_through_the_clock() -> None:
    clock = FakeClock()
    transport = ListTransport(TransportError("x"), Response(429, {"retry-after": "3"}, b""), GOOD)
    token = run(
        token_flow(make_request, clock, RetryPolicy(attempts=3, base_delay=2)), transport, clock
    )
    assert token.access_token == "a"
    assert len(transport.sent) == 3
    assert clock.slept[1] == 3.0 and 1.0 <= clock.slept[0] <= 2.0


def test_async_driver_runs_the_same_flow() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    transport = AsyncListTransport(Response(503, {"retry-after": "2"}, b""), GOOD)
    token = asyncio.run(
        run_async(token_flow(make_request, FakeClock(), RetryPolicy()), transport, sleep)
    )
    assert token.access_token == "a"
    assert slept == [2.0]


def test_revoke_flow_retries_503_then_accepts_200() -> None:
    clock = FakeClock()
    transport = ListTransport(Response(503, {"retry-after": "1"}, b""), Response(200, {}, b""))
    run(revoke_flow(make_request, RetryPolicy()), transport, clock)
    assert clock.slept == [1.0]
