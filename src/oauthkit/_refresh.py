"""The store protocol (DESIGN.md §2) and the typed storage errors the refresh protocol uses.

A *keyed store* is persistence only: ``key -> (credentials JSON, version)``, a
compare-and-swap write on the version, and a cross-process exclusive section per key. It
decides nothing. The coordination ("lock, re-read, adopt a fresher token, else refresh,
CAS-write durably, unlock"; SECURITY.md §6.4) is written once, in
:meth:`oauthkit.OAuth2Credentials._refresh`, over every store.

This module is layer 1 and imports only layer 0, so both the credentials and the stores
can use it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import NamedTuple, Protocol

from oauthkit._errors import StorageError

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "CorruptStoreError",
    "KeyedStore",
    "LockTimeoutError",
    "Record",
    "VersionConflictError",
    "process_lock",
]

DEFAULT_LOCK_TIMEOUT = 30.0
"""Seconds a refresher waits for a credential's exclusive section (longer than one token
request with its retries, so a waiter normally adopts the holder's token)."""


class LockTimeoutError(StorageError):
    """The exclusive section of a credential could not be entered in time
    (SECURITY.md §6.3 item 4: the caller must not refresh without it)."""

    default_error = "lock_timeout"


class VersionConflictError(StorageError):
    """A compare-and-swap write found another version than the one it read
    (SECURITY.md §6.3 item 5): a stale writer is refused, the stored record is unchanged."""

    default_error = "version_conflict"


class CorruptStoreError(StorageError):
    """Stored data could not be parsed (SECURITY.md §6.1 item 5). The bad data is kept
    (a quarantined copy for files); never reported as "no credentials"."""

    default_error = "storage_corrupt"


class Record(NamedTuple):
    """One stored credential: its JSON (oauth2client's format) and its version (0 for
    records written by oauth2client, which had none; +1 on every write)."""

    data: str
    version: int


class KeyedStore(Protocol):
    """What every backend implements (file, multistore, SQLite, SQL, Redis, keyring, dict).

    - ``read(key)``: the record or ``None``; :class:`CorruptStoreError` for bad data.
    - ``write(key, data, expected_version)``: durable when it returns; with
      ``expected_version`` an int, only if the stored version is that one (``None``: no
      check), else :class:`VersionConflictError`. Returns the new version.
    - ``delete(key)``: remove the record (no error when absent).
    - ``lock(key, timeout)``: a context manager holding the cross-process (for SQL and
      Redis: cross-machine) exclusive section of ``key``; :class:`LockTimeoutError`.
    - ``keys()``: every stored key.

    Failures are :class:`StorageError` carrying the store and key names, never token
    material.
    """

    def read(self, key: str) -> Record | None: ...
    def write(self, key: str, data: str, expected_version: int | None) -> int: ...
    def delete(self, key: str) -> None: ...
    def lock(self, key: str, timeout: float) -> contextlib.AbstractContextManager[None]: ...
    def keys(self) -> list[str]: ...


# --- in-process part of the exclusive section (SECURITY.md §6.4 step 1) -------------------

_registry_guard = threading.Lock()
_registry: dict[tuple[str, str], threading.Lock] = {}


def _reset_after_fork() -> None:
    global _registry_guard  # noqa: PLW0603 - a lock held at fork time is unusable
    _registry_guard = threading.Lock()
    _registry.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


@contextlib.contextmanager
def process_lock(namespace: str, key: str, timeout: float) -> Iterator[None]:
    """The threads of this process enter ``(namespace, key)`` one at a time.

    Stores take it around their cross-process lock, so threads queue here instead of
    polling the OS lock, and per-process OS locks (POSIX record locks) are never taken
    twice by one process. Re-initialised after ``fork``.
    """
    with _registry_guard:
        lock = _registry.setdefault((namespace, key), threading.Lock())
    if not lock.acquire(timeout=max(timeout, 0.0)):
        raise LockTimeoutError(f"timed out waiting for the lock of {key[:80]!r}")
    try:
        yield
    finally:
        lock.release()
