"""End to end in a real headless Chromium (Debian's /usr/bin/chromium, driven by
playwright-core; installed by .ci/install-browser.sh): ``tools.run_flow`` opens the
"system browser" through ``$BROWSER``, Chromium logs in and consents at oidc-provider and
lands on the loopback redirect; then ``oauthkit token`` (a subprocess) prints a token that
the server's userinfo endpoint accepts.

No skip: a missing browser or driver fails the test, with the command that installs them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import webbrowser
from pathlib import Path

import httpx
import pytest

from oauthkit import tools
from oauthkit._webflow import OAuth2WebServerFlow
from oauthkit.cli._profiles import ProfileDB, ProfileStorage
from tests.oidc.fixture import NATIVE_BASIC_SECRET, OidcServer

HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = "run `bash .ci/install-browser.sh` from the repository root"

pytestmark = pytest.mark.oidc


def require_browser() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: {INSTALL_HINT}")
    if not (HERE / "node_modules" / "playwright-core" / "package.json").is_file():
        pytest.fail(f"playwright-core is not installed in tests/e2e: {INSTALL_HINT}")


def test_run_flow_in_headless_chromium_then_oauthkit_token(
    oidc_server: OidcServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_browser()
    config_dir = tmp_path / "config"
    monkeypatch.setenv("OAUTHKIT_CONFIG_DIR", str(config_dir))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(150)
        monkeypatch.setenv("BROWSER", f"sh {HERE / 'browser.sh'} %s")
        monkeypatch.setenv("OAUTHKIT_E2E_REPORT_PORT", str(listener.getsockname()[1]))
        monkeypatch.setenv("OAUTHKIT_E2E_LOG", str(tmp_path / "browser.log"))
        monkeypatch.setattr(webbrowser, "_tryorder", None)
        monkeypatch.setattr(webbrowser, "_browsers", {})

        flow = OAuth2WebServerFlow(
            "native-basic",
            NATIVE_BASIC_SECRET,
            "openid email offline_access",
            redirect_uri="http://127.0.0.1/callback",
            auth_uri=oidc_server.authorization_endpoint,
            token_uri=oidc_server.token_endpoint,
            revoke_uri=oidc_server.revocation_endpoint,
            issuer=oidc_server.issuer,
            prompt="consent",
        )
        storage = ProfileStorage(ProfileDB(config_dir / "profiles.db"), "e2e")
        flags = argparse.ArgumentParser(parents=[tools.argparser]).parse_args(
            ["--auth_host_port", "0"]
        )
        out = io.StringIO()
        try:
            credentials = tools.run_flow(flow, storage, flags, out=out, timeout=150)
        finally:
            # the driver reports once it has closed Chromium (whatever happened)
            conn, _ = listener.accept()
            with conn, conn.makefile("r", encoding="utf-8") as reader:
                report = json.loads(reader.readline() or "{}")
        log = (tmp_path / "browser.log").read_text() if (tmp_path / "browser.log").exists() else ""
        assert report.get("ok"), f"{report}\n{log}\n{out.getvalue()}"
    assert report["redirectOrigin"].startswith("http://127.0.0.1:")
    assert report["text"].startswith("Sign-in complete")
    assert all(
        not o.startswith(("http://127.0.0.1", "http://localhost")) for o in report["blocked"]
    )
    assert credentials.id_token is not None and credentials.id_token["sub"] == "alice"

    env = dict(os.environ, OAUTHKIT_CONFIG_DIR=str(config_dir))
    proc = subprocess.run(
        [sys.executable, "-m", "oauthkit", "token", "--profile", "e2e"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    assert token == credentials.access_token
    with httpx.Client(trust_env=False) as http:
        me = http.get(oidc_server.userinfo_endpoint, headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["sub"] == "alice"
