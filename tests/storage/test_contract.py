"""The one contract every store passes (DESIGN.md §2; SECURITY.md §6.1, §6.2, §6.4),
parametrized over file, multistore, SQLite, PostgreSQL, Redis, keyring and dict."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest

from oauthkit import OAuth2Credentials, OAuthError, StorageError
from oauthkit.storage import LockTimeoutError, VersionConflictError, bind, credential_key, find
from tests.conftest import expired_credentials
from tests.scripted_server import ScriptedServer
from tests.storage.backends import ALL, CROSS_PROCESS, Spec, open_store
from tests.storage.conftest import make_spec


def doc(n: int) -> str:
    return json.dumps(
        {
            "_class": "AccessTokenCredentials",
            "_module": "oauthkit.client",
            "access_token": f"at-{n}",
            "user_agent": None,
            "n": n,
        }
    )


def test_round_trip_versions_and_delete(spec: Spec, key: str) -> None:
    with open_store(spec) as store:
        assert store.read(key) is None
        assert store.write(key, doc(1), None) == 1
        assert store.write(key, doc(2), 1) == 2
        record = store.read(key)
        assert record is not None and record.version == 2
        assert json.loads(record.data)["n"] == 2
        store.delete(key)
        assert store.read(key) is None
        store.delete(key)  # absent: no error


def test_compare_and_swap_refuses_a_stale_writer(spec: Spec, key: str) -> None:
    with open_store(spec) as store:
        store.write(key, doc(1), None)
        store.write(key, doc(2), 1)
        with pytest.raises(VersionConflictError) as info:
            store.write(key, doc(3), 1)
        assert isinstance(info.value, StorageError)
        record = store.read(key)
        assert record is not None and json.loads(record.data)["n"] == 2


def test_bound_credentials_refresh_once_across_threads_and_write_back(
    spec: Spec, key: str, server: ScriptedServer
) -> None:
    with open_store(spec) as store:
        bind(store, key).put(expired_credentials(server))
        barrier = threading.Barrier(8)
        tokens: list[str | None] = []

        def worker() -> None:
            creds = bind(store, key).get()
            assert isinstance(creds, OAuth2Credentials)
            barrier.wait()
            tokens.append(creds.get_access_token().access_token)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.count("/token") == 1
        assert len(set(tokens)) == 1 and tokens[0] == "at-1"
        stored = bind(store, key).get()
        assert isinstance(stored, OAuth2Credentials)
        assert stored.refresh_token == server.refresh_token == "rt-1"


def test_invalid_grant_rereads_the_store_before_giving_up(
    spec: Spec, key: str, server: ScriptedServer
) -> None:
    with open_store(spec) as store:
        storage = bind(store, key)
        storage.put(expired_credentials(server))
        mine = storage.get()
        assert isinstance(mine, OAuth2Credentials)
        # another process refreshes (rotating) and saves; then its access token expires
        other = storage.get()
        assert isinstance(other, OAuth2Credentials)
        other.refresh()
        other.token_expiry = mine.token_expiry
        storage.put(other)
        mine.refresh_token = "rt-0"  # what we held before
        assert mine.get_access_token().access_token == "at-2"
        assert server.count("/token") == 2 and not mine.invalid


def test_dead_grant_is_marked_invalid_not_deleted(
    spec: Spec, key: str, server: ScriptedServer
) -> None:
    with open_store(spec) as store:
        storage = bind(store, key)
        creds = expired_credentials(server)
        creds.refresh_token = "revoked"
        storage.put(creds)
        with pytest.raises(Exception) as info:
            creds.get_access_token()
        assert getattr(info.value, "error", None) == "invalid_grant"
        stored = storage.get()
        assert isinstance(stored, OAuth2Credentials) and stored.invalid


def test_lock_timeout_uses_a_valid_stored_token_else_raises(
    spec: Spec, key: str, server: ScriptedServer
) -> None:
    with open_store(spec) as store:
        storage = bind(store, key, lock_timeout=0.2)
        storage.put(expired_credentials(server))
        held, done = threading.Event(), threading.Event()

        def holder() -> None:
            with store.lock(key, 5):
                held.set()
                done.wait(10)

        t = threading.Thread(target=holder)
        t.start()
        held.wait(10)
        try:
            creds = storage.get()
            assert isinstance(creds, OAuth2Credentials)
            with pytest.raises(LockTimeoutError):
                creds.get_access_token()
            assert server.count("/token") == 0  # never refresh without the lock
        finally:
            done.set()
            t.join()
        fresh = bind(store, key).get()
        assert isinstance(fresh, OAuth2Credentials)
        fresh.get_access_token()  # refresh with the lock; stored token is now valid
        held.clear()
        done.clear()
        t = threading.Thread(target=holder)
        t.start()
        held.wait(10)
        try:
            again = storage.get()
            assert isinstance(again, OAuth2Credentials)
            again.access_token, again.token_expiry = "at-0", fresh.token_expiry
            again.invalid = True
            assert again.get_access_token().access_token == fresh.access_token
        finally:
            done.set()
            t.join()


def _increment(spec: Spec, key: str, rounds: int, barrier: object) -> None:
    with open_store(spec) as store:
        barrier.wait()  # type: ignore[attr-defined]

        def loop() -> None:
            for _ in range(rounds):
                with store.lock(key, 30):
                    record = store.read(key)
                    assert record is not None
                    n = json.loads(record.data)["n"]
                    store.write(key, doc(n + 1), record.version)

        threads = [threading.Thread(target=loop) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


@pytest.mark.parametrize("kind", CROSS_PROCESS)
def test_n_processes_by_m_threads_lose_no_update(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, key: str
) -> None:
    spec = make_spec(kind, tmp_path, request)
    with open_store(spec) as store:
        store.write(key, doc(0), None)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_increment, args=(spec, key, 10, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with open_store(spec) as store:
        record = store.read(key)
        assert record is not None
        assert json.loads(record.data)["n"] == 80 and record.version == 81


def test_revoke_deletes_the_stored_credentials(
    spec: Spec, key: str, server: ScriptedServer
) -> None:
    with open_store(spec) as store:
        storage = bind(store, key)
        storage.put(expired_credentials(server))
        creds = storage.get()
        assert isinstance(creds, OAuth2Credentials)
        creds.revoke()
        assert store.read(key) is None and creds.invalid


async def test_asyncio_tasks_refresh_once_through_the_store(
    spec: Spec, key: str, server: ScriptedServer
) -> None:
    import asyncio

    with open_store(spec) as store:
        bind(store, key).put(expired_credentials(server))
        objects = [bind(store, key).get() for _ in range(2)]
        calls = [o.async_get_access_token() for o in objects for _ in range(4)]  # type: ignore[union-attr]
        infos = await asyncio.gather(*calls)
        assert {i.access_token for i in infos} == {"at-1"}
        assert server.count("/token") == 1
        stored = bind(store, key).get()
        assert isinstance(stored, OAuth2Credentials) and stored.refresh_token == "rt-1"


def test_a_failed_save_keeps_the_new_token_and_retries_the_save(
    spec: Spec, key: str, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(spec) as store:
        storage = bind(store, key)
        storage.put(expired_credentials(server))
        creds = storage.get()
        assert isinstance(creds, OAuth2Credentials)
        real_write = store.write

        def failing(*args: object) -> int:
            raise StorageError("disk full", error="no_space")

        monkeypatch.setattr(store, "write", failing)
        with pytest.raises(StorageError):
            creds.get_access_token()
        assert creds.refresh_token == "rt-1"  # the rotated token is not lost in memory
        monkeypatch.setattr(store, "write", real_write)
        creds.token_expiry = expired_credentials(server).token_expiry
        assert creds.get_access_token().access_token == "at-2"
        assert server.count("/token") == 2  # rt-1 was used: no invalid_grant
        stored = bind(store, key).get()
        assert isinstance(stored, OAuth2Credentials) and stored.refresh_token == "rt-2"


def _writer_until_killed(spec: Spec, key: str, conn: object) -> None:
    with open_store(spec) as store:
        n = 0
        while True:
            with store.lock(key, 30):
                record = store.read(key)
                assert record is not None
                n = json.loads(record.data)["n"] + 1
                store.write(key, doc(n), record.version)
            conn.send(n)  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", CROSS_PROCESS)
def test_a_writer_killed_at_any_point_leaves_a_whole_record_and_frees_the_lock(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, key: str
) -> None:
    import os
    import signal

    spec = make_spec(kind, tmp_path, request)
    with open_store(spec) as store:
        store.write(key, doc(0), None)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_writer_until_killed, args=(spec, key, child))
    proc.start()
    acked = 0
    while acked < 25:
        acked = parent.recv()
    os.kill(proc.pid or 0, signal.SIGKILL)  # mid-loop: wherever the writer is now
    proc.join(30)
    parent.close()
    child.close()
    with open_store(spec) as store:
        record = store.read(key)
        assert record is not None
        n = json.loads(record.data)["n"]
        assert n >= acked and record.version == n + 1
        if kind != "redis":  # a Redis lease outlives its holder until the TTL (by design)
            with store.lock(key, 10):
                pass


@pytest.mark.parametrize("kind", CROSS_PROCESS)
def test_a_second_client_of_the_same_store_waits_then_times_out(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, key: str
) -> None:
    """Two independent clients (for PostgreSQL and Redis: two connection pools, as on two
    machines): the server-side lock alone excludes the second, which gets a typed timeout."""
    spec = make_spec(kind, tmp_path, request)
    with open_store(spec) as first, open_store(spec) as second:
        with first.lock(key, 5), pytest.raises(LockTimeoutError), second.lock(key, 0.3):
            pass
        with second.lock(key, 5):
            pass


# lookup runs on every multi-credential store that can enumerate its entries (the file
# store holds one credential by design; a keyring cannot list its entries)
@pytest.mark.parametrize("kind", [k for k in ALL if k not in ("file", "keyring")])
def test_lookup_by_issuer_client_subject_and_covering_scopes(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, server: ScriptedServer
) -> None:
    spec = make_spec(kind, tmp_path, request)
    issuer = f"https://idp-{kind}-{id(request)}.test"
    with open_store(spec) as store:
        for sub, scopes in (("alice", ["email", "profile"]), ("bob", ["email"])):
            creds = expired_credentials(server)
            creds.id_token = {"iss": issuer, "sub": sub}
            creds.scopes = set(scopes)
            bind(store, credential_key(issuer, "client-id", sub, scopes)).put(creds)
        assert len(find(store, issuer=issuer, client_id="client-id", scopes=["email"])) == 2
        (alice,) = find(store, issuer=issuer, scopes=["profile", "email"])
        assert json.loads(alice)[2] == "alice"
        assert find(store, issuer=issuer, subject="bob", scopes=["profile"]) == []
        assert find(store, issuer=issuer, client_id="other") == []
        found = bind(store, alice).get()
        assert isinstance(found, OAuth2Credentials) and found.has_scopes("profile")


async def test_asyncio_invalid_grant_rereads_the_store_before_giving_up(
    spec: Spec, key: str, server: ScriptedServer
) -> None:
    with open_store(spec) as store:
        storage = bind(store, key)
        storage.put(expired_credentials(server))
        mine = storage.get()
        other = storage.get()
        assert isinstance(mine, OAuth2Credentials) and isinstance(other, OAuth2Credentials)
        other.refresh()
        other.token_expiry = mine.token_expiry
        storage.put(other)
        mine.refresh_token = "rt-0"
        assert (await mine.async_get_access_token()).access_token == "at-2"
        assert server.count("/token") == 2 and not mine.invalid
        mine.refresh_token = "dead"
        mine.token_expiry = other.token_expiry
        storage.put(mine)
        with pytest.raises(OAuthError) as info:
            await mine.async_get_access_token()
        assert getattr(info.value, "error", None) == "invalid_grant"
        stored = storage.get()
        assert isinstance(stored, OAuth2Credentials) and stored.invalid
