"""SECURITY.md §6.2 SL-04..06 and SL-25..28 for the server-backed stores, with real faults
on real servers (no mocks of our code): PostgreSQL read-only and a backend killed in the
middle of a write; Redis out of memory, read-only replica, ``min-replicas-to-write``, a
dead server; the documented durability settings checked by ``check_durability()``; and
the keyring keeping its old entry when the backend refuses a write (SL-20/21). The
compare-and-swap against a stale writer is in the contract suite for every backend."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import keyring
import keyring.errors
import pytest
import redis
import sqlalchemy
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.engine import Engine

from oauthkit import StorageError
from oauthkit.storage import (
    KeyringStore,
    LockTimeoutError,
    RedisStore,
    SQLStore,
    VersionConflictError,
)
from tests.storage.backends import MemoryKeyring
from tests.storage.services import free_port, postgres_process, redis_process

SECRET = "rt-never-in-messages-51c9"
T = TypeVar("T")


def _record(n: int) -> str:
    return json.dumps({"_class": "OAuth2Credentials", "refresh_token": f"{SECRET}-{n}", "n": n})


def _n(store: Any, key: str) -> tuple[int, int]:
    record = store.read(key)
    assert record is not None
    return json.loads(record.data)["n"], record.version


def _wait_value(check: Callable[[], T | None], what: str, timeout: float = 15.0) -> T:
    """Poll a condition (bounded) and return its first truthy value; the condition, not
    the delay between polls, is the synchronisation."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
    return value


def _typed(info: pytest.ExceptionInfo[StorageError], reason: str) -> None:
    assert type(info.value) is StorageError
    assert info.value.error == reason
    assert SECRET not in str(info.value)


# --- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    eng = sqlalchemy.create_engine(pg_url)
    yield eng
    eng.dispose()


@pytest.fixture
def table() -> Iterator[str]:
    yield f"faults_{uuid.uuid4().hex[:12]}"  # a table per test: triggers stay local


def _engine_with(pg_url: str, **settings: str) -> Engine:
    options = " ".join(f"-c {k}={v}" for k, v in settings.items())
    return sqlalchemy.create_engine(pg_url, connect_args={"options": options})


def test_postgres_read_only_is_typed_and_leaves_the_original(
    pg_url: str, engine: Engine, table: str
) -> None:
    store = SQLStore(engine, table_name=table)
    store.write("a", _record(1), None)
    store.write("b", _record(9), None)
    # what a hot standby or a read-only database/role does: the server refuses writes
    read_only = _engine_with(pg_url, default_transaction_read_only="on")
    try:
        ro_store = SQLStore(read_only, table_name=table)
        assert _n(ro_store, "a") == (1, 1)  # reads still work
        with pytest.raises(StorageError) as info:
            ro_store.write("a", _record(2), 1)
        _typed(info, "read_only")
        with pytest.raises(StorageError) as info:
            ro_store.write("new", _record(2), None)
        _typed(info, "read_only")
    finally:
        read_only.dispose()
    assert _n(store, "a") == (1, 1)
    assert _n(store, "b") == (9, 1)
    assert store.read("new") is None


_PAUSE_LOCK = (0x6F4C, 7)  # the advisory lock the trigger waits on (not the store's)


def _pause_updates_in_a_trigger(engine: Engine, table: str) -> None:
    """A real server-side pause *after* the row was updated inside the write's
    transaction: an AFTER UPDATE/INSERT trigger that waits for an advisory lock."""
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                f"CREATE FUNCTION {table}_pause() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN PERFORM pg_advisory_xact_lock({_PAUSE_LOCK[0]}, {_PAUSE_LOCK[1]});"
                " RETURN NEW; END $$"
            )
        )
        conn.execute(
            sqlalchemy.text(
                f"CREATE TRIGGER {table}_pause AFTER INSERT OR UPDATE ON {table}"
                f" FOR EACH ROW EXECUTE FUNCTION {table}_pause()"
            )
        )


def _paused_backend(control: sqlalchemy.Connection) -> int | None:
    pid = control.execute(
        sqlalchemy.text(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND wait_event = 'advisory' AND pid <> pg_backend_pid()"
        )
    ).scalar()
    return None if pid is None else int(pid)


