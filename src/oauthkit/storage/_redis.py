"""Credentials in Redis (``redis`` extra), shared across machines.

Per key: a hash ``<prefix>:cred:{<id>}`` (fields ``key``, ``data``, ``version``) and a
lease ``<prefix>:lock:{<id>}``; ``<id>`` is a SHA-256 of the key and the braces make it a
cluster hash tag, so both live in one slot. The lease (``SET NX PX`` with a random token,
released by compare-and-delete) avoids duplicate refreshes; correctness comes from the
compare-and-swap script on ``version`` (the fencing token), as SECURITY.md §6.4 "Redis"
requires. While a section is held, a watchdog thread extends the lease (compare-and-
extend by token every third of the lease), so a refresh slower than the lease is not
taken over while its holder lives; a holder that dies or stalls stops extending and the
lease expires after at most ``lease`` seconds (a stalled holder that wakes up is still
fenced by the compare-and-swap). Durability is the server's: run it with
``appendonly yes``, ``appendfsync always`` and a ``maxmemory-policy`` that never evicts
the credential keys (they have no TTL: ``noeviction`` or ``volatile-*``);
:meth:`RedisStore.check_durability` verifies this.

Failures are :class:`StorageError` with a reason code: ``unavailable`` (connection lost,
server down or loading), ``read_only`` (a read-only replica, ``min-replicas-to-write``
not met), ``no_space`` (``maxmemory`` reached), ``io_error`` (the server cannot persist,
anything else). Messages never hold record data. A write whose connection is lost may
still have been applied (outcome unknown): re-read before retrying.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import threading
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

_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# the first word of a Redis error reply (kept through scripts) -> reason code
_REPLIES = {
    "READONLY": "read_only",
    "NOREPLICAS": "read_only",
    "OOM": "no_space",
    "MISCONF": "io_error",
    "LOADING": "unavailable",
    "MASTERDOWN": "unavailable",
    "BUSY": "storage_busy",
    "NOPERM": "permission_denied",
}

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore:
    """A keyed store on a ``redis.Redis`` client the caller owns (and closes).

    ``lease`` (seconds) bounds how long a dead holder blocks the others; the watchdog
    keeps it alive for as long as the holder lives."""

    def __init__(self, client: Any, *, prefix: str = "oauthkit", lease: float = 15.0) -> None:
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
        import redis

        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            reason = "unavailable"
        elif isinstance(exc, redis.exceptions.ReadOnlyError):
            reason = "read_only"
        elif isinstance(exc, redis.exceptions.OutOfMemoryError):
            reason = "no_space"
        elif isinstance(exc, redis.exceptions.NoPermissionError):
            reason = "permission_denied"
        else:  # redis-py keeps the error word in the text of the replies it does not map
            words = str(exc).split(maxsplit=1)
            reason = _REPLIES.get(words[0] if words else "", "io_error")
        return StorageError(f"redis {what} failed ({reason}, {type(exc).__name__})", error=reason)

    def check_durability(self) -> dict[str, str]:
        """Check that an acknowledged write survives a server crash and is never evicted
        (SECURITY.md §6.2 SL-25..28, §6.4 "Redis"): ``appendonly yes``, ``appendfsync
        always`` and a ``maxmemory-policy`` of ``noeviction`` or ``volatile-*`` (the
        credential keys have no TTL). Returns the settings read; raises
        :class:`StorageError` (``not_durable``) naming each wrong setting, or with the
        reason of the failure if ``CONFIG GET`` is refused (managed services may rename it)."""
        import redis

        try:
            settings = {
                name: _text(self._r.config_get(name).get(name, ""))
                for name in ("appendonly", "appendfsync", "maxmemory-policy")
            }
        except redis.RedisError as exc:
            raise self._error(exc, "durability check") from exc
        wrong = []
        if settings["appendonly"] != "yes":
            wrong.append(f"appendonly={settings['appendonly']} (want yes)")
        if settings["appendfsync"] != "always":
            wrong.append(f"appendfsync={settings['appendfsync']} (want always)")
        policy = settings["maxmemory-policy"]
        if policy != "noeviction" and not policy.startswith("volatile-"):
            wrong.append(f"maxmemory-policy={policy} (want noeviction or volatile-*)")
        if wrong:
            raise StorageError(
                "Redis may lose or evict acknowledged writes (a rotated refresh token): "
                + ", ".join(wrong),
                error="not_durable",
            )
        return settings

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
        # one in-process queue per client: two clients are two hosts, only Redis decides
        with process_lock(f"redis:{id(self._r)}:{self.prefix}", key, timeout):
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
            stop = threading.Event()
            watchdog = threading.Thread(
                target=self._extend, args=(name, token, stop), name="oauthkit-redis-lease"
            )
            watchdog.daemon = True
            watchdog.start()
            try:
                yield
            finally:
                stop.set()
                # bounded: a watchdog stuck on a dead server must not wedge the release
                watchdog.join(self._lease_ms / 1000)
                with contextlib.suppress(redis.RedisError):
                    self._r.eval(_UNLOCK, 1, name, token)

    def _extend(self, name: str, token: str, stop: threading.Event) -> None:
        """Extend the lease every third of it while ``stop`` is unset; give up once the
        lease is no longer ours (it expired: the CAS on ``version`` fences us)."""
        import redis

        while not stop.wait(self._lease_ms / 3000):
            try:
                if not self._r.eval(_EXTEND, 1, name, token, self._lease_ms):
                    return
            except redis.RedisError:
                continue  # a blip: try again; the lease still runs out if the server is gone

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
