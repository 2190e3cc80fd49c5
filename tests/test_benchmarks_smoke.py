"""Smoke runs of the benchmarks in ``benchmarks/``, so they cannot rot.

Each scenario script runs with tiny counts (``--quick``), for oauthkit only (``--no-peers``:
no peers' virtual environment needed), with this interpreter; the test checks that it
prints its JSON document with the keys the runner reads, and that the thread and asyncio
refresh stampedes cost oauthkit exactly one token request and no failure. Nothing here
looks at a timing: a benchmark measures, it never passes or fails on speed.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCENARIOS = [
    "overhead",
    "stampede_threads",
    "stampede_async",
    "stampede_processes",
    "cold_start",
    "sa_assertions",
    "store_scaling",
]
DOCUMENT_KEYS = {
    "scenario",
    "title",
    "measures",
    "params",
    "tables",
    "not_implemented",
    "summary",
    "notes",
    "elapsed_s",
}
TABLE_KEYS = {"title", "columns", "group", "ratio", "rows"}


def _run(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(BENCH / "scenarios" / f"{name}.py"),
            "--quick",
            "--no-peers",
            "--budget",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@functools.cache
def _all_runs() -> dict[str, subprocess.CompletedProcess[str]]:
    """Every scenario once, side by side (they only count, so overlapping is harmless)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(SCENARIOS)) as pool:
        return dict(zip(SCENARIOS, pool.map(_run, SCENARIOS), strict=True))


def run_scenario(name: str) -> dict[str, Any]:
    done = _all_runs()[name]
    assert done.returncode == 0, done.stderr[-3000:]
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for table in document["tables"] for row in table["rows"]]


def measured(document: dict[str, Any], library: str = "oauthkit") -> list[dict[str, Any]]:
    """The library's rows that carry figures (not the "not yet implemented" ones)."""
    return [r for r in rows(document) if r["library"] == library and "runs" in r]


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_prints_its_document(name: str) -> None:
    document = run_scenario(name)
    assert set(document) >= DOCUMENT_KEYS
    assert document["scenario"] == name
    assert document["tables"]
    for table in document["tables"]:
        assert set(table) >= TABLE_KEYS
        assert table["rows"]
        for row in table["rows"]:
            assert "library" in row
            if not row.get("note", "").startswith(("n/a", "not yet implemented")):
                assert {key for key, _label in table["columns"]} <= set(row), row
    for item in document["summary"]:
        assert {"what", "target", "oauthkit", "met", "peers"} <= set(item)
    for item in document["not_implemented"]:
        assert {"what", "reason"} <= set(item)


@pytest.mark.parametrize("name", ["stampede_threads", "stampede_async"])
def test_stampede_costs_oauthkit_one_token_request(name: str) -> None:
    ours = measured(run_scenario(name))
    assert len(ours) >= 2  # the token call and at least one authorized client
    for row in ours:
        assert row["token_requests_max"] == 1, row
        assert row["failures_max"] == 0, row
        assert row["invalid_grant"] == 0, row
        assert row["grant_alive"] == f"{row['runs']}/{row['runs']}", row


def test_overhead_covers_every_transport_in_both_settings() -> None:
    document = run_scenario("overhead")
    *requests_tables, isolated = document["tables"]
    measured_rows = [r for t in requests_tables for r in t["rows"]]
    ours = [r for r in measured_rows if r["library"] == "oauthkit"]
    combos = {
        (setting, transport)
        for setting in ("in-process", "loopback")
        for transport in ("httplib2", "requests", "httpx")
    }
    assert {(r["setting"], r["transport"]) for r in ours} == combos
    controls = [r for r in measured_rows if r["library"].startswith("(control")]
    assert {(r["setting"], r["transport"]) for r in controls} == combos
    for row in measured_rows:
        assert row["non_200"] == 0, row
        assert isinstance(row["per_request_us"], float), row
    assert document["server"]["token_requests"] == 0  # valid tokens: no refresh at all
    assert {r["transport"] for r in isolated["rows"]} == {"requests", "httpx"}
    for row in isolated["rows"]:
        # the difference of the unrounded figures, so within a rounding step of theirs
        assert abs(row["added_us"] - (row["oauthkit_us"] - row["bare_us"])) <= 0.011
    judged = [s for s in document["summary"] if "in-process" in s["what"]]
    assert all(isinstance(s["met"], bool) for s in judged)


