"""What every scenario script shares: the server process, the result format, time bounds.

A scenario is a script run by the runner's interpreter (the peers' virtual environment, or
the project's own with ``--no-peers``). It measures, prints progress on stderr and prints
exactly one JSON document on stdout::

    {"scenario": "overhead", "title": "...", "measures": "what is measured",
     "params": {...},
     "tables": [{"title": "...",
                 "columns": [["library", "library"], ["overhead_us", "overhead µs/req"]],
                 "group": "transport",           # rows compared within this column's value
                 "ratio": [["overhead_us", "overhead / oauthkit"]],
                 "rows": [{"library": "oauthkit", "transport": "requests", ...}, ...]}],
     "not_implemented": [{"what": "...", "reason": "..."}],
     "summary": [{"what": "...", "target": "...", "oauthkit": "...", "met": true,
                  "peers": "..."}],
     "notes": ["..."], "elapsed_s": 1.2}

A value of ``None`` in a row is printed as "n/a" (with the row's ``note`` saying why); a row
with ``"baseline": true`` (the bare client) gets no ratio. The
runner renders every table the same way, so adding a scenario is adding a script and one
line in the runner's list.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "Deadline",
    "ServerProcess",
    "StampedeRun",
    "base_parser",
    "describe_error",
    "emit",
    "has_module",
    "log",
    "median",
    "past",
    "peers_wanted",
    "stampede_columns",
    "stampede_row",
    "stampede_summary",
    "summary",
    "table",
    "utcnow",
]

BENCH_DIR = Path(__file__).resolve().parents[1]
SERVER_SCRIPT = BENCH_DIR / "_server.py"
CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret"

# The server is on loopback: never route it through a proxy, in any library.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
# Authlib refuses plain http unless told otherwise; the server is loopback only.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def log(*parts: object) -> None:
    """Progress on stderr (stdout carries the JSON result only)."""
    print(*parts, file=sys.stderr, flush=True)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def past(minutes: int = 5) -> datetime.datetime:
    """An aware UTC time ``minutes`` ago: an expiry that makes credentials stale."""
    return utcnow() - datetime.timedelta(minutes=minutes)


def median(values: Iterable[float]) -> float | None:
    data = list(values)
    return statistics.median(data) if data else None


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class Deadline:
    """A wall-clock budget: every measuring loop stops when it is spent."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.perf_counter() + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()

    def expired(self) -> bool:
        return time.perf_counter() >= self.end


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny counts (a smoke run)")
    parser.add_argument(
        "--no-peers", action="store_true", help="measure oauthkit only (no peer libraries)"
    )
    parser.add_argument(
        "--budget", type=float, default=300.0, help="stop measuring after this many seconds"
    )
    return parser


def peers_wanted(args: argparse.Namespace, module: str) -> bool:
    """Whether to measure the peer library ``module`` in this run."""
    return not args.no_peers and has_module(module)


