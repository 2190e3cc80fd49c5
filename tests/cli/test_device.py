"""RFC 8628 polling as a flow: virtual time (FakeClock) for the intervals, and end to end
against oidc-provider."""

from __future__ import annotations

import asyncio
import datetime
import json

import pytest

from oauthkit import _drivers
from oauthkit._clock import FakeClock
from oauthkit._device import device_token_flow, poll
from oauthkit._errors import (
    AccessDeniedError,
    ExpiredTokenError,
    FlowExchangeError,
    InvalidClientError,
    TransportError,
)
from oauthkit._models import Request, Response
from oauthkit._protocol import rfc8628
from oauthkit._webflow import OAuth2WebServerFlow
from tests.oidc.fixture import OidcServer
from tests.oidc.useragent import ScriptedUserAgent

TOKEN_URI = "https://as.example/token"


def error(code: str) -> Response:
    return Response(400, {"content-type": "application/json"}, json.dumps({"error": code}).encode())


TOKEN = Response(
    200,
    {"content-type": "application/json"},
    json.dumps({"access_token": "at", "token_type": "Bearer", "expires_in": 60}).encode(),
)


class Replies:
    """A Transport answering from a list (an Exception is raised instead of answered)."""

    def __init__(self, *replies: Response | Exception) -> None:
        self.replies = list(replies)
        self.sent: list[Request] = []

    def send(self, request: Request) -> Response:
        self.sent.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def make_request() -> Request:
    from oauthkit._protocol.rfc6749 import ClientAuth

    return rfc8628.device_token_request(TOKEN_URI, "dc", ClientAuth("cid", None, "none"))


def test_slow_down_adds_five_seconds_each_time() -> None:
    clock = FakeClock()
    transport = Replies(
        error("authorization_pending"), error("slow_down"), error("slow_down"), TOKEN
    )
    token = _drivers.run(device_token_flow(make_request, 5, None, clock), transport, clock)
    assert token.access_token == "at"
    assert clock.slept == [5, 5, 10, 15]
    body = transport.sent[0].body.decode()
    assert "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code" in body
    assert "device_code=dc" in body


def test_intervals_in_the_async_driver_too() -> None:
    slept: list[float] = []

    class AsyncReplies(Replies):
        async def send(self, request: Request) -> Response:  # type: ignore[override]
            return Replies.send(self, request)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    transport = AsyncReplies(error("slow_down"), TOKEN)
    flow = device_token_flow(make_request, 5, None, FakeClock())
    token = asyncio.run(_drivers.run_async(flow, transport, sleep))
    assert token.access_token == "at"
    assert slept == [5, 10]


@pytest.mark.parametrize(
    ("code", "exc"), [("expired_token", ExpiredTokenError), ("access_denied", AccessDeniedError)]
)
def test_terminal_errors_are_typed(code: str, exc: type[Exception]) -> None:
    clock = FakeClock()
    transport = Replies(error("authorization_pending"), error(code))
    with pytest.raises(exc):
        _drivers.run(device_token_flow(make_request, 5, None, clock), transport, clock)
    assert clock.slept == [5, 5]


def test_other_errors_end_the_flow() -> None:
    clock = FakeClock()
    with pytest.raises(InvalidClientError):
        _drivers.run(
            device_token_flow(make_request, 5, None, clock), Replies(error("invalid_client")), clock
        )


def test_local_expiry_stops_polling() -> None:
    clock = FakeClock()
    expires = clock.now() + datetime.timedelta(seconds=12)
    transport = Replies(*[error("authorization_pending")] * 5)
    with pytest.raises(ExpiredTokenError):
        _drivers.run(device_token_flow(make_request, 5, expires, clock), transport, clock)
    assert clock.slept == [5, 5]
    assert len(transport.sent) == 2


def test_network_errors_back_off() -> None:
    clock = FakeClock()
    transport = Replies(TransportError("down"), TransportError("down"), TOKEN)
    _drivers.run(device_token_flow(make_request, 5, None, clock), transport, clock)
    assert clock.slept == [5, 10, 20]


def device_flow(server: OidcServer) -> OAuth2WebServerFlow:
    return OAuth2WebServerFlow(
        "public-native",
        None,
        "openid email offline_access",
        auth_uri=server.authorization_endpoint,
        token_uri=server.token_endpoint,
        device_uri=server.device_authorization_endpoint,
        revoke_uri=server.revocation_endpoint,
        issuer=server.issuer,
        prompt="consent",
    )


@pytest.mark.oidc
def test_device_grant_end_to_end(oidc_server: OidcServer) -> None:
    clock = FakeClock(datetime.datetime.now(datetime.timezone.utc))
    flow = device_flow(oidc_server)
    info = flow.step1_get_device_and_user_codes()
    assert info.interval == 5
    with ScriptedUserAgent(oidc_server.issuer) as agent:
        agent.device_login(info.verification_url, info.user_code)
    credentials = poll(flow, info, clock=clock)
    assert clock.slept == [5]  # virtual time: the user had already approved
    assert credentials.access_token
    assert credentials.id_token is not None and credentials.id_token["sub"] == "alice"


@pytest.mark.oidc
def test_device_grant_denied_end_to_end(oidc_server: OidcServer) -> None:
    flow = device_flow(oidc_server)
    info = flow.step1_get_device_and_user_codes()
    with ScriptedUserAgent(oidc_server.issuer) as agent:
        agent.device_login(info.verification_url, info.user_code, consent=False)
    with pytest.raises(AccessDeniedError) as denied:
        poll(flow, info, clock=FakeClock(datetime.datetime.now(datetime.timezone.utc)))
    assert isinstance(denied.value, FlowExchangeError)
