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

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from typing import NamedTuple, Protocol

from oauthkit._errors import StorageError

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "CorruptStoreError",
    "KeyedStore",
    "LockTimeoutError",
    "PersistRetrier",
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
    PERSIST_RETRIER._after_fork()


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


# --- background retry of saves that failed after a refresh (SECURITY.md §6.2) -------------

logger = logging.getLogger("oauthkit")


class Unsaved(Protocol):
    """What :class:`PersistRetrier` needs of a credentials object with an unsaved refresh."""

    def _retry_persist(self) -> bool:
        """One attempt at the pending save; ``True`` when nothing is left to save."""

    def _persist_target(self) -> str:
        """The store and key, for the log (never token material)."""


class _Entry:
    __slots__ = ("attempts", "due", "ref")

    def __init__(self, ref: weakref.ref[Unsaved], due: float) -> None:
        self.ref = ref
        self.due = due
        self.attempts = 0


class PersistRetrier:
    """Retries, in the background, the saves that failed after a successful refresh.

    One daemon thread per process (started on first use) serves every credentials object
    with an unsaved refresh; objects are held weakly, so an abandoned one is dropped. Each
    is retried with capped exponential backoff (``base_delay`` doubling up to
    ``max_delay`` seconds) until its save lands or a newer record wins the CAS. At
    interpreter exit each is tried once more; a save that still fails is logged at ERROR
    naming the store and key: its rotated refresh token is lost with the process.

    ``attempts`` counts the background attempts; :meth:`wait_idle` blocks until nothing
    is pending (tests wait on it instead of sleeping).
    """

    def __init__(self, base_delay: float = 1.0, max_delay: float = 60.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.attempts = 0
        self._cond = threading.Condition()
        self._entries: dict[int, _Entry] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._at_exit_registered = False

    def _delay(self, attempts: int) -> float:
        return float(min(self.max_delay, self.base_delay * 2 ** max(attempts - 1, 0)))

    def schedule(self, obj: Unsaved) -> None:
        """Retry ``obj``'s save in the background (no-op when it is already scheduled)."""
        with self._cond:
            entry = self._entries.get(id(obj))
            if entry is not None and entry.ref() is obj:
                return
            self._entries[id(obj)] = _Entry(weakref.ref(obj), time.monotonic() + self._delay(1))
            if not self._at_exit_registered:
                atexit.register(self.flush_at_exit)
                self._at_exit_registered = True
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(
                    target=self._run, name="oauthkit-persist-retry", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def pending(self) -> list[Unsaved]:
        """The objects whose save is still pending."""
        with self._cond:
            return self._live()

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is pending (``True``) or ``timeout`` seconds pass."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._live(), timeout)

    def _live(self) -> list[Unsaved]:
        live: list[Unsaved] = []
        for key, entry in list(self._entries.items()):
            obj = entry.ref()
            if obj is None:
                del self._entries[key]
            else:
                live.append(obj)
        return live

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    self._live()
                    now = time.monotonic()
                    due = min((e.due for e in self._entries.values()), default=None)
                    if due is not None and due <= now:
                        break
                    self._cond.notify_all()  # wake wait_idle: maybe idle now
                    self._cond.wait(None if due is None else due - now)
                ready = [e for e in self._entries.values() if e.due <= now]
            for entry in ready:
                self._attempt(entry)

    def _attempt(self, entry: _Entry) -> bool:
        obj = entry.ref()
        done = True
        if obj is not None:
            try:
                done = obj._retry_persist()
            except Exception:  # a store may fail in any way; the next attempt may succeed
                logger.debug("background save failed", exc_info=True)
                done = False
        with self._cond:
            self.attempts += 1
            if obj is not None and self._entries.get(id(obj)) is entry:
                if done:
                    del self._entries[id(obj)]
                else:
                    entry.attempts += 1
                    entry.due = time.monotonic() + self._delay(entry.attempts + 1)
            self._cond.notify_all()
        return done

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (pending objects stay listed) and forget the exit hook."""
        self._halt(timeout)
        if self._at_exit_registered:
            atexit.unregister(self.flush_at_exit)
            self._at_exit_registered = False

    def _halt(self, timeout: float) -> None:
        with self._cond:
            self._stopping = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def flush_at_exit(self) -> None:
        """At interpreter exit: stop the thread, try each pending save once more, and log
        each one that still fails at ERROR (store and key; never token material)."""
        self._halt(10.0)
        with self._cond:
            entries = list(self._entries.values())
        for entry in entries:
            obj = entry.ref()
            if obj is not None and not self._attempt(entry):
                logger.error(
                    "oauthkit: refreshed credentials were never saved to %s; the rotated "
                    "refresh token is lost when this process exits and the user may have "
                    "to authorize again",
                    obj._persist_target(),
                )

    def _after_fork(self) -> None:
        """In a forked child: no thread, nothing pending (the parent keeps retrying; the
        child's copies retry their save on their next refresh)."""
        self._cond = threading.Condition()
        self._entries.clear()
        self._thread = None


PERSIST_RETRIER = PersistRetrier()
"""The process's retrier (the credentials look it up here on every failed save)."""
