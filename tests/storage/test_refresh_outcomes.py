"""SECURITY.md §6.2, two rows, over real HTTP on 127.0.0.1 and a real file store:

- "Refresh response lost (AS rotated, client timed out)": one retry with the same refresh
  token, then a re-read of the store, then ``refresh_outcome_unknown``; the grant is never
  marked dead on a timeout.
- "Persist fails after successful refresh": the caller gets the token and a
  ``not_persisted`` error (``get_access_token``/``refresh``) or nothing at all (an
  authorized request goes on); the save is retried in the background; at interpreter exit
  an unsaved refresh is logged at ERROR.

Faults are real: the server holds the answer past the client's read timeout; the file
store's ``os.replace`` fails with ENOSPC (as in test_faults.py).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from oauthkit import (
    InvalidGrantError,
    NotPersistedError,
    OAuth2Credentials,
    RefreshOutcomeUnknownError,
    RetryPolicy,
    StorageError,
    TransportError,
    _refresh,
)
from oauthkit.client import AccessTokenRefreshError, HttpAccessTokenRefreshError
from oauthkit.storage import FileStore, KeyStorage, bind
from tests.conftest import expired_credentials
from tests.scripted_server import ScriptedServer, Seen

TIMEOUT = httpx.Timeout(0.3)  # the client gives up on a held answer after 0.3 s
NO_WAIT = RetryPolicy(attempts=3, base_delay=0.0)  # retries without backoff delays


@pytest.fixture(autouse=True)
def retrier(monkeypatch: pytest.MonkeyPatch) -> Iterator[_refresh.PersistRetrier]:
    """A private background retrier with short delays, stopped after the test."""
    mine = _refresh.PersistRetrier(base_delay=0.01, max_delay=0.05)
    monkeypatch.setattr(_refresh, "PERSIST_RETRIER", mine)
    yield mine
    mine.stop()


def stored(store: FileStore) -> dict[str, Any]:
    record = store.read("")
    assert record is not None
    data: dict[str, Any] = json.loads(record.data)
    data["_version"] = record.version
    return data


def bound(server: ScriptedServer, tmp_path: Path) -> tuple[FileStore, KeyStorage]:
    store = FileStore(tmp_path / "cred.json")
    storage = bind(store, "")
    storage.put(expired_credentials(server, retry=NO_WAIT))
    return store, storage


def load(storage: KeyStorage) -> OAuth2Credentials:
    creds = storage.get()
    assert isinstance(creds, OAuth2Credentials)
    return creds


def presented(server: ScriptedServer) -> list[str | None]:
    return [s.form.get("refresh_token") for s in server.requests_to("/token")]


# --- B: the answer to a refresh is lost ----------------------------------------------------


def test_lost_answer_then_invalid_grant_is_outcome_unknown_and_grant_not_dead(
    server: ScriptedServer, tmp_path: Path
) -> None:
    store, storage = bound(server, tmp_path)
    before = stored(store)
    creds = load(storage)
    server.lose_answers = 1  # rotates rt-0 -> rt-1, the answer never arrives
    with httpx.Client(timeout=TIMEOUT) as http, pytest.raises(RefreshOutcomeUnknownError) as info:
        creds.get_access_token(http)
    err = info.value
    assert err.error == "refresh_outcome_unknown"
    assert isinstance(err, HttpAccessTokenRefreshError)  # classic except clauses work
    assert isinstance(err, AccessTokenRefreshError) and isinstance(err, TransportError)
    assert not isinstance(err, InvalidGrantError)
    assert isinstance(err.__cause__, InvalidGrantError)  # the retry met the rotation
    assert presented(server) == ["rt-0", "rt-0"]  # one retry, with the same token
    assert not creds.invalid
    after = stored(store)
    assert after == before and not after["invalid"]  # nothing written, not marked dead


def test_lost_answer_is_retried_once_and_succeeds_within_a_grace_window(
    server: ScriptedServer, tmp_path: Path
) -> None:
    store, storage = bound(server, tmp_path)
    creds = load(storage)
    server.lose_answers, server.grace = 1, True
    with httpx.Client(timeout=TIMEOUT) as http:
        token = creds.get_access_token(http).access_token
    assert token == "at-2" and creds.refresh_token == "rt-2" == server.refresh_token
    assert presented(server) == ["rt-0", "rt-0"]
    assert stored(store)["refresh_token"] == "rt-2"


@pytest.mark.parametrize("policy", [NO_WAIT, RetryPolicy(attempts=1)], ids=["3-tries", "1-try"])
def test_two_lost_answers_are_outcome_unknown_without_a_store(
    server: ScriptedServer, policy: RetryPolicy
) -> None:
    creds = expired_credentials(server, retry=policy)
    server.lose_answers, server.grace = 2, True  # the retry is honoured, and lost too
    with httpx.Client(timeout=TIMEOUT) as http, pytest.raises(RefreshOutcomeUnknownError) as info:
        creds.refresh(http)
    assert isinstance(info.value, HttpAccessTokenRefreshError)
    assert isinstance(info.value.__cause__, TransportError)
    assert server.count("/token") == 2  # one retry, whatever the policy allows
    assert not creds.invalid and creds.refresh_token == "rt-0"


def test_lost_answer_adopts_the_token_another_writer_saved(
    server: ScriptedServer, tmp_path: Path
) -> None:
    store, storage = bound(server, tmp_path)
    creds = load(storage)
    other = expired_credentials(server)
    other.access_token, other.refresh_token = "at-other", "rt-other"
    other.token_expiry = None  # valid

    def another_machine_saves(seen: Seen) -> None:
        # a writer on another host (its lease outlived ours) saves while we wait
        if seen.form.get("refresh_token") == "rt-0" and server.count("/token") == 2:
            store.write("", other.to_json(), None)

    server.on_token = another_machine_saves
    server.lose_answers = 1
    with httpx.Client(timeout=TIMEOUT) as http:
        assert creds.get_access_token(http).access_token == "at-other"
    assert creds.refresh_token == "rt-other" and not creds.invalid
    assert server.count("/token") == 2


async def test_asyncio_lost_answer_then_invalid_grant_is_outcome_unknown(
    server: ScriptedServer, tmp_path: Path
) -> None:
    store, storage = bound(server, tmp_path)
    before = stored(store)
    creds = load(storage)
    server.lose_answers = 1
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        with pytest.raises(RefreshOutcomeUnknownError) as info:
            await creds.async_get_access_token(client)
    assert isinstance(info.value, HttpAccessTokenRefreshError)
    assert presented(server) == ["rt-0", "rt-0"]
    assert not creds.invalid and stored(store) == before


async def test_asyncio_lost_answer_is_retried_without_a_store(server: ScriptedServer) -> None:
    creds = expired_credentials(server, retry=NO_WAIT)
    server.lose_answers, server.grace = 1, True
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        assert (await creds.async_get_access_token(client)).access_token == "at-2"
    assert presented(server) == ["rt-0", "rt-0"]


# --- A: saving fails after a successful refresh -------------------------------------------


class ReplaceFaults:
    """``os.replace`` failing with ENOSPC for the next ``failures`` writes of ``path``."""

    def __init__(self, path: Path, failures: int) -> None:
        self.path = str(path)
        self.failures = failures
        self.calls = 0
        self.lock = threading.Lock()
        self.real = os.replace

    def __call__(self, src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if os.fspath(dst) == self.path:
            with self.lock:
                self.calls += 1
                if self.failures > 0:
                    self.failures -= 1
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.real(src, dst, *args, **kwargs)


def failing_replace(monkeypatch: pytest.MonkeyPatch, store: FileStore, n: int) -> ReplaceFaults:
    faults = ReplaceFaults(Path(store.path), n)
    monkeypatch.setattr(os, "replace", faults)
    return faults


def test_failed_save_raises_not_persisted_and_the_token_is_usable(
    server: ScriptedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    retrier: _refresh.PersistRetrier,
) -> None:
    store, storage = bound(server, tmp_path)
    creds = load(storage)
    failing_replace(monkeypatch, store, 1_000)  # the disk stays full
    with pytest.raises(NotPersistedError) as info:
        creds.get_access_token()
    err = info.value
    assert isinstance(err, StorageError)
    assert err.error == "not_persisted" and err.reason == "no_space"
    assert isinstance(err.__cause__, StorageError) and err.__cause__.error == "no_space"
    assert store.path in str(err)
    for secret in ("at-1", "rt-1", "rt-0", "client-secret"):
        assert secret not in str(err) and secret not in repr(err)
    # the caller may go on: the new token is held and the server accepts it
    assert creds.access_token == "at-1" and creds.refresh_token == "rt-1"
    assert httpx.get(server.url + "/api/x", headers={"Authorization": "Bearer at-1"}).is_success
    assert stored(store)["refresh_token"] == "rt-0"  # the original is intact
    assert retrier.pending() == [creds]


def test_background_retry_saves_once_the_store_recovers(
    server: ScriptedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    retrier: _refresh.PersistRetrier,
) -> None:
    store, storage = bound(server, tmp_path)
    creds = load(storage)
    version = stored(store)["_version"]
    faults = failing_replace(monkeypatch, store, 3)  # the refresh's save, then 2 retries
    with pytest.raises(NotPersistedError):
        creds.refresh()
    assert retrier.wait_idle(10)
    assert faults.calls == 4 and retrier.attempts == 3
    saved = stored(store)
    assert saved["refresh_token"] == "rt-1" and saved["access_token"] == "at-1"
    assert saved["_version"] == version + 1  # CAS on the version refreshed from
    assert server.count("/token") == 1 and not creds._pending_persist


def test_a_save_reported_failed_that_landed_is_recognised_not_refreshed_again(
    server: ScriptedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    retrier: _refresh.PersistRetrier,
) -> None:
    """EIO on the directory fsync after the rename: the write is reported failed, yet the
    new record is in place (PostgreSQL and Redis do the same when an fsync fails at commit).
    The retry meets its own record, keeps it, and nothing is refreshed again."""
    store, storage = bound(server, tmp_path)
    creds = load(storage)
    version = stored(store)["_version"]
    real_fsync, calls = os.fsync, {"dir": 0}

    def fsync(fd: int) -> None:
        import stat

        if stat.S_ISDIR(os.fstat(fd).st_mode) and calls["dir"] == 0:
            calls["dir"] += 1
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(NotPersistedError) as info:
        creds.refresh()
    assert info.value.reason == "io_error"
    assert stored(store)["refresh_token"] == "rt-1"  # landed despite the error
    assert retrier.wait_idle(10)
    assert not creds._pending_persist and not creds._reread
    assert creds.get_access_token().access_token == "at-1"
    assert server.count("/token") == 1  # no second refresh
    assert stored(store)["_version"] == version + 1


def test_while_the_store_fails_the_next_refresh_uses_the_unsaved_refresh_token(
    server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, storage = bound(server, tmp_path)
    creds = load(storage)
    failing_replace(monkeypatch, store, 1_000)
    with pytest.raises(NotPersistedError):
        creds.get_access_token()
    creds.token_expiry = expired_credentials(server).token_expiry
    with pytest.raises(NotPersistedError):
        creds.get_access_token()
    assert presented(server) == ["rt-0", "rt-1"]  # the in-memory rotation, not the store's
    assert creds.access_token == "at-2" and creds.refresh_token == "rt-2" and not creds.invalid
    assert stored(store)["refresh_token"] == "rt-0"


def test_background_retry_yields_to_a_newer_record_which_is_adopted_on_next_use(
    server: ScriptedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    retrier: _refresh.PersistRetrier,
) -> None:
    store, storage = bound(server, tmp_path)
    creds = load(storage)
    faults = failing_replace(monkeypatch, store, 1_000)
    with pytest.raises(NotPersistedError):
        creds.get_access_token()
    other = expired_credentials(server)
    other.access_token, other.refresh_token, other.token_expiry = "at-other", "rt-other", None
    with store.lock("", 5):  # the background attempts wait while another writer saves
        faults.failures = 0
        store.write("", other.to_json(), None)  # a newer version
    assert retrier.wait_idle(10)  # the background CAS was refused: nothing left to save
    assert not creds._pending_persist
    assert stored(store)["access_token"] == "at-other"  # the newer record is kept
    assert creds.get_access_token().access_token == "at-other"  # adopted on next use
    assert server.count("/token") == 1


def test_authorized_request_proceeds_when_the_save_fails(
    server: ScriptedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    retrier: _refresh.PersistRetrier,
) -> None:
    store, storage = bound(server, tmp_path)
    creds = load(storage)
    failing_replace(monkeypatch, store, 1)
    caplog.set_level(logging.DEBUG, logger="oauthkit")
    with creds.authorize(httpx.Client()) as client:
        response = client.get(server.url + "/api/x")
    assert response.status_code == 200  # the API call succeeded on the in-memory token
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("could not be saved" in r.getMessage() for r in warnings)
    assert any(store.path in r.getMessage() for r in warnings)
    assert retrier.wait_idle(10)  # and the save landed in the background
    assert stored(store)["refresh_token"] == "rt-1"
    for record in caplog.records:
        for secret in ("at-1", "rt-1", "rt-0", "client-secret"):
            assert secret not in record.getMessage()


async def test_asyncio_get_access_token_raises_not_persisted_with_a_usable_token(
    server: ScriptedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    retrier: _refresh.PersistRetrier,
) -> None:
    store, storage = bound(server, tmp_path)
    creds = load(storage)
    failing_replace(monkeypatch, store, 1)
    with pytest.raises(NotPersistedError) as info:
        await creds.async_get_access_token()
    assert info.value.reason == "no_space"
    assert creds.access_token == "at-1" and creds.refresh_token == "rt-1"
    assert retrier.wait_idle(10)
    assert stored(store)["refresh_token"] == "rt-1"


async def test_asyncio_authorized_request_proceeds_when_the_save_fails(
    server: ScriptedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    retrier: _refresh.PersistRetrier,
) -> None:
    store, storage = bound(server, tmp_path)
    creds = load(storage)
    faults = failing_replace(monkeypatch, store, 1)
    async with creds.authorize(httpx.AsyncClient()) as client:
        response = await client.get(server.url + "/api/x")
    assert response.status_code == 200 and faults.calls >= 1
    assert retrier.wait_idle(10)
    assert stored(store)["refresh_token"] == "rt-1"


CHILD = """
import datetime, errno, os, sys
from oauthkit import NotPersistedError, OAuth2Credentials
from oauthkit.storage import FileStore, bind

