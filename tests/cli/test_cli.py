"""The ``oauthkit`` command against oidc-provider: in-process (``main(argv)``) and as
subprocesses (``python -m oauthkit``), each login mode, token refresh through the store
(single-flight across processes), exit codes, and no token where it must not be."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from oauthkit.cli import EXIT_REAUTH, EXIT_USAGE, main
from tests.oidc.fixture import NATIVE_BASIC_SECRET, OidcServer
from tests.oidc.useragent import ScriptedUserAgent

pytestmark = pytest.mark.oidc

SCOPE = "openid email offline_access"


def login_args(server: OidcServer, profile: str, client: str = "native-basic") -> list[str]:
    args = ["login", "--profile", profile, "--client-id", client, "--issuer", server.issuer]
    if client == "native-basic":
        args += ["--client-secret", NATIVE_BASIC_SECRET]
    return [*args, "--scope", SCOPE, "--prompt", "consent"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli(
    *argv: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oauthkit", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def subprocess_env(config_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "BROWSER", "SSH_TTY")}
    env["OAUTHKIT_CONFIG_DIR"] = str(config_dir)
    return env


def expire(config_dir: Path, profile: str) -> None:
    """Make the stored access token expired (as time passing would)."""
    db = sqlite3.connect(config_dir / "profiles.db")
    try:
        with db:
            (raw,) = db.execute(
                "SELECT credentials FROM profiles WHERE name = ?", (profile,)
            ).fetchone()
            data = json.loads(raw)
            data["token_expiry"] = "2000-01-01T00:00:00Z"
            db.execute(
                "UPDATE profiles SET credentials = ?, expiry = 946684800 WHERE name = ?",
                (json.dumps(data), profile),
            )
    finally:
        db.close()


def userinfo(server: OidcServer, token: str) -> dict[str, Any]:
    with httpx.Client(trust_env=False) as http:
        r = http.get(server.userinfo_endpoint, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_loopback_login_then_every_command_in_process(
    oidc_server: OidcServer,
    scripted_browser: Path,
    config_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, *login_args(oidc_server, "work"), "--auth_host_port", "0")
    assert code == 0, err
    assert "logged in as alice: profile 'work'" in out
    assert "Your browser has been opened to visit" in err  # the URL is printed too
    assert re.search(r"http://127\.0\.0\.1:\d+/auth\?", err)
    db = config_dir / "profiles.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600

    code, token, _ = run(capsys, "token", "--profile", "work")
    token = token.strip()
    assert code == 0 and userinfo(oidc_server, token)["sub"] == "alice"
    code, header, _ = run(capsys, "header", "--profile", "work")
    assert header.strip() == f"Authorization: Bearer {token}"
    code, out, _ = run(capsys, "token", "--profile", "work", "--json")
    assert json.loads(out)["access_token"] == token and json.loads(out)["expires_in"] > 3000

    code, status, _ = run(capsys, "status", "--profile", "work")
    assert code == 0 and "alice" in status and "refresh token: yes" in status
    code, status_json, _ = run(capsys, "status", "--profile", "work", "--json")
    info = json.loads(status_json)
    assert info["scopes"] == ["email", "offline_access", "openid"] and not info["expired"]
    code, listing, _ = run(capsys, "list")
    assert listing.startswith("work\tnative-basic\tvalid")
    code, listing_json, _ = run(capsys, "list", "--json")
    assert [p["profile"] for p in json.loads(listing_json)] == ["work"]
    for text in (status, status_json, listing, listing_json):
        assert token not in text  # status and list never print the token

    # expired: `token` refreshes through the store (rotation kept), and saves
    expire(config_dir, "work")
    code, fresh, _ = run(capsys, "token", "--profile", "work")
    fresh = fresh.strip()
    assert code == 0 and fresh != token and userinfo(oidc_server, fresh)["sub"] == "alice"
    code, again, _ = run(capsys, "token", "--profile", "work")
    assert again.strip() == fresh  # cached now

    code, out, _ = run(capsys, "revoke", "--profile", "work")
    assert code == 0 and "revoked" in out
    code, _, err = run(capsys, "token", "--profile", "work")
    assert code == EXIT_REAUTH and "oauthkit login --profile work" in err
    code, out, _ = run(capsys, "logout", "--profile", "work", "--json")
    assert json.loads(out) == {"profile": "work", "removed": False}


def test_usage_and_authorize_again_exit_codes(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "login", "--profile", "x", "--scope", "openid")
    assert code == EXIT_USAGE and "login needs a client" in err
    code, _, err = run(capsys, "token")
    assert code == EXIT_REAUTH and "no credentials for profile 'default'" in err
    code, _, err = run(capsys, "status", "--json")
    assert code == EXIT_REAUTH and "error" in json.loads(err)
    with pytest.raises(SystemExit) as info:
        main(["token", "--no-such-option"])
    assert info.value.code == EXIT_USAGE
    code, _, err = run(capsys, "curl", "--profile", "x")
    assert code == EXIT_USAGE


def test_invalid_grant_means_authorize_again(
    oidc_server: OidcServer,
    scripted_browser: Path,
    config_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(capsys, *login_args(oidc_server, "p"), "--auth_host_port", "0")[0] == 0
    code, token, _ = run(capsys, "token", "--profile", "p")
    # revoked at the server behind our back (another device, an admin...)
    with httpx.Client(trust_env=False) as http:
        r = http.post(
            oidc_server.revocation_endpoint,
            data={"token": token.strip()},
            auth=("native-basic", NATIVE_BASIC_SECRET),
        )
    assert r.status_code == 200
    expire(config_dir, "p")
    code, out, err = run(capsys, "token", "--profile", "p")
    assert code == EXIT_REAUTH, err
    assert out == "" and "invalid_grant" in err and "oauthkit login" in err
    code, status, _ = run(capsys, "status", "--profile", "p")
    assert code == EXIT_REAUTH and "INVALID" in status


def test_subprocess_paste_login_token_curl_and_single_flight(
    oidc_server: OidcServer, config_dir: Path
) -> None:
    env = subprocess_env(config_dir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "oauthkit", *login_args(oidc_server, "cli"), "--mode", "paste"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    url = None
    for line in proc.stderr:
        if re.match(r"^    http://127\.0\.0\.1:\d+/auth\?", line):
            url = line.strip()
        if line.startswith("Redirect URL:"):
            break
    assert url is not None and "urn:ietf:wg:oauth:2.0:oob" not in url
    with ScriptedUserAgent(oidc_server.issuer) as agent:
        redirect = agent.authorize(url)
    out, err = proc.communicate(redirect + "\n", timeout=60)
    proc.stderr.close()
    assert proc.returncode == 0, err
    assert "logged in as alice" in out

    token = cli("token", "--profile", "cli", env=env)
    assert token.returncode == 0 and userinfo(oidc_server, token.stdout.strip())["sub"] == "alice"
    curl = cli("curl", "--profile", "cli", "--", "-s", oidc_server.userinfo_endpoint, env=env)
    assert curl.returncode == 0 and json.loads(curl.stdout)["sub"] == "alice"

    # four processes on expired credentials: one refresh (oidc-provider rotates refresh
    # tokens and revokes the grant on reuse, so a second refresh would fail them all)
    expire(config_dir, "cli")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "oauthkit", "token", "--profile", "cli"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], results
    tokens = {out.strip() for out, _ in results}
    assert len(tokens) == 1
    assert userinfo(oidc_server, tokens.pop())["sub"] == "alice"


def test_subprocess_device_login_chosen_without_display(
    oidc_server: OidcServer, config_dir: Path
) -> None:
    env = subprocess_env(config_dir)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oauthkit",
            *login_args(oidc_server, "dev", "public-native"),
            "--json",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    seen: list[str] = []
    uri = code = None
    for line in proc.stderr:
        seen.append(line)
        if line.strip().startswith("http://"):
            uri = line.strip()
        found = re.search(r"enter the code: (\S+)", line)
        if found:
            code = found.group(1)
            break
    assert uri and code, "".join(seen)
    with ScriptedUserAgent(oidc_server.issuer) as agent:
        agent.device_login(uri, code)
    out, err = proc.communicate(timeout=60)
    proc.stderr.close()
    assert proc.returncode == 0, err
    assert json.loads(out)["subject"] == "alice"
    token = cli("token", "--profile", "dev", env=env)
    assert userinfo(oidc_server, token.stdout.strip())["sub"] == "alice"


def test_login_from_a_client_secrets_file(
    oidc_server: OidcServer,
    scripted_browser: Path,
    config_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secrets_file = tmp_path / "client_secrets.json"
    secrets_file.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": "native-basic",
                    "client_secret": NATIVE_BASIC_SECRET,
                    "redirect_uris": ["http://127.0.0.1/callback"],
                    "auth_uri": oidc_server.authorization_endpoint,
                    "token_uri": oidc_server.token_endpoint,
                    "revoke_uri": oidc_server.revocation_endpoint,
                    "issuer": oidc_server.issuer,
                }
            }
        )
    )
    argv = ["login", "--client-secrets", str(secrets_file), "--scope", "openid email"]
    code, out, err = run(capsys, *argv, "--auth_host_port", "0", "--json")
    assert code == 0, err
    assert json.loads(out)["subject"] == "alice"
    assert "%2Fcallback" in err  # the registered loopback path is kept
    assert NATIVE_BASIC_SECRET not in out + err
    # settings are remembered: a second login needs only the profile
    code, out, err = run(capsys, "login", "--auth_host_port", "0")
    assert code == 0, err
    assert "profile 'default'" in out
