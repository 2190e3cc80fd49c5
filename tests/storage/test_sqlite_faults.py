"""SECURITY.md §6.2 SL-04/05/06 for :class:`SQLiteStore` with real faults: SQLite does its
I/O in C, so patching ``os`` cannot reach it. An ``LD_PRELOAD`` shim (``faultshim.c``,
compiled here with gcc) makes the C library's ``write``/``pwrite``, ``fsync``/``fdatasync``
or ``open``-for-writing fail with ENOSPC / EIO / EROFS for files under one directory, in a
child process running the real store. The child must get a typed ``StorageError`` with a
reason code and no token text; afterwards the parent reads the original record intact."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oauthkit.storage import SQLiteStore

SECRET = "rt-never-in-messages-7f3a"

# The child opens the store (and reads, so the connection and its WAL index exist),
# arms the fault, tries one write, disarms, reports the error as JSON, and then closes
# the store or dies without closing it (no checkpoint, the WAL left as the fault left it).
_CHILD = """
import json, os, sys
from oauthkit import StorageError
from oauthkit.storage import SQLiteStore
path, fault, data, ending = sys.argv[1:5]
if fault.startswith("open:"):
    os.environ["OAUTHKIT_FAULT"] = fault  # the database cannot be opened for writing
store = SQLiteStore(path)
try:
    store.read("a")
    os.environ["OAUTHKIT_FAULT"] = fault
    store.write("a", data, 1)
except StorageError as exc:
    os.environ.pop("OAUTHKIT_FAULT", None)
    result = {"type": type(exc).__name__, "error": exc.error, "message": str(exc)}
else:
    os.environ.pop("OAUTHKIT_FAULT", None)
    result = {"type": None}
print(json.dumps(result), flush=True)
if ending == "crash":
    os._exit(0)
store.close()
"""


def _record(n: int) -> str:
    return json.dumps({"_class": "OAuth2Credentials", "refresh_token": f"{SECRET}-{n}", "n": n})


def _run_child(
    shim: Path, directory: Path, path: Path, fault: str, ending: str = "close"
) -> dict[str, object]:
    env = {
        **os.environ,
        "LD_PRELOAD": str(shim),
        "OAUTHKIT_FAULT_DIR": str(directory),
    }
    env.pop("OAUTHKIT_FAULT", None)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), fault, _record(2), ending],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


FAULTS = [
    ("write", errno.ENOSPC, "no_space"),
    ("fsync", errno.EIO, "io_error"),
    ("open", errno.EROFS, "read_only"),
    ("open", errno.ENOSPC, "no_space"),
]


@pytest.mark.parametrize("ending", ["close", "crash"])
@pytest.mark.parametrize(
    ("call", "code", "reason"), FAULTS, ids=[f"{c}-{errno.errorcode[e]}" for c, e, _ in FAULTS]
)
def test_sqlite_io_faults_are_typed_and_leave_the_original(
    fault_shim: Path, tmp_path: Path, call: str, code: int, reason: str, ending: str
) -> None:
    directory = tmp_path / "db"
    directory.mkdir()
    path = directory / "creds.sqlite3"
    with SQLiteStore(path) as store:
        store.write("a", _record(1), None)
        store.write("b", _record(9), None)

    result = _run_child(fault_shim, directory, path, f"{call}:{code}", ending)

    assert result["type"] == "StorageError"
    assert result["error"] == reason
    assert SECRET not in str(result["message"])
    assert str(path) in str(result["message"])
    with SQLiteStore(path) as store:
        a, b = store.read("a"), store.read("b")
        assert a is not None and b is not None
        assert (json.loads(a.data)["n"], a.version) == (1, 1)
        assert (json.loads(b.data)["n"], b.version) == (9, 1)
        assert store.write("a", _record(3), 1) == 2  # the store still works afterwards


def test_the_shim_really_injects_the_fault(fault_shim: Path, tmp_path: Path) -> None:
    """Guard against a vacuous pass: without the fault armed the same child writes."""
    directory = tmp_path / "db"
    directory.mkdir()
    path = directory / "creds.sqlite3"
    with SQLiteStore(path) as store:
        store.write("a", _record(1), None)
    assert _run_child(fault_shim, directory, path, "none:0") == {"type": None}
    with SQLiteStore(path) as store:
        a = store.read("a")
    assert a is not None and json.loads(a.data)["n"] == 2
