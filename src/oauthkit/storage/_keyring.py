"""Credentials in the OS keyring (``keyring`` extra), one entry per credential.

Entries hold the credentials JSON exactly as oauth2client's ``keyring_storage`` wrote it
(plus ``_store_version``). The keyring has no locks: the exclusive section is a
byte-range lock in a lock file in the user's config directory (SECURITY.md §6.4
"Keyring"). A missing or failing keyring raises :class:`StorageError`; there is no
plaintext fallback (SECURITY.md C46).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from oauthkit._errors import StorageError
from oauthkit._refresh import Record, VersionConflictError
from oauthkit.storage._file import decode_record, encode_record
from oauthkit.storage._fs import KeyLock

__all__ = ["KeyringStore", "default_lock_path"]


def _keyring() -> Any:
    try:
        import keyring
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the keyring store needs the 'keyring' extra: pip install 'oauthkit[keyring]'"
        ) from None
    return keyring


def default_lock_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    directory = os.path.join(base, "oauthkit")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return os.path.join(directory, "keyring.lock")


class KeyringStore:
    """A keyed store: ``key`` is the keyring user name under ``service_name``."""

    def __init__(self, service_name: str, *, lock_path: str | None = None) -> None:
        self.service_name = service_name
        self._lock_path = lock_path

    def __repr__(self) -> str:
        return f"<KeyringStore {self.service_name!r}>"

    def _call(self, what: str, fn: str, *args: str) -> Any:
        keyring = _keyring()
        try:
            return getattr(keyring, fn)(self.service_name, *args)
        except keyring.errors.PasswordDeleteError:
            return None
        except Exception as exc:  # every backend failure becomes one typed error
            raise StorageError(
                f"keyring {what} failed ({type(exc).__name__})", error="keyring_unavailable"
            ) from exc

    def read(self, key: str) -> Record | None:
        raw = self._call("read", "get_password", key)
        if not raw:  # oauth2client "deleted" an entry by writing ''
            return None
        return decode_record(
            str(raw).encode("utf-8"), f"keyring entry {key[:80]!r}", quarantine_path=None
        )

    def write(self, key: str, data: str, expected_version: int | None) -> int:
        have: int | None = None
        try:
            current = self.read(key)
            have = current.version if current is not None else None
        except StorageError:
            if expected_version is not None:
                raise
        if expected_version is not None and have is not None and have != expected_version:
            raise VersionConflictError(f"keyring entry {key[:80]!r} changed since it was read")
        version = (have or 0) + 1
        self._call("write", "set_password", key, encode_record(data, version))
        return version

    def delete(self, key: str) -> None:
        self._call("delete", "delete_password", key)

    def lock(self, key: str, timeout: float) -> contextlib.AbstractContextManager[None]:
        path = self._lock_path or default_lock_path()
        return KeyLock(path).hold(f"{self.service_name}\x00{key}", timeout)

    def keys(self) -> list[str]:
        raise StorageError("a keyring cannot list its entries", error="unsupported")
