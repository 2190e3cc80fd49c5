"""SECURITY.md §6.2 fault injection on real files and real child processes: SIGKILL at
each step of a write (SL-01), ENOSPC / EIO / read-only (SL-04..06), corrupt inputs
(SL-03), symlinks and umask (SL-07..10), and no pickle anywhere."""

from __future__ import annotations

import ast
import errno
import json
import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import oauthkit
from oauthkit import StorageError
from oauthkit.file import CredentialsFileSymbolicLinkError
from oauthkit.file import Storage as FileStorage
from oauthkit.storage import CorruptStoreError, FileStore, SQLiteStore
from tests.storage.test_contract import doc

POINTS = [("write", 1), ("fsync", 1), ("replace", 1), ("fsync", 2)]


def _killed_writer(path: str, fn: str, nth: int) -> None:
    real = getattr(os, fn)
    calls = {"n": 0}

    def hook(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == nth:
            os.kill(os.getpid(), signal.SIGKILL)  # die exactly before this syscall
        return real(*args, **kwargs)

    setattr(os, fn, hook)
    FileStore(path).write("", doc(2), 1)


@pytest.mark.parametrize(("fn", "nth"), POINTS, ids=[f"{f}{n}" for f, n in POINTS])
def test_sigkill_during_a_write_leaves_old_or_new_record(tmp_path: Path, fn: str, nth: int) -> None:
    path = str(tmp_path / "cred.json")
    FileStore(path).write("", doc(1), None)
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_killed_writer, args=(path, fn, nth))
    proc.start()
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL
    record = FileStore(path).read()
    assert record is not None and json.loads(record.data)["n"] in (1, 2)
    if (fn, nth) in (("write", 1), ("fsync", 1), ("replace", 1)):
        assert json.loads(record.data)["n"] == 1
    FileStore(path).write("", doc(3), None)  # the next write removes the dead writer's temp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cred.json"]


@pytest.mark.parametrize(
    ("fn", "code", "reason"),
    [
        ("write", errno.ENOSPC, "no_space"),
        ("fsync", errno.EIO, "io_error"),
        ("open", errno.EROFS, "read_only"),
    ],
)
def test_os_errors_are_typed_and_leave_the_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fn: str, code: int, reason: str
) -> None:
    path = tmp_path / "cred.json"
    store = FileStore(path)
    store.write("", doc(1), None)
    before = path.read_bytes()
    real = getattr(os, fn)

    def failing(*args: Any, **kwargs: Any) -> Any:
        if fn != "open" or ".tmp" in str(args[0]):
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    monkeypatch.setattr(os, fn, failing)
    with pytest.raises(StorageError) as info:
        store.write("", doc(2), 1)
    monkeypatch.undo()
    assert info.value.error == reason
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


CORRUPT = {
    "empty": b"",
    "truncated": b'{"_class": "OAuth2Credentials", "access_tok',
    "not-json": b"not json at all",
    "wrong-schema": b'["a", "list"]',
    "future-version": b'{"_class": "OAuth2Credentials", "_store_version": "two"}',
    "binary": bytes(range(256)),
}


@pytest.mark.parametrize("content", list(CORRUPT.values()), ids=list(CORRUPT))
def test_corrupt_file_raises_and_is_kept_aside(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "cred.json"
    path.write_bytes(content)
    with pytest.raises(CorruptStoreError):
        FileStorage(str(path)).get()
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert path.read_bytes() == content  # never reset, never "no credentials"
    with pytest.raises(CorruptStoreError):
        FileStorage(str(path)).get()


def test_corrupt_sqlite_row_leaves_other_credentials_untouched(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "db") as store:
        store.write("a", doc(1), None)
        store.write("b", doc(2), None)
    conn = sqlite3.connect(tmp_path / "db")
    with conn:
        conn.execute("UPDATE credentials SET data = 'garbage{' WHERE key = 'a'")
    conn.close()
    from oauthkit.storage import bind

    with SQLiteStore(tmp_path / "db") as store:
        with pytest.raises(CorruptStoreError):
            bind(store, "a").get()
        assert bind(store, "b").get() is not None


def test_garbage_sqlite_file_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "db"
    path.write_bytes(b"\x00garbage" * 100)
    with SQLiteStore(path) as store, pytest.raises(CorruptStoreError):
        store.read("a")
    assert any(".corrupt-" in p.name for p in tmp_path.iterdir())


def test_symlinked_target_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    FileStore(real).write("", doc(1), None)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    with pytest.raises(CredentialsFileSymbolicLinkError) as info:
        FileStorage(str(link)).get()
    assert isinstance(info.value, StorageError) and isinstance(info.value, oauthkit.OAuthError)
    with pytest.raises(CredentialsFileSymbolicLinkError):
        FileStore(link).write("", doc(2), None)


def test_files_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        FileStore(tmp_path / "a.json").write("", doc(1), None)
        with SQLiteStore(tmp_path / "b.db") as store:
            store.write("k", doc(1), None)
            with store.lock("k", 5):
                pass
    finally:
        os.umask(old)
    for p in tmp_path.iterdir():
        assert p.stat().st_mode & 0o777 == 0o600, p.name


def test_no_pickle_anywhere() -> None:
    banned = {"pickle", "cPickle", "dill", "shelve", "marshal", "jsonpickle"}
    src = Path(oauthkit.__file__).parent
    for path in src.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            elif isinstance(node, ast.Attribute) and node.attr == "PickleType":
                names = ["PickleType"]
            assert not set(names) & (banned | {"PickleType"}), path


def test_a_lock_path_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    from oauthkit.storage._fs import KeyLock

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o644)
    with pytest.raises(StorageError) as info, KeyLock(str(fifo)).hold("k", 1):
        pass
    assert info.value.error == "not_a_file"
    assert fifo.stat().st_mode & 0o777 == 0o644  # untouched


def test_unavailable_keyring_is_a_typed_error_never_plaintext(tmp_path: Path) -> None:
    import keyring
    import keyring.backends.fail

    from oauthkit.contrib import keyring_storage

    keyring.set_keyring(keyring.backends.fail.Keyring())  # restored by the autouse fixture
    storage = keyring_storage.Storage("svc", "dave", lock_path=str(tmp_path / "k.lock"))
    with pytest.raises(StorageError) as info:
        storage.get()
    assert info.value.error == "keyring_unavailable"
    creds = oauthkit.OAuth2Credentials("at", "cid", None, "rt", None, "https://x.test/t", None)
    with pytest.raises(StorageError):
        storage.put(creds)
    # nothing written elsewhere: only the (empty) lock file exists
    assert [(p.name, p.stat().st_size) for p in tmp_path.iterdir()] == [("k.lock", 0)]


def test_unknown_multistore_file_is_quarantined_not_reset(tmp_path: Path) -> None:
    from oauthkit.contrib import multistore_file
    from oauthkit.storage._multistore import close_all

    path = tmp_path / "multi.json"
    path.write_text('{"file_version": 7, "data": []}')
    try:
        with pytest.raises(CorruptStoreError):
            multistore_file.get_credential_storage_custom_string_key(path, "k")
    finally:
        close_all()
    assert path.read_text() == '{"file_version": 7, "data": []}'
    assert any(".corrupt-" in p.name for p in tmp_path.iterdir())
