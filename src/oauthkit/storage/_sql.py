"""Credentials in a SQL database through SQLAlchemy 2 (``sqlalchemy`` extra); tested on
PostgreSQL through psycopg 3.

One row per key (``version`` column; writes are a compare-and-swap under
``SELECT ... FOR UPDATE`` in a short transaction, durable at commit with PostgreSQL's
default ``synchronous_commit=on``). The exclusive section on PostgreSQL is a
transaction-scoped advisory lock, ``pg_advisory_xact_lock(namespace, hash(key))``, on a
connection of its own with ``lock_timeout`` set: released on commit, rollback or
disconnect, valid across machines, and safe with transaction poolers (SECURITY.md §6.4
"PostgreSQL" option B). Other databases get a per-process lock only.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from oauthkit._errors import StorageError
from oauthkit._refresh import (
    LockTimeoutError,
    Record,
    VersionConflictError,
    process_lock,
)
from oauthkit.storage._sqlite import identity_of, scopes_cover

__all__ = ["SQLStore"]

_NAMESPACE = 0x6F4B  # "oK": the first half of the two-int advisory lock key


def _sa() -> Any:
    try:
        import sqlalchemy
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the SQL store needs the 'sqlalchemy' extra: pip install 'oauthkit[sqlalchemy]'"
        ) from None
    return sqlalchemy


class SQLStore:
    """A keyed store in table ``table_name`` of ``engine`` (created if missing)."""

    def __init__(self, engine: Any, *, table_name: str = "oauthkit_credentials") -> None:
        sa = _sa()
        self.engine = engine
        self._metadata = sa.MetaData()
        self.table = sa.Table(
            table_name,
            self._metadata,
            sa.Column("key", sa.Text, primary_key=True),
            sa.Column("issuer", sa.Text, index=True),
            sa.Column("client_id", sa.Text),
            sa.Column("subject", sa.Text),
            sa.Column("scopes", sa.Text, nullable=False, server_default=""),
            sa.Column("data", sa.Text, nullable=False),
            sa.Column("version", sa.BigInteger, nullable=False),
        )
        try:
            self._metadata.create_all(engine)
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc, "creating the table") from exc

    def __repr__(self) -> str:
        return f"<SQLStore {self.engine.dialect.name}:{self.table.name}>"

    def _error(self, exc: Exception, what: str) -> StorageError:
        return StorageError(f"SQL {what} failed ({type(exc).__name__})", error="io_error")

    def read(self, key: str) -> Record | None:
        sa = _sa()
        t = self.table
        try:
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(t.c.data, t.c.version).where(t.c.key == key)).first()
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc, "read") from exc
        return None if row is None else Record(str(row[0]), int(row[1]))

    def write(self, key: str, data: str, expected_version: int | None) -> int:
        sa = _sa()
        t = self.table
        issuer, client_id, subject, scopes = identity_of(data)
        values = {
            "issuer": issuer,
            "client_id": client_id,
            "subject": subject,
            "scopes": scopes,
            "data": data,
        }
        try:
            with self.engine.begin() as conn:
                row = conn.execute(
                    sa.select(t.c.version).where(t.c.key == key).with_for_update()
                ).first()
                have = int(row[0]) if row is not None else None
                if expected_version is not None and have is not None and have != expected_version:
                    raise VersionConflictError(f"{key[:80]!r} changed since it was read")
                version = (have or 0) + 1
                if have is None:
                    conn.execute(sa.insert(t).values(key=key, version=version, **values))
                else:
                    conn.execute(
                        sa.update(t)
                        .where(t.c.key == key, t.c.version == have)
                        .values(version=version, **values)
                    )
        except sa.exc.IntegrityError as exc:
            raise VersionConflictError(f"{key[:80]!r} was created concurrently") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc, "write") from exc
        return version

    def delete(self, key: str) -> None:
        sa = _sa()
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.delete(self.table).where(self.table.c.key == key))
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc, "delete") from exc

    @contextlib.contextmanager
    def _section(self, key: str, timeout: float) -> Iterator[None]:
        sa = _sa()
        with process_lock(f"sql:{id(self.engine)}:{self.table.name}", key, timeout):
            if self.engine.dialect.name != "postgresql":
                yield
                return
            digest = hashlib.sha256(key.encode("utf-8")).digest()
            second = int.from_bytes(digest[:4], "big", signed=True)
            try:
                conn = self.engine.connect()
            except sa.exc.SQLAlchemyError as exc:
                raise self._error(exc, "lock") from exc
            try:
                try:
                    ms = max(int(timeout * 1000), 1)
                    conn.execute(sa.text(f"SET LOCAL lock_timeout = {ms}"))
                    conn.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:a, :b)"),
                        {"a": _NAMESPACE, "b": second},
                    )
                except sa.exc.OperationalError as exc:
                    if "lock timeout" in str(exc).lower() or "LockNotAvailable" in repr(exc.orig):
                        raise LockTimeoutError(
                            f"timed out waiting for the SQL lock of {key[:80]!r}"
                        ) from None
                    raise self._error(exc, "lock") from exc
                yield
            finally:
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    conn.rollback()
                conn.close()

    def lock(self, key: str, timeout: float) -> contextlib.AbstractContextManager[None]:
        return self._section(key, timeout)

    def keys(self) -> list[str]:
        sa = _sa()
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(self.table.c.key).order_by(self.table.c.key))
                return [str(r[0]) for r in rows]
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc, "keys") from exc

    def find(
        self,
        *,
        issuer: str | None = None,
        client_id: str | None = None,
        subject: str | None = None,
        scopes: Iterable[str] = (),
    ) -> list[str]:
        """Keys of the credentials matching every given field whose granted scopes cover
        ``scopes`` (the identity columns are filtered in SQL)."""
        sa = _sa()
        t = self.table
        query = sa.select(t.c.key, t.c.scopes)
        for column, value in (
            (t.c.issuer, issuer),
            (t.c.client_id, client_id),
            (t.c.subject, subject),
        ):
            if value is not None:
                query = query.where(column == value)
        wanted = list(scopes)
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc, "find") from exc
        return sorted(str(k) for k, granted in rows if scopes_cover(str(granted), wanted))
