"""Real PostgreSQL and Redis servers for the storage tests, started on 127.0.0.1 in a
temporary directory and stopped by PID (the Debian packages `.ci/install-services.sh`
installs). A missing server is a failure, never a skip."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until(check: object, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    delay = 0.01
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early: {log.read_text()[-2000:]}")
        if callable(check) and check():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not become ready: {log.read_text()[-2000:]}")
        time.sleep(delay)  # readiness probe of a starting server, not test synchronisation
        delay = min(delay * 2, 0.2)


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run bash .ci/install-services.sh")
    return found[-1]


@contextlib.contextmanager
def postgres_server(tmp: Path) -> Iterator[str]:
    """A PostgreSQL cluster; yields a SQLAlchemy URL (psycopg 3)."""
    with postgres_process() as (url, _):
        yield url


@contextlib.contextmanager
def postgres_process(
    shim: Path | None = None, fault: str | None = None
) -> Iterator[tuple[str, Path]]:
    """A PostgreSQL cluster; yields its SQLAlchemy URL and its own directory. With
    ``shim`` (``faultshim.c`` built) and ``fault`` (``write:28``...), the server runs
    with the shim preloaded, failing that call once on its WAL (``pg_wal``) when the file
    ``arm`` in that directory exists."""
    root = os.geteuid() == 0
    # pytest's temp dirs are 0700 root: the postgres user needs a directory of its own
    tmp = Path(tempfile.mkdtemp(prefix="oauthkit-pg-"))
    data, sock = tmp / "pgdata", tmp / "pgsock"
    data.mkdir()
    sock.mkdir()
    user: str | None = None
    if root:
        user = "postgres"
        pw = pwd.getpwnam(user)
        for p in (tmp, data, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    owner = user or pwd.getpwuid(os.geteuid()).pw_name
    log = tmp / "pg.log"
    subprocess.run(
        [_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", owner, "--no-sync", "-E", "UTF8"],
        check=True,
        capture_output=True,
        user=user,
    )
    port = free_port()
    env = None
    if shim is not None and fault is not None:
        preload = tmp / "faultshim.so"  # readable by the postgres user
        shutil.copy(shim, preload)
        os.chmod(preload, 0o755)  # noqa: S103 - a shared library the server user loads
        env = {
            **os.environ,
            "LD_PRELOAD": str(preload),
            "OAUTHKIT_FAULT": fault,
            "OAUTHKIT_FAULT_DIR": str(data / "pg_wal"),
            "OAUTHKIT_FAULT_ARM_FILE": str(tmp / "arm"),
            "OAUTHKIT_FAULT_ONCE": "1",
        }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                _pg_bin("postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                str(sock),
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            user=user,
            env=env,
        )
    url = f"postgresql+psycopg://{owner}@127.0.0.1:{port}/postgres"

    def ready() -> bool:
        import psycopg

        try:
            with psycopg.connect(f"host=127.0.0.1 port={port} user={owner} dbname=postgres"):
                return True
        except psycopg.OperationalError:
            return False

    try:
        _wait_until(ready, "postgres", proc, log)
        yield url, tmp
    finally:
        _stop(proc, signal.SIGINT)
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def redis_server(tmp: Path, port: int | None = None) -> Iterator[int]:
    """A redis-server with AOF and ``appendfsync always`` in ``tmp``; yields its port."""
    with redis_process(tmp, port) as (actual, _):
        yield actual


@contextlib.contextmanager
def redis_process(
    tmp: Path, port: int | None = None, env: dict[str, str] | None = None
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed: run bash .ci/install-services.sh")
    port = port or free_port()
    log = tmp / "redis.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(tmp),
                "--daemonize",
                "no",
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=None if env is None else {**os.environ, **env},
        )

    def ready() -> bool:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    try:
        _wait_until(ready, "redis-server", proc, log)
        yield port, proc
    finally:
        _stop(proc, signal.SIGTERM)
