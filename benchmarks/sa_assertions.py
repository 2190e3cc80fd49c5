"""Service-account benchmark: assertions per second and complete token fetches per second.

1. **Assertions**: oauthkit builds RFC 7523 §2.1 grant assertions (claims, JSON, base64url,
   RS256) with a key parsed once. Compared with the raw RSA-2048 PKCS#1 v1.5 / SHA-256
   sign rate of ``cryptography`` on a same-sized message in the same process (target:
   >= 97%), and with google-auth's assertion builder.
2. **Token fetches**: a complete ``refresh`` (new assertion, POST to a local token
   endpoint, parse) through oauthkit's httpx transport (one shared ``httpx.Client``) vs
   google-auth's
   ``service_account.Credentials.refresh`` with its requests transport (target: oauthkit
   >= 1.5x). The token endpoint runs in a separate process (this script with ``--serve``),
   127.0.0.1, keep-alive, one buffer per response; both libraries hit the same server.

Assertion rates are per CPU-second of the measuring thread, the cases alternating call by
call (on a shared machine the wall clock also counts other processes). Token-fetch rates
are wall-clock, the median of ``--rounds`` timed rounds of ``--seconds`` each, measured
interleaved so that drift (CPU frequency, noisy neighbours) hits every library alike, and
also per client CPU-second (what each library itself costs, server and load excluded).

    .venv/bin/python benchmarks/sa_assertions.py [--seconds 1.0] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

EMAIL = "bench@project.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
RESPONSE = json.dumps(
    {"access_token": "ya29.bench-token", "token_type": "Bearer", "expires_in": 3599}
).encode()


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve())
        return
    warnings.simplefilter("ignore")  # google-auth's deprecation notices are not ours

    import google.auth.transport.requests
    import requests
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from google.oauth2 import service_account as ga_sa

    from oauthkit.service_account import ServiceAccountCredentials

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()

    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        port = json.loads(proc.stdout.readline())["port"]
        token_uri = f"http://127.0.0.1:{port}/token"
        info = keyfile(pem, token_uri)

        ours = ServiceAccountCredentials.from_json_keyfile_dict(info, scopes=[SCOPE])
        theirs = ga_sa.Credentials.from_service_account_info(info, scopes=[SCOPE])

        # the same signing input size as an assertion, so the raw rate is comparable
        message = ours._generate_assertion().rsplit(".", 1)[0].encode()
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        raw_key = key  # the same key, as cryptography parsed it

        assertions = cpu_rates(
            {
                "raw_sign": lambda: raw_key.sign(message, pkcs1, sha256),
                "oauthkit": ours._generate_assertion,
                "google-auth": theirs._make_authorization_grant_assertion,
            },
            args.seconds * args.rounds,
        )

        import httpx

        client = httpx.Client()
        session = requests.Session()
        ga_request = google.auth.transport.requests.Request(session)
        ours.refresh(client)
        theirs.refresh(ga_request)
        fetch_cases = {
            "oauthkit": lambda: ours.refresh(client),
            "google-auth": lambda: theirs.refresh(ga_request),
        }
        fetches = interleaved(fetch_cases, args.seconds, args.rounds)
        fetches_cpu = cpu_rates(fetch_cases, args.seconds * args.rounds)
        client.close()
        session.close()
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    result = {
        "assertions_per_s": assertions,
        "assertion_vs_raw_sign": assertions["oauthkit"] / assertions["raw_sign"],
        "google_auth_assertion_vs_raw_sign": assertions["google-auth"] / assertions["raw_sign"],
        "token_fetches_per_s": fetches,
        "fetch_speedup_vs_google_auth": fetches["oauthkit"] / fetches["google-auth"],
        "token_fetches_per_client_cpu_s": fetches_cpu,
        "fetch_cpu_speedup_vs_google_auth": fetches_cpu["oauthkit"] / fetches_cpu["google-auth"],
        "targets": {"assertion_vs_raw_sign": 0.97, "fetch_speedup_vs_google_auth": 1.5},
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    a, f = assertions, fetches
    print(f"raw RSA-2048 sign (cryptography): {a['raw_sign']:9.0f} /s")
    print(
        f"oauthkit assertions:              {a['oauthkit']:9.0f} /s "
        f"({result['assertion_vs_raw_sign']:.1%} of raw; target >= 97%)"
    )
    print(
        f"google-auth assertions:           {a['google-auth']:9.0f} /s "
        f"({result['google_auth_assertion_vs_raw_sign']:.1%} of raw)"
    )
    print(
        f"oauthkit token fetches:           {f['oauthkit']:9.0f} /s "
        f"({result['fetch_speedup_vs_google_auth']:.2f}x google-auth; target >= 1.5x)"
    )
    print(f"google-auth token fetches:        {f['google-auth']:9.0f} /s")
    fc = fetches_cpu
    print(
        f"per client CPU-second: oauthkit {fc['oauthkit']:.0f}, google-auth "
        f"{fc['google-auth']:.0f} ({result['fetch_cpu_speedup_vs_google_auth']:.2f}x; wall "
        "clock also counts the server process and the machine's other load)"
    )


if __name__ == "__main__":
    main()
