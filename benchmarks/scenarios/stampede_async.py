"""Refresh stampede, asyncio: N tasks on ONE expired credentials object, one event loop.

What is measured: N tasks (32 by default) started together on one loop each await a valid
token from the same expired credentials object (oauthkit:
``await creds.async_get_access_token()``), or make an authorized request through one shared
``httpx.AsyncClient`` (oauthkit: ``creds.authorize(httpx.AsyncClient())``; Authlib:
``AsyncOAuth2Client``). The server rotates refresh tokens and revokes the grant when one is
reused (RFC 9700 §4.14.2); the token endpoint answers after a latency (50 ms by default).

Counted per case, as in the thread stampede: token requests, ``invalid_grant`` answers,
failed tasks, and whether the grant survived. oauthkit's target: exactly 1 token request
and 0 failures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
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

Job = Callable[[], Awaitable[None]]


@dataclass
class Ctx:
    token_url: str
    api_url: str
    refresh_token: str


def _oauthkit_creds(ctx: Ctx) -> Any:
    from oauthkit.client import OAuth2Credentials

    return OAuth2Credentials(
        STALE_TOKEN, CLIENT_ID, CLIENT_SECRET, ctx.refresh_token, past(), ctx.token_url, None
    )


async def oauthkit_token(ctx: Ctx, tasks: int) -> list[str]:
    creds = _oauthkit_creds(ctx)

    async def job() -> None:
        await creds.async_get_access_token()

    return await _gather(job, tasks)


async def oauthkit_client(ctx: Ctx, tasks: int) -> list[str]:
    import httpx

    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        _oauthkit_creds(ctx).authorize(client)

        async def job() -> None:
            response = await client.get(ctx.api_url)
            if response.status_code != 200:
                raise RuntimeError(f"API answered {response.status_code}")

        return await _gather(job, tasks)


async def authlib_client(ctx: Ctx, tasks: int) -> list[str]:
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    saved: list[dict[str, Any]] = []

    async def update_token(token: dict[str, Any], refresh_token: str | None = None,
                           access_token: str | None = None) -> None:
        saved.append(dict(token))

    token = {
        "access_token": STALE_TOKEN,
        "refresh_token": ctx.refresh_token,
        "token_type": "Bearer",
        "expires_at": int(past().timestamp()),
    }
    async with AsyncOAuth2Client(
        CLIENT_ID, CLIENT_SECRET, token=token, token_endpoint=ctx.token_url,
        update_token=update_token, timeout=TIMEOUT,
    ) as client:

        async def job() -> None:
            response = await client.get(ctx.api_url)
            if response.status_code != 200:
                raise RuntimeError(f"API answered {response.status_code}")

        return await _gather(job, tasks)


async def _gather(job: Job, tasks: int) -> list[str]:
    """Start ``tasks`` copies of ``job`` together; each one's outcome ("ok" or the error)."""
    go = asyncio.Event()

    async def one() -> str:
        await go.wait()
        try:
            await asyncio.wait_for(job(), 60)
        except Exception as exc:  # every failure is counted, none is fatal
            return describe_error(exc)
        return "ok"

    running = [asyncio.ensure_future(one()) for _ in range(tasks)]
    await asyncio.sleep(0)
    go.set()
    return list(await asyncio.gather(*running))


@dataclass(frozen=True)
class Case:
    library: str
    pattern: str
    module: str
    run: Callable[[Ctx, int], Awaitable[list[str]]]


CASES = [
    Case("oauthkit", "await creds.async_get_access_token()", "oauthkit", oauthkit_token),
    Case("oauthkit", "creds.authorize(httpx.AsyncClient()), shared; GET /api", "httpx",
         oauthkit_client),
    Case("Authlib", "AsyncOAuth2Client(token=..., update_token=...), shared; GET /api",
         "authlib.integrations.httpx_client", authlib_client),
]


def run_case(server: ServerProcess, case: Case, tasks: int, reps: int, latency_ms: float,
             deadline: Deadline) -> dict[str, Any]:
    runs: list[StampedeRun] = []
    for rep in range(-1 if reps > 1 else 0, reps):  # rep -1: a warm-up run, not counted
        if deadline.expired() and runs:
            break
        server.reset(latency_ms=latency_ms)
        grant = server.grant()
        ctx = Ctx(server.token_url, server.api_url, grant["refresh_token"])
        start = time.perf_counter()
        outcomes = asyncio.run(case.run(ctx, tasks))
        wall_ms = (time.perf_counter() - start) * 1000
        if rep >= 0:
            runs.append(StampedeRun.from_stats(server.stats(), outcomes, wall_ms))
    return stampede_row(case.library, case.pattern, tasks, runs)


def main() -> int:
    started = time.perf_counter()
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("-t", "--tasks", type=int, default=32)
    parser.add_argument("-r", "--reps", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.reps, args.latency_ms = min(args.tasks, 4), 1, 20.0
    tasks = max(1, min(args.tasks, 1024))
    reps = max(1, min(args.reps, 50))
    deadline = Deadline(args.budget)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    with ServerProcess() as server:
        for case in CASES:
            if case.library != "oauthkit" and not peers_wanted(args, case.module):
                continue
            if not has_module(case.module):
                rows.append({"library": case.library, "pattern": case.pattern,
                             "note": f"n/a: {case.module} is not installed"})
                continue
            log(f"stampede-async: {case.library}: {case.pattern}")
            rows.append(run_case(server, case, tasks, reps, args.latency_ms, deadline))
    if not args.no_peers:
        notes.append("google-auth's asyncio transport needs aiohttp; not measured here.")
    result = {
        "scenario": "stampede_async",
        "title": f"Refresh stampede: {tasks} asyncio tasks on one expired credentials object",
        "measures": "token requests, invalid_grant answers and failed tasks when all tasks "
        "need a token at once (target for oauthkit: exactly 1 token request, 0 failures)",
        "params": {"tasks": tasks, "reps": reps, "token_latency_ms": args.latency_ms},
        "tables": [
            table(
                f"Refresh stampede, {tasks} asyncio tasks, one credentials object (median of "
                f"{reps} runs; token endpoint latency {args.latency_ms:g} ms)",
                stampede_columns("tasks"),
                rows,
                ratio=[("token_requests", "token requests / oauthkit's")],
            )
        ],
        "summary": [
            stampede_summary(f"refresh stampede, {tasks} asyncio tasks, one credentials object",
                             rows, "tasks")
        ],
        "notes": notes,
    }
    emit(result, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
