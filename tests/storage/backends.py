"""Open any backend from a picklable spec, in the test process or a spawned child."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from typing import Any

import keyring
import keyring.backend
import keyring.errors

from oauthkit.storage import (
    DictStore,
    FileStore,
    KeyedStore,
    KeyringStore,
    RedisStore,
    SQLiteStore,
    SQLStore,
)
from oauthkit.storage._fs import atomic_write, read_file
from oauthkit.storage._multistore import MultistoreFile, close_all

Spec = tuple[str, str]

STAMPEDE = ("file", "multistore", "sqlite", "postgres", "redis")
CROSS_PROCESS = (*STAMPEDE, "keyring")
ALL = (*CROSS_PROCESS, "dict")


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend class holding entries in memory (no plaintext file)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


class DirectoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend class keeping one file per entry in a test directory, so
    spawned processes share it (the OS keyrings are absent on a headless CI machine).
    Entries are written atomically; this is test scaffolding, not a plaintext fallback."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, directory: str) -> None:
        super().__init__()
        self.directory = directory
        os.makedirs(directory, mode=0o700, exist_ok=True)

    def _path(self, service: str, username: str) -> str:
        name = hashlib.sha256(f"{service}\x00{username}".encode()).hexdigest()
        return os.path.join(self.directory, name)

    def get_password(self, service: str, username: str) -> str | None:
        raw = read_file(self._path(service, username))
        return None if raw is None else raw.decode("utf-8")

    def set_password(self, service: str, username: str, password: str) -> None:
        atomic_write(self._path(service, username), password.encode("utf-8"))

    def delete_password(self, service: str, username: str) -> None:
        try:
            os.unlink(self._path(service, username))
        except FileNotFoundError:
            raise keyring.errors.PasswordDeleteError(username) from None


_DICTS: dict[str, dict[str, str]] = {}


@contextlib.contextmanager
def open_store(spec: Spec) -> Iterator[KeyedStore]:
    kind, arg = spec
    if kind == "file":
        yield FileStore(arg)
    elif kind == "sqlite":
        with SQLiteStore(arg) as store:
            yield store
    elif kind == "multistore":
        try:
            yield MultistoreFile(arg)
        finally:
            close_all()
    elif kind == "postgres":
        import sqlalchemy

        engine = sqlalchemy.create_engine(arg, pool_size=8, max_overflow=16)
        try:
            yield SQLStore(engine)
        finally:
            engine.dispose()
    elif kind == "redis":
        import redis

        client = redis.Redis(host="127.0.0.1", port=int(arg), max_connections=64)
        try:
            yield RedisStore(client)
        finally:
            client.close()
            client.connection_pool.disconnect()
    elif kind == "keyring":
        keyring.set_keyring(DirectoryKeyring(arg + ".entries"))
        yield KeyringStore("oauthkit-tests", lock_path=arg + ".lock")
    elif kind == "dict":
        yield DictStore(_DICTS.setdefault(arg, {}))
    else:
        raise ValueError(kind)


def spec_for(kind: str, tmp: Any, pg_url: str | None = None, redis_port: int | None = None) -> Spec:
    if kind == "postgres":
        assert pg_url is not None
        return (kind, pg_url)
    if kind == "redis":
        assert redis_port is not None
        return (kind, str(redis_port))
    suffix = {"file": "cred.json", "multistore": "multi.store", "sqlite": "creds.sqlite3"}.get(
        kind, kind
    )
    return (kind, str(tmp / suffix))