url, path, mode = sys.argv[1:]
past = datetime.datetime(2000, 1, 1)
creds = OAuth2Credentials("at-0", "client-id", "client-secret", "rt-0", past, url + "/token", None)
store = FileStore(path)
bind(store, "user@example.test").put(creds)
real = os.replace
state = {"full": True}

def replace(src, dst, *args, **kwargs):
    if os.fspath(dst) == path and state["full"]:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real(src, dst, *args, **kwargs)

os.replace = replace
creds = bind(store, "user@example.test").get()
try:
    creds.get_access_token()
except NotPersistedError:
    print("not persisted; token held:", creds.access_token == "at-1")
if mode == "recovers":
    state["full"] = False  # the exit hook's last attempt lands
"""


@pytest.mark.parametrize("mode", ["stays-full", "recovers"])
def test_unsaved_refresh_is_logged_loudly_at_interpreter_exit(
    server: ScriptedServer, tmp_path: Path, mode: str
) -> None:
    path = tmp_path / "cred.json"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), server.url, str(path), mode],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "not persisted; token held: True"
    errors = [line for line in proc.stderr.splitlines() if "never saved" in line]
    saved = json.loads(FileStore(path).read("").data)  # type: ignore[union-attr]
    if mode == "stays-full":
        assert len(errors) == 1, proc.stderr
        assert str(path) in errors[0] and "user@example.test" in errors[0]
        assert saved["refresh_token"] == "rt-0"
    else:
        assert errors == [], proc.stderr
        assert saved["refresh_token"] == "rt-1"  # saved by the exit hook's last attempt
    assert "could not be saved" in proc.stderr  # the WARNING when the save first failed
    for secret in ("at-1", "rt-1", "rt-0", "client-secret"):
        assert secret not in proc.stderr
