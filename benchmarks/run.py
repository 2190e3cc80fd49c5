"""oauthkit beside oauth2client, google-auth, Authlib and requests_oauth2client: one runner.

    python benchmarks/run.py [--quick] [--out benchmarks/RESULTS.md] [--no-peers]
                             [--only overhead,cold_start]

It creates (or reuses, keyed by a hash of the requirement list, oauthkit's own dependencies
and the Python version) a virtual environment in ``benchmarks/.venv-peers`` holding the
peers and oauthkit itself (installed editable from this repository), runs every scenario
script in ``benchmarks/scenarios/`` as a subprocess of that environment's interpreter, and
prints a markdown report: a summary of oauthkit's targets, then each scenario's table of
medians with ratios to oauthkit, then what oauthkit cannot be measured on yet. The report is
also written to ``--out`` with the date, the versions and the machine.

``--no-peers`` skips the virtual environment and runs the scenarios for oauthkit only, with
this interpreter. ``--quick`` uses tiny counts (a smoke run). Nothing here asserts on
timing: a benchmark measures and reports.

Adding a scenario: write ``benchmarks/scenarios/NAME.py`` printing the JSON document that
``scenarios/_common.py`` describes, and add one line to :data:`SCENARIOS`.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SCENARIO_DIR = BENCH_DIR / "scenarios"
VENV = BENCH_DIR / ".venv-peers"
MARKER = VENV / ".requirements-sha256"
CLASSIC_VENV = BENCH_DIR / ".venv-oauth2client3"
CLASSIC_PEER = "oauth2client==3.0.0"
"""The last oauth2client with ``contrib.multistore_file``: its own environment, since it
cannot live beside 4.1.3."""

PEERS = (
    "oauth2client==4.1.3",
    "google-auth",
    "google-auth-httplib2",
    "requests",
    "Authlib",
    "requests_oauth2client",
    "httplib2",
    "httpx",
)
"""What the peers' environment holds besides oauthkit (installed from this repository)."""

REPORTED_PACKAGES = (
    "oauthkit", "oauth2client", "google-auth", "google-auth-httplib2", "authlib",
    "requests-oauth2client", "httplib2", "requests", "httpx", "httpcore", "urllib3",
    "cryptography",
)
PIP_TIMEOUT = 900


@dataclass(frozen=True)
class Scenario:
    """A script in ``scenarios/`` and the seconds its measuring loops may take."""

    name: str
    script: str
    budget: float
    args: tuple[str, ...] = ()
    classic: bool = False  # also gets --classic-python (oauth2client 3.0.0)


SCENARIOS = (
    Scenario("overhead", "overhead.py", budget=270),
    Scenario("stampede_threads", "stampede_threads.py", budget=60),
    Scenario("stampede_async", "stampede_async.py", budget=30),
    Scenario("stampede_processes", "stampede_processes.py", budget=90),
    Scenario("stampede_processes_32", "stampede_processes.py", budget=150,
             args=("--processes", "32", "--reps", "2")),
    Scenario("cold_start", "cold_start.py", budget=60),
    Scenario("sa_assertions", "sa_assertions.py", budget=45),
    Scenario("store_scaling", "store_scaling.py", budget=90, classic=True),
)

NOT_IMPLEMENTED: tuple[tuple[str, str], ...] = ()
"""Issue 6 targets with no oauthkit code to measure yet: listed, never given numbers."""


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# --- the peers' virtual environment -----------------------------------------------------------


def _oauthkit_dependencies() -> list[str]:
    try:
        project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return []
    return sorted(str(d) for d in project.get("dependencies", []))


def requirements_key() -> str:
    """What decides whether the environment can be reused."""
    parts = [*PEERS, "oauthkit -e " + str(REPO), *_oauthkit_dependencies(),
             f"python {sys.version_info[0]}.{sys.version_info[1]}"]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_peers_venv() -> Path:
    """The peers' interpreter: reused when the marker matches, else built from scratch."""
    key = requirements_key()
    python = venv_python()
    if python.exists() and MARKER.exists() and MARKER.read_text().strip() == key:
        check = subprocess.run([str(python), "-c", "import oauthkit, oauth2client, authlib"],
                               capture_output=True, timeout=120, check=False)
        if check.returncode == 0:
            log(f"peers: reusing {VENV.relative_to(REPO)}")
            return python
    log(f"peers: creating {VENV.relative_to(REPO)} (pip install, a minute or two)")
    if VENV.exists():
        shutil.rmtree(VENV)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "install", "-q"]
    subprocess.run([*pip, *PEERS, "-e", str(REPO)], check=True, timeout=PIP_TIMEOUT)
    MARKER.write_text(key + "\n")
    return python


