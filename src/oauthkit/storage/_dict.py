"""Credentials in a caller's dictionary (one process; tests, caches)."""

from __future__ import annotations

import contextlib
from collections.abc import MutableMapping

from oauthkit._refresh import CorruptStoreError, Record, VersionConflictError, process_lock
from oauthkit.storage._file import decode_record, encode_record

__all__ = ["DictStore"]


class DictStore:
    """A keyed store over ``dictionary`` (values: the credentials JSON oauth2client's
    ``DictionaryStorage`` wrote, plus ``_store_version``). Exclusive sections are per
    process only."""

    def __init__(self, dictionary: MutableMapping[str, str]) -> None:
        self.dictionary = dictionary

    def read(self, key: str) -> Record | None:
        raw = self.dictionary.get(key)
        if raw is None:
            return None
        return decode_record(raw.encode("utf-8"), f"key {key[:80]!r}", quarantine_path=None)

    def write(self, key: str, data: str, expected_version: int | None) -> int:
        have: int | None = None
        try:
            current = self.read(key)
            have = current.version if current is not None else None
        except CorruptStoreError:
            if expected_version is not None:
                raise
        if expected_version is not None and have is not None and have != expected_version:
            raise VersionConflictError(f"{key[:80]!r} changed since it was read")
        version = (have or 0) + 1
        self.dictionary[key] = encode_record(data, version)
        return version

    def delete(self, key: str) -> None:
        self.dictionary.pop(key, None)

    def lock(self, key: str, timeout: float) -> contextlib.AbstractContextManager[None]:
        return process_lock(f"dict:{id(self.dictionary)}", key, timeout)

    def keys(self) -> list[str]:
        return sorted(self.dictionary)
