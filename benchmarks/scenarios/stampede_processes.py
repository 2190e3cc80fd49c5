"""Refresh stampede across processes: P processes sharing ONE stored credential.

What is measured: P processes (8 by default) each load the same expired credentials from
one file, wait until all are ready, are released together, and make an authorized request
with each library's documented persistence pattern:

- oauth2client: ``oauth2client.file.Storage(path).get()`` then
  ``creds.authorize(httplib2.Http())`` (the store writes the refreshed token back);
- google-auth: the quickstart's ``token.json`` pattern (``from_authorized_user_file``; if
  not valid, ``refresh(Request())`` and write ``to_json()`` back), then
  ``AuthorizedSession``;
- Authlib: ``OAuth2Session(token=<json file>, update_token=<writes the file>)``.

The server rotates refresh tokens and revokes the grant when one is reused (RFC 9700
§4.14.2); the token endpoint answers after a latency (50 ms by default). Counted per case:
token requests, ``invalid_grant`` answers, failed processes, and whether the grant survived.
oauthkit's target is one token request and no failure, through its stores: they are not
built yet, so oauthkit's row says so instead of showing a number.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
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
    peers_wanted,
    stampede_columns,
    stampede_row,
    stampede_summary,
    table,
)

TIMEOUT = 10
STALE_TOKEN = "expired-access-token"
EXPIRED_AT = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)

PATTERNS = {
    "oauthkit": ("oauthkit.file.Storage(path).get(); creds.authorize(httplib2.Http())",
                 "oauthkit.file"),
    "oauth2client": ("oauth2client.file.Storage(path).get(); creds.authorize(httplib2.Http())",
                     "oauth2client"),
    "google-auth": ("token.json: from_authorized_user_file; refresh(Request()); write to_json()",
                    "google.auth.transport.requests"),
    "Authlib": ("OAuth2Session(token=<json file>, update_token=<write json file>)",
                "authlib.integrations.requests_client"),
}


# --- the initial file, in each library's own format -----------------------------------------


def initial_file(library: str, token_url: str, refresh_token: str) -> dict[str, Any]:
    if library in ("oauth2client", "oauthkit"):  # oauthkit reads oauth2client's file as is
        return {
            "access_token": STALE_TOKEN, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "refresh_token": refresh_token, "token_expiry": "2020-01-01T00:00:00Z",
            "token_uri": token_url, "user_agent": None, "revoke_uri": None, "id_token": None,
            "id_token_jwt": None, "token_response": None, "scopes": [], "token_info_uri": None,
            "invalid": False, "_class": "OAuth2Credentials", "_module": "oauth2client.client",
        }
    if library == "google-auth":
        return {
            "token": STALE_TOKEN, "refresh_token": refresh_token, "token_uri": token_url,
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "expiry": "2020-01-01T00:00:00Z",
        }
    return {
        "access_token": STALE_TOKEN, "refresh_token": refresh_token, "token_type": "Bearer",
        "expires_at": int(EXPIRED_AT.timestamp()),
    }


# --- the worker: one process of the stampede ------------------------------------------------


def _ready_and_wait() -> None:
    """Tell the parent we are loaded, then block until it releases everyone at once."""
    print("ready", flush=True)
    sys.stdin.readline()


def worker(library: str, path: str, token_url: str, api_url: str) -> str:
    """Load, wait for the go signal, make the authorized request; the outcome as text."""
    if library == "oauthkit":
        import httplib2

        from oauthkit.file import Storage as OauthkitStorage

        okcreds = OauthkitStorage(path).get()
        assert okcreds is not None
        okhttp = okcreds.authorize(httplib2.Http(timeout=TIMEOUT))
        _ready_and_wait()
        try:
            resp, _ = okhttp.request(api_url, "GET")
            return "ok" if resp.status == 200 else f"API answered {resp.status}"
        finally:
            okhttp.close()
    if library == "oauth2client":
        import httplib2
        from oauth2client.file import Storage

        creds = Storage(path).get()
        http = creds.authorize(httplib2.Http(timeout=TIMEOUT))
        _ready_and_wait()
        try:
            resp, _ = http.request(api_url, "GET")
            return "ok" if resp.status == 200 else f"API answered {resp.status}"
        finally:
            http.close()
    if library == "google-auth":
        from google.auth.transport.requests import AuthorizedSession, Request
        from google.oauth2.credentials import Credentials

        loaded = Credentials.from_authorized_user_file(path)
        # from_authorized_user_* always sets Google's token endpoint, whatever the file
        # says; the same credentials, pointed at the local server:
        gcreds = Credentials(
            token=loaded.token, refresh_token=loaded.refresh_token, token_uri=token_url,
            client_id=loaded.client_id, client_secret=loaded.client_secret, expiry=loaded.expiry,
        )
        _ready_and_wait()
        if not gcreds.valid and gcreds.expired and gcreds.refresh_token:
            request = Request()
            try:
                gcreds.refresh(request)
            finally:
                request.session.close()
            with open(path, "w", encoding="utf-8") as f:
                f.write(gcreds.to_json())
        with AuthorizedSession(gcreds) as session:
            status = session.get(api_url, timeout=TIMEOUT).status_code
        return "ok" if status == 200 else f"API answered {status}"
    from authlib.integrations.requests_client import OAuth2Session

    def update_token(token: dict[str, Any], refresh_token: str | None = None,
                     access_token: str | None = None) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(token), f)

    with open(path, encoding="utf-8") as f:
        token = json.load(f)
    with OAuth2Session(CLIENT_ID, CLIENT_SECRET, token=token, token_endpoint=token_url,
                       update_token=update_token) as session:
        _ready_and_wait()
        status = session.get(api_url, timeout=TIMEOUT).status_code
    return "ok" if status == 200 else f"API answered {status}"


def worker_main(args: argparse.Namespace) -> int:
    try:
        outcome = worker(args.worker, args.file, args.token_url, args.api_url)
    except Exception as exc:  # reported to the parent, which counts it
        outcome = describe_error(exc)
    print(json.dumps({"outcome": outcome}), flush=True)
    return 0


# --- the parent -----------------------------------------------------------------------------


def run_once(library: str, processes: int, server: ServerProcess, latency_ms: float,
             workdir: Path, timeout: float) -> tuple[list[str], dict[str, int], float]:
    server.reset(latency_ms=latency_ms)
    grant = server.grant()
    path = workdir / f"{library}.json"
    path.write_text(json.dumps(initial_file(library, server.token_url, grant["refresh_token"])))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", library,
               "--file", str(path), "--token-url", server.token_url, "--api-url", server.api_url]
    procs = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env=env)
        for _ in range(processes)
    ]
    outcomes: list[str] = []
    try:
        end = time.monotonic() + timeout
        waiting = {p.stdout.fileno(): p for p in procs if p.stdout is not None}
        ready = 0
        while waiting and time.monotonic() < end:  # every worker loaded, or the time is up
            readable, _, _ = select.select(list(waiting), [], [], max(0.0, end - time.monotonic()))
            for fd in readable:
                proc = waiting.pop(fd)
                assert proc.stdout is not None
                if proc.stdout.readline().strip() == "ready":
                    ready += 1
        start = time.perf_counter()
        for p in procs:  # release them all at once
            assert p.stdin is not None
            try:
                p.stdin.write("go\n")
                p.stdin.close()
            except BrokenPipeError:
                pass
        for p in procs:
            assert p.stdout is not None
            try:
                p.wait(max(0.1, end - time.monotonic()))
                line = p.stdout.read().strip().splitlines()
                outcomes.append(json.loads(line[-1])["outcome"] if line else "no output")
            except subprocess.TimeoutExpired:
                outcomes.append("timed out")
        wall_ms = (time.perf_counter() - start) * 1000
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
            for pipe in (p.stdin, p.stdout):
                if pipe is not None and not pipe.closed:
                    pipe.close()
    return outcomes, server.stats(), wall_ms


def run_case(library: str, processes: int, reps: int, server: ServerProcess,
             latency_ms: float, deadline: Deadline) -> dict[str, Any]:
    runs: list[StampedeRun] = []
    with tempfile.TemporaryDirectory(prefix="oauthkit-bench-") as tmp:
        for _ in range(reps):
            if deadline.expired() and runs:
                break
            outcomes, stats, wall = run_once(library, processes, server, latency_ms, Path(tmp),
                                             timeout=max(30.0, 5.0 * processes))
            runs.append(StampedeRun.from_stats(stats, outcomes, wall))
    return stampede_row(library, PATTERNS[library][0], processes, runs)


def main() -> int:
    started = time.perf_counter()
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("-p", "--processes", type=int, default=8)
    parser.add_argument("-r", "--reps", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--worker", choices=sorted(PATTERNS), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--token-url", help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker_main(args)
    if args.quick:
        args.processes, args.reps, args.latency_ms = min(args.processes, 3), 1, 20.0
    processes = max(1, min(args.processes, 64))
    reps = max(1, min(args.reps, 20))
    deadline = Deadline(args.budget)
    rows: list[dict[str, Any]] = []
    with ServerProcess() as server:
        for library, (_pattern, module) in PATTERNS.items():
            if library == "oauthkit":
                if has_module(module):
                    log(f"stampede-processes: oauthkit: {processes} processes")
                    rows.append(run_case(library, processes, reps, server, args.latency_ms,
                                         deadline))
                continue
            if not peers_wanted(args, module):
                if not args.no_peers and not has_module(module):
                    rows.append({"library": library, "pattern": _pattern,
                                 "note": f"n/a: {module} is not installed"})
                continue
            log(f"stampede-processes: {library}: {processes} processes")
            rows.append(run_case(library, processes, reps, server, args.latency_ms, deadline))
    result = {
        "scenario": "stampede_processes",
        "title": f"Refresh stampede: {processes} processes on one stored credential",
        "measures": "token requests, invalid_grant answers and failed processes when all "
        "processes sharing one credential file need a token at once",
        "params": {"processes": processes, "reps": reps, "token_latency_ms": args.latency_ms},
        "tables": [
            table(
                f"Refresh stampede, {processes} processes, one stored credential (median of "
                f"{reps} runs; token endpoint latency {args.latency_ms:g} ms)",
                stampede_columns("processes"),
                rows,
            )
        ],
        "summary": [
            stampede_summary(f"refresh stampede, {processes} processes, one stored credential",
                             rows, "processes")
        ],
        "not_implemented": [],
    }
    emit(result, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
