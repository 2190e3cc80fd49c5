"""The README stays true: every ```python block in it runs as printed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_runnable_blocks() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    secrets = tmp_path / "path_to_directory" / "client_secrets.json"
    secrets.parent.mkdir()
    secrets.write_text(
        json.dumps(
            {
                "web": {
                    "client_id": "id",
                    "client_secret": "secret",
                    "redirect_uris": ["https://example.com/auth_return"],
                    "auth_uri": "https://accounts.google.com/o/oauth2/v2/auth",
                    "token_uri": "https://oauth2.googleapis.com/token",
                }
            }
        )
    )
    exec(compile(BLOCKS[index], f"README block {index}", "exec"), {"__name__": "readme"})  # noqa: S102
    if "print(" in BLOCKS[index]:
        assert capsys.readouterr().out.strip().endswith("alice")
