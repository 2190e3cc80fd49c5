"""``oauthkit migrate``: an oauth2client file becomes an oauthkit store, as a subprocess."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

from oauthkit.client import OAuth2Credentials
from oauthkit.storage import SQLiteStore


def test_migrate_oauth2client_file_into_sqlite(tmp_path: Path) -> None:
    oauth2client = __import__("oauth2client.client", fromlist=["OAuth2Credentials"])
    theirs = oauth2client.OAuth2Credentials(
        "at", "cid", "sec", "rt", datetime.datetime(2030, 1, 1), "https://t.example/token", "ua"
    )
    source = tmp_path / "credentials.json"
    source.write_text(theirs.to_json())
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"_module": "os", "_class": "system"}')
    dest = tmp_path / "store.db"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "oauthkit",
            "migrate",
            str(source),
            str(bogus),
            "--to",
            f"sqlite:{dest}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr  # one source skipped
    assert "converted" in proc.stdout and "unknown_credentials_type" in proc.stdout
    store = SQLiteStore(str(dest))
    try:
        (key,) = list(store.keys())
        record = store.read(key)
        assert record is not None
        creds = OAuth2Credentials.new_from_json(record.data)
        assert isinstance(creds, OAuth2Credentials) and creds.refresh_token == "rt"
    finally:
        store.close()