def table(
    title: str,
    columns: Sequence[tuple[str, str]],
    rows: list[dict[str, Any]],
    *,
    group: str | None = None,
    ratio: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    return {
        "title": title,
        "columns": [list(c) for c in columns],
        "group": group,
        "ratio": [list(r) for r in ratio],
        "rows": rows,
    }


def summary(
    what: str, target: str, oauthkit: str, met: bool | None, peers: str
) -> dict[str, Any]:
    """One line of the runner's summary table: oauthkit's figure against its target."""
    return {"what": what, "target": target, "oauthkit": oauthkit, "met": met, "peers": peers}


def emit(result: dict[str, Any], started: float) -> None:
    """Print the scenario's result document on stdout."""
    result.setdefault("not_implemented", [])
    result.setdefault("notes", [])
    result.setdefault("summary", [])
    result["python"] = sys.version.split()[0]
    result["elapsed_s"] = round(time.perf_counter() - started, 2)
    json.dump(result, sys.stdout, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


class ServerProcess:
    """``benchmarks/_server.py`` in a child process on 127.0.0.1 and a free port.

    A separate process so the server does not compete with the measured client for the
    GIL. It exits when this object closes its standard input (or at its own time limit).
    """

    def __init__(self, latency_ms: float = 0.0, max_seconds: float = 1800.0) -> None:
        self._proc = subprocess.Popen(
            [
                sys.executable,
                str(SERVER_SCRIPT),
                "--latency-ms",
                str(latency_ms),
                "--max-seconds",
                str(max_seconds),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert self._proc.stdout is not None
            line = self._proc.stdout.readline()
            self.port = int(json.loads(line)["port"])
        except BaseException:
            self.close()
            raise
        self.url = f"http://127.0.0.1:{self.port}"
        self.token_url = self.url + "/token"
        self.api_url = self.url + "/api"

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        proc = self._proc
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        if method == "POST" and data is None:
            data = b""
        request = urllib.request.Request(self.url + path, data=data, method=method)
        with _NO_PROXY_OPENER.open(request, timeout=10) as response:
            return json.loads(response.read())

    def reset(self, latency_ms: float = 0.0, expires_in: int = 3600, rotate: bool = True) -> None:
        """Zero the counters, forget all grants, and set the token endpoint's behaviour."""
        settings = {"latency_ms": latency_ms, "expires_in": expires_in, "rotate": rotate}
        self._call("POST", "/_reset", settings)

    def grant(self) -> dict[str, Any]:
        """A fresh grant: ``access_token``, ``refresh_token``, ``expires_in``, ``grant_id``."""
        result: dict[str, Any] = self._call("POST", "/_grant")
        return result

    def stats(self) -> dict[str, int]:
        result: dict[str, int] = self._call("GET", "/_stats")
        return result


# --- the stampede scenarios' shared bookkeeping --------------------------------------------


@dataclass
class StampedeRun:
    """One run of a stampede: what the server counted and how each caller ended."""

    token_requests: int
    invalid_grant: int
    outcomes: list[str]  # "ok" or a short description of the failure, one per caller
    grant_alive: bool
    wall_ms: float

    @property
    def failures(self) -> int:
        return sum(1 for o in self.outcomes if o != "ok")

    @classmethod
    def from_stats(cls, stats: dict[str, int], outcomes: list[str], wall_ms: float
                   ) -> StampedeRun:
        return cls(stats["token_requests"], stats["invalid_grant"], outcomes,
                   stats["grants_live"] >= 1, wall_ms)


def describe_error(exc: BaseException) -> str:
    """A failure in a few words, naming ``invalid_grant`` whatever the library calls it."""
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    if "invalid_grant" in low or "invalidgrant" in low:
        return f"{type(exc).__name__} (invalid_grant)"
    return text[:80]


def stampede_row(library: str, pattern: str, callers: int, runs: list[StampedeRun]
                 ) -> dict[str, Any]:
    """A table row: medians over the runs, the range of token requests, the worst case."""
    errors: collections.Counter[str] = collections.Counter()
    for run in runs:
        errors.update(o for o in run.outcomes if o != "ok")
    common = "; ".join(f"{count}x {err}" for err, count in errors.most_common(2))
    token_requests = [r.token_requests for r in runs]
    return {
        "library": library,
        "pattern": pattern,
        "callers": callers,
        "runs": len(runs),
        "token_requests": statistics.median(token_requests),
        "token_requests_range": f"{min(token_requests)}-{max(token_requests)}",
        "token_requests_max": max(token_requests),
        "invalid_grant": statistics.median(r.invalid_grant for r in runs),
        "failures": statistics.median(r.failures for r in runs),
        "failures_max": max(r.failures for r in runs),
        "grant_alive": f"{sum(r.grant_alive for r in runs)}/{len(runs)}",
        "wall_ms": round(statistics.median(r.wall_ms for r in runs), 1),
        "note": f"errors over all runs: {common}" if common else "",
    }


def stampede_columns(noun: str) -> list[tuple[str, str]]:
    return [
        ("library", "library"),
        ("pattern", "pattern"),
        ("token_requests", "token requests"),
        ("token_requests_range", "range"),
        ("invalid_grant", "invalid_grant"),
        ("failures", f"failed {noun}"),
        ("grant_alive", "grant alive after"),
        ("wall_ms", "wall ms"),
    ]


def _fmt_count(value: float) -> str:
    return f"{value:g}"


def stampede_summary(what: str, rows: list[dict[str, Any]], noun: str) -> dict[str, Any]:
    """oauthkit against "exactly one token request, no failure" in every pattern and run;
    each peer's first pattern for comparison."""
    ours = [r for r in rows if r["library"] == "oauthkit" and "runs" in r]
    peers: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["library"] != "oauthkit" and "runs" in r:
            peers.setdefault(r["library"], r)
    peer_text = "; ".join(
        f"{lib}: {_fmt_count(r['token_requests'])} token requests, "
        f"{_fmt_count(r['failures'])} failed"
        for lib, r in peers.items()
    ) or "-"
    if not ours:
        note = next((r.get("note", "") for r in rows if r["library"] == "oauthkit"), "")
        return summary(what, "1 token request, 0 failed", note or "n/a", None, peer_text)
    worst_requests = max(r["token_requests_max"] for r in ours)
    worst_failures = max(r["failures_max"] for r in ours)
    met = worst_requests == 1 and worst_failures == 0
    runs = sum(r["runs"] for r in ours)
    text = (f"{worst_requests} token request(s), {worst_failures} failed {noun} at worst "
            f"({len(ours)} patterns, {runs} runs)")
    return summary(what, "1 token request, 0 failed", text, met, peer_text)
