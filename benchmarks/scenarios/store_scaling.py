"""Store scaling: one get and one put with K credentials already stored.

What is measured: for K = 10, 1,000 and 100,000 credentials already stored (``--quick``:
10 and 1,000), the wall time of one ``get`` and of one ``put`` through a storage bound to
one of them, for the classic multi-credential file (``oauthkit.contrib.multistore_file``,
SQLite-backed) and the SQLite store (``oauthkit.storage.SQLiteStore``). Medians over the
rounds. oauthkit's target: put at K = 100,000 within 2x of put at K = 10.

Puts are durable (``synchronous=FULL``: an fsync per put), so their time is mostly the
disk's; the sizes are measured round-robin (one operation at each K in turn) so that disk
noise from other work on the machine falls on every K alike. The stores are filled once, in
one transaction per store, before anything is timed.

The peer: oauth2client 3.0.0's ``contrib.multistore_file`` (removed in 4.0), run with
``--classic-python`` (an interpreter holding oauth2client 3.0.0; the runner builds one) in
a child process: its one JSON file per store is written directly with K entries, then one
``get`` and one ``put`` per round through ``get_credential_storage_custom_string_key``,
at K = 10, 1,000, 10,000 and 100,000 (rounds bounded by the budget: a put at K = 100,000
rewrites the whole file).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Deadline, base_parser, emit, log, summary, table

SIZES = (10, 1_000, 100_000)
CLASSIC_SIZES = (10, 1_000, 10_000, 100_000)
CLASSIC = "oauth2client 3.0.0"
QUICK_SIZES = (10, 1_000)
TARGET = 2.0
MIN_ROUNDS = 5


def credentials(n: int) -> Any:
    from oauthkit import OAuth2Credentials

    return OAuth2Credentials(
        f"access-{n}",
        "client",
        "secret",
        f"refresh-{n}",
        None,
        "https://idp.example/token",
        "bench",
        scopes=["email", "profile"],
    )


def fill(store: Any, k: int, key: Any) -> None:
    data = credentials(0).to_json()
    store.write_many((key(i), data) for i in range(k))
    store._connect().execute("PRAGMA wal_checkpoint(TRUNCATE)")


def measure(
    storages: dict[int, Any], rounds: int, deadline: Deadline
) -> tuple[dict[int, tuple[float, float]], int]:
    """Median get and put ms per K, and the rounds done (fewer if the budget ran out)."""
    gets: dict[int, list[float]] = {k: [] for k in storages}
    puts: dict[int, list[float]] = {k: [] for k in storages}
    done = 0
    for i in range(rounds):
        if i >= MIN_ROUNDS and deadline.expired():
            break
        for k, storage_for in storages.items():
            storage = storage_for(i * 7919 % k)
            start = time.perf_counter()
            storage.get()
            gets[k].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            storage.put(credentials(i))
            puts[k].append((time.perf_counter() - start) * 1000)
        done += 1
    medians = {k: (statistics.median(gets[k]), statistics.median(puts[k])) for k in storages}
    return medians, done


def binder(store: Any) -> Any:
    from oauthkit.storage import bind

    return lambda i: bind(store, f"user-{i}")


def run(
    sizes: tuple[int, ...], rounds: int, budget: float
) -> tuple[dict[str, dict[int, tuple[float, float]]], dict[str, int], float]:
    """Medians per store and K, rounds per store, and the seconds spent filling the stores."""
    from oauthkit.contrib import multistore_file
    from oauthkit.storage import SQLiteStore
    from oauthkit.storage._multistore import MultistoreFile, close_all, key_string

    results: dict[str, dict[int, tuple[float, float]]] = {}
    done: dict[str, int] = {}
    fill_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        log(f"store_scaling: filling SQLite stores, K = {', '.join(map(str, sizes))}")
        sqlite_stores = {k: SQLiteStore(Path(tmp) / f"sqlite-{k}.db") for k in sizes}
        for k, store in sqlite_stores.items():
            fill(store, k, lambda i: f"user-{i}")
        fill_s += time.perf_counter() - start
        results["SQLite store"], done["SQLite store"] = measure(
            {k: binder(s) for k, s in sqlite_stores.items()}, rounds, Deadline(budget / 2)
        )
        for store in sqlite_stores.values():
            store.close()

        start = time.perf_counter()
        log("store_scaling: filling multistore files")
        paths = {k: Path(tmp) / f"multi-{k}.store" for k in sizes}
        for k, path in paths.items():
            fill(MultistoreFile(path), k, lambda i: key_string({"key": f"user-{i}"}))
        fill_s += time.perf_counter() - start

        def classic(path: Path) -> Any:
            return lambda i: multistore_file.get_credential_storage_custom_string_key(
                path, f"user-{i}"
            )

        results["multistore file"], done["multistore file"] = measure(
            {k: classic(p) for k, p in paths.items()}, rounds, Deadline(budget / 2)
        )
        close_all()
    return results, done, fill_s


# --- the peer: oauth2client 3.0.0's multistore_file, in its own interpreter ------------------


def classic_child(sizes: list[int], rounds: int, budget: float) -> dict[str, Any]:
    """(Runs under oauth2client 3.0.0.) Median get and put ms per K, and rounds per K."""
    import logging
    import warnings

    warnings.simplefilter("ignore")  # its deprecation notice is not what is measured
    logging.disable(logging.CRITICAL)
    from oauth2client.client import OAuth2Credentials as Classic
    from oauth2client.contrib import multistore_file

    def cred(n: int) -> Any:
        return Classic(f"access-{n}", "client", "secret", f"refresh-{n}", None,
                       "https://idp.example/token", "bench", scopes=["email", "profile"])

    out: dict[str, Any] = {"k": {}, "fill_s": 0.0}
    deadline = time.perf_counter() + budget
    with tempfile.TemporaryDirectory() as tmp:
        for k in sizes:
            start = time.perf_counter()
            path = os.path.join(tmp, f"classic-{k}.json")
            entry = json.loads(cred(0).to_json())
            data = [{"key": {"key": f"user-{i}"}, "credential": entry} for i in range(k)]
            with open(path, "w", encoding="utf-8") as f:  # the file format of version 1
                json.dump({"file_version": 1, "data": data}, f)
            os.chmod(path, 0o600)
            out["fill_s"] += time.perf_counter() - start
            gets: list[float] = []
            puts: list[float] = []
            for i in range(rounds):
                if i >= 1 and time.perf_counter() > deadline:
                    break
                storage = multistore_file.get_credential_storage_custom_string_key(
                    path, f"user-{i * 7919 % k}"
                )
                start = time.perf_counter()
                storage.get()
                gets.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                storage.put(cred(i))
                puts.append((time.perf_counter() - start) * 1000)
            out["k"][str(k)] = [statistics.median(gets), statistics.median(puts), len(gets)]
    return out


def classic_peer(python: str, sizes: list[int], rounds: int, budget: float) -> dict[str, Any]:
    """oauth2client 3.0.0's figures from a child interpreter, or ``{"error": ...}``."""
    command = [python, __file__, "--classic-child", "--rounds", str(rounds), "--budget",
               str(budget), *map(str, sizes)]
    log(f"store_scaling: oauth2client 3.0.0 multistore_file, K = {', '.join(map(str, sizes))}")
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              timeout=budget * 3 + 120)
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["exit status"])[-1][:200]}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> int:
    started = time.perf_counter()
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="get+put rounds per K")
    parser.add_argument("--classic-python", help="an interpreter with oauth2client 3.0.0")
    parser.add_argument("--classic-child", action="store_true", help="(internal)")
    parser.add_argument("sizes", nargs="*", type=int, help="(internal) K for the child")
    args = parser.parse_args()
    if args.classic_child:
        print(json.dumps(classic_child(args.sizes, args.rounds, args.budget)))
        return 0
    sizes = QUICK_SIZES if args.quick else SIZES
    if args.quick:
        args.rounds = MIN_ROUNDS
    rounds = max(1, min(args.rounds, 10_000))
    classic_sizes = list(QUICK_SIZES if args.quick else CLASSIC_SIZES)
    with_classic = bool(args.classic_python) and not args.no_peers
    ours_budget = args.budget / 3 if with_classic else args.budget
    results, done, fill_s = run(sizes, rounds, ours_budget)
    classic = (
        classic_peer(args.classic_python, classic_sizes, 3 if args.quick else 5,
                     args.budget - ours_budget)
        if with_classic
        else {"error": "--no-peers" if args.no_peers else "no --classic-python given"}
    )

    rows: list[dict[str, Any]] = []
    summaries = []
    smallest, largest = sizes[0], sizes[-1]
    classic_rows: list[dict[str, Any]] = []
    classic_summary = f"{CLASSIC} multistore_file: n/a ({classic.get('error', '')})"
    if "k" in classic:
        figures = {int(k): v for k, v in classic["k"].items()}
        base_get, base_put = figures[min(figures)][0], figures[min(figures)][1]
        for k, (get, put, n) in sorted(figures.items()):
            classic_rows.append({
                "library": CLASSIC,
                "store": "contrib.multistore_file (one JSON file)",
                "k": f"{k:,}",
                "get_us": round(get * 1000, 1),
                "put_us": round(put * 1000, 1),
                "get_ratio": f"{get / base_get:.1f}x",
                "put_ratio": f"{put / base_put:.1f}x",
                "rounds": n,
                "note": "",
            })
        top = max(figures)
        classic_summary = (
            f"{CLASSIC} multistore_file: put at K = {top:,} is "
            f"{figures[top][1] / base_put:,.0f}x put at K = {min(figures):,} "
            f"({figures[top][1]:,.0f} ms vs {base_put:.1f} ms)"
        )
    for name, by_k in results.items():
        for k, (get, put) in by_k.items():
            rows.append(
                {
                    "library": "oauthkit",
                    "store": name,
                    "k": f"{k:,}",
                    "get_us": round(get * 1000, 1),
                    "put_us": round(put * 1000, 1),
                    "rounds": done[name],
                    "note": "",
                }
            )
        ratio = by_k[largest][1] / by_k[smallest][1]
        what = f"store put at K = 100,000 over put at K = 10 ({name})"
        if largest == SIZES[-1]:
            summaries.append(
                summary(
                    what,
                    f"<= {TARGET:g}x",
                    f"{ratio:.2f}x ({by_k[largest][1] * 1000:.0f} µs vs "
                    f"{by_k[smallest][1] * 1000:.0f} µs)",
                    ratio <= TARGET,
                    classic_summary,
                )
            )
        else:
            summaries.append(
                summary(
                    what,
                    f"<= {TARGET:g}x",
                    f"n/a (K up to {largest:,} in this run: {ratio:.2f}x at K = {largest:,})",
                    None,
                    "-",
                )
            )
    result = {
        "scenario": "store_scaling",
        "title": "Store scaling: get and put with K credentials stored",
        "measures": "median wall µs of one get and one durable put through a storage bound "
        "to one of K stored credentials (target: put at K = 100,000 within 2x of put at "
        "K = 10)",
        "params": {
            "K": ", ".join(f"{k:,}" for k in sizes),
            "rounds": rounds,
            "fill s": round(fill_s, 1),
        },
        "tables": [
            table(
                "Get and put with K credentials stored (median µs; ratios over K = 10 of the "
                "same store)",
                [
                    ("library", "library"),
                    ("store", "store"),
                    ("k", "K"),
                    ("get_us", "get µs"),
                    ("put_us", "put µs"),
                ],
                rows,
                group="store",
                ratio=[("get_us", "get / get at K=10"), ("put_us", "put / put at K=10")],
            ),
            table(
                f"The peer: {CLASSIC} contrib.multistore_file (median µs; rounds per K "
                "bounded by the budget)",
                [
                    ("library", "library"),
                    ("store", "store"),
                    ("k", "K"),
                    ("get_us", "get µs"),
                    ("put_us", "put µs"),
                    ("get_ratio", "get / get at K=10"),
                    ("put_ratio", "put / put at K=10"),
                    ("rounds", "rounds"),
                ],
                classic_rows
                or [{"library": CLASSIC, "note": f"n/a: {classic.get('error', '')}"}],
            ),
        ],
        "not_implemented": [],
        "summary": summaries,
        "notes": [
            "Puts are durable (an fsync each), so they mostly measure the disk; the sizes "
            "run round-robin so that disk noise falls on every K alike.",
            f"{CLASSIC}'s multistore_file (removed in oauth2client 4) is the only peer with a "
            "multi-credential store; it runs in its own interpreter. Each of its gets and "
            "puts re-reads the whole JSON file, and each put rewrites it."
            + (f" Not measured here: {classic['error']}." if "error" in classic else ""),
        ]
        + [
            f"{name}: time budget reached after {n} of {rounds} rounds"
            for name, n in done.items()
            if n < rounds
        ],
    }
    emit(result, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