def _server_ready(pg_url: str) -> bool:
    probe = sqlalchemy.create_engine(pg_url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with probe.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        return True
    except sqlalchemy.exc.OperationalError:
        return False
    finally:
        probe.dispose()


@pytest.mark.parametrize("how", ["pg_terminate_backend", "SIGKILL"])
@pytest.mark.parametrize("op", ["update", "insert"])
def test_postgres_backend_killed_mid_write_leaves_no_partial_record(
    pg_url: str, engine: Engine, table: str, how: str, op: str
) -> None:
    store = SQLStore(engine, table_name=table)
    store.write("a", _record(1), None)
    store.write("b", _record(9), None)
    _pause_updates_in_a_trigger(engine, table)
    key, expected = ("a", 1) if op == "update" else ("new", None)
    # autocommit: every poll of pg_stat_activity is a transaction of its own (fresh view)
    control = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    pool = ThreadPoolExecutor(1)
    try:
        try:
            control.execute(
                sqlalchemy.text("SELECT pg_advisory_lock(:a, :b)"),
                {"a": _PAUSE_LOCK[0], "b": _PAUSE_LOCK[1]},
            )
            future: Future[int] = pool.submit(store.write, key, _record(2), expected)
            pid = _wait_value(lambda: _paused_backend(control), "the write to pause mid-way")
            if how == "SIGKILL":  # the postmaster then resets every backend and recovers
                os.kill(pid, signal.SIGKILL)
            else:
                control.execute(sqlalchemy.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        finally:
            with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
                control.close()  # releases the pause lock whatever happened above
        with pytest.raises(StorageError) as info:
            future.result(timeout=30)
        _typed(info, "unavailable")
    finally:
        pool.shutdown(wait=True)
    _wait_value(lambda: _server_ready(pg_url), "PostgreSQL to accept connections again", 60)
    engine.dispose()  # connections from before a crash restart are dead
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"DROP TRIGGER {table}_pause ON {table}"))
    assert _n(store, "a") == (1, 1)
    assert _n(store, "b") == (9, 1)
    assert store.read("new") is None
    assert store.write(key, _record(3), expected) == (2 if op == "update" else 1)


def _section_holder(control: sqlalchemy.Connection) -> int | None:
    pid = control.execute(
        sqlalchemy.text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = :ns AND pid <> pg_backend_pid()"
        ),
        {"ns": 0x6F4B},  # the store's advisory-lock namespace
    ).scalar()
    return None if pid is None else int(pid)


