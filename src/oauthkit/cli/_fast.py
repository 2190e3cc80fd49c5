"""The fast path of ``oauthkit token`` / ``oauthkit header``: a cached valid token.

Reads one row of the profiles database with :mod:`sqlite3` and :mod:`json` only: no
argparse, no credentials object, no HTTP client. Anything unusual (no database, a
symlink, an expired or nearly expired token, a corrupt row, an option it does not know)
returns ``None`` and the full command takes over (which refreshes, or reports the error).

The stored value is the classic credentials JSON (``OAuth2Credentials.to_json()``):
``access_token``, ``token_expiry`` as ``%Y-%m-%dT%H:%M:%SZ`` (UTC) and ``invalid``.
"""

from __future__ import annotations

import datetime
import os

__all__ = ["DB_NAME", "MIN_TOKEN_LIFE", "cached_token", "config_dir", "db_path", "fast_main"]

DB_NAME = "profiles.db"
DEFAULT_PROFILE = "default"
# A cached token is used as it is only with this much life left (seconds); else refresh.
MIN_TOKEN_LIFE = 60


def config_dir() -> str:
    """``$OAUTHKIT_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/oauthkit``, else the platform's
    per-user config directory (``~/.config/oauthkit``, ``~/Library/Application
    Support/oauthkit``, ``%APPDATA%\\oauthkit``)."""
    explicit = os.environ.get("OAUTHKIT_CONFIG_DIR")
    if explicit:
        return explicit
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:
        return os.path.join(xdg, "oauthkit")
    if os.name == "nt" and os.environ.get("APPDATA"):
        return os.path.join(os.environ["APPDATA"], "oauthkit")
    home = os.path.expanduser("~")
    if os.uname().sysname == "Darwin":
        return os.path.join(home, "Library", "Application Support", "oauthkit")
    return os.path.join(home, ".config", "oauthkit")


def db_path() -> str:
    return os.path.join(config_dir(), DB_NAME)


def parse_expiry(value: object) -> datetime.datetime | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` as aware UTC (without importing ``_strptime``)."""
    if not isinstance(value, str) or len(value) != 20 or value[-1] != "Z":
        return None
    if value[4] != "-" or value[7] != "-" or value[10] != "T" or value[13] != ":":
        return None
    try:
        return datetime.datetime(
            int(value[0:4]),
            int(value[5:7]),
            int(value[8:10]),
            int(value[11:13]),
            int(value[14:16]),
            int(value[17:19]),
            tzinfo=datetime.timezone.utc,
        )
    except ValueError:
        return None


def cached_token(profile: str) -> tuple[str, int] | None:
    """``(access_token, seconds_left)`` when the stored token has at least
    :data:`MIN_TOKEN_LIFE` seconds left; ``None`` otherwise. Reads the row's
    ``access_token``, ``expiry`` and ``invalid`` columns (kept in step with its credentials
    JSON by every write), so it needs no JSON parser."""
    import sqlite3
    import time

    path = db_path()
    if not os.path.isfile(path) or os.path.islink(path):
        return None
    try:
        conn = sqlite3.connect(path, timeout=30.0)
        try:
            row = conn.execute(
                "SELECT access_token, expiry, invalid FROM profiles WHERE name = ?", (profile,)
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    if row is None or not isinstance(row[0], str) or not row[0] or row[2]:
        return None
    if not isinstance(row[1], (int, float)):
        return None
    left = int(row[1] - time.time())
    if left < MIN_TOKEN_LIFE:
        return None
    return row[0], left


def fast_main(argv: list[str]) -> int | None:
    """Handle ``token``/``header`` [``--profile NAME``] [``--json``] from the cache; ``None``
    when the full command line must handle it."""
    if not argv or argv[0] not in ("token", "header"):
        return None
    profile = os.environ.get("OAUTHKIT_PROFILE") or DEFAULT_PROFILE
    as_json = False
    rest = argv[1:]
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--profile" and i + 1 < len(rest) and not rest[i + 1].startswith("-"):
            profile = rest[i + 1]
            i += 2
        elif arg.startswith("--profile=") and len(arg) > len("--profile="):
            profile = arg[len("--profile=") :]
            i += 1
        elif arg == "--json":
            as_json = True
            i += 1
        else:
            return None
    found = cached_token(profile)
    if found is None:
        return None
    token, left = found
    if as_json:
        import json

        key, value = (
            ("header", f"Authorization: Bearer {token}")
            if argv[0] == "header"
            else ("access_token", token)
        )
        print(json.dumps({"token_type": "Bearer", "expires_in": left, key: value}))
    elif argv[0] == "header":
        print(f"Authorization: Bearer {token}")
    else:
        print(token)
    return 0
