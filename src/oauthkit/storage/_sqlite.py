"""Many credentials in one SQLite database (stdlib; the embedded default).

WAL journal and ``synchronous=FULL`` (WAL with ``NORMAL`` can lose the last commit on
power loss: the rotated refresh token; SECURITY.md §6.4 "SQLite"). One row per key with a
``version`` column; writes are a compare-and-swap inside ``BEGIN IMMEDIATE``. The
exclusive section per key is a byte-range lock in ``<db>.lock`` (no database lock is held
across the token request). Identity columns (issuer, client id, subject, scopes) are
indexed for :meth:`SQLiteStore.find`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from oauthkit._errors import StorageError
from oauthkit._refresh import CorruptStoreError, Record, VersionConflictError
from oauthkit.storage._fs import KeyLock, quarantine, read_file, refuse_symlink, storage_error

__all__ = ["SQLiteStore", "identity_of", "scopes_cover"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS credentials ("
    " key TEXT PRIMARY KEY, issuer TEXT, client_id TEXT, subject TEXT,"
    " scopes TEXT NOT NULL DEFAULT '', data TEXT NOT NULL, version INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS credentials_identity ON credentials (issuer, client_id, subject)",
)

SQLITE_MAGIC = b"SQLite format 3\x00"

# primary result codes (https://sqlite.org/rescode.html) -> StorageError reason codes
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26
_REASONS = {
    _BUSY: "storage_busy",
    _LOCKED: "storage_busy",
    _READONLY: "read_only",
    _IOERR: "io_error",
    _FULL: "no_space",
}


def identity_of(data: str) -> tuple[str | None, str | None, str | None, str]:
    """(issuer, client_id, subject, space-joined sorted scopes) of a credentials JSON.
    Issuer and subject come from the ID token (OIDC Core §2; identity is issuer + sub)."""
    try:
        obj = json.loads(data)
    except ValueError:
        return None, None, None, ""
    id_token = obj.get("id_token") if isinstance(obj, dict) else None
    issuer = id_token.get("iss") if isinstance(id_token, dict) else None
    subject = id_token.get("sub") if isinstance(id_token, dict) else None
    scopes = obj.get("scopes") or []
    if isinstance(scopes, str):
        scopes = scopes.split()
    client_id = obj.get("client_id")
    return (
        issuer if isinstance(issuer, str) else None,
        client_id if isinstance(client_id, str) else None,
        subject if isinstance(subject, str) else None,
        " ".join(sorted(str(s) for s in scopes)),
    )


def scopes_cover(granted: str, wanted: Iterable[str]) -> bool:
    return set(wanted).issubset(granted.split())


def _code_from_text(text: str) -> int | None:
    """The primary result code behind an error message (Python < 3.11 has no code)."""
    text = text.lower()
    for needle, code in (
        ("malformed", _CORRUPT),
        ("not a database", _NOTADB),
        ("full", _FULL),
        ("readonly", _READONLY),
        ("read-only", _READONLY),
        ("unable to open", _CANTOPEN),
        ("locked", _BUSY),
        ("busy", _BUSY),
    ):
        if needle in text:
            return code
    return None


class SQLiteStore:
    """A keyed store in one SQLite database file (created 0600)."""

    def __init__(self, filename: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = os.path.abspath(os.fspath(filename))
        self._busy_ms = int(busy_timeout * 1000)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._lock = KeyLock(self.path + ".lock")

    def __repr__(self) -> str:
        return f"<SQLiteStore {self.path}>"

    # --- connections ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        refuse_symlink(self.path)
        if not os.path.exists(self.path):
            flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
            try:
                os.close(os.open(self.path, flags, 0o600))
                os.chmod(self.path, 0o600)
            except OSError as exc:
                raise storage_error(exc, "creating", self.path) from exc
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise self._error(exc, "opening") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            for statement in _SCHEMA:
                conn.execute(statement)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raw = read_file(self.path) or b""
            if raw and not raw.startswith(SQLITE_MAGIC):
                raise quarantine(self.path, raw, "not a SQLite database") from None
            raise self._error(exc, "opening") from exc
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.chmod(self.path + suffix, 0o600)
        self._local.conn = conn
        with self._guard:
            self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        with self._guard:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, exc: sqlite3.Error, what: str) -> StorageError:
        """A typed error for a SQLite failure: the reason comes from the primary result
        code (``SQLITE_FULL`` -> ``no_space``, ``SQLITE_IOERR`` -> ``io_error``,
        ``SQLITE_READONLY`` -> ``read_only``, ``SQLITE_BUSY``/``LOCKED`` ->
        ``storage_busy``); ``SQLITE_CANTOPEN`` is explained by reopening the file (the
        errno: ``read_only``, ``no_space``, ``permission_denied`` ..., else
        ``cannot_open``). The message names the path and reason, never row data."""
        code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
        primary = code & 0xFF if isinstance(code, int) else _code_from_text(str(exc))
        if primary in (_CORRUPT, _NOTADB):
            return CorruptStoreError(f"{what} {self.path}: database is corrupt")
        if primary == _CANTOPEN:
            try:
                flags = os.O_RDWR | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
                os.close(os.open(self.path, flags))
            except OSError as probe:
                return storage_error(probe, what, self.path)
            return StorageError(f"{what} {self.path} failed (cannot_open)", error="cannot_open")
        reason = _REASONS.get(primary or 0, "io_error")
        return StorageError(f"{what} {self.path} failed ({reason})", error=reason)

    @contextlib.contextmanager
    def _tx(self, what: str) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc, what) from exc
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise self._error(exc, what) from exc

    # --- the store protocol -----------------------------------------------------------

    def read(self, key: str) -> Record | None:
        try:
            row = (
                self._connect()
                .execute("SELECT data, version FROM credentials WHERE key = ?", (key,))
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise self._error(exc, "reading") from exc
        if row is None:
            return None
        data, version = row
        if not isinstance(data, str) or not isinstance(version, int):
            raise CorruptStoreError(f"record {key[:80]!r} in {self.path} is corrupt")
        return Record(data, version)

    def write(self, key: str, data: str, expected_version: int | None) -> int:
        issuer, client_id, subject, scopes = identity_of(data)
        try:
            with self._tx("writing") as conn:
                row = conn.execute(
                    "SELECT version FROM credentials WHERE key = ?", (key,)
                ).fetchone()
                have = int(row[0]) if row is not None else None
                if expected_version is not None and have is not None and have != expected_version:
                    raise VersionConflictError(f"{key[:80]!r} changed since it was read")
                version = (have or 0) + 1
                conn.execute(
                    "INSERT INTO credentials (key, issuer, client_id, subject, scopes, data,"
                    " version) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
                    " issuer = excluded.issuer, client_id = excluded.client_id,"
                    " subject = excluded.subject, scopes = excluded.scopes,"
                    " data = excluded.data, version = excluded.version",
                    (key, issuer, client_id, subject, scopes, data, version),
                )
        except sqlite3.Error as exc:
            raise self._error(exc, "writing") from exc
        return version

    def write_many(self, items: Iterable[tuple[str, str]]) -> int:
        """Insert or replace many records in one transaction (migration, benchmarks)."""
        count = 0
        try:
            with self._tx("writing") as conn:
                for key, data in items:
                    issuer, client_id, subject, scopes = identity_of(data)
                    conn.execute(
                        "INSERT INTO credentials (key, issuer, client_id, subject, scopes,"
                        " data, version) VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT (key) DO"
                        " UPDATE SET data = excluded.data, version = credentials.version + 1",
                        (key, issuer, client_id, subject, scopes, data),
                    )
                    count += 1
        except sqlite3.Error as exc:
            raise self._error(exc, "writing") from exc
        return count

    def delete(self, key: str) -> None:
        try:
            with self._tx("deleting") as conn:
                conn.execute("DELETE FROM credentials WHERE key = ?", (key,))
        except sqlite3.Error as exc:
            raise self._error(exc, "deleting") from exc

    def lock(self, key: str, timeout: float) -> contextlib.AbstractContextManager[None]:
        return self._lock.hold(key, timeout)

    def keys(self) -> list[str]:
        try:
            rows = self._connect().execute("SELECT key FROM credentials ORDER BY key").fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc, "listing") from exc
        return [str(r[0]) for r in rows]

    def find(
        self,
        *,
        issuer: str | None = None,
        client_id: str | None = None,
        subject: str | None = None,
        scopes: Iterable[str] = (),
    ) -> list[str]:
        """Keys of the credentials matching every given field whose granted scopes cover
        ``scopes`` (indexed on issuer, client id, subject)."""
        where, args = [], []
        for column, value in (("issuer", issuer), ("client_id", client_id), ("subject", subject)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT key, scopes FROM credentials"
        if where:
            sql += " WHERE " + " AND ".join(where)
        try:
            rows: list[Any] = self._connect().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc, "searching") from exc
        wanted = list(scopes)
        return sorted(str(k) for k, granted in rows if scopes_cover(granted, wanted))
