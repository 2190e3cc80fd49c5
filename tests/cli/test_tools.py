"""oauthkit.tools: argparser and run_flow in each mode, against oidc-provider.

The loopback mode uses a real $BROWSER (tests/cli/scripted_browser.py) that logs in at
oidc-provider and follows the redirect to the loopback server over HTTP; the device mode
does the user's side with ScriptedUserAgent on a thread woken by the printed user code;
paste mode reads the URL through ``read_line``.
"""

from __future__ import annotations

import argparse
import io
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from oauthkit import tools
from oauthkit._errors import AuthorizationError
from oauthkit._webflow import OAuth2WebServerFlow
from oauthkit.cli._profiles import ProfileDB, ProfileStorage
from tests.oidc.fixture import NATIVE_BASIC_SECRET, OidcServer
from tests.oidc.useragent import ScriptedUserAgent

SCOPE = "openid email offline_access"


def flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(parents=[tools.argparser])
    return parser.parse_args(list(argv))


def native_flow(
    server: OidcServer, client_id: str = "native-basic", **kw: Any
) -> OAuth2WebServerFlow:
    secret = NATIVE_BASIC_SECRET if client_id == "native-basic" else None
    options: dict[str, Any] = {
        "auth_uri": server.authorization_endpoint,
        "token_uri": server.token_endpoint,
        "revoke_uri": server.revocation_endpoint,
        "device_uri": server.device_authorization_endpoint,
        "issuer": server.issuer,
        "prompt": "consent",
    }
    options.update(kw)
    return OAuth2WebServerFlow(client_id, secret, SCOPE, **options)


