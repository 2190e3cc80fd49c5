"""Credentials in a SQL database through SQLAlchemy 2 (``sqlalchemy`` extra); tested on
PostgreSQL through psycopg 3.

One row per key (``version`` column; writes are a compare-and-swap under
``SELECT ... FOR UPDATE`` in a short transaction, durable at commit with PostgreSQL's
default ``synchronous_commit=on``). The exclusive section on PostgreSQL is a
transaction-scoped advisory lock, ``pg_advisory_xact_lock(namespace, hash(key))``, on a
connection of its own with ``lock_timeout`` set: released on commit, rollback or
disconnect, valid across machines, and safe with transaction poolers (SECURITY.md §6.4
"PostgreSQL" option B). Other databases get a per-process lock only.

Failures are :class:`StorageError` with a reason code from the SQLSTATE: ``read_only``
(read-only transaction, hot standby), ``no_space`` (disk full), ``unavailable``
(connection lost, backend terminated, server restarting), ``storage_busy``, else
``io_error``. A write whose connection dies *at commit* may still have been committed
(outcome unknown): re-read before retrying. :meth:`SQLStore.check_durability` verifies the
server settings an acknowledged rotation relies on.
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

# SQLSTATE (PostgreSQL appendix A) -> StorageError reason code; classes by first two chars
_SQLSTATES = {
    "25006": "read_only",  # read_only_sql_transaction (also a hot standby)
    "53100": "no_space",  # disk_full
    "55P03": "storage_busy",  # lock_not_available
    "40001": "storage_busy",  # serialization_failure
    "40P01": "storage_busy",  # deadlock_detected
    "57P01": "unavailable",  # admin_shutdown (pg_terminate_backend, server stopping)
    "57P02": "unavailable",  # crash_shutdown
    "57P03": "unavailable",  # cannot_connect_now (starting up, in recovery)
}
_SQLSTATE_CLASSES = {"08": "unavailable", "53": "unavailable", "58": "io_error", "XX": "io_error"}

# what an acknowledged commit needs to survive a crash (synchronous_commit=off can lose it)
_DURABLE = {
    "fsync": ("on",),
    "full_page_writes": ("on",),
    "synchronous_commit": ("on", "remote_apply", "remote_write", "local"),
}


def _reason(exc: BaseException) -> str:
    sa = _sa()
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(state, str) and state:
        return _SQLSTATES.get(state) or _SQLSTATE_CLASSES.get(state[:2], "io_error")
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return "unavailable"  # the connection died without a server reply
    if isinstance(exc, sa.exc.OperationalError):
        return "unavailable"  # e.g. cannot connect: no SQLSTATE from the server
    return "io_error"


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
        """A typed error: the reason comes from the SQLSTATE (``read_only``,
        ``no_space``, ``unavailable`` when the connection or server went away,
        ``storage_busy``), else ``io_error``; the message never holds row data."""
        reason = _reason(exc)
        return StorageError(
            f"SQL {what} on {self.table.name} failed ({reason}, {type(exc).__name__})",
            error=reason,
        )

    def check_durability(self) -> dict[str, str]:
        """Check that an acknowledged write survives a server crash (SECURITY.md §6.2
        SL-25..28): on PostgreSQL ``fsync``, ``full_page_writes`` on and
        ``synchronous_commit`` not ``off``, as this session sees them. Returns the
        settings read; raises :class:`StorageError` (``not_durable``) naming each
        setting that is wrong. Other databases: checks nothing, returns ``{}``."""
        sa = _sa()
        if self.engine.dialect.name != "postgresql":
            return {}
        try:
            with self.engine.connect() as conn:
                settings = {
                    name: str(conn.execute(sa.text(f"SHOW {name}")).scalar_one())
                    for name in _DURABLE
                }
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc, "durability check") from exc
        wrong = [
            f"{name}={settings[name]} (want {' or '.join(good)})"
            for name, good in _DURABLE.items()
            if settings[name] not in good
        ]
        if wrong:
            raise StorageError(
                "PostgreSQL may lose acknowledged writes (a rotated refresh token): "
                + ", ".join(wrong),
                error="not_durable",
            )
        return settings

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