def test_process_stampede_on_one_store_makes_one_token_request() -> None:
    document = run_scenario("stampede_processes")
    (ours,) = [r for r in rows(document) if r["library"] == "oauthkit"]
    assert ours["token_requests_max"] == 1
    assert ours["failures_max"] == 0


def test_cold_start_reports_oauthkit_import() -> None:
    document = run_scenario("cold_start")
    commands = {r["command"]: r for r in rows(document)}
    assert isinstance(commands["python -c 'import oauthkit'"]["total_ms"], float)
    assert isinstance(commands["oauthkit token (cached token)"]["total_ms"], float)


def test_sa_assertions_reports_oauthkit_against_the_raw_sign_rate() -> None:
    document = run_scenario("sa_assertions")
    assertions, fetches = document["tables"]
    by_library = {r["library"]: r for r in assertions["rows"]}
    assert by_library["cryptography"]["baseline"] is True
    assert isinstance(by_library["cryptography"]["per_cpu_s"], float)
    assert isinstance(by_library["oauthkit"]["per_cpu_s"], float)
    assert by_library["oauthkit"]["of_raw"].endswith("%")
    ours = [r for r in fetches["rows"] if r["library"] == "oauthkit"]
    assert [r["what"].split(" ")[0] for r in ours] == [
        "creds.refresh()",
        "creds.refresh(httpx.Client())",
    ]
    for row in ours:
        assert isinstance(row["per_s"], float)
        assert isinstance(row["per_cpu_s"], float)
    # --no-peers: google-auth is listed without figures, and the fetch target is not judged
    for table in (assertions, fetches):
        (theirs,) = [r for r in table["rows"] if r["library"] == "google-auth"]
        assert theirs["note"].startswith("n/a"), theirs
        assert "per_cpu_s" not in theirs
    targets = {item["target"]: item for item in document["summary"]}
    assert set(targets) == {">= 97%", ">= 1.5x google-auth"}
    assert isinstance(targets[">= 97%"]["met"], bool)
    assert targets[">= 1.5x google-auth"]["met"] is None


def test_store_scaling_quick_covers_both_stores_at_small_k() -> None:
    document = run_scenario("store_scaling")
    ours, peer = document["tables"]
    measured_rows = ours["rows"]
    # without an oauth2client 3.0.0 interpreter the peer is listed, never given figures
    (classic,) = peer["rows"]
    assert classic["library"] == "oauth2client 3.0.0" and classic["note"].startswith("n/a")
    assert {(r["store"], r["k"]) for r in measured_rows} == {
        (store, k) for store in ("SQLite store", "multistore file") for k in ("10", "1,000")
    }
    for row in measured_rows:
        assert row["library"] == "oauthkit"
        assert isinstance(row["get_us"], float), row
        assert isinstance(row["put_us"], float), row
    assert ours["group"] == "store"
    assert len(document["summary"]) == 2
    for item in document["summary"]:  # K = 100,000 is not populated in a quick run
        assert item["met"] is None, item


def test_runner_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "run.py"),
            "--quick",
            "--no-peers",
            "--only",
            "stampede_threads,store_scaling",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = out.read_text(encoding="utf-8")
    assert report.strip() == done.stdout.strip()
    assert "## Summary: oauthkit's targets (issue 6)" in report
    assert "| oauthkit | creds.get_access_token() | 1 | 1-1 | 0 | 0 | 1/1 |" in report
    assert "store put at K = 100,000 over put at K = 10 (SQLite store)" in report
    assert "not yet ported" not in report
