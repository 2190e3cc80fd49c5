from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_root_logger_level() -> Iterator[None]:
    """run_flow(flags=...) sets the root logger's level (classic behaviour)."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
