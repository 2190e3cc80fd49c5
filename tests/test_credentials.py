"""Credentials: classic attributes and JSON, expiry, refresh policy and concurrency, run against
a real HTTP token endpoint on 127.0.0.1 (tests/scripted_server.py)."""

from __future__ import annotations

import asyncio
import datetime
import json
import pickle
import threading

import httplib2
import pytest

from oauthkit import FakeClock
from oauthkit._errors import ConfigurationError, InvalidGrantError, TransportError
from oauthkit.client import (
    AccessTokenCredentials,
    AccessTokenCredentialsError,
    AccessTokenInfo,
    AccessTokenRefreshError,
    Credentials,
    HttpAccessTokenRefreshError,
    OAuth2Credentials,
    Storage,
    TokenRevokeError,
)
from tests.conftest import expired_credentials
from tests.scripted_server import Canned, ScriptedServer

UTC = datetime.timezone.utc

# Written by oauth2client 4.1.3 itself (OAuth2Credentials(...).to_json()).
CLASSIC_JSON = (
    '{"access_token": "at", "client_id": "cid", "client_secret": "sec", "refresh_token": "rt", '
    '"token_expiry": "2030-01-02T03:04:05Z", "token_uri": "https://oauth2.googleapis.com/token",'
    ' "user_agent": "ua", "revoke_uri": "https://oauth2.googleapis.com/revoke", "id_token": null,'
    ' "id_token_jwt": null, "token_response": {"access_token": "at"}, "scopes": ["b", "a"], '
    '"token_info_uri": null, "invalid": false, "_class": "OAuth2Credentials", '
    '"_module": "oauth2client.client"}'
)
CLASSIC_ACCESS_TOKEN_JSON = (
    '{"access_token": "tok", "client_id": null, "client_secret": null, "refresh_token": null, '
    '"token_expiry": null, "token_uri": null, "user_agent": "ua", "revoke_uri": null, '
    '"id_token": null, "id_token_jwt": null, "token_response": null, "scopes": [], '
    '"token_info_uri": null, "invalid": false, "_class": "AccessTokenCredentials", '
    '"_module": "oauth2client.client"}'
)


# --- JSON ------------------------------------------------------------------------------------


def test_oauth2client_json_loads_unchanged() -> None:
    creds = Credentials.new_from_json(CLASSIC_JSON)
    assert isinstance(creds, OAuth2Credentials)
    assert (creds.access_token, creds.client_id, creds.client_secret, creds.refresh_token) == (
        "at",
        "cid",
        "sec",
        "rt",
    )
    assert creds.token_expiry == datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert creds.scopes == {"a", "b"}
    assert creds.user_agent == "ua"
    assert creds.revoke_uri == "https://oauth2.googleapis.com/revoke"
    assert creds.invalid is False
    at = Credentials.new_from_json(CLASSIC_ACCESS_TOKEN_JSON)
    assert isinstance(at, AccessTokenCredentials)
    assert at.access_token == "tok"


def test_json_round_trip_and_format_matches_classic_keys() -> None:
    creds = Credentials.new_from_json(CLASSIC_JSON)
    data = json.loads(creds.to_json())
    classic = json.loads(CLASSIC_JSON)
    assert set(classic) - {"_module"} <= set(data)
    for key in classic:
        if key not in ("_module", "scopes"):
            assert data[key] == classic[key], key
    assert sorted(data["scopes"]) == ["a", "b"]
    assert data["_module"] == "oauthkit.client"
    again = Credentials.new_from_json(creds.to_json())
    assert again.to_json() == creds.to_json()


def test_oauth2client_reads_what_oauthkit_writes() -> None:
    import oauth2client.client as oauth2client  # the dev extra pins oauth2client 4.1.3

    data = json.loads(Credentials.new_from_json(CLASSIC_JSON).to_json())
    data["_module"] = "oauth2client.client"
    theirs = oauth2client.OAuth2Credentials.from_json(json.dumps(data))
    assert theirs.refresh_token == "rt"
    assert theirs.token_expiry == datetime.datetime(2030, 1, 2, 3, 4, 5)


@pytest.mark.parametrize(
    "data",
    [
        '{"_module": "os", "_class": "system"}',
        '{"_module": "oauth2client.client", "_class": "Popen"}',
        '{"_module": "subprocess", "_class": "OAuth2Credentials"}',
        '{"_class": "OAuth2Credentials"}',
        "not json",
        "[]",
        '{"_module": "oauth2client.client", "_class": "OAuth2Credentials"}',
    ],
)
def test_loader_never_imports_what_the_data_names(data: str) -> None:
    import sys

    before = set(sys.modules)
    with pytest.raises(ConfigurationError):
        Credentials.new_from_json(data)
    assert set(sys.modules) - before == set()