def ensure_classic_venv() -> Path:
    """An interpreter holding oauth2client 3.0.0 only (for ``contrib.multistore_file``)."""
    python = CLASSIC_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    marker = CLASSIC_VENV / ".requirements"
    if python.exists() and marker.exists() and marker.read_text().strip() == CLASSIC_PEER:
        return python
    log(f"peers: creating {CLASSIC_VENV.relative_to(REPO)} ({CLASSIC_PEER})")
    if CLASSIC_VENV.exists():
        shutil.rmtree(CLASSIC_VENV)
    subprocess.run([sys.executable, "-m", "venv", str(CLASSIC_VENV)], check=True, timeout=300)
    subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", "install", "-q",
                    CLASSIC_PEER], check=True, timeout=PIP_TIMEOUT)
    marker.write_text(CLASSIC_PEER + "\n")
    return python


# --- what the report says about the run ----------------------------------------------------


def _run_text(command: Sequence[str], timeout: float = 120) -> str:
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def library_versions(python: Path) -> list[str]:
    """``pip freeze`` of the interpreter's environment, filtered to the relevant packages."""
    wanted = {_normalize(p) for p in REPORTED_PACKAGES}
    lines = []
    freeze = _run_text([str(python), "-m", "pip", "--disable-pip-version-check", "freeze",
                        "--all"])
    for line in freeze.splitlines():
        name = re.split(r"[=@ ]", line.strip(), maxsplit=1)[0]
        if _normalize(name) in wanted:
            lines.append(line.strip())
    if not any(_normalize(x).startswith("oauthkit") for x in lines) or not freeze:
        code = ("import importlib.metadata as m\n"
                f"for n in {sorted(wanted)!r}:\n"
                "    try: print(n + '==' + m.version(n))\n"
                "    except m.PackageNotFoundError: pass\n")
        found = _run_text([str(python), "-c", code]).splitlines()
        lines = sorted(set(lines) | {x for x in found if x.startswith("oauthkit")}) \
            if freeze else found
    commit = _run_text(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]).strip()
    dirty = _run_text(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"]).strip()
    if commit:
        lines.append(f"oauthkit source: git {commit}" + (" + uncommitted changes in src/"
                                                         if dirty else ""))
    return sorted(lines, key=str.lower)


def machine() -> dict[str, str]:
    cpu = "unknown"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count() or "unknown"),
        "cpu": cpu,
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg())
        if hasattr(os, "getloadavg") else "unknown",
    }


# --- running the scenarios -----------------------------------------------------------------


def run_scenario(python: Path, scenario: Scenario, quick: bool, no_peers: bool,
                 classic: Path | None = None) -> dict[str, Any]:
    """The scenario's JSON document, or ``{"error": ...}``: a failed scenario is reported
    as failed, never given figures."""
    command = [str(python), str(SCENARIO_DIR / scenario.script), *scenario.args,
               "--budget", str(scenario.budget)]
    if scenario.classic and classic is not None:
        command += ["--classic-python", str(classic)]
    if quick:
        command.append("--quick")
    if no_peers:
        command.append("--no-peers")
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    log(f"scenario {scenario.name}: {' '.join(command[1:])}")
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=str(REPO), env=env,
                              timeout=scenario.budget * 2 + 300, check=False)
    except subprocess.TimeoutExpired:
        return {"scenario": scenario.name, "error": "timed out"}
    log(f"scenario {scenario.name}: {time.perf_counter() - start:.1f} s")
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        return {"scenario": scenario.name, "error": f"exit {done.returncode}:\n{tail}"}
    try:
        result: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        return {"scenario": scenario.name, "error": "no valid JSON on stdout"}
    return result


# --- the markdown report -------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = f"{value:.1f}"
        return text[:-2] if text.endswith(".0") else text
    return str(value).replace("|", "\\|").replace("\n", " ")


def _ratio(value: Any, base: Any) -> str:
    if not isinstance(value, (int, float)) or not isinstance(base, (int, float)):
        return ""
    if isinstance(value, bool) or base <= 0 or value < 0:
        return "-"
    return f"{value / base:.1f}x"


