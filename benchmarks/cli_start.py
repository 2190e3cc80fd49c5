"""Start-up cost of ``oauthkit token`` with a cached valid token, and of ``import oauthkit``.

Each figure is the median wall time of repeated fresh subprocesses (the way a shell
script pays it: ``curl -H "Authorization: Bearer $(oauthkit token)" ...``):

- ``python -c pass``: the bare interpreter, the baseline;
- ``python -c "import oauthkit"``: reported also as the difference over the baseline;
- ``oauthkit token``: the console script, with a profile whose token is valid for an hour,
  in a temporary ``OAUTHKIT_CONFIG_DIR`` (nothing of the user's is read or written).

Rounds run the three commands once each, interleaved, so load drift hits them alike; two
warm-up rounds first write the bytecode caches (the environment's ``PYTHON*`` variables,
such as ``PYTHONDONTWRITEBYTECODE``, are dropped, as for a user's shell).

Targets (issue 5): ``oauthkit token`` under 50 ms, ``import oauthkit`` under 30 ms over the
bare interpreter. Run: ``.venv/bin/python benchmarks/cli_start.py [--runs N] [--json]``.
A benchmark measures; ``--check`` makes it exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOKEN_TARGET_MS = 50.0
IMPORT_TARGET_MS = 30.0


def timed_ms(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) milliseconds of one run; CPU (user + system of the child) is far less
    sensitive than wall time to other load on the machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def medians(
    commands: dict[str, list[str]], env: dict[str, str], runs: int
) -> dict[str, tuple[float, float]]:
    for _ in range(2):  # warm-up: bytecode caches, OS page cache
        for cmd in commands.values():
            timed_ms(cmd, env)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            wall, cpu = timed_ms(cmd, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {
        name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in commands
    }


def seed_profile(config_dir: Path) -> None:
    """A profile ``bench`` with a token valid for an hour, written by the real store."""
    from oauthkit._credentials import OAuth2Credentials
    from oauthkit.cli._profiles import ProfileDB, ProfileStorage

    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    credentials = OAuth2Credentials(
        "bench-access-token",
        "bench-client",
        None,
        "bench-refresh-token",
        expiry,
        "https://as.example/token",
        None,
        scopes="openid",
    )
    ProfileStorage(ProfileDB(config_dir / "profiles.db"), "bench").put(credentials)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

    python = sys.executable
    script = Path(python).with_name("oauthkit")
    token_cmd = [str(script)] if script.exists() else [python, "-m", "oauthkit"]
    with tempfile.TemporaryDirectory() as tmp:
        config_dir = Path(tmp)
        seed_profile(config_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(OAUTHKIT_CONFIG_DIR=str(config_dir), OAUTHKIT_PROFILE="bench")
        figures = medians(
            {
                "bare": [python, "-c", "pass"],
                "import": [python, "-c", "import oauthkit"],
                "token": [*token_cmd, "token"],
            },
            env,
            args.runs,
        )
        (bare, bare_cpu), (imported, imported_cpu), (token, token_cpu) = (
            figures["bare"],
            figures["import"],
            figures["token"],
        )
    result = {
        "runs": args.runs,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "bare_python_ms": round(bare, 1),
        "import_oauthkit_ms": round(imported, 1),
        "import_oauthkit_over_bare_ms": round(imported - bare, 1),
        "oauthkit_token_ms": round(token, 1),
        "oauthkit_token_over_bare_ms": round(token - bare, 1),
        "cpu_bare_python_ms": round(bare_cpu, 1),
        "cpu_import_oauthkit_over_bare_ms": round(imported_cpu - bare_cpu, 1),
        "cpu_oauthkit_token_ms": round(token_cpu, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:32} {value}")
    ok = token < TOKEN_TARGET_MS and imported - bare < IMPORT_TARGET_MS
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
