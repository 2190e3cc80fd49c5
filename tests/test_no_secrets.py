"""No token or secret in any repr, exception text or log line (SECURITY.md C50)."""

from __future__ import annotations

import datetime
import errno
import inspect
import logging
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

import oauthkit
from oauthkit import _errors
from oauthkit._models import Request, Response
from oauthkit._protocol.rfc6749 import ClientAuth
from oauthkit.client import OAuth2Credentials, OAuth2WebServerFlow
from tests.scripted_server import Canned, ScriptedServer

AT, RT, SECRET, CODE = "AT-CANARY-1", "RT-CANARY-2", "SECRET-CANARY-3", "CODE-CANARY-4"
CANARIES = (AT, RT, SECRET, CODE)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    yield caplog


def assert_clean(*texts: object) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in str(text), f"{canary} leaked into {text!r}"


def creds(server: ScriptedServer, refresh_token: str = RT) -> OAuth2Credentials:
    return OAuth2Credentials(
        AT,
        "client",
        SECRET,
        refresh_token,
        datetime.datetime(2000, 1, 1),
        server.url + "/token",
        None,
        revoke_uri=server.url + "/revoke",
        retry=oauthkit.RetryPolicy(attempts=1),
    )


HOSTILE = [
    Canned(400, {"error": "invalid_grant", "error_description": f"bad {RT} and {SECRET}"}),
    Canned(401, {"error": "invalid_client", "error_uri": f"https://x/?s={SECRET}"}),
    Canned(500, f"<html>{RT} {AT}</html>"),
    Canned(200, {"access_token": 5, "token_type": "Bearer", "refresh_token": RT}),
    Canned(200, f'{{"access_token": "{AT}", "token_type": "mac"}}'),
    Canned(302, b"", {"Location": "https://evil.example/"}),
]
# What a flow knows while exchanging: its client secret and the code. A hostile token endpoint
# that echoes them must not get them into our messages.
HOSTILE_EXCHANGE = [
    Canned(400, {"error": "invalid_grant", "error_description": f"bad {CODE} and {SECRET}"}),
    Canned(401, {"error": "invalid_client", "error_uri": f"https://x/?s={SECRET}&c={CODE}"}),
    *HOSTILE[2:],
]


@pytest.mark.parametrize("canned", HOSTILE)
def test_refresh_failures_leak_nothing(
    server: ScriptedServer, debug_logs: pytest.LogCaptureFixture, canned: Canned
) -> None:
    server.queue("/token", canned)
    c = creds(server)
    with pytest.raises(_errors.OAuthError) as info:
        c.get_access_token()
    err = info.value
    assert_clean(str(err), repr(err), err.args, err.description, err.uri, repr(c))
    assert_clean(pickle.loads(pickle.dumps(err)))
    assert_clean(*(r.getMessage() for r in debug_logs.records))


@pytest.mark.parametrize("canned", HOSTILE_EXCHANGE)
def test_exchange_failures_leak_nothing(
    server: ScriptedServer, debug_logs: pytest.LogCaptureFixture, canned: Canned
) -> None:
    server.queue("/token", canned)
    flow = OAuth2WebServerFlow(
        "client",
        SECRET,
        "email",
        redirect_uri="https://app.example/cb",
        auth_uri=server.url + "/auth",
        token_uri=server.url + "/token",
    )
    flow.step1_get_authorize_url()
    with pytest.raises(_errors.OAuthError) as info:
        flow.step2_exchange({"code": CODE, "state": flow.state or ""})
    assert_clean(str(info.value), repr(info.value), repr(flow))
    assert_clean(*(r.getMessage() for r in debug_logs.records))


def test_successful_calls_log_nothing_secret(
    server: ScriptedServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    server.refresh_token = RT
    c = creds(server)
    with c.authorize(httpx.Client()) as client:
        client.get(server.url + "/api/x")
    with c.authorize(requests.Session()) as session:
        session.get(server.url + "/api/x")
    c.revoke()
    assert len(debug_logs.records) > 0
    assert_clean(*(r.getMessage() for r in debug_logs.records), repr(c))


def test_reprs_of_values_hide_secrets() -> None:
    req = Request(
        "POST",
        "https://as.example/token",
        {"authorization": f"Basic {SECRET}"},
        f"refresh_token={RT}".encode(),
    )
    resp = Response(200, {}, f'{{"access_token": "{AT}"}}'.encode())
    from oauthkit.transport._httpx import BearerAuth

    c = OAuth2Credentials(AT, "c", SECRET, RT, None, "https://t/t", None)
    assert_clean(repr(req), repr(resp), repr(ClientAuth("c", SECRET)), repr(c), repr(BearerAuth(c)))


def public_error_classes() -> list[type[_errors.OAuthError]]:
    return [
        obj
        for obj in vars(_errors).values()
        if inspect.isclass(obj) and issubclass(obj, _errors.OAuthError)
    ]


@pytest.mark.parametrize("cls", public_error_classes(), ids=lambda c: c.__name__)
def test_every_public_error_is_typed_structured_and_scrubbable(
    cls: type[_errors.OAuthError],
) -> None:
    err = cls(f"server said {RT}", error="e", uri=f"https://x/{SECRET}", status=400)
    assert (err.error, err.status) == ("e", 400)
    err.scrub(RT, SECRET)
    assert_clean(str(err), repr(err), err.args)
    assert isinstance(err, _errors.OAuthError)
    for context in (_errors.FlowExchangeError, _errors.HttpAccessTokenRefreshError):
        combined: Any = _errors.in_context(err, context)
        assert isinstance(combined, cls) and isinstance(combined, context)
        again = pickle.loads(pickle.dumps(combined))
        assert type(again) is type(combined) and again.error == "e"


def test_lost_answers_and_failed_saves_leak_nothing(
    server: ScriptedServer,
    debug_logs: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from oauthkit import _refresh
    from oauthkit.storage import FileStore, bind

    retrier = _refresh.PersistRetrier(base_delay=60)  # no background attempt in this test
    monkeypatch.setattr(_refresh, "PERSIST_RETRIER", retrier)
    # the answer is lost; the retry is refused by a server echoing the refresh token
    lost = Canned(200, {"access_token": AT, "token_type": "Bearer"}, delay_event=server.stall)
    server.queue("/token", lost, HOSTILE[0])
    c = creds(server)
    with (
        httpx.Client(timeout=httpx.Timeout(0.3)) as http,
        pytest.raises(oauthkit.RefreshOutcomeUnknownError) as unknown,
    ):
        c.get_access_token(http)
    err: Any = unknown.value
    assert_clean(str(err), repr(err), str(err.__cause__), err.__cause__.description, repr(c))
    assert_clean(pickle.loads(pickle.dumps(err)))
    # a refresh whose save fails, then the exit hook's last attempt fails too
    storage = bind(FileStore(tmp_path / "c.json"), "k")
    storage.put(creds(server))
    bound = storage.get()
    assert isinstance(bound, OAuth2Credentials)
    body = {"access_token": AT, "token_type": "Bearer", "refresh_token": RT, "expires_in": 60}
    server.queue("/token", Canned(200, body))

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(oauthkit.NotPersistedError) as failed:
        bound.get_access_token()
    saved: Any = failed.value
    assert_clean(str(saved), repr(saved), str(saved.__cause__), pickle.loads(pickle.dumps(saved)))
    retrier.flush_at_exit()
    retrier.stop()
    messages = [r.getMessage() for r in debug_logs.records]
    assert any("never saved" in m for m in messages)
    assert_clean(*messages)
