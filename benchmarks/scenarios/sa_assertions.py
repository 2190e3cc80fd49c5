"""Service accounts: JWT assertions per second and complete token fetches per second.

1. **Assertions**: oauthkit builds RFC 7523 §2.1 grant assertions (claims, JSON, base64url,
   RS256) with a key parsed once. Compared with the raw RSA-2048 PKCS#1 v1.5 / SHA-256
   sign rate of ``cryptography`` on a same-sized message in the same process (target:
   >= 97%), and with google-auth's assertion builder.
2. **Token fetches**: a complete ``refresh`` (new assertion, POST to a local token
   endpoint, parse) through oauthkit's default transport (``creds.refresh()``: the
   stdlib ``http.client`` pool) vs google-auth's ``service_account.Credentials.refresh``
   with its requests transport (target: oauthkit >= 1.5x google-auth); oauthkit through a
   shared ``httpx.Client`` is shown beside them. The token endpoint runs in a separate process
   (this script with ``--serve``), 127.0.0.1, keep-alive, one buffer per response; both
   libraries hit the same server.

Assertion rates are per CPU-second of the measuring thread, the cases alternating call by
call (on a shared machine the wall clock also counts other processes). Token-fetch rates
are wall-clock, the median of ``--rounds`` timed rounds of ``--seconds`` each, measured
interleaved so that drift (CPU frequency, noisy neighbours) hits every library alike, and
also per client CPU-second (what each library itself costs, server and load excluded).
google-auth is measured only when it is installed and ``--no-peers`` is not given.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from _common import base_parser, emit, has_module, log, peers_wanted, summary, table

EMAIL = "bench@project.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
RESPONSE = json.dumps(
    {"access_token": "ya29.bench-token", "token_type": "Bearer", "expires_in": 3599}
).encode()
ASSERTION_TARGET = 0.97
FETCH_TARGET = 1.5
GOOGLE_AUTH = "google-auth"
HTTPX = "oauthkit+httpx"


# --- the token endpoint (a separate process) -------------------------------------------------


async def _serve_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
        b"Content-Length: " + str(len(RESPONSE)).encode() + b"\r\n\r\n" + RESPONSE
    )
    sock = writer.get_extra_info("socket")
    if sock is not None:  # one buffer per response, no Nagle stalls (fair to every client)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            headers = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in headers.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            if length:
                body = await reader.readexactly(length)
                if b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" not in body:
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    continue
            writer.write(head)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def _serve() -> None:
    server = await asyncio.start_server(_serve_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_reader(sys.stdin.fileno(), lambda: stop.done() or stop.set_result(None))
    async with server:
        await stop


# --- measurement helpers ---------------------------------------------------------------------


def rate(fn: Callable[[], Any], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds``."""
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(8):
            fn()
        n += 8
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def interleaved(
    cases: dict[str, Callable[[], Any]], seconds: float, rounds: int
) -> dict[str, float]:
    """Wall-clock rates, the cases alternating in rounds; the median round counts."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm-up
        rate(fn, seconds / 5)
    for _ in range(rounds):
        for name, fn in cases.items():
            samples[name].append(rate(fn, seconds))
    return {name: statistics.median(values) for name, values in samples.items()}


def cpu_rates(
    cases: dict[str, Callable[[], Any]], seconds: float, block: int = 1
) -> dict[str, float]:
    """Calls per CPU-second of this thread, the cases alternating every ``block`` calls.

    On a shared machine the wall clock also counts the time other processes hold the CPU,
    in bursts that hit one case and not the next; the thread's CPU time counts only the
    work itself, and fine-grained alternation spreads cache and frequency effects evenly.
    """
    spent = dict.fromkeys(cases, 0)
    calls = dict.fromkeys(cases, 0)
    deadline = time.perf_counter() + seconds * len(cases)
    while time.perf_counter() < deadline:
        for name, fn in cases.items():
            start = time.thread_time_ns()
            for _ in range(block):
                fn()
            spent[name] += time.thread_time_ns() - start
            calls[name] += block
    return {name: calls[name] / (spent[name] / 1e9) for name in cases}


def keyfile(pem: str, token_uri: str) -> dict[str, Any]:
    return {
        "type": "service_account",
        "project_id": "bench",
        "private_key_id": "bench-key",
        "private_key": pem,
        "client_email": EMAIL,
        "client_id": "1",
        "token_uri": token_uri,
    }


class TokenEndpoint:
    """This script with ``--serve`` in a child process; stops when its stdin closes."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        try:
            assert self._proc.stdout is not None
            port = json.loads(self._proc.stdout.readline())["port"]
        except BaseException:
            self.close()
            raise
        self.token_uri = f"http://127.0.0.1:{port}/token"

    def close(self) -> None:
        proc = self._proc
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def measure(seconds: float, rounds: int, with_google_auth: bool) -> dict[str, Any]:
    """The standalone measurement: assertion rates (CPU) and fetch rates (wall and CPU)."""
    import httpx
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from oauthkit.service_account import ServiceAccountCredentials

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()

    endpoint = TokenEndpoint()
    closers: list[Callable[[], Any]] = []
    try:
        info = keyfile(pem, endpoint.token_uri)
        ours = ServiceAccountCredentials.from_json_keyfile_dict(info, scopes=[SCOPE])
        # the same signing input size as an assertion, so the raw rate is comparable
        message = ours._generate_assertion().rsplit(".", 1)[0].encode()
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        assertion_cases: dict[str, Callable[[], Any]] = {
            "raw_sign": lambda: key.sign(message, pkcs1, sha256),
            "oauthkit": ours._generate_assertion,
        }
        client = httpx.Client()
        closers.append(client.close)
        ours.refresh(client)
        ours.refresh()
        fetch_cases: dict[str, Callable[[], Any]] = {
            "oauthkit": ours.refresh,
            HTTPX: lambda: ours.refresh(client),
        }
        if with_google_auth:
            import google.auth.transport.requests
            import requests
            from google.oauth2 import service_account as ga_sa

            theirs = ga_sa.Credentials.from_service_account_info(info, scopes=[SCOPE])
            assertion_cases[GOOGLE_AUTH] = theirs._make_authorization_grant_assertion
            session = requests.Session()
            closers.append(session.close)
            ga_request = google.auth.transport.requests.Request(session)
            theirs.refresh(ga_request)
            fetch_cases[GOOGLE_AUTH] = lambda: theirs.refresh(ga_request)

        log(f"sa_assertions: assertions, {len(assertion_cases)} cases")
        assertions = cpu_rates(assertion_cases, seconds * rounds)
        log(f"sa_assertions: token fetches, {len(fetch_cases)} cases x {rounds} rounds")
        fetches = interleaved(fetch_cases, seconds, rounds)
        fetches_cpu = cpu_rates(fetch_cases, seconds * rounds)
    finally:
        for close in closers:
            close()
        endpoint.close()
    return {"assertions": assertions, "fetches": fetches, "fetches_cpu": fetches_cpu}


