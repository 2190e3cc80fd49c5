from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from tests.storage.backends import ALL, MemoryKeyring, Spec, spec_for
from tests.storage.services import postgres_server, redis_server

_counter = itertools.count()


@pytest.fixture(scope="session")
def fault_shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise RuntimeError("gcc is needed to build the LD_PRELOAD fault shim")
    out = tmp_path_factory.mktemp("shim") / "faultshim.so"
    source = Path(__file__).with_name("faultshim.c")  # see its header for the knobs
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", str(out), str(source), "-ldl"],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres_server(tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture(scope="session")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with redis_server(tmp_path_factory.mktemp("redis")) as port:
        yield port


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def make_spec(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Spec:
    pg = request.getfixturevalue("pg_url") if kind == "postgres" else None
    rp = request.getfixturevalue("redis_port") if kind == "redis" else None
    return spec_for(kind, tmp_path, pg, rp)


@pytest.fixture(params=ALL)
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> Spec:
    return make_spec(request.param, tmp_path, request)


@pytest.fixture
def key() -> str:
    return f"user-{next(_counter)}@example.test"
