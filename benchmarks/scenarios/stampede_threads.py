"""Refresh stampede, threads: N threads on ONE expired credentials object.

What is measured: N threads (32 by default) released together by a barrier each ask the
same expired credentials object for a valid token, or make an authorized request with it,
using each library's idiomatic pattern. The server rotates refresh tokens and treats a
reused refresh token as theft (RFC 9700 §4.14.2): it answers ``invalid_grant`` and revokes
the whole grant. The token endpoint answers after a latency (50 ms by default), as a real
provider does, so the threads' refreshes overlap.

Counted per case (a fresh grant each repetition): token requests the server received,
``invalid_grant`` answers, threads that failed (raised, or got a non-200 from the API), and
whether the grant survived (if not, the user must authorize again). oauthkit's target:
exactly 1 token request and 0 failures.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from _common import (
    CLIENT_ID,
    CLIENT_SECRET,
    Deadline,
    ServerProcess,
    StampedeRun,
    base_parser,
    describe_error,
    emit,
    has_module,
    log,
    past,
    peers_wanted,
    stampede_columns,
    stampede_row,
    stampede_summary,
    table,
)

TIMEOUT = 10
STALE_TOKEN = "expired-access-token"

Work = Callable[[], None]


@dataclass
class Ctx:
    token_url: str
    api_url: str
    refresh_token: str
    threads: int

    @property
    def expiry(self) -> datetime.datetime:
        return past()


class Prepared:
    """Per-thread work for one run, and what to close after it."""

    def __init__(self, works: list[Work], closers: list[Callable[[], None]]) -> None:
        self.works = works
        self.closers = closers

    def close(self) -> None:
        for close in self.closers:
            close()


def _expect_200(status: int) -> None:
    if status != 200:
        raise RuntimeError(f"API answered {status}")


# --- oauthkit -------------------------------------------------------------------------------


def _oauthkit_creds(ctx: Ctx) -> Any:
    from oauthkit.client import OAuth2Credentials

    return OAuth2Credentials(
        STALE_TOKEN, CLIENT_ID, CLIENT_SECRET, ctx.refresh_token, ctx.expiry, ctx.token_url, None
    )


def oauthkit_token(ctx: Ctx) -> Prepared:
    creds = _oauthkit_creds(ctx)

    def work() -> None:
        creds.get_access_token()

    return Prepared([work] * ctx.threads, [])


def oauthkit_requests(ctx: Ctx) -> Prepared:
    import requests

    session = _oauthkit_creds(ctx).authorize(requests.Session())

    def work() -> None:
        _expect_200(session.get(ctx.api_url, timeout=TIMEOUT).status_code)

    return Prepared([work] * ctx.threads, [session.close])


def oauthkit_httpx(ctx: Ctx) -> Prepared:
    import httpx

    client = _oauthkit_creds(ctx).authorize(httpx.Client(timeout=TIMEOUT))

    def work() -> None:
        _expect_200(client.get(ctx.api_url).status_code)

    return Prepared([work] * ctx.threads, [client.close])


def oauthkit_httplib2(ctx: Ctx) -> Prepared:
    import httplib2

    creds = _oauthkit_creds(ctx)
    https = [creds.authorize(httplib2.Http(timeout=TIMEOUT)) for _ in range(ctx.threads)]

    def make(http: Any) -> Work:
        def work() -> None:
            resp, _ = http.request(ctx.api_url, "GET")
            _expect_200(int(resp.status))

        return work

    return Prepared([make(h) for h in https], [h.close for h in https])


# --- oauth2client ---------------------------------------------------------------------------


def _oauth2client_creds(ctx: Ctx) -> Any:
    import oauth2client.client

    return oauth2client.client.OAuth2Credentials(
        STALE_TOKEN, CLIENT_ID, CLIENT_SECRET, ctx.refresh_token,
        ctx.expiry.replace(tzinfo=None), ctx.token_url, None,
    )


def oauth2client_token(ctx: Ctx) -> Prepared:
    creds = _oauth2client_creds(ctx)

    def work() -> None:
        creds.get_access_token()

    return Prepared([work] * ctx.threads, [])


def oauth2client_httplib2(ctx: Ctx) -> Prepared:
    import httplib2

    creds = _oauth2client_creds(ctx)
    https = [creds.authorize(httplib2.Http(timeout=TIMEOUT)) for _ in range(ctx.threads)]

    def make(http: Any) -> Work:
        def work() -> None:
            resp, _ = http.request(ctx.api_url, "GET")
            _expect_200(int(resp.status))

        return work

    return Prepared([make(h) for h in https], [h.close for h in https])


# --- google-auth ----------------------------------------------------------------------------


def _google_creds(ctx: Ctx) -> Any:
    import google.oauth2.credentials

    return google.oauth2.credentials.Credentials(
        token=STALE_TOKEN,
        refresh_token=ctx.refresh_token,
        token_uri=ctx.token_url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        expiry=ctx.expiry.replace(tzinfo=None),
    )


def google_before_request(ctx: Ctx) -> Prepared:
    import requests
    from google.auth.transport.requests import Request

    creds = _google_creds(ctx)
    session = requests.Session()
    request = Request(session)

    def work() -> None:
        headers: dict[str, str] = {}
        creds.before_request(request, "GET", ctx.api_url, headers)

    return Prepared([work] * ctx.threads, [session.close])


def google_session(ctx: Ctx) -> Prepared:
    from google.auth.transport.requests import AuthorizedSession

    session = AuthorizedSession(_google_creds(ctx))

    def work() -> None:
        _expect_200(session.get(ctx.api_url, timeout=TIMEOUT).status_code)

    return Prepared([work] * ctx.threads, [session.close])


# --- Authlib --------------------------------------------------------------------------------


def authlib_session(ctx: Ctx) -> Prepared:
    from authlib.integrations.requests_client import OAuth2Session

    saved: list[dict[str, Any]] = []

    def update_token(token: dict[str, Any], refresh_token: str | None = None,
                     access_token: str | None = None) -> None:
        saved.append(dict(token))

    token = {
        "access_token": STALE_TOKEN,
        "refresh_token": ctx.refresh_token,
        "token_type": "Bearer",
        "expires_at": int(ctx.expiry.timestamp()),
    }
    session = OAuth2Session(
        CLIENT_ID, CLIENT_SECRET, token=token, token_endpoint=ctx.token_url,
        update_token=update_token,
    )

    def work() -> None:
        _expect_200(session.get(ctx.api_url, timeout=TIMEOUT).status_code)

    return Prepared([work] * ctx.threads, [session.close])


# --- requests_oauth2client ------------------------------------------------------------------


def rao2c_session(ctx: Ctx) -> Prepared:
    import requests
    from requests_oauth2client import BearerToken, OAuth2AccessTokenAuth, OAuth2Client

    client = OAuth2Client(
        token_endpoint=ctx.token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        testing=True,
    )
    token = BearerToken(STALE_TOKEN, expires_at=ctx.expiry, refresh_token=ctx.refresh_token)
    session = requests.Session()
    session.auth = OAuth2AccessTokenAuth(client, token)

    def work() -> None:
        _expect_200(session.get(ctx.api_url, timeout=TIMEOUT).status_code)

    return Prepared([work] * ctx.threads, [session.close])


@dataclass(frozen=True)
class Case:
    library: str
    pattern: str
    module: str  # the case runs only when this module imports
    prepare: Callable[[Ctx], Prepared]


CASES = [
    Case("oauthkit", "creds.get_access_token()", "oauthkit", oauthkit_token),
    Case("oauthkit", "creds.authorize(requests.Session()), shared; GET /api", "requests",
         oauthkit_requests),
    Case("oauthkit", "creds.authorize(httpx.Client()), shared; GET /api", "httpx",
         oauthkit_httpx),
    Case("oauthkit", "creds.authorize(httplib2.Http()) per thread; GET /api", "httplib2",
         oauthkit_httplib2),
    Case("oauth2client", "creds.get_access_token()", "oauth2client", oauth2client_token),
    Case("oauth2client", "creds.authorize(httplib2.Http()) per thread; GET /api",
         "oauth2client", oauth2client_httplib2),
    Case("google-auth", "creds.before_request(Request(), ...) (refresh(Request()) if stale)",
         "google.auth.transport.requests", google_before_request),
    Case("google-auth", "AuthorizedSession(creds), shared; GET /api",
         "google.auth.transport.requests", google_session),
    Case("Authlib", "OAuth2Session(token=..., update_token=...), shared; GET /api",
         "authlib.integrations.requests_client", authlib_session),
    Case("requests_oauth2client", "session.auth = OAuth2AccessTokenAuth(...), shared; GET /api",
         "requests_oauth2client", rao2c_session),
]


def run_once(prepared: Prepared, timeout: float) -> tuple[list[str], float]:
    """Release every thread at once; return each thread's outcome ("ok" or the error)."""
    n = len(prepared.works)
    barrier = threading.Barrier(n, timeout=timeout)
    outcomes = ["did not finish"] * n
    done_at = [0.0] * n

    def runner(i: int) -> None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            outcomes[i] = "barrier broken"
            return
        try:
            prepared.works[i]()
            outcomes[i] = "ok"
        except Exception as exc:  # every failure is counted, none is fatal
            outcomes[i] = describe_error(exc)
        done_at[i] = time.perf_counter()

    threads = [threading.Thread(target=runner, args=(i,), daemon=True) for i in range(n)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    end = start + timeout
    for t in threads:
        t.join(max(0.0, end - time.perf_counter()))
    finished = [d for d in done_at if d]
    wall_ms = (max(finished) - start) * 1000 if finished else float("nan")
    return outcomes, wall_ms


def run_case(server: ServerProcess, case: Case, threads: int, reps: int, latency_ms: float,
             deadline: Deadline) -> dict[str, Any]:
    runs: list[StampedeRun] = []
    for rep in range(-1 if reps > 1 else 0, reps):  # rep -1: a warm-up run, not counted
        if deadline.expired() and runs:
            break
        server.reset(latency_ms=latency_ms)
        grant = server.grant()
        ctx = Ctx(server.token_url, server.api_url, grant["refresh_token"], threads)
        prepared = case.prepare(ctx)
        try:
            outcomes, wall_ms = run_once(prepared, timeout=60)
        finally:
            prepared.close()
        if rep >= 0:
            runs.append(StampedeRun.from_stats(server.stats(), outcomes, wall_ms))
    return stampede_row(case.library, case.pattern, threads, runs)


def main() -> int:
    started = time.perf_counter()
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("-t", "--threads", type=int, default=32)
    parser.add_argument("-r", "--reps", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    if args.quick:
        args.threads, args.reps, args.latency_ms = min(args.threads, 4), 1, 20.0
    threads = max(1, min(args.threads, 256))
    reps = max(1, min(args.reps, 50))
    deadline = Deadline(args.budget)
    rows: list[dict[str, Any]] = []
    with ServerProcess() as server:
        for case in CASES:
            if case.library != "oauthkit" and not peers_wanted(args, case.module):
                continue
            if not has_module(case.module):
                rows.append({"library": case.library, "pattern": case.pattern,
                             "note": f"n/a: {case.module} is not installed"})
                continue
            log(f"stampede-threads: {case.library}: {case.pattern}")
            rows.append(run_case(server, case, threads, reps, args.latency_ms, deadline))
    result = {
        "scenario": "stampede_threads",
        "title": f"Refresh stampede: {threads} threads on one expired credentials object",
        "measures": "token requests, invalid_grant answers and failed threads when all threads "
        "need a token at once; rotation with reuse detection on (target for oauthkit: exactly 1 "
        "token request, 0 failures)",
        "params": {"threads": threads, "reps": reps, "token_latency_ms": args.latency_ms},
        "tables": [
            table(
                f"Refresh stampede, {threads} threads, one credentials object (median of "
                f"{reps} runs; token endpoint latency {args.latency_ms:g} ms)",
                stampede_columns("threads"),
                rows,
                ratio=[("token_requests", "token requests / oauthkit's")],
            )
        ],
        "summary": [
            stampede_summary(f"refresh stampede, {threads} threads, one credentials object",
                             rows, "threads")
        ],
    }
    emit(result, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