# --- the scenario document -------------------------------------------------------------------


def plan(budget: float, seconds: float, rounds: int, cases: int) -> float:
    """``seconds`` per round, shrunk so the measuring loops fit in ``budget``.

    Assertions: cases x seconds x rounds of CPU timing; fetches: cases x seconds x
    (rounds + 0.2) of wall timing plus cases x seconds x rounds of CPU timing.
    """
    per_second = cases * rounds + cases * (2 * rounds + 0.2)
    return max(0.01, min(seconds, budget * 0.8 / per_second))


def document(
    measured: dict[str, Any], seconds: float, rounds: int, peers_note: str
) -> dict[str, Any]:
    a, f, fc = measured["assertions"], measured["fetches"], measured["fetches_cpu"]
    raw = a["raw_sign"]
    assertion_rows: list[dict[str, Any]] = [
        {
            "library": "cryptography",
            "what": "raw RSA-2048 PKCS#1 v1.5 SHA-256 sign, same-sized message",
            "per_cpu_s": round(raw, 1),
            "of_raw": "100%",
            "baseline": True,
            "note": "",
        },
        {
            "library": "oauthkit",
            "what": "ServiceAccountCredentials._generate_assertion()",
            "per_cpu_s": round(a["oauthkit"], 1),
            "of_raw": f"{a['oauthkit'] / raw:.1%}",
            "note": "",
        },
    ]
    fetch_rows: list[dict[str, Any]] = [
        {
            "library": "oauthkit",
            "what": "creds.refresh() (default transport: stdlib http.client pool)",
            "per_s": round(f["oauthkit"], 1),
            "per_cpu_s": round(fc["oauthkit"], 1),
            "note": "",
        },
        {
            "library": "oauthkit",
            "what": "creds.refresh(httpx.Client()) (shared client)",
            "per_s": round(f[HTTPX], 1),
            "per_cpu_s": round(fc[HTTPX], 1),
            "note": "",
        },
    ]
    if GOOGLE_AUTH in a:
        assertion_rows.append(
            {
                "library": GOOGLE_AUTH,
                "what": "service_account.Credentials._make_authorization_grant_assertion()",
                "per_cpu_s": round(a[GOOGLE_AUTH], 1),
                "of_raw": f"{a[GOOGLE_AUTH] / raw:.1%}",
                "note": "",
            }
        )
        fetch_rows.append(
            {
                "library": GOOGLE_AUTH,
                "what": "creds.refresh(google.auth.transport.requests.Request(session))",
                "per_s": round(f[GOOGLE_AUTH], 1),
                "per_cpu_s": round(fc[GOOGLE_AUTH], 1),
                "note": "",
            }
        )
    else:
        for rows in (assertion_rows, fetch_rows):
            rows.append({"library": GOOGLE_AUTH, "what": "-", "note": f"n/a: {peers_note}"})

    fraction = a["oauthkit"] / raw
    summaries = [
        summary(
            "service-account JWT assertions per second, as a fraction of the raw "
            "`cryptography` RSA-2048 sign rate",
            f">= {ASSERTION_TARGET:.0%}",
            f"{fraction:.1%} ({a['oauthkit']:.0f}/s vs raw {raw:.0f}/s, per CPU-second)",
            fraction >= ASSERTION_TARGET,
            f"google-auth: {a[GOOGLE_AUTH] / raw:.1%} of raw" if GOOGLE_AUTH in a else "-",
        )
    ]
    if GOOGLE_AUTH in f:
        speedup = f["oauthkit"] / f[GOOGLE_AUTH]
        cpu_speedup = fc["oauthkit"] / fc[GOOGLE_AUTH]
        summaries.append(
            summary(
                "complete service-account token fetches per second",
                f">= {FETCH_TARGET}x google-auth",
                f"{f['oauthkit']:.0f}/s wall, {speedup:.2f}x google-auth "
                f"(per client CPU-second: {cpu_speedup:.2f}x)",
                speedup >= FETCH_TARGET,
                f"google-auth: {f[GOOGLE_AUTH]:.0f}/s wall, {fc[GOOGLE_AUTH]:.0f}/client CPU-s",
            )
        )
    else:
        summaries.append(
            summary(
                "complete service-account token fetches per second",
                f">= {FETCH_TARGET}x google-auth",
                f"{f['oauthkit']:.0f}/s wall (no google-auth figure: {peers_note})",
                None,
                "-",
            )
        )
    return {
        "scenario": "sa_assertions",
        "title": "Service accounts: JWT assertions and token fetches per second",
        "measures": "RFC 7523 grant assertions per CPU-second against the raw `cryptography` "
        "RSA-2048 sign rate (target >= 97%), and complete service-account token fetches per "
        "second against a local token endpoint (target >= 1.5x google-auth)",
        "params": {"seconds per round": round(seconds, 3), "rounds": rounds},
        "tables": [
            table(
                "Grant assertions (per CPU-second of the measuring thread, cases alternating "
                "call by call)",
                [
                    ("library", "library"),
                    ("what", "what"),
                    ("per_cpu_s", "per CPU-second"),
                    ("of_raw", "of raw sign"),
                ],
                assertion_rows,
                ratio=[("per_cpu_s", "rate / oauthkit's")],
            ),
            table(
                "Complete token fetches against a local token endpoint (wall: median of the "
                "interleaved rounds; client CPU: per CPU-second of the measuring thread)",
                [
                    ("library", "library"),
                    ("what", "what"),
                    ("per_s", "per second (wall)"),
                    ("per_cpu_s", "per client CPU-second"),
                ],
                fetch_rows,
                ratio=[("per_s", "wall rate / oauthkit's"), ("per_cpu_s", "CPU rate / oauthkit's")],
            ),
        ],
        "not_implemented": [],
        "summary": summaries,
        "notes": [
            "The token endpoint is an asyncio server in its own process on 127.0.0.1 "
            "(keep-alive, TCP_NODELAY, one buffer per response); wall rates also count it "
            "and the machine's other load, client CPU rates do not.",
        ],
    }


def main() -> int:
    started = time.perf_counter()
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds")
    parser.add_argument("--serve", action="store_true", help="(internal) the token endpoint")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve())
        return 0
    warnings.simplefilter("ignore")  # google-auth's deprecation notices are not ours
    if args.quick:
        args.seconds, args.rounds = 0.05, 2
    rounds = max(1, min(args.rounds, 50))
    with_google_auth = peers_wanted(args, "google.oauth2.service_account") and has_module(
        "requests"
    )
    peers_note = (
        "--no-peers"
        if args.no_peers
        else "google-auth (with requests) is not installed in this environment"
    )
    seconds = plan(args.budget, args.seconds, rounds, 3 if with_google_auth else 2)
    measured = measure(seconds, rounds, with_google_auth)
    emit(document(measured, seconds, rounds, peers_note), started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
