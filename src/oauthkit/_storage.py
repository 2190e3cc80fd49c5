"""The classic store base class: a key's credentials plus a lock around them.

Subclasses implement ``locked_get``, ``locked_put`` and ``locked_delete`` (and may
override ``acquire_lock``/``release_lock`` with a cross-process lock); ``get``, ``put`` and
``delete`` take the lock around them. Credentials returned by ``get`` are bound to the store
(``set_store``), so they write themselves back after a refresh.
"""

from __future__ import annotations

import threading

from oauthkit._credentials import Credentials

__all__ = ["Storage"]


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
