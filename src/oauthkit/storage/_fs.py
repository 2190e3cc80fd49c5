"""Files done carefully: atomic durable replace, no-follow reads, quarantine, and a
per-key cross-process lock (SECURITY.md §6.1 items 1, 2, 5, 6 and §6.4 "File")."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import stat
import threading
import time
from collections.abc import Iterator

from oauthkit._errors import StorageError
from oauthkit._refresh import CorruptStoreError, LockTimeoutError, process_lock

__all__ = [
    "CredentialsFileSymbolicLinkError",
    "KeyLock",
    "atomic_write",
    "quarantine",
    "read_file",
]

_REASONS = {
    errno.ENOSPC: "no_space",
    errno.EIO: "io_error",
    errno.EROFS: "read_only",
    errno.EACCES: "permission_denied",
    errno.EPERM: "permission_denied",
    errno.EDQUOT: "no_space",
    errno.ELOOP: "symlink_refused",
}


class CredentialsFileSymbolicLinkError(StorageError):
    """(classic) The credentials file is a symbolic link; oauthkit refuses to follow it."""

    default_error = "symlink_refused"


def storage_error(exc: OSError, what: str, path: str) -> StorageError:
    """A typed error for an ``OSError`` (reason code from ``errno``; path, no content)."""
    reason = _REASONS.get(exc.errno or 0, "os_error")
    if reason == "symlink_refused":
        return CredentialsFileSymbolicLinkError(f"{what} {path}: is a symbolic link")
    return StorageError(f"{what} {path} failed: {exc.strerror or reason}", error=reason)


def refuse_symlink(path: str) -> None:
    if os.path.islink(path):
        raise CredentialsFileSymbolicLinkError(f"credentials file {path} is a symbolic link")


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(directory: str, base: str) -> None:
    """Remove temp files left by writers that died (SIGKILL, power loss) before their
    ``os.replace``: a temp names its writer's PID, and only dead writers' temps go."""
    prefix = f".{base}."
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        pid_text = name[len(prefix) :].split(".", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))
        except OSError:
            continue


def atomic_write(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that any reader, and the disk after a crash or
    power loss, holds the old or the new complete file (SECURITY.md §6.1 items 1-2):
    a temp file in the same directory (``O_CREAT|O_EXCL|O_NOFOLLOW``, 0600 whatever the
    umask), write, ``fsync``, ``os.replace``, ``fsync`` of the directory.

    Raises :class:`StorageError` (reason from errno) with the original file untouched and
    the temp file removed; :class:`CredentialsFileSymbolicLinkError` for a symlinked target.
    """
    refuse_symlink(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    _remove_stale_temps(directory, base)
    temp = os.path.join(directory, f".{base}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(temp, flags, 0o600)
    except OSError as exc:
        raise storage_error(exc, "writing", path) from exc
    try:
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
        _fsync_dir(directory)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise storage_error(exc, "writing", path) from exc


def read_file(path: str) -> bytes | None:
    """The bytes of ``path`` (``None`` if it does not exist), never through a symlink."""
    refuse_symlink(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise storage_error(exc, "reading", path) from exc
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise storage_error(exc, "reading", path) from exc
    finally:
        os.close(fd)


def quarantine(path: str, data: bytes, reason: str) -> CorruptStoreError:
    """Keep a copy of corrupt ``data`` next to ``path`` (``<path>.corrupt-<hash>``, 0600)
    and return the typed error to raise. The original stays in place, so every later read
    fails the same way instead of reporting "no credentials" (SECURITY.md §6.1 item 5)."""
    digest = hashlib.sha256(data).hexdigest()[:12]
    aside = f"{path}.corrupt-{digest}"
    with contextlib.suppress(StorageError, OSError):
        if not os.path.exists(aside):
            atomic_write(aside, data)
    return CorruptStoreError(
        f"credentials store {path} is corrupt ({reason}); copy kept at {aside}"
    )


# --- per-key cross-process lock --------------------------------------------------------

_fds: dict[str, int] = {}
_fds_guard = threading.Lock()


def _forget_fds() -> None:
    _fds.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_fds)


class KeyLock:
    """Exclusive sections per key across the processes of one host.

    One lock file (``O_RDWR|O_CREAT|O_NOFOLLOW|O_CLOEXEC``, 0600) holds a POSIX byte-range
    lock per key (the byte at a hash of the key), so one file serves any number of keys
    and the kernel releases a dead holder's locks. POSIX locks belong to the process, so
    threads first pass :func:`process_lock` on the same byte, and the file is opened once
    per process and never closed (closing any descriptor would drop the process's locks).
    Waiting polls with ``LOCK_NB`` and backoff up to the timeout (SECURITY.md §6.4).
    """

    SLOTS = 1 << 20

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)

    def _fd(self) -> int:
        with _fds_guard:
            fd = _fds.get(self.path)
            if fd is None:
                refuse_symlink(self.path)
                flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
                try:
                    fd = os.open(self.path, flags, 0o600)
                except OSError as exc:
                    raise storage_error(exc, "opening lock file", self.path) from exc
                try:
                    if not stat.S_ISREG(os.fstat(fd).st_mode):
                        raise StorageError(
                            f"lock file {self.path} is not a regular file", error="not_a_file"
                        )
                    os.fchmod(fd, 0o600)
                except OSError as exc:
                    os.close(fd)
                    raise storage_error(exc, "opening lock file", self.path) from exc
                except StorageError:
                    os.close(fd)
                    raise
                _fds[self.path] = fd
            return fd

    def slot(self, key: str) -> int:
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.SLOTS

    @contextlib.contextmanager
    def hold(self, key: str, timeout: float) -> Iterator[None]:
        deadline = time.monotonic() + timeout
        slot = self.slot(key)
        with process_lock(self.path, str(slot), timeout):
            fd = self._fd()
            delay = 0.001
            while True:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise storage_error(exc, "locking", self.path) from exc
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(f"timed out waiting for the lock in {self.path}")
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
            try:
                yield
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, slot)