def test_postgres_section_whose_backend_is_killed_is_fenced_by_the_cas(
    pg_url: str, engine: Engine, table: str
) -> None:
    """The advisory lock dies with its backend; the next host enters, and the old
    holder's write (with the version it read) is refused: no lost rotation."""
    holder = SQLStore(engine, table_name=table)
    holder.write("k", _record(1), None)
    other_engine = sqlalchemy.create_engine(pg_url)
    control = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        other = SQLStore(other_engine, table_name=table)
        with holder.lock("k", 5):
            record = holder.read("k")
            assert record is not None
            with pytest.raises(LockTimeoutError), other.lock("k", 0.2):
                pass  # really held
            pid = _wait_value(lambda: _section_holder(control), "the section's backend")
            control.execute(sqlalchemy.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            with other.lock("k", 10):  # the server released the dead backend's lock
                assert other.write("k", _record(2), record.version) == 2
            with pytest.raises(VersionConflictError):
                holder.write("k", _record(3), record.version)
    finally:
        control.close()
        other_engine.dispose()
    assert _n(holder, "k") == (2, 2)


@pytest.mark.parametrize(
    ("call", "code", "reason"),
    [("write", 28, "no_space"), ("fsync", 5, "io_error")],
    ids=["ENOSPC", "EIO"],
)
def test_postgres_that_cannot_write_its_wal_never_acknowledges_the_write(
    fault_shim: Path, call: str, code: int, reason: str
) -> None:
    """ENOSPC writing / EIO syncing the WAL at commit: PostgreSQL PANICs and recovers
    rather than acknowledge; the caller gets a typed error with the reason. After
    recovery: the original record when the WAL write failed; after a failed fsync the WAL
    bytes were in the page cache, so the unacknowledged commit may be there - outcome
    unknown, never partial."""
    with postgres_process(fault_shim, f"{call}:{code}") as (url, root):
        eng = sqlalchemy.create_engine(url)
        try:
            store = SQLStore(eng, table_name="wal_faults")
            store.write("a", _record(1), None)
            store.write("b", _record(9), None)
            (root / "arm").touch()
            with pytest.raises(StorageError) as info:
                store.write("a", _record(2), 1)
            _typed(info, reason)  # the PANIC's SQLSTATE: 53100 disk_full / 58030 io_error
            assert not (root / "arm").exists()  # the fault fired (once)
            _wait_value(lambda: _server_ready(url), "PostgreSQL to recover", 60)
            eng.dispose()
            assert "PANIC" in (root / "pg.log").read_text()
            if call == "write":
                assert _n(store, "a") == (1, 1)
            else:
                assert _n(store, "a") in ((1, 1), (2, 2))
            assert _n(store, "b") == (9, 1)
        finally:
            eng.dispose()


def test_postgres_durability_check(pg_url: str, engine: Engine, table: str) -> None:
    settings = SQLStore(engine, table_name=table).check_durability()
    assert settings["fsync"] == "on" and settings["synchronous_commit"] == "on"
    lax = _engine_with(pg_url, synchronous_commit="off")
    try:
        with pytest.raises(StorageError) as info:
            SQLStore(lax, table_name=table).check_durability()
    finally:
        lax.dispose()
    assert info.value.error == "not_durable"
    assert "synchronous_commit=off" in str(info.value)


# --- Redis ------------------------------------------------------------------------------
# Each test gets a redis-server of its own (AOF, appendfsync always, noeviction), so the
# configuration a test breaks never reaches another test.


@contextlib.contextmanager
def _client(port: int, *, retry: bool = True) -> Iterator[redis.Redis]:
    # redis-py retries a lost connection with backoff by default; where the server is
    # known dead, a client without retries fails at once
    extra: dict[str, Any] = {} if retry else {"retry": Retry(NoBackoff(), 0)}
    client = redis.Redis(host="127.0.0.1", port=port, **extra)
    try:
        yield client
    finally:
        client.close()
        client.connection_pool.disconnect()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[redis.Redis, subprocess.Popen[bytes]]]:
    with redis_process(tmp_path) as (port, proc), _client(port) as client:
        yield client, proc


def _seeded(client: redis.Redis) -> RedisStore:
    store = RedisStore(client)
    store.write("a", _record(1), None)
    store.write("b", _record(9), None)
    return store


def _intact(store: RedisStore) -> None:
    assert _n(store, "a") == (1, 1)
    assert _n(store, "b") == (9, 1)
    assert store.read("new") is None


def test_redis_out_of_memory_is_typed_and_leaves_the_original(
    own_redis: tuple[redis.Redis, Any],
) -> None:
    client, _ = own_redis
    store = _seeded(client)
    client.config_set("maxmemory", 1)  # noeviction: every write is refused from now on
    for key, expected in (("a", 1), ("new", None)):
        with pytest.raises(StorageError) as info:
            store.write(key, _record(2), expected)
        _typed(info, "no_space")
    _intact(store)  # reads still work while full
    client.config_set("maxmemory", 0)
    assert store.write("a", _record(3), 1) == 2


def test_redis_read_only_replica_is_typed_and_leaves_the_original(
    own_redis: tuple[redis.Redis, Any],
) -> None:
    client, _ = own_redis
    store = _seeded(client)
    client.replicaof("127.0.0.1", free_port())  # a master that never answers: stays stale
    try:
        for key, expected in (("a", 1), ("new", None)):
            with pytest.raises(StorageError) as info:
                store.write(key, _record(2), expected)
            _typed(info, "read_only")
        with pytest.raises(StorageError) as info:
            store.delete("a")
        _typed(info, "read_only")
        _intact(store)
    finally:
        client.replicaof("NO", "ONE")
    assert store.write("a", _record(3), 1) == 2


