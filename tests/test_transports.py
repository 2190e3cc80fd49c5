"""One contract suite for every transport (httpx, requests, httplib2), and for
``credentials.authorize(client)`` on each, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
from collections.abc import Iterator
from typing import Any

import httplib2
import httpx
import pytest
import requests

from oauthkit._drivers import Transport, to_async_transport, to_transport
from oauthkit._errors import ConfigurationError, InvalidResponseError, TransportError
from oauthkit._models import Request
from oauthkit._protocol.rfc6749 import MAX_BODY
from oauthkit.client import AccessTokenCredentials, AccessTokenCredentialsError
from tests.conftest import expired_credentials
from tests.scripted_server import Canned, ScriptedServer

KINDS = ["httpx", "requests", "httplib2"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(kind: str) -> Iterator[Any]:
    if kind == "httpx":
        c: Any = httpx.Client()
    elif kind == "requests":
        c = requests.Session()
    else:
        c = httplib2.Http()
    yield c
    c.close()


def get(kind: str, http: Any, url: str, method: str = "GET", body: Any = None) -> tuple[int, bytes]:
    if kind == "httpx":
        if hasattr(body, "read"):
            body = body.read()
        r = http.request(method, url, content=body)
        return r.status_code, r.content
    if kind == "requests":
        r = http.request(method, url, data=body)
        return r.status_code, r.content
    headers = {"content-length": str(len(body.getvalue()))} if hasattr(body, "getvalue") else None
    resp, content = http.request(url, method, body=body, headers=headers)
    return int(resp.status), content


# --- Transport.send ---------------------------------------------------------------------------


def test_adapter_is_chosen_by_client_type(client: Any) -> None:
    transport = to_transport(client)
    assert isinstance(transport, Transport)
    assert type(transport).__module__.startswith("oauthkit.transport.")


def test_send_delivers_method_headers_and_body(client: Any, server: ScriptedServer) -> None:
    transport = to_transport(client)
    server.queue("/echo", Canned(201, {"ok": 1}, {"X-Thing": "v"}))
    resp = transport.send(
        Request(
            "POST",
            server.url + "/echo",
            {"x-custom": "1", "content-type": "text/plain"},
            b"payload",
        )
    )
    assert resp.status == 201
    assert json.loads(resp.body) == {"ok": 1}
    assert resp.header("X-Thing") == "v"
    (seen,) = server.requests_to("/echo")
    assert (seen.method, seen.body, seen.headers["x-custom"]) == ("POST", b"payload", "1")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(client: Any, server: ScriptedServer, status: int) -> None:
    server.queue("/token", Canned(status, b"", {"Location": server.url + "/other"}))
    resp = to_transport(client).send(Request("POST", server.url + "/token", {}, b"a=b"))
    assert resp.status == status
    assert server.count("/other") == 0


def test_connection_refused_is_transport_error(client: Any) -> None:
    with ScriptedServer() as dead:
        url = dead.url
    with pytest.raises(TransportError) as info:
        to_transport(client).send(Request("GET", url + "/x"))
    assert info.value.__cause__ is not None


def test_oversized_body_is_refused(client: Any, server: ScriptedServer) -> None:
    server.queue("/big", Canned(200, b"x" * (MAX_BODY + 10)))
    with pytest.raises(InvalidResponseError):
        to_transport(client).send(Request("GET", server.url + "/big"))


def test_default_transport_is_the_stdlib_pool(server: ScriptedServer) -> None:
    from oauthkit.transport._stdlib import StdlibTransport

    transport = to_transport(None)
    assert isinstance(transport, StdlibTransport)
    resp = transport.send(Request("GET", server.url + "/nothing"))
    assert resp.status == 404


def test_unknown_client_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        to_transport(object())


def test_requests_session_without_tls_verification_is_refused(server: ScriptedServer) -> None:
    with requests.Session() as session:
        session.verify = False
        with pytest.raises(ConfigurationError):
            to_transport(session).send(Request("POST", server.url + "/token"))
    assert server.count("/token") == 0


def test_async_transport(server: ScriptedServer) -> None:
    async def main() -> int:
        async with httpx.AsyncClient() as c:
            r1 = await to_async_transport(c).send(Request("GET", server.url + "/x"))
        r2 = await to_async_transport(None).send(Request("GET", server.url + "/x"))
        return r1.status + r2.status

    assert asyncio.run(main()) == 808


# --- authorize(): the classic contract on every client ------------------------------------------


def fresh_credentials(server: ScriptedServer, token: str) -> Any:
    creds = expired_credentials(server)
    creds.access_token = token
    creds.token_expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    return creds


def test_authorize_returns_same_object_and_adds_bearer(
    kind: str, client: Any, server: ScriptedServer
) -> None:
    creds = fresh_credentials(server, "at-0")
    assert creds.authorize(client) is client
    status, _body = get(kind, client, server.url + "/api/x?q=1")
    assert status == 200
    (seen,) = server.requests_to("/api/x")
    assert seen.headers["authorization"] == "Bearer at-0"
    assert "at-0" not in seen.path
    assert server.count("/token") == 0


def test_authorize_refreshes_expired_token_first(
    kind: str, client: Any, server: ScriptedServer
) -> None:
    creds = expired_credentials(server)
    creds.authorize(client)
    status, _ = get(kind, client, server.url + "/api/x")
    assert status == 200
    assert server.count("/token") == 1
    assert [s.headers["authorization"] for s in server.requests_to("/api/x")] == ["Bearer at-1"]


def test_401_refreshes_once_and_replays_body(
    kind: str, client: Any, server: ScriptedServer
) -> None:
    creds = fresh_credentials(server, "revoked-by-server")
    creds.authorize(client)
    status, body = get(kind, client, server.url + "/api/x", "POST", b"the body")
    assert status == 200
    assert json.loads(body)["body"] == "the body"
    calls = server.requests_to("/api/x")
    assert [c.headers["authorization"] for c in calls] == [
        "Bearer revoked-by-server",
        "Bearer at-1",
    ]
    assert [c.body for c in calls] == [b"the body", b"the body"]
    assert server.count("/token") == 1


# httpx reads the whole body before its auth flow (requires_request_body): nothing to rewind.
@pytest.mark.parametrize("kind", ["requests", "httplib2"])
def test_seekable_body_is_rewound_on_replay(kind: str, client: Any, server: ScriptedServer) -> None:
    creds = fresh_credentials(server, "stale")
    creds.authorize(client)
    stream = io.BytesIO(b"streamed body")
    status, _body = get(kind, client, server.url + "/api/x", "PUT", stream)
    assert status == 200
    assert [c.body for c in server.requests_to("/api/x")] == [b"streamed body"] * 2


def test_second_401_is_returned_not_looped(kind: str, client: Any, server: ScriptedServer) -> None:
    server.queue("/api/x", *[Canned(401, b"", {"WWW-Authenticate": 'Bearer realm="api"'})] * 2)
    creds = fresh_credentials(server, "at-0")
    creds.authorize(client)
    status, _ = get(kind, client, server.url + "/api/x")
    assert status == 401
    assert server.count("/api/x") == 2
    assert server.count("/token") == 1


def test_insufficient_scope_401_does_not_refresh(
    kind: str, client: Any, server: ScriptedServer
) -> None:
    server.queue(
        "/api/x", Canned(401, b"", {"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
    )
    creds = fresh_credentials(server, "at-0")
    creds.authorize(client)
    status, _ = get(kind, client, server.url + "/api/x")
    assert status == 401
    assert server.count("/token") == 0


def test_access_token_credentials_raise_on_401(
    kind: str, client: Any, server: ScriptedServer
) -> None:
    AccessTokenCredentials("not-accepted", "ua").authorize(client)
    with pytest.raises(AccessTokenCredentialsError):
        get(kind, client, server.url + "/api/x")


def test_httplib2_classic_attributes(server: ScriptedServer) -> None:
    http = httplib2.Http()
    try:
        creds = fresh_credentials(server, "at-0")
        authorized = creds.authorize(http)
        assert authorized.request.credentials is creds  # type: ignore[attr-defined]
        creds.authorize(http)  # authorizing twice does not stack wrappers
        authorized.request(server.url + "/api/x")
        assert server.count("/api/x") == 1
    finally:
        http.close()


def test_httpx_async_client_authorized(server: ScriptedServer) -> None:
    creds = expired_credentials(server)

    async def main() -> list[int]:
        async with creds.authorize(httpx.AsyncClient()) as c:
            rs = await asyncio.gather(*(c.get(server.url + "/api/x") for _ in range(10)))
            return [r.status_code for r in rs]

    assert asyncio.run(main()) == [200] * 10
    assert server.count("/token") == 1
