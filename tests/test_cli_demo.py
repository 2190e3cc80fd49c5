"""``oauthkit demo``: in-process and as a subprocess, as a user on a fresh machine runs it."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

from oauthkit.cli import main
from oauthkit.cli._demo import run_demo


@pytest.mark.parametrize("transport", ["httpx", "requests", "httplib2"])
def test_demo_in_process(transport: str) -> None:
    out = io.StringIO()
    assert run_demo(transport, out) == 0
    text = out.getvalue()
    steps = re.findall(r"^\[(\d)\]", text, re.M)
    assert steps == [str(i) for i in range(1, 10)]
    assert "HTTP 200, sub='alice'" in text
    assert "refresh token rotated" in text
    assert "invalid_grant" in text
    assert "code_challenge_method=S256" in text
    # tokens are shown only as fingerprints
    assert not re.search(r"access token (?!sha256:)", text)


def test_demo_as_a_subprocess() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "oauthkit", "demo"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[9] done" in proc.stdout


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