def test_naive_expiry_is_read_as_utc() -> None:
    naive = datetime.datetime(2030, 1, 1, 12, 0, 0)
    creds = OAuth2Credentials("a", "c", "s", "r", naive, "https://t.example/token", None)
    assert creds.token_expiry == datetime.datetime(2030, 1, 1, 12, tzinfo=UTC)
    aware = datetime.datetime(2030, 1, 1, 13, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    creds2 = OAuth2Credentials("a", "c", "s", "r", aware, "https://t.example/token", None)
    assert creds2.token_expiry == creds.token_expiry


def test_pickle_round_trip_drops_store_and_lock() -> None:
    creds = Credentials.new_from_json(CLASSIC_JSON)
    assert isinstance(creds, OAuth2Credentials)
    creds.set_store(DictStorage())
    again = pickle.loads(pickle.dumps(creds))
    assert again.store is None
    assert again.refresh_token == "rt"
    again.get_access_token  # noqa: B018 - has its methods and a fresh lock


# --- classic state -------------------------------------------------------------------------


def test_expiry_scopes_and_apply() -> None:
    clock = FakeClock()
    creds = OAuth2Credentials(
        "at",
        "c",
        "s",
        "r",
        clock.now() + datetime.timedelta(seconds=30),
        "https://t.example/token",
        None,
        scopes="email profile",
        clock=clock,
    )
    assert not creds.access_token_expired
    assert creds.has_scopes("email") and creds.has_scopes(["email", "profile"])
    assert not creds.has_scopes("admin")
    headers: dict[str, str] = {}
    creds.apply(headers)
    assert headers == {"Authorization": "Bearer at"}
    clock.advance(31)
    assert creds.access_token_expired
    creds.invalid = True
    assert creds.access_token_expired


def test_repr_hides_tokens_and_secret() -> None:
    creds = OAuth2Credentials(
        "AT-CANARY", "cid", "SECRET-CANARY", "RT-CANARY", None, "https://t/t", None
    )
    text = repr(creds)
    for canary in ("AT-CANARY", "SECRET-CANARY", "RT-CANARY"):
        assert canary not in text


# --- refresh against a real token endpoint --------------------------------------------------


def test_get_access_token_refreshes_expired_credentials(server: ScriptedServer) -> None:
    creds = expired_credentials(server)
    info = creds.get_access_token()
    assert isinstance(info, AccessTokenInfo)
    assert info.access_token == "at-1"
    assert 3590 <= info.expires_in <= 3600
    assert creds.refresh_token == "rt-1"  # rotated
    assert creds.scopes == {"email", "profile"}
    (seen,) = server.requests_to("/token")
    assert seen.form == {"grant_type": "refresh_token", "refresh_token": "rt-0"}
    assert seen.headers["authorization"].startswith("Basic ")


def test_refresh_ahead_of_expiry_by_margin(server: ScriptedServer) -> None:
    soon = datetime.datetime.now(UTC) + datetime.timedelta(seconds=30)
    creds = expired_credentials(server, refresh_margin=datetime.timedelta(seconds=60))
    creds.token_expiry = soon
    assert not creds.access_token_expired
    assert creds.get_access_token().access_token == "at-1"
    later = expired_credentials(server, refresh_margin=datetime.timedelta(seconds=10))
    later.token_expiry = soon
    assert later.get_access_token().access_token == "at-0"
    assert server.count("/token") == 1


def test_response_without_refresh_token_keeps_the_old_one(server: ScriptedServer) -> None:
    server.rotate = False
    creds = expired_credentials(server)
    creds.refresh()
    assert creds.access_token == "at-1"
    assert creds.refresh_token == "rt-0"


def test_invalid_grant_marks_invalid_and_says_authorize_again(server: ScriptedServer) -> None:
    creds = expired_credentials(server)
    creds.refresh_token = "revoked"
    with pytest.raises(InvalidGrantError) as info:
        creds.get_access_token()
    err = info.value
    assert isinstance(err, HttpAccessTokenRefreshError)
    assert isinstance(err, AccessTokenRefreshError)
    assert err.error == "invalid_grant" and err.status == 400
    assert creds.invalid
    assert "revoked" not in str(err) and "client-secret" not in str(err)


def test_retry_with_backoff_on_5xx_and_429(server: ScriptedServer) -> None:
    server.queue(
        "/token",
        Canned(503, "<html>busy</html>", {"Retry-After": "0"}),
        Canned(429, b"", {"Retry-After": "0"}),
    )
    creds = expired_credentials(server)
    assert creds.get_access_token().access_token == "at-1"
    assert server.count("/token") == 3


def test_retries_are_bounded(server: ScriptedServer) -> None:
    server.queue("/token", *[Canned(502, "<html/>", {"Retry-After": "0"})] * 3)
    creds = expired_credentials(server)
    with pytest.raises(HttpAccessTokenRefreshError) as info:
        creds.get_access_token()
    assert info.value.status == 502
    assert server.count("/token") == 3
    assert not creds.invalid


def test_dead_server_is_a_transport_error() -> None:
    with ScriptedServer() as srv:
        url = srv.url
    creds = OAuth2Credentials(
        "a",
        "c",
        "s",
        "r",
        datetime.datetime(2000, 1, 1),
        url + "/token",
        None,
        retry=__import__("oauthkit").RetryPolicy(attempts=1),
    )
    with pytest.raises(TransportError) as info:
        creds.get_access_token()
    assert isinstance(info.value, AccessTokenRefreshError)
    assert info.value.__cause__ is not None


def test_token_endpoint_redirect_is_not_followed(server: ScriptedServer) -> None:
    server.queue("/token", Canned(307, b"", {"Location": server.url + "/elsewhere"}))
    creds = expired_credentials(server)
    with pytest.raises(HttpAccessTokenRefreshError) as info:
        creds.get_access_token()
    assert info.value.status == 307
    assert server.count("/elsewhere") == 0


def test_refresh_through_classic_httplib2_http(server: ScriptedServer) -> None:
    creds = expired_credentials(server)
    http = httplib2.Http()
    try:
        creds.refresh(http)
    finally:
        http.close()
    assert creds.access_token == "at-1"


def test_non_https_token_uri_is_refused() -> None:
    creds = OAuth2Credentials(
        "a", "c", "s", "r", datetime.datetime(2000, 1, 1), "http://as.example/token", None
    )
    with pytest.raises(ConfigurationError):
        creds.get_access_token()


def test_32_threads_share_one_refresh(server: ScriptedServer) -> None:
    gate = threading.Event()
    server.token_gate = gate
    creds = expired_credentials(server)
    barrier = threading.Barrier(32)
    results: list[str] = []

    def worker() -> None:
        barrier.wait()
        results.append(creds.get_access_token().access_token)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert server.count("/token") == 1
    assert results == ["at-1"] * 32


def test_32_asyncio_tasks_share_one_refresh(server: ScriptedServer) -> None:
    creds = expired_credentials(server)

    async def main() -> list[str]:
        infos = await asyncio.gather(*(creds.async_get_access_token() for _ in range(32)))
        return [i.access_token for i in infos]

    assert asyncio.run(main()) == ["at-1"] * 32
    assert server.count("/token") == 1


def test_async_refresh_failure_reaches_every_waiter(server: ScriptedServer) -> None:
    creds = expired_credentials(server)
    creds.refresh_token = "bad"

    async def main() -> list[BaseException | object]:
        return await asyncio.gather(
            *(creds.async_get_access_token() for _ in range(8)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert all(isinstance(r, InvalidGrantError) for r in results)
    assert server.count("/token") == 1


# --- AccessTokenCredentials, revoke, store binding --------------------------------------------


def test_access_token_credentials_cannot_refresh() -> None:
    creds = AccessTokenCredentials("tok", "ua")
    assert creds.get_access_token().access_token == "tok"
    with pytest.raises(AccessTokenCredentialsError):
        creds.refresh()


class DictStorage(Storage):
    def __init__(self) -> None:
        super().__init__()
        self.data: str | None = None
        self.deleted = 0

    def locked_get(self) -> Credentials | None:
        return Credentials.new_from_json(self.data) if self.data else None

    def locked_put(self, credentials: Credentials) -> None:
        self.data = credentials.to_json()

    def locked_delete(self) -> None:
        self.data = None
        self.deleted += 1


def test_bound_store_is_written_after_refresh_and_deleted_on_revoke(
    server: ScriptedServer,
) -> None:
    store = DictStorage()
    creds = expired_credentials(server)
    store.put(creds)
    assert creds.store is store
    creds.get_access_token()
    assert json.loads(store.data or "{}")["refresh_token"] == "rt-1"
    creds.revoke()
    assert store.data is None and creds.invalid
    (seen,) = server.requests_to("/revoke")
    assert seen.form == {"token": "rt-1", "token_type_hint": "refresh_token"}


def test_store_with_fresher_token_is_adopted_not_refreshed(server: ScriptedServer) -> None:
    store = DictStorage()
    creds = expired_credentials(server)
    other = expired_credentials(server)
    other.access_token = "from-another-process"
    other.token_expiry = datetime.datetime.now(UTC) + datetime.timedelta(hours=1)
    store.locked_put(other)
    creds.set_store(store)
    assert creds.get_access_token().access_token == "from-another-process"
    assert server.count("/token") == 0


def test_revoke_failure_still_deletes_locally(server: ScriptedServer) -> None:
    server.queue("/revoke", Canned(400, {"error": "unsupported_token_type"}))
    store = DictStorage()
    creds = expired_credentials(server)
    store.put(creds)
    with pytest.raises(TokenRevokeError) as info:
        creds.revoke()
    assert info.value.error == "unsupported_token_type"
    assert store.deleted == 1 and creds.invalid
