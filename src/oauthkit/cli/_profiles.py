"""The ``oauthkit`` command's credential store: one SQLite file in the user's config dir.

A small private store on stdlib :mod:`sqlite3` until ``oauthkit.storage`` ships its SQLite
store (then :class:`ProfileStorage` is swapped for it). One row per profile holds the
classic credentials JSON (``credentials.to_json()``, read back with
``Credentials.new_from_json``) and the client settings ``login`` used, so ``login
--profile NAME`` can be repeated.

Durability and safety: WAL journal with ``synchronous=FULL`` (a rotated refresh token is
never lost to a crash), the directory created 0700 and the database files 0600 (SQLite's
``-wal``/``-shm`` files inherit the database's mode), symlinked database refused.
Cross-process single-flight refresh: :meth:`ProfileStorage.acquire_lock` takes an
exclusive ``flock`` on ``profiles.db.lock`` besides the in-process lock, so concurrent
``oauthkit token`` runs on expired credentials cause one refresh (the credentials re-read
the row under the lock and adopt a token another process saved).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from oauthkit._errors import StorageError
from oauthkit._storage import Storage
from oauthkit.cli._fast import DB_NAME, config_dir, db_path, parse_expiry

__all__ = ["DB_NAME", "ProfileDB", "ProfileStorage", "config_dir"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (
    name TEXT PRIMARY KEY,
    credentials TEXT,
    client TEXT NOT NULL DEFAULT '{}',
    updated REAL NOT NULL,
    access_token TEXT,
    expiry REAL,
    invalid INTEGER NOT NULL DEFAULT 0
)
"""
# The fast path of `oauthkit token` reads these three columns (a copy of what the
# credentials JSON says) so that it needs neither json nor a date parser.
_TOKEN_COLUMNS = (
    ("access_token", "TEXT"),
    ("expiry", "REAL"),
    ("invalid", "INTEGER NOT NULL DEFAULT 0"),
)


def _token_columns(credentials_json: str | None) -> tuple[str | None, float | None, int]:
    """(access_token, expiry as epoch seconds, invalid) of a classic credentials JSON."""
    try:
        data = json.loads(credentials_json) if credentials_json else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    token = data.get("access_token")
    expiry = parse_expiry(data.get("token_expiry"))
    return (
        token if isinstance(token, str) else None,
        expiry.timestamp() if expiry is not None else None,
        1 if data.get("invalid") else 0,
    )


_UPSERT = (
    "INSERT INTO profiles (name, credentials, client, updated, access_token, expiry, invalid) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
    "credentials = excluded.credentials, updated = excluded.updated, "
    "access_token = excluded.access_token, expiry = excluded.expiry, invalid = excluded.invalid"
)
_UPSERT_WITH_CLIENT = _UPSERT + ", client = excluded.client"


class ProfileDB:
    """The profiles database at ``path`` (default ``config_dir()/profiles.db``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else Path(db_path())

    @contextmanager
    def connect(self, *, create: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection, closed afterwards; the database is created 0600 when ``create``."""
        if self.path.is_symlink():
            raise StorageError(f"refusing a symlinked credentials database: {self.path}")
        if not self.path.exists():
            if not create:
                raise FileNotFoundError(self.path)
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            os.close(fd)
        try:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the credentials database: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(SCHEMA)
            have = {row[1] for row in conn.execute("PRAGMA table_info(profiles)")}
            for column, kind in _TOKEN_COLUMNS:  # databases from before these columns
                if column not in have:
                    conn.execute(f"ALTER TABLE profiles ADD COLUMN {column} {kind}")
            yield conn
        except sqlite3.Error as exc:
            raise StorageError(f"the credentials database failed: {exc}") from exc
        finally:
            conn.close()

    def names(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.connect() as conn:
            return [row[0] for row in conn.execute("SELECT name FROM profiles ORDER BY name")]

    def read(self, name: str) -> tuple[str | None, dict[str, Any]] | None:
        """``(credentials_json, client_settings)`` of ``name``, or ``None``."""
        if not self.path.exists():
            return None
        with self.connect() as conn:
            row = conn.execute(
                "SELECT credentials, client FROM profiles WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            return None
        try:
            client = json.loads(row[1] or "{}")
        except ValueError:
            client = {}
        return row[0], client if isinstance(client, dict) else {}

    def write(
        self, name: str, credentials_json: str | None, client: dict[str, Any] | None = None
    ) -> None:
        """Insert or update ``name`` in one transaction (``client`` kept when ``None``)."""
        token, expiry, invalid = _token_columns(credentials_json)
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    _UPSERT if client is None else _UPSERT_WITH_CLIENT,
                    (
                        name,
                        credentials_json,
                        json.dumps(client or {}),
                        time.time(),
                        token,
                        expiry,
                        invalid,
                    ),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def delete(self, name: str) -> bool:
        """Remove ``name``; whether it existed."""
        if not self.path.exists():
            return False
        with self.connect() as conn:
            cursor = conn.execute("DELETE FROM profiles WHERE name = ?", (name,))
            return cursor.rowcount > 0


class ProfileStorage(Storage):
    """The classic Storage (``oauthkit._storage.Storage``) over one profile: the base class
    gives ``get``/``put``/``delete``; this one adds the ``locked_*`` methods and an
    ``acquire_lock`` that holds an in-process lock and an exclusive ``flock`` on
    ``<db>.lock``, so refreshes are single-flight across processes.
    """

    def __init__(self, db: ProfileDB, name: str) -> None:
        super().__init__(threading.RLock())
        self.db = db
        self.name = name
        self._depth = 0
        self._fd: int | None = None

    def acquire_lock(self) -> None:
        self._lock.acquire()
        self._depth += 1
        if self._depth == 1 and hasattr(os, "O_NOFOLLOW"):
            import fcntl

            lock_path = self.db.path.with_name(self.db.path.name + ".lock")
            lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd

    def release_lock(self) -> None:
        try:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)  # closing releases the flock
        finally:
            self._lock.release()

    def locked_get(self) -> Any:
        from oauthkit._credentials import Credentials

        row = self.db.read(self.name)
        if row is None or not row[0]:
            return None
        try:
            return Credentials.new_from_json(row[0])
        except (ValueError, KeyError) as exc:
            raise StorageError(f"the credentials of profile {self.name!r} are corrupt") from exc

    def locked_put(self, credentials: Any) -> None:
        self.db.write(self.name, credentials.to_json())

    def locked_delete(self) -> None:
        self.db.delete(self.name)

    def __repr__(self) -> str:
        return f"ProfileStorage({str(self.db.path)!r}, {self.name!r})"
