"""One credential in one JSON file (the classic ``oauth2client.file.Storage`` format).

The file holds the credentials' JSON exactly as oauth2client wrote it, plus a
``_store_version`` field (oauth2client ignores it; a file without it is version 0).
Writes are atomic and durable (:func:`~oauthkit.storage._fs.atomic_write`); the
exclusive section is a lock on ``<file>.lock`` next to it (SECURITY.md §6.4 "File").
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from oauthkit._refresh import DEFAULT_LOCK_TIMEOUT, Record, VersionConflictError
from oauthkit._storage import KeyStorage
from oauthkit.storage._fs import KeyLock, atomic_write, quarantine, read_file, refuse_symlink

__all__ = ["FileStore", "Storage", "decode_record", "encode_record"]

VERSION_FIELD = "_store_version"


def decode_record(raw: bytes, where: str, *, quarantine_path: str | None) -> Record:
    """Parse one stored credential document; corrupt -> quarantined + ``CorruptStoreError``."""

    def bad(reason: str) -> Exception:
        if quarantine_path is not None:
            return quarantine(quarantine_path, raw, reason)
        from oauthkit._refresh import CorruptStoreError

        return CorruptStoreError(f"credentials in {where} are corrupt ({reason})")

    if not raw.strip():
        raise bad("empty")
    try:
        data: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise bad("not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("_class"), str):
        raise bad("not a credentials object")
    version = data.get(VERSION_FIELD, 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise bad("bad version")
    return Record(json.dumps(data), version)


def encode_record(data: str, version: int) -> str:
    obj = json.loads(data)
    obj[VERSION_FIELD] = version
    return json.dumps(obj)


class FileStore:
    """A keyed store holding one credential (every key names the same file)."""

    def __init__(self, filename: str | os.PathLike[str]) -> None:
        self.path = os.path.abspath(os.fspath(filename))
        self._lock = KeyLock(self.path + ".lock")

    def __repr__(self) -> str:
        return f"<FileStore {self.path}>"

    def read(self, key: str = "") -> Record | None:
        raw = read_file(self.path)
        if raw is None:
            return None
        return decode_record(raw, self.path, quarantine_path=self.path)

    def write(self, key: str, data: str, expected_version: int | None) -> int:
        current = self.read(key) if expected_version is not None else self._current()
        have = current.version if current is not None else None
        if expected_version is not None and have is not None and have != expected_version:
            raise VersionConflictError(f"{self.path} changed since it was read")
        version = (have or 0) + 1
        atomic_write(self.path, encode_record(data, version).encode("utf-8"))
        return version

    def _current(self) -> Record | None:
        try:
            return self.read()
        except Exception:  # an unconditional save replaces a corrupt file (kept aside)
            return None

    def delete(self, key: str = "") -> None:
        refuse_symlink(self.path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def lock(self, key: str, timeout: float) -> contextlib.AbstractContextManager[None]:
        return self._lock.hold("", timeout)

    def keys(self) -> list[str]:
        return [""] if os.path.exists(self.path) else []


class Storage(KeyStorage):
    """(classic) ``oauthkit.file.Storage(filename)``: credentials in one JSON file.

    Reads files oauth2client wrote, unchanged. Refuses a symlinked file
    (:class:`CredentialsFileSymbolicLinkError`); creates files 0600 whatever the umask;
    writes atomically and durably; a corrupt file raises ``CorruptStoreError`` (a
    ``StorageError``) and is copied aside, never read as "no credentials".
    """

    def __init__(
        self, filename: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> None:
        self._filename = os.fspath(filename)
        super().__init__(FileStore(filename), "", lock_timeout=lock_timeout)

    def __repr__(self) -> str:
        return f"<oauthkit.file.Storage {self._filename}>"
