"""One get and one put with K credentials already stored (K = 10, 1,000, 100,000), for the
classic multi-credential file (``oauthkit.contrib.multistore_file``, SQLite-backed) and the
SQLite store. Prints a markdown table of medians. A measurement script, not a test.

Puts are durable (``synchronous=FULL``: an fsync per put), so their time is mostly the
disk's; the sizes are measured round-robin (one operation at each K in turn) so that disk
noise from other work on the machine falls on every K alike.

    .venv/bin/python benchmarks/store_scaling.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from oauthkit import OAuth2Credentials
from oauthkit.contrib import multistore_file
from oauthkit.storage import SQLiteStore, bind
from oauthkit.storage._multistore import MultistoreFile, close_all, key_string

SIZES = (10, 1_000, 100_000)


def credentials(n: int) -> OAuth2Credentials:
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


def fill(store: SQLiteStore, k: int, key: Any) -> None:
    data = credentials(0).to_json()
    store.write_many((key(i), data) for i in range(k))
    store._connect().execute("PRAGMA wal_checkpoint(TRUNCATE)")


def measure(storages: dict[int, Any], rounds: int) -> dict[int, tuple[float, float]]:
    gets: dict[int, list[float]] = {k: [] for k in storages}
    puts: dict[int, list[float]] = {k: [] for k in storages}
    for i in range(rounds):
        for k, storage_for in storages.items():
            storage = storage_for(i * 7919 % k)
            start = time.perf_counter()
            storage.get()
            gets[k].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            storage.put(credentials(i))
            puts[k].append((time.perf_counter() - start) * 1000)
    return {k: (statistics.median(gets[k]), statistics.median(puts[k])) for k in storages}


def binder(store: SQLiteStore) -> Any:
    return lambda i: bind(store, f"user-{i}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    results: dict[str, dict[int, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_stores = {k: SQLiteStore(Path(tmp) / f"sqlite-{k}.db") for k in SIZES}
        for k, store in sqlite_stores.items():
            fill(store, k, lambda i: f"user-{i}")
        results["SQLite store"] = measure(
            {k: binder(s) for k, s in sqlite_stores.items()},
            args.rounds,
        )
        for store in sqlite_stores.values():
            store.close()

        paths = {k: Path(tmp) / f"multi-{k}.store" for k in SIZES}
        for k, path in paths.items():
            fill(MultistoreFile(path), k, lambda i: key_string({"key": f"user-{i}"}))

        def classic(path: Path) -> Any:
            return lambda i: multistore_file.get_credential_storage_custom_string_key(
                path, f"user-{i}"
            )

        results["multistore file"] = measure({k: classic(p) for k, p in paths.items()}, args.rounds)
        close_all()
    print("| store | K | get median (ms) | put median (ms) |")
    print("|---|---:|---:|---:|")
    for name, by_k in results.items():
        for k, (get, put) in by_k.items():
            print(f"| {name} | {k:,} | {get:.3f} | {put:.3f} |")
    for name, by_k in results.items():
        ratio = by_k[100_000][1] / by_k[10][1]
        print(f"\n{name}: put at K=100,000 / put at K=10 = {ratio:.2f}x")


if __name__ == "__main__":
    main()
