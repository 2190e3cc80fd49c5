"""`oauthkit token` with a cached valid token: served from one SQLite row, without
argparse, the credentials machinery or an HTTP client (fast start)."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oauthkit._credentials import OAuth2Credentials
from oauthkit._errors import StorageError
from oauthkit.cli import main
from oauthkit.cli._fast import fast_main, parse_expiry
from oauthkit.cli._profiles import ProfileDB, ProfileStorage


def seed(config_dir: Path, profile: str = "default", minutes: int = 60) -> OAuth2Credentials:
    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
    credentials = OAuth2Credentials(
        "cached-access-token", "cid", None, "rt", expiry, "https://as.example/token", None
    )
    ProfileStorage(ProfileDB(config_dir / "profiles.db"), profile).put(credentials)
    return credentials


def test_token_from_the_cache_loads_no_http_client(config_dir: Path) -> None:
    seed(config_dir, "p")
    code = (
        "import sys; from oauthkit.cli import main; rc = main(['token', '--profile', 'p']); "
        "heavy = {'httpx', 'argparse', 'oauthkit._credentials', 'oauthkit._webflow', "
        "'asyncio', 'dataclasses', 'typing', 'json'} & set(sys.modules); "
        "print(sorted(heavy), rc, file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, OAUTHKIT_CONFIG_DIR=str(config_dir)),
        check=True,
    )
    assert proc.stdout == "cached-access-token\n"
    assert proc.stderr.strip() == "[] 0"


def test_fast_path_forms(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(config_dir, "p")
    assert fast_main(["token", "--profile=p"]) == 0
    assert capsys.readouterr().out == "cached-access-token\n"
    assert fast_main(["header", "--profile", "p", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["header"] == "Authorization: Bearer cached-access-token"
    assert out["expires_in"] > 3000
    # anything else goes to the full command line
    assert fast_main(["token", "--profile", "p", "--verbose"]) is None
    assert fast_main(["token", "--profile"]) is None
    assert fast_main(["token", "--profile", "missing"]) is None
    assert fast_main(["status"]) is None


def test_nearly_expired_token_is_not_served_from_the_cache(config_dir: Path) -> None:
    seed(config_dir, "p", minutes=0)
    assert fast_main(["token", "--profile", "p"]) is None  # the full path refreshes


def test_parse_expiry() -> None:
    assert parse_expiry("2030-01-02T03:04:05Z") == datetime.datetime(
        2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc
    )
    for bad in (None, 5, "2030-01-02 03:04:05Z", "2030-13-02T03:04:05Z", "2030-01-02T03:04:05"):
        assert parse_expiry(bad) is None


def test_store_is_private_and_refuses_symlinks(config_dir: Path) -> None:
    seed(config_dir)
    db = config_dir / "profiles.db"
    assert db.stat().st_mode & 0o777 == 0o600
    assert config_dir.stat().st_mode & 0o777 == 0o700
    link = config_dir.parent / "link.db"
    link.symlink_to(db)
    with pytest.raises(StorageError):
        ProfileStorage(ProfileDB(link), "default").get()


def test_main_prints_cached_token(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(config_dir)
    assert main(["token"]) == 0
    assert capsys.readouterr().out == "cached-access-token\n"