def test_redis_without_enough_replicas_refuses_writes_typed(
    own_redis: tuple[redis.Redis, Any],
) -> None:
    client, _ = own_redis
    store = _seeded(client)
    client.config_set("min-replicas-to-write", 1)  # no replica is connected
    with pytest.raises(StorageError) as info:
        store.write("a", _record(2), 1)
    _typed(info, "read_only")
    client.config_set("min-replicas-to-write", 0)
    _intact(store)


def test_redis_dead_server_is_typed_and_the_write_was_not_applied(tmp_path: Path) -> None:
    with redis_process(tmp_path) as (port, proc), _client(port, retry=False) as client:
        store = _seeded(client)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with pytest.raises(StorageError) as info:
            store.write("a", _record(2), 1)
        _typed(info, "unavailable")
        with pytest.raises(StorageError) as info:
            store.read("a")
        _typed(info, "unavailable")
        with pytest.raises(StorageError) as info, store.lock("a", 1):
            pass
        _typed(info, "unavailable")
    with redis_process(tmp_path, port) as (port, _), _client(port) as client:
        _intact(RedisStore(client))


@pytest.mark.parametrize(("call", "code"), [("write", 28), ("fsync", 5)], ids=["ENOSPC", "EIO"])
def test_redis_that_cannot_persist_never_acknowledges_the_write(
    fault_shim: Path, tmp_path: Path, call: str, code: int
) -> None:
    """ENOSPC writing / EIO syncing Redis's own AOF (``appendfsync always``): Redis exits
    rather than acknowledge an unpersisted write, and the caller gets a typed error. After
    a restart: the original record when the AOF write failed; after a failed fsync the
    bytes Redis wrote sat in the page cache, so the unacknowledged write may be there -
    a lost connection means "outcome unknown", never a partial record."""
    arm = tmp_path / "arm"
    env = {
        "LD_PRELOAD": str(fault_shim),
        "OAUTHKIT_FAULT": f"{call}:{code}",
        "OAUTHKIT_FAULT_DIR": str(tmp_path / "appendonlydir"),
        "OAUTHKIT_FAULT_ARM_FILE": str(arm),
    }
    with redis_process(tmp_path, env=env) as (port, proc), _client(port, retry=False) as client:
        store = _seeded(client)
        arm.touch()
        with pytest.raises(StorageError) as info:
            store.write("a", _record(2), 1)
        _typed(info, "unavailable")
        assert proc.wait(timeout=30) != 0
        arm.unlink()
    log = (tmp_path / "redis.log").read_text()
    assert "AOF" in log and "Exiting" in log, log[-2000:]
    with redis_process(tmp_path, port) as (port, _), _client(port) as client:
        store = RedisStore(client)
        if call == "write":
            _intact(store)
        else:
            assert _n(store, "a") in ((1, 1), (2, 2))
            assert _n(store, "b") == (9, 1)


def test_redis_durability_check(own_redis: tuple[redis.Redis, Any]) -> None:
    client, _ = own_redis
    store = RedisStore(client)
    assert store.check_durability() == {
        "appendonly": "yes",
        "appendfsync": "always",
        "maxmemory-policy": "noeviction",
    }
    client.config_set("maxmemory-policy", "volatile-lru")  # our keys have no TTL: kept
    store.check_durability()
    client.config_set("appendfsync", "everysec")
    client.config_set("maxmemory-policy", "allkeys-lru")
    with pytest.raises(StorageError) as info:
        store.check_durability()
    assert info.value.error == "not_durable"
    assert "appendfsync=everysec" in str(info.value)
    assert "maxmemory-policy=allkeys-lru" in str(info.value)
    client.config_set("appendonly", "no")
    with pytest.raises(StorageError, match="appendonly=no"):
        store.check_durability()


# The lease watchdog (SECURITY.md §6.4 "Redis"): two clients are two hosts.

LEASE = 0.2


