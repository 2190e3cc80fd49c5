"""The classic store base class: a key's credentials plus a lock around them.

Subclasses implement ``locked_get``, ``locked_put`` and ``locked_delete`` (and may
override ``acquire_lock``/``release_lock`` with a cross-process lock); ``get``, ``put`` and
``delete`` take the lock around them. Credentials returned by ``get`` are bound to the store
(``set_store``), so they write themselves back after a refresh.

:class:`KeyStorage` is that classic API over one key of any :class:`~oauthkit._refresh.
KeyedStore` (the store protocol of DESIGN.md §2). It adds what the refresh protocol of
SECURITY.md §6.4 needs: the version read under the lock (``locked_get_versioned``), a
compare-and-swap write (``locked_put_versioned``) and a lock-free read for the
lock-timeout path (``peek``). The protocol itself lives in ``OAuth2Credentials._refresh``.
"""

from __future__ import annotations

import contextlib
import threading

from oauthkit._credentials import Credentials
from oauthkit._errors import ConfigurationError
from oauthkit._refresh import (
    DEFAULT_LOCK_TIMEOUT,
    CorruptStoreError,
    KeyedStore,
    Record,
)

__all__ = ["KeyStorage", "Storage", "credentials_from_record", "record_data"]


class Storage:
    """Base class of credential stores (classic ``oauth2client.client.Storage``).

    ``lock`` is any object with ``acquire()``/``release()``; by default a
    ``threading.RLock`` so one process's threads never interleave.
    """

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self._lock = lock if lock is not None else threading.RLock()

    def acquire_lock(self) -> None:
        self._lock.acquire()

    def release_lock(self) -> None:
        self._lock.release()

    def locked_get(self) -> Credentials | None:
        raise NotImplementedError

    def locked_put(self, credentials: Credentials) -> None:
        raise NotImplementedError

    def locked_delete(self) -> None:
        raise NotImplementedError

    def get(self) -> Credentials | None:
        """The stored credentials (bound to this store), or ``None``."""
        self.acquire_lock()
        try:
            credentials = self.locked_get()
        finally:
            self.release_lock()
        if credentials is not None and hasattr(credentials, "set_store"):
            credentials.set_store(self)
        return credentials

    def put(self, credentials: Credentials) -> None:
        """Store ``credentials`` (and bind them to this store)."""
        self.acquire_lock()
        try:
            self.locked_put(credentials)
        finally:
            self.release_lock()
        if hasattr(credentials, "set_store"):
            credentials.set_store(self)

    def delete(self) -> None:
        """Remove the stored credentials."""
        self.acquire_lock()
        try:
            self.locked_delete()
        finally:
            self.release_lock()


def credentials_from_record(record: Record, where: str) -> Credentials:
    """Parse a stored record with the closed registry of ``Credentials.new_from_json``
    (nothing named in the data is imported). Bad data -> :class:`CorruptStoreError`."""
    try:
        credentials = Credentials.new_from_json(record.data)
    except ConfigurationError:
        raise CorruptStoreError(f"stored credentials in {where} are unreadable") from None
    credentials._store_version = record.version  # type: ignore[attr-defined]
    return credentials


def record_data(credentials: Credentials) -> str:
    """The JSON a store keeps: oauth2client's format, so either library reads it."""
    return credentials.to_json()


class KeyStorage(Storage):
    """The classic single-credential ``Storage`` API over one key of a keyed store.

    ``acquire_lock`` enters the key's exclusive section (threads of this process, then
    other processes or machines) and raises :class:`~oauthkit._refresh.LockTimeoutError`
    after ``lock_timeout`` seconds. ``locked_put`` writes unconditionally (a caller's
    explicit save); the refresh path writes with ``locked_put_versioned`` (CAS).
    """

    def __init__(
        self, store: KeyedStore, key: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> None:
        super().__init__()
        self._store = store
        self._key = key
        self._lock_timeout = lock_timeout
        self._held = threading.local()

    @property
    def key(self) -> str:
        return self._key

    @property
    def backend(self) -> KeyedStore:
        return self._store

    def __repr__(self) -> str:
        return f"<{type(self).__name__} key={self._key[:80]!r}>"

    def acquire_lock(self) -> None:
        stack: list[contextlib.ExitStack] = getattr(self._held, "stack", [])
        exits = contextlib.ExitStack()
        exits.enter_context(self._store.lock(self._key, self._lock_timeout))
        stack.append(exits)
        self._held.stack = stack

    def release_lock(self) -> None:
        stack: list[contextlib.ExitStack] = getattr(self._held, "stack", [])
        if stack:
            stack.pop().close()

    def locked_get(self) -> Credentials | None:
        return self.locked_get_versioned()[0]

    def get(self) -> Credentials | None:
        """The stored credentials, bound to this storage. Reads take no lock: every
        backend replaces a record atomically, so a reader sees a whole record
        (SECURITY.md §6.4 "File"); the refresh path takes the lock and re-reads."""
        credentials = self.locked_get()
        if credentials is not None and hasattr(credentials, "set_store"):
            credentials.set_store(self)
        return credentials

    def locked_get_versioned(self) -> tuple[Credentials | None, int | None]:
        """The stored credentials and their version (``None, None`` when absent)."""
        record = self._store.read(self._key)
        if record is None:
            return None, None
        return credentials_from_record(record, repr(self._key[:80])), record.version

    def peek(self) -> Credentials | None:
        """Read without the lock (stores replace records atomically)."""
        return self.locked_get()

    def locked_put(self, credentials: Credentials) -> None:
        self.locked_put_versioned(credentials, None)

    def locked_put_versioned(self, credentials: Credentials, expected: int | None) -> int:
        """Write durably with compare-and-swap on ``expected`` (``None``: no check)."""
        version = self._store.write(self._key, record_data(credentials), expected)
        credentials._store_version = version  # type: ignore[attr-defined]
        return version

    def locked_delete(self) -> None:
        self._store.delete(self._key)