def render_table(spec: dict[str, Any]) -> list[str]:
    """One scenario table, with a ratio column per ``spec["ratio"]``: each row's value over
    the first oauthkit row's value in the same group."""
    columns: list[list[str]] = spec["columns"]
    ratios: list[list[str]] = spec.get("ratio") or []
    rows: list[dict[str, Any]] = spec["rows"]
    group_key = spec.get("group")
    bases: dict[Any, dict[str, Any]] = {}
    for row in rows:
        if row.get("library") == "oauthkit":
            bases.setdefault(row.get(group_key) if group_key else None, row)
    has_notes = any(row.get("note") for row in rows)
    header = [label for _key, label in columns] + [label for _key, label in ratios]
    if has_notes:
        header.append("note")
    lines = [f"**{spec['title']}**", "", "| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        base = bases.get(row.get(group_key) if group_key else None, {})
        cells = [_cell(row.get(key)) if key in row else "" for key, _label in columns]
        if row.get("baseline"):  # the bare client or interpreter: nothing to compare
            cells += ["" for _ratio_spec in ratios]
        else:
            cells += [_ratio(row.get(key), base.get(key)) for key, _label in ratios]
        if has_notes:
            cells.append(_cell(row.get("note") or ""))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render(results: list[dict[str, Any]], context: dict[str, Any]) -> str:
    out = ["# oauthkit benchmarks", ""]
    out.append(f"Run {context['date']} with `{context['command']}`"
               + (" (quick: tiny counts, figures are not meaningful)" if context["quick"] else "")
               + ".")
    out += ["", f"- Python {context['python']}"]
    out += [f"- {k}: {v}" for k, v in context["machine"].items()]
    out += ["- libraries: " + ", ".join(f"`{v}`" for v in context["versions"])]
    out += ["", "Ratios compare each row with oauthkit's row of the same group (value / "
            "oauthkit's value); n/a: not measurable for that library (see its note). "
            "See benchmarks/README.md for how each figure is measured.", ""]

    out += ["## Summary: oauthkit's targets (issue 6)", "",
            "| what | target | oauthkit | met | peers, same run |", "|---|---|---|---|---|"]
    for result in results:
        for s in result.get("summary", []):
            met = {True: "yes", False: "**no**", None: "-"}[s.get("met")]
            out.append(f"| {_cell(s['what'])} | {_cell(s['target'])} | {_cell(s['oauthkit'])} "
                       f"| {met} | {_cell(s['peers'])} |")
    for what, reason in NOT_IMPLEMENTED:
        out.append(f"| {_cell(what)} | | not in this run ({reason}) | - | |")
    out.append("")

    for result in results:
        out.append(f"## {result.get('title', result['scenario'])}")
        out.append("")
        if "error" in result:
            out += ["Failed; no figures:", "", "```", str(result["error"]), "```", ""]
            continue
        out += [f"Measures: {result.get('measures', '')}.", ""]
        params = ", ".join(f"{k} = {v}" for k, v in result.get("params", {}).items())
        out += [f"Parameters: {params}; {result.get('elapsed_s', '?')} s.", ""]
        for spec in result.get("tables", []):
            out += render_table(spec)
            out.append("")
        for note in result.get("notes", []):
            out.append(f"- {note}")
        if result.get("notes"):
            out.append("")

    missing: list[str] = []
    seen = set()
    for result in results:
        for item in result.get("not_implemented", []):
            if item["what"] not in seen:
                seen.add(item["what"])
                missing.append(f"- {item['what']}: not yet implemented ({item['reason']})")
    for what, reason in NOT_IMPLEMENTED:
        missing.append(f"- {what}: not in this run ({reason})")
    if missing:  # nothing to list: no empty section
        out += ["## Not yet implemented in oauthkit", "",
                "Listed so the table stays honest: no figures until the code exists.", ""]
        out += [*missing, ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "RESULTS.md")
    parser.add_argument("--no-peers", action="store_true",
                        help="oauthkit only, with this interpreter (no peers' environment)")
    parser.add_argument("--only", default="",
                        help="comma-separated scenario names (default: all)")
    args = parser.parse_args(argv)
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    started = time.perf_counter()
    python = Path(sys.executable) if args.no_peers else ensure_peers_venv()
    classic = (
        ensure_classic_venv()
        if not args.no_peers and any(s.classic for s in chosen)
        else None
    )
    context = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/run.py" + "".join(
            f" {a}" for a in (argv if argv is not None else sys.argv[1:])),
        "quick": args.quick,
        "python": _run_text([str(python), "-c", "import sys; print(sys.version)"]).strip()
        or platform.python_version(),
        "machine": machine(),
        "versions": library_versions(python)
        + ([f"{CLASSIC_PEER} (own environment, store_scaling)"] if classic else []),
    }
    results = [run_scenario(python, s, args.quick, args.no_peers, classic) for s in chosen]
    if hasattr(os, "getloadavg"):
        context["machine"]["load average at end"] = " ".join(
            f"{x:.2f}" for x in os.getloadavg())
    report = render(results, context)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    log(f"wrote {args.out} in {time.perf_counter() - started:.0f} s")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