def _lock_name(store: RedisStore, key: str) -> str:
    return f"{store.prefix}:lock:{{{store._id(key)}}}"


def test_a_section_held_longer_than_the_lease_is_not_taken_over(
    own_redis: tuple[redis.Redis, Any],
) -> None:
    client, _ = own_redis
    port = client.connection_pool.connection_kwargs["port"]
    with _client(port) as other_client:
        holder = RedisStore(client, lease=LEASE)
        other = RedisStore(other_client, lease=LEASE)
        with holder.lock("k", 5):
            # the other host tries for five leases: the watchdog keeps extending ours
            with pytest.raises(LockTimeoutError), other.lock("k", 5 * LEASE):
                pass
            assert client.pttl(_lock_name(holder, "k")) > 0
        assert client.exists(_lock_name(holder, "k")) == 0  # released, not left to expire
        with other.lock("k", LEASE):  # free at once
            pass


def _holder(port: int, key: str, conn: Any) -> None:
    """A child that takes the section, reads the version, reports, then (when told)
    writes with that version: the stale writer after a stall."""
    with _client(port) as client:
        store = RedisStore(client, lease=LEASE)
        with store.lock(key, 5):
            record = store.read(key)
            assert record is not None
            conn.send("held")
            conn.recv()
            try:
                store.write(key, _record(99), record.version)
            except StorageError as exc:
                conn.send(type(exc).__name__)
            else:
                conn.send("written")
            conn.recv()


@pytest.mark.parametrize("fate", ["SIGKILL", "SIGSTOP"])
def test_a_holder_that_dies_or_stalls_is_taken_over_after_the_lease(
    own_redis: tuple[redis.Redis, Any], fate: str
) -> None:
    client, _ = own_redis
    port = client.connection_pool.connection_kwargs["port"]
    store = RedisStore(client, lease=LEASE)
    store.write("k", _record(1), None)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_holder, args=(port, "k", child))
    proc.start()
    try:
        assert parent.poll(30) and parent.recv() == "held"
        with pytest.raises(LockTimeoutError), store.lock("k", LEASE / 4):
            pass  # really held right now
        os.kill(proc.pid or 0, getattr(signal, fate))
        started = time.monotonic()
        with store.lock("k", 10):  # no renewal any more: ours within about one lease
            waited = time.monotonic() - started
            store.write("k", _record(2), 1)
        assert waited < 5
        if fate == "SIGSTOP":  # the stalled holder wakes up: the CAS fences its write
            os.kill(proc.pid or 0, signal.SIGCONT)
            parent.send("write")
            assert parent.poll(30) and parent.recv() == "VersionConflictError"
            parent.send("done")
            proc.join(30)
            assert proc.exitcode == 0
        assert _n(store, "k") == (2, 2)
    finally:
        if proc.is_alive():
            os.kill(proc.pid or 0, signal.SIGKILL)
        proc.join(30)
        parent.close()
        child.close()


# --- keyring (SL-20/21) -----------------------------------------------------------------


class RefusingKeyring(MemoryKeyring):
    """A keyring backend whose writes fail (a locked Secret Service collection, an entry
    over the Windows blob limit); its error text echoes the password, as some do."""

    refuse = False

    def set_password(self, service: str, username: str, password: str) -> None:
        if self.refuse:
            raise keyring.errors.PasswordSetError(f"cannot store {password}")
        super().set_password(service, username, password)


def test_a_refused_keyring_write_is_typed_and_keeps_the_old_entry(tmp_path: Path) -> None:
    backend = RefusingKeyring()
    keyring.set_keyring(backend)  # restored by the autouse fixture
    store = KeyringStore("svc", lock_path=str(tmp_path / "k.lock"))
    store.write("u", _record(1), None)
    backend.refuse = True
    before = dict(backend.entries)
    assert _n(store, "u") == (1, 1)
    with pytest.raises(StorageError) as info:
        store.write("u", _record(2), 1)
    assert info.value.error == "keyring_unavailable"
    assert SECRET not in str(info.value)
    assert backend.entries == before
    assert _n(store, "u") == (1, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no plaintext fallback
