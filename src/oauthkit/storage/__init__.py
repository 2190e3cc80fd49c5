"""Credential stores (DESIGN.md §2, layer 2): key -> credentials persistence, a
compare-and-swap version, and an exclusive section per key. They decide nothing: the
refresh protocol (SECURITY.md §6.4) is written once, in the credentials.

Backends: :class:`FileStore` (one credential per file), :class:`SQLiteStore` (many; the
embedded default; also behind the classic multi-credential file), :class:`SQLStore`
(SQLAlchemy 2; PostgreSQL across machines), :class:`RedisStore`, :class:`KeyringStore`,
:class:`DictStore`. :func:`bind` gives the classic ``Storage`` API for one key;
:func:`credential_key` and :func:`find` look credentials up by issuer, client id, subject
and scopes; :func:`migrate` converts oauth2client's stores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Iterable, Sequence

from oauthkit._credentials import Credentials
from oauthkit._errors import ConfigurationError, StorageError
from oauthkit._refresh import (
    CorruptStoreError,
    KeyedStore,
    LockTimeoutError,
    Record,
    VersionConflictError,
)
from oauthkit._storage import KeyStorage
from oauthkit.storage._dict import DictStore
from oauthkit.storage._file import FileStore
from oauthkit.storage._fs import CredentialsFileSymbolicLinkError, read_file
from oauthkit.storage._keyring import KeyringStore
from oauthkit.storage._multistore import key_string, parse_oauth2client_multistore
from oauthkit.storage._redis import RedisStore
from oauthkit.storage._sql import SQLStore
from oauthkit.storage._sqlite import SQLiteStore, identity_of, scopes_cover

__all__ = [
    "CorruptStoreError",
    "CredentialsFileSymbolicLinkError",
    "DictStore",
    "FileStore",
    "KeyStorage",
    "KeyedStore",
    "KeyringStore",
    "LockTimeoutError",
    "MigrationReport",
    "Record",
    "RedisStore",
    "SQLStore",
    "SQLiteStore",
    "VersionConflictError",
    "bind",
    "credential_key",
    "find",
    "main",
    "migrate",
]


def bind(store: KeyedStore, key: str, *, lock_timeout: float = 30.0) -> KeyStorage:
    """The classic ``Storage`` API (``get``/``put``/``delete``, locks) for ``key``."""
    return KeyStorage(store, key, lock_timeout=lock_timeout)


def credential_key(
    issuer: str | None, client_id: str | None, subject: str | None, scopes: Iterable[str] = ()
) -> str:
    """A stable key for a grant: issuer + client id + subject + sorted scopes
    (SECURITY.md §6.4 step 2; identity is issuer + sub, OIDC Core §2)."""
    return json.dumps([issuer, client_id, subject, sorted(set(scopes))], separators=(",", ":"))


def find(
    store: KeyedStore,
    *,
    issuer: str | None = None,
    client_id: str | None = None,
    subject: str | None = None,
    scopes: Iterable[str] = (),
) -> list[str]:
    """Keys of stored credentials matching the given issuer, client id and subject whose
    granted scopes cover ``scopes``. Uses the store's index when it has one."""
    finder = getattr(store, "find", None)
    if finder is not None:
        found: list[str] = finder(
            issuer=issuer, client_id=client_id, subject=subject, scopes=scopes
        )
        return found
    wanted = list(scopes)
    out = []
    keys = store.keys()
    for key in keys:
        record = store.read(key)
        if record is None:
            continue
        iss, cid, sub, granted = identity_of(record.data)
        if issuer is not None and iss != issuer:
            continue
        if client_id is not None and cid != client_id:
            continue
        if subject is not None and sub != subject:
            continue
        if scopes_cover(granted, wanted):
            out.append(key)
    return sorted(out)


# --- migration from oauth2client ---------------------------------------------------------


@dataclasses.dataclass
class MigrationReport:
    """What :func:`migrate` did: keys converted, and ``(source, reason)`` for each skip."""

    converted: list[str] = dataclasses.field(default_factory=list)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def _convert(text: str, where: str, key: str, dest: KeyedStore, report: MigrationReport) -> None:
    try:
        credentials = Credentials.new_from_json(text)
    except ConfigurationError as exc:
        report.skipped.append((where, exc.error))
        return
    try:
        dest.write(key, credentials.to_json(), None)
    except StorageError as exc:
        report.skipped.append((where, exc.error))
        return
    report.converted.append(key)


def migrate(sources: Sequence[str], dest: KeyedStore) -> MigrationReport:
    """Convert oauth2client stores into ``dest``.

    Each source is a file path — ``oauth2client.file.Storage`` JSON (stored under the key
    ``file:<path>``), ``multistore_file`` version 1 or ``multiprocess_file_storage``
    version 2 (each credential under its classic key) — or ``keyring:SERVICE:USER``
    (stored under ``keyring:SERVICE:USER``). Credentials are parsed with the closed
    registry of ``Credentials.new_from_json``: nothing named in a file is imported.
    Sources are only read. Returns a :class:`MigrationReport`.
    """
    report = MigrationReport()
    for source in sources:
        if source.startswith("keyring:"):
            _, _, rest = source.partition(":")
            service, _, user = rest.partition(":")
            try:
                record = KeyringStore(service).read(user)
            except StorageError as exc:
                report.skipped.append((source, exc.error))
                continue
            if record is None:
                report.skipped.append((source, "not_found"))
                continue
            _convert(record.data, source, source, dest, report)
            continue
        try:
            raw = read_file(source)
        except StorageError as exc:
            report.skipped.append((source, exc.error))
            continue
        if raw is None:
            report.skipped.append((source, "not_found"))
            continue
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            report.skipped.append((source, "not_json"))
            continue
        if isinstance(doc, dict) and "file_version" in doc:
            try:
                _, entries = parse_oauth2client_multistore(raw)
            except CorruptStoreError as exc:
                report.skipped.append((source, exc.description or exc.error))
                continue
            for key_dict, text in entries:
                key = key_string(key_dict)
                _convert(text, f"{source}#{key}", key, dest, report)
            continue
        _convert(raw.decode("utf-8"), source, f"file:{os.path.abspath(source)}", dest, report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """``oauthkit migrate SOURCE... --to sqlite:PATH|file:PATH``: 0 when everything was
    converted, 1 when something was skipped, 2 on a usage error."""
    parser = argparse.ArgumentParser(
        prog="oauthkit migrate", description="Convert oauth2client credential stores."
    )
    parser.add_argument("sources", nargs="+", help="files, or keyring:SERVICE:USER")
    parser.add_argument("--to", required=True, help="sqlite:PATH or file:PATH")
    args = parser.parse_args(argv)
    kind, _, path = str(args.to).partition(":")
    dest: KeyedStore
    if kind == "sqlite" and path:
        dest = SQLiteStore(path)
    elif kind == "file" and path:
        dest = FileStore(path)
    else:
        parser.print_usage(sys.stderr)
        return 2
    try:
        report = migrate(args.sources, dest)
    finally:
        if isinstance(dest, SQLiteStore):
            dest.close()
    for key in report.converted:
        print(f"converted {key}")
    for where, reason in report.skipped:
        print(f"skipped {where}: {reason}")
    print(f"{len(report.converted)} converted, {len(report.skipped)} skipped")
    return 1 if report.skipped else 0