class Out(io.StringIO):
    """A text stream that sets an event when a pattern appears."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = re.compile(pattern)
        self.match: re.Match[str] | None = None
        self.seen = threading.Event()

    def write(self, s: str) -> int:
        n = super().write(s)
        if not self.seen.is_set():
            self.match = self.pattern.search(self.getvalue())
            if self.match:
                self.seen.set()
        return n


def test_argparser_classic_flags() -> None:
    f = flags()
    assert f.auth_host_name == "127.0.0.1"
    assert f.auth_host_port == [8080, 8090]
    assert f.noauth_local_webserver is False
    assert f.logging_level == "ERROR"
    f = flags("--auth_host_port", "0", "--noauth_local_webserver", "--logging_level", "DEBUG")
    assert f.auth_host_port == [0] and f.noauth_local_webserver
    assert "client_secrets.json" in tools.message_if_missing("client_secrets.json")


def test_choose_mode_by_environment() -> None:
    class F:
        device_uri = "https://as.example/device"

    class NoDevice:
        device_uri = None

    assert tools.choose_mode(F(), flags(), {"BROWSER": "x", "SSH_TTY": "/dev/pts/0"}) == "loopback"
    assert tools.choose_mode(F(), flags(), {"SSH_CONNECTION": "1 2 3 4"}) == "device"
    assert tools.choose_mode(NoDevice(), flags(), {"SSH_CONNECTION": "1 2 3 4"}) == "paste"
    assert tools.choose_mode(F(), flags("--noauth_local_webserver"), {"BROWSER": "x"}) == "device"
    if tools.sys.platform.startswith("linux"):
        assert tools.choose_mode(F(), flags(), {}) == "device"  # no display
        assert tools.choose_mode(F(), flags(), {"DISPLAY": ":0"}) == "loopback"


@pytest.mark.oidc
def test_run_flow_loopback_survives_hostile_requests(
    oidc_server: OidcServer,
    scripted_browser: Path,
    config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OAUTHKIT_TEST_HOSTILE", "1")
    storage = ProfileStorage(ProfileDB(config_dir / "profiles.db"), "p")
    out = io.StringIO()
    flow = native_flow(oidc_server, redirect_uri="http://127.0.0.1/callback")
    credentials = tools.run_flow(flow, storage, flags("--auth_host_port", "0"), out=out, timeout=60)
    text = out.getvalue()
    url = re.search(r"^    (http://\S+/auth\?\S+)$", text, re.M)
    assert url is not None, text  # the URL is always printed
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in url.group(1)
    assert "%2Fcallback" in url.group(1)  # the flow's registered path is kept
    assert "oob" not in url.group(1)
    log = dict(line.split(" ", 1) for line in scripted_browser.read_text().splitlines())
    assert log["wrong-path"] == "404"
    assert log["missing-state"] == "400"
    assert log["wrong-state"] == "400"
    assert log["callback"] == "200"
    assert log["second-callback"] in ("409", "closed")
    assert credentials.id_token is not None and credentials.id_token["sub"] == "alice"
    assert credentials.store is storage
    stored = storage.get()
    assert stored is not None and stored.access_token == credentials.access_token
    assert credentials.access_token not in text and (credentials.refresh_token or "x") not in text


@pytest.mark.oidc
def test_run_flow_device_grant(oidc_server: OidcServer, config_dir: Path) -> None:
    out = Out(r"visit:\s+(\S+)\s+and enter the code: (\S+)")
    flow = native_flow(oidc_server, "public-native")

    def user() -> None:
        assert out.seen.wait(30)
        assert out.match is not None
        with ScriptedUserAgent(oidc_server.issuer) as agent:
            agent.device_login(out.match.group(1), out.match.group(2))

    thread = threading.Thread(target=user)
    thread.start()
    try:
        credentials = tools.run_flow(flow, None, flags("--noauth_local_webserver"), out=out)
    finally:
        thread.join()
    assert credentials.refresh_token
    assert "urn:ietf:wg:oauth:2.0:oob" not in out.getvalue()


@pytest.mark.oidc
def test_run_flow_paste_mode_checks_state(oidc_server: OidcServer, config_dir: Path) -> None:
    flow = native_flow(oidc_server, device_uri=None)
    out = io.StringIO()
    pasted: list[str] = []

    def read_line() -> str:
        url = re.search(r"^    (http://\S+/auth\?\S+)$", out.getvalue(), re.M)
        assert url is not None
        if not pasted:
            pasted.append("the-code-only")  # not a URL: asked again
            return pasted[-1]
        with ScriptedUserAgent(oidc_server.issuer) as agent:
            redirect = agent.authorize(url.group(1))
        pasted.append(redirect)
        return redirect

    credentials = tools.run_flow(
        flow, None, flags("--noauth_local_webserver"), out=out, read_line=read_line
    )
    assert credentials.access_token
    assert pasted[-1].startswith("http://127.0.0.1:8080/?code=")
    assert "Paste the whole URL" in out.getvalue()

    # a redirect URL from another flow (its state) is refused
    other = native_flow(oidc_server, device_uri=None)
    with ScriptedUserAgent(oidc_server.issuer) as agent:
        stale = agent.authorize(
            other.step1_get_authorize_url(redirect_uri="http://127.0.0.1:8080/")
        )
    with pytest.raises(AuthorizationError) as info:
        tools.run_flow(
            native_flow(oidc_server, device_uri=None),
            None,
            flags("--noauth_local_webserver"),
            out=io.StringIO(),
            read_line=lambda: stale,
        )
    assert info.value.error == "state_mismatch"


@pytest.mark.oidc
def test_device_unavailable_falls_back_to_paste(oidc_server: OidcServer, config_dir: Path) -> None:
    # native-basic is not allowed the device grant: paste mode takes over
    out = io.StringIO()
    flow = native_flow(oidc_server)

    def read_line() -> str:
        url = re.search(r"^    (http://\S+/auth\?\S+)$", out.getvalue(), re.M)
        assert url is not None
        with ScriptedUserAgent(oidc_server.issuer) as agent:
            return agent.authorize(url.group(1))

    credentials = tools.run_flow(
        flow, None, flags("--noauth_local_webserver"), out=out, read_line=read_line
    )
    assert credentials.access_token
    assert "using paste mode" in out.getvalue()
