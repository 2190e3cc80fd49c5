"""SECURITY.md §6.2 refresh storm, against oidc-provider with refresh-token rotation and
reuse detection: 16 processes x 4 threads share one stored credential whose access token
has expired -> exactly one token request, zero invalid_grant, every caller ends with a
valid access token, and the stored refresh token is the live one."""

from __future__ import annotations

import datetime
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from oauthkit import OAuth2Credentials
from oauthkit.storage import bind
from tests.oidc.fixture import OidcServer
from tests.storage.backends import STAMPEDE, Spec, open_store
from tests.storage.conftest import make_spec
from tests.test_oidc_integration import introspect, login, make_flow

pytestmark = pytest.mark.oidc

PROCESSES, THREADS = 16, 4
KEY = "stampede"


class CountingProxy:
    """Forwards POSTs to the real token endpoint and counts refresh requests."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.refreshes = 0
        self.invalid_grants = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("authorization", "content-type", "accept")
                }
                with httpx.Client(trust_env=False, timeout=30) as http:
                    r = http.post(proxy.target, content=body, headers=headers)
                with proxy.lock:
                    if b"grant_type=refresh_token" in body:
                        proxy.refreshes += 1
                    if b"invalid_grant" in r.content:
                        proxy.invalid_grants += 1
                self.send_response(r.status_code)
                self.send_header("content-type", r.headers.get("content-type", "application/json"))
                self.send_header("content-length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/token"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


_BARRIER: Any = None


def _init(barrier: Any) -> None:
    global _BARRIER
    _BARRIER = barrier
    import redis  # noqa: F401 - import once per worker, not inside the measured storm
    import sqlalchemy  # noqa: F401


def _caller(spec: Spec) -> list[tuple[str, str]]:
    """One of 16 processes: 4 threads, each with its own credentials object from the store."""
    with open_store(spec) as store:
        storage = bind(store, KEY, lock_timeout=60)
        out: list[tuple[str, str]] = []
        local = threading.Barrier(THREADS)

        def thread() -> None:
            creds = storage.get()
            assert isinstance(creds, OAuth2Credentials)
            local.wait()
            try:
                out.append(("ok", creds.get_access_token().access_token or ""))
            except Exception as exc:
                out.append(("error", getattr(exc, "error", type(exc).__name__)))

        _BARRIER.wait(60)  # all 16 processes start together (and no worker takes two)
        threads = [threading.Thread(target=thread) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out


def _warm(_: int) -> int:
    _BARRIER.wait(60)
    return os.getpid()


@pytest.fixture(scope="module")
def pool() -> Iterator[Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    workers = ctx.Pool(PROCESSES, initializer=_init, initargs=(barrier,))
    try:
        # every worker up and importing done before any storm is timed
        assert len(set(workers.map(_warm, range(PROCESSES), chunksize=1))) == PROCESSES
        yield workers
    finally:
        workers.close()
        workers.join()


@pytest.fixture(scope="module")
def rotating_server(oidc_server: OidcServer) -> OidcServer:
    assert oidc_server.config.get("rotateRefreshToken") is True
    return oidc_server


@pytest.fixture
def proxy(rotating_server: OidcServer) -> Iterator[CountingProxy]:
    with CountingProxy(rotating_server.token_endpoint) as p:
        yield p


@pytest.mark.parametrize("kind", STAMPEDE)
def test_refresh_storm_makes_one_token_request(
    kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    rotating_server: OidcServer,
    proxy: CountingProxy,
    pool: Any,
) -> None:
    spec = make_spec(kind, tmp_path, request)
    creds = login(rotating_server, make_flow(rotating_server))
    original_refresh = creds.refresh_token
    creds.token_uri = proxy.url
    creds.token_expiry = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(
        minutes=1
    )
    with open_store(spec) as store:
        store.delete(KEY)
        bind(store, KEY).put(creds)
    started = time.monotonic()
    batches = pool.map_async(_caller, [spec] * PROCESSES, chunksize=1).get(timeout=120)
    outcomes = [o for batch in batches for o in batch]
    wall = time.monotonic() - started
    with open_store(spec) as store:
        stored = bind(store, KEY).get()
    assert isinstance(stored, OAuth2Credentials)
    errors = [o for o in outcomes if o[0] != "ok"]
    tokens = {o[1] for o in outcomes if o[0] == "ok"}
    print(
        f"\nstampede[{kind}]: {len(outcomes)} callers, token requests={proxy.refreshes}, "
        f"invalid_grant={proxy.invalid_grants}, wall={wall:.2f}s"
    )
    assert len(outcomes) == PROCESSES * THREADS
    assert errors == []
    assert proxy.refreshes == 1 and proxy.invalid_grants == 0
    assert tokens == {stored.access_token}
    assert introspect(rotating_server, stored.access_token or "")["active"] is True
    assert stored.refresh_token != original_refresh
    assert introspect(rotating_server, stored.refresh_token or "")["active"] is True
