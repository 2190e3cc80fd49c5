"""Credentials in Redis (``redis`` extra), shared across machines.

Per key: a hash ``<prefix>:cred:{<id>}`` (fields ``key``, ``data``, ``version``) and a
lease ``<prefix>:lock:{<id>}``; ``<id>`` is a SHA-256 of the key and the braces make it a
cluster hash tag, so both live in one slot. The lease (``SET NX PX`` with a random token,
released by compare-and-delete) avoids duplicate refreshes; correctness comes from the
compare-and-swap script on ``version`` (the fencing token), as SECURITY.md §6.4 "Redis"
requires. Durability is the server's: run it with ``appendonly yes`` and
``appendfsync always`` so an acknowledged rotation survives a crash.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import time
from collections.abc import Iterator
from typing import Any

from oauthkit._errors import StorageError
from oauthkit._refresh import (
    CorruptStoreError,
    LockTimeoutError,
    Record,
    VersionConflictError,
    process_lock,
)

__all__ = ["RedisStore"]

_CAS = """
local v = redis.call('HGET', KEYS[1], 'version')
if ARGV[3] ~= '' and v and v ~= ARGV[3] then return -1 end
local n = (tonumber(v) or 0) + 1
redis.call('HSET', KEYS[1], 'key', ARGV[1], 'data', ARGV[2], 'version', n)
return n
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore:
    """A keyed store on a ``redis.Redis`` client the caller owns (and closes)."""

    def __init__(self, client: Any, *, prefix: str = "oauthkit", lease: float = 60.0) -> None:
        self._r = client
        self.prefix = prefix
        self._lease_ms = int(lease * 1000)

    def __repr__(self) -> str:
        return f"<RedisStore prefix={self.prefix!r}>"

    def _id(self, key: str) -> str:
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    def _cred(self, key: str) -> str:
        return f"{self.prefix}:cred:{{{self._id(key)}}}"

    def _error(self, exc: Exception, what: str) -> StorageError:
        return StorageError(f"redis {what} failed ({type(exc).__name__})", error="io_error")

    def read(self, key: str) -> Record | None:
        import redis

        try:
            data, version = self._r.hmget(self._cred(key), ["data", "version"])
        except redis.RedisError as exc:
            raise self._error(exc, "read") from exc
        if data is None:
            return None
        try:
            return Record(_text(data), int(version))
        except (TypeError, ValueError, UnicodeDecodeError):
            raise CorruptStoreError(f"redis record {key[:80]!r} is corrupt") from None

    def write(self, key: str, data: str, expected_version: int | None) -> int:
        import redis

        expected = "" if expected_version is None else str(expected_version)
        try:
            result = int(self._r.eval(_CAS, 1, self._cred(key), key, data, expected))
        except redis.RedisError as exc:
            raise self._error(exc, "write") from exc
        if result < 0:
            raise VersionConflictError(f"{key[:80]!r} changed since it was read")
        return result

    def delete(self, key: str) -> None:
        import redis

        try:
            self._r.delete(self._cred(key))
        except redis.RedisError as exc:
            raise self._error(exc, "delete") from exc

    @contextlib.contextmanager
    def _lease(self, key: str, timeout: float) -> Iterator[None]:
        import redis

        name = f"{self.prefix}:lock:{{{self._id(key)}}}"
        token = secrets.token_hex(16)
        deadline = time.monotonic() + timeout
        delay = 0.002
        with process_lock(f"redis:{self.prefix}", key, timeout):
            try:
                while not self._r.set(name, token, nx=True, px=self._lease_ms):
                    if time.monotonic() >= deadline:
                        raise LockTimeoutError(
                            f"timed out waiting for the redis lock of {key[:80]!r}"
                        )
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
            except redis.RedisError as exc:
                raise self._error(exc, "lock") from exc
            try:
                yield
            finally:
                with contextlib.suppress(redis.RedisError):
                    self._r.eval(_UNLOCK, 1, name, token)

    def lock(self, key: str, timeout: float) -> contextlib.AbstractContextManager[None]:
        return self._lease(key, timeout)

    def keys(self) -> list[str]:
        import redis

        try:
            out = []
            for name in self._r.scan_iter(match=f"{self.prefix}:cred:*", count=1000):
                value = self._r.hget(name, "key")
                if value is not None:
                    out.append(_text(value))
            return sorted(out)
        except redis.RedisError as exc:
            raise self._error(exc, "scan") from exc


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
