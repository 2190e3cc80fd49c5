from __future__ import annotations

import logging
import sys
import webbrowser
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private OAUTHKIT_CONFIG_DIR; no display, no SSH, no $BROWSER unless a test sets it."""
    path = tmp_path / "config"
    monkeypatch.setenv("OAUTHKIT_CONFIG_DIR", str(path))
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SSH_CONNECTION", "SSH_TTY", "BROWSER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OAUTHKIT_PROFILE", raising=False)
    return path


@pytest.fixture
def scripted_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_dir: Path
) -> Iterator[Path]:
    """$BROWSER = tests/cli/scripted_browser.py; yields the log file it appends to."""
    log = tmp_path / "browser.log"
    monkeypatch.setenv("BROWSER", f"{sys.executable} {HERE / 'scripted_browser.py'} %s")
    monkeypatch.setenv("OAUTHKIT_TEST_BROWSER_LOG", str(log))
    # webbrowser reads $BROWSER once per process: make it read it again, and restore after
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})
    yield log


@pytest.fixture(autouse=True)
def _restore_root_logger_level() -> Iterator[None]:
    """run_flow(flags=...) sets the root logger's level (classic behaviour)."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
