"""The classic multi-credential file, on SQLite (one row per key, so a put costs the same
at 10 or 100,000 credentials; the classic JSON document rewrote every credential).

A file that oauth2client wrote — ``multistore_file`` version 1 or
``multiprocess_file_storage`` version 2 — is migrated in place on first use: converted to
SQLite in a temp file in the same directory, the original kept as
``<file>.oauth2client.bak``, then swapped in with ``os.replace``. Nothing named in the
data is imported.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from typing import Any

from oauthkit._refresh import CorruptStoreError
from oauthkit.storage._fs import KeyLock, atomic_write, quarantine, read_file
from oauthkit.storage._sqlite import SQLITE_MAGIC, SQLiteStore

__all__ = ["MultistoreFile", "key_string", "parse_oauth2client_multistore"]

_stores: dict[str, SQLiteStore] = {}
_stores_guard = threading.Lock()


def key_string(key_dict: dict[str, Any]) -> str:
    """The stored key for a classic key dictionary (stable: sorted JSON)."""
    return json.dumps(key_dict, sort_keys=True, separators=(",", ":"))


def parse_oauth2client_multistore(raw: bytes) -> tuple[int, list[tuple[dict[str, Any], str]]]:
    """``(file_version, [(key_dict, credentials_json)])`` of an oauth2client multi-credential
    file; :class:`CorruptStoreError` if it is neither version 1 nor 2."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CorruptStoreError("multi-credential file is not JSON") from None
    if not isinstance(doc, dict):
        raise CorruptStoreError("multi-credential file is not a JSON object")
    out: list[tuple[dict[str, Any], str]] = []
    version = doc.get("file_version")
    if version == 1:
        for entry in doc.get("data", []):
            if not isinstance(entry, dict) or not isinstance(entry.get("key"), dict):
                raise CorruptStoreError("multistore v1 entry without a key")
            cred = entry.get("credential")
            text = cred if isinstance(cred, str) else json.dumps(cred)
            out.append((dict(entry["key"]), text))
        return 1, out
    if version == 2:
        creds = doc.get("credentials", {})
        if not isinstance(creds, dict):
            raise CorruptStoreError("multiprocess v2 file without credentials")
        for key, encoded in creds.items():
            try:
                text = base64.b64decode(str(encoded), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise CorruptStoreError("multiprocess v2 entry is not base64 JSON") from None
            out.append(({"key": str(key)}, text))
        return 2, out
    raise CorruptStoreError("unknown multi-credential file version")


def _migrate_in_place(path: str) -> None:
    raw = read_file(path)
    if raw is None or raw.startswith(SQLITE_MAGIC) or not raw:
        return
    with KeyLock(path + ".lock").hold("\x00migrate", 60.0):
        raw = read_file(path)
        if raw is None or raw.startswith(SQLITE_MAGIC) or not raw:
            return
        try:
            _, entries = parse_oauth2client_multistore(raw)
        except CorruptStoreError as exc:
            raise quarantine(path, raw, exc.description or "corrupt") from None
        temp = f"{path}.migrating-{os.getpid()}"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(temp + suffix):
                os.unlink(temp + suffix)
        with SQLiteStore(temp) as store:
            store.write_many((key_string(k), data) for k, data in entries)
        atomic_write(path + ".oauth2client.bak", raw)
        os.replace(temp, path)
        fd = os.open(os.path.dirname(path), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def MultistoreFile(filename: str | os.PathLike[str]) -> SQLiteStore:
    """The (process-wide, shared) SQLite store behind a classic multi-credential file,
    migrating an oauth2client file on first use."""
    path = os.path.abspath(os.fspath(filename))
    with _stores_guard:
        store = _stores.get(path)
        if store is None:
            _migrate_in_place(path)
            store = SQLiteStore(path)
            _stores[path] = store
        return store


def close_all() -> None:
    """Close the shared stores (tests; process exit)."""
    with _stores_guard:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()
