"""Run the real ``oidc-provider`` (npm, Node) on 127.0.0.1 for integration tests.

``start_oidc_server(config, tmp_dir)`` starts ``node tests/oidc/server.mjs`` on a free port and
returns an :class:`OidcServer`; the pytest fixtures ``oidc_server`` (session-scoped, default
config) and ``oidc_server_factory`` (function-scoped, config overrides) wrap it.

The Node dependencies are installed by ``bash .ci/install-oidc.sh``; without them the fixtures
raise (they never skip), so a missing install cannot pass silently.
"""

from __future__ import annotations

import copy
import json
import os
import selectors
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

OIDC_DIR = Path(__file__).resolve().parent
SERVER_SCRIPT = OIDC_DIR / "server.mjs"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
INSTALL_HINT = "run `bash .ci/install-oidc.sh` from the repository root"

# Loopback redirect URIs. Only `application_type: native` clients match these ignoring the
# port (RFC 8252 §7.3); the path must still match exactly, hence both `/callback` and `/`.
WEB_REDIRECT_URI = "https://client.example/callback"
LOOPBACK_REDIRECT_URIS = ("http://127.0.0.1/callback", "http://127.0.0.1/")

SCOPE = "openid email profile offline_access"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

# oidc-provider decodes client_secret_basic credentials per RFC 6749 §2.3.1
# (application/x-www-form-urlencoded, then base64): a client that sends these raw fails
# (`%` makes the decoder throw -> invalid_request). It rejects any client_secret outside
# VSCHAR (%x20-7E, RFC 6749 Appendix A) as invalid_client_metadata, so no non-ASCII here.
WEB_BASIC_SECRET = "web-basic:s3cr%t+plus sp&ce=~"
WEB_POST_SECRET = "web-post s3cr%t+&=:/?#"
NATIVE_BASIC_SECRET = "native-basic-secret"


def default_clients() -> list[dict[str, Any]]:
    """The clients every server gets unless the config says otherwise (fresh copies)."""
    code_grants = ["authorization_code", "refresh_token"]
    return [
        {
            # Confidential web client, client_secret_basic, special characters in the secret.
            "client_id": "web-basic",
            "client_secret": WEB_BASIC_SECRET,
            "token_endpoint_auth_method": "client_secret_basic",
            "application_type": "web",
            "redirect_uris": [WEB_REDIRECT_URI],
            "grant_types": [*code_grants, "client_credentials"],
            "response_types": ["code"],
            "scope": SCOPE,
        },
        {
            # Confidential web client, client_secret_post, form-encoding-sensitive secret.
            "client_id": "web-post",
            "client_secret": WEB_POST_SECRET,
            "token_endpoint_auth_method": "client_secret_post",
            "application_type": "web",
            "redirect_uris": [WEB_REDIRECT_URI],
            "grant_types": [*code_grants, "client_credentials"],
            "response_types": ["code"],
            "scope": SCOPE,
        },
        {
            # Confidential native client (loopback redirect on any port), client_secret_basic.
            "client_id": "native-basic",
            "client_secret": NATIVE_BASIC_SECRET,
            "token_endpoint_auth_method": "client_secret_basic",
            "application_type": "native",
            "redirect_uris": list(LOOPBACK_REDIRECT_URIS),
            "grant_types": code_grants,
            "response_types": ["code"],
            "scope": SCOPE,
        },
        {
            # Public native client: no secret, PKCE required, device flow allowed.
            "client_id": "public-native",
            "token_endpoint_auth_method": "none",
            "application_type": "native",
            "redirect_uris": list(LOOPBACK_REDIRECT_URIS),
            "grant_types": [*code_grants, DEVICE_CODE_GRANT],
            "response_types": ["code"],
            "scope": SCOPE,
        },
    ]


def default_config() -> dict[str, Any]:
    """The configuration of the ``oidc_server`` fixture (see server.mjs for every key)."""
    return {
        "clients": default_clients(),
        "rotateRefreshToken": True,
        "clockTolerance": 0,
        "alwaysIssueRefreshToken": False,
        "ttl": {"AccessToken": 3600},
    }


def merge_config(base: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """``base`` updated by ``overrides``; the ``ttl`` and ``resourceServers`` dicts merge
    key by key, everything else (including ``clients``) is replaced."""
    merged = copy.deepcopy(base)
    for key, value in (overrides or {}).items():
        if key in ("ttl", "resourceServers") and isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **copy.deepcopy(value)}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class OidcServer:
    """A running oidc-provider. Endpoint URLs come from its discovery document."""

    issuer: str
    port: int
    metadata: dict[str, Any]
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    revocation_endpoint: str
    introspection_endpoint: str
    device_authorization_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    clients: dict[str, dict[str, Any]]
    config: dict[str, Any]
    log_path: Path

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        config: dict[str, Any],
        log_path: Path,
    ) -> None:
        self._process = process
        self.pid = process.pid
        self.port = port
        self.issuer = f"http://127.0.0.1:{port}"
        self.config = config
        self.clients = {c["client_id"]: c for c in config.get("clients", [])}
        self.log_path = log_path

    def _load_metadata(self) -> None:
        url = f"{self.issuer}/.well-known/openid-configuration"
        with httpx.Client(trust_env=False, timeout=10.0) as http:
            response = http.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"oidc-provider discovery answered {response.status_code}: {url}")
        self.metadata = response.json()
        if self.metadata.get("issuer") != self.issuer:
            raise RuntimeError(
                f"oidc-provider issuer {self.metadata.get('issuer')!r} != {self.issuer!r}"
            )
        self.authorization_endpoint = self.metadata["authorization_endpoint"]
        self.token_endpoint = self.metadata["token_endpoint"]
        self.userinfo_endpoint = self.metadata["userinfo_endpoint"]
        self.revocation_endpoint = self.metadata["revocation_endpoint"]
        self.introspection_endpoint = self.metadata["introspection_endpoint"]
        self.device_authorization_endpoint = self.metadata["device_authorization_endpoint"]
        self.jwks_uri = self.metadata["jwks_uri"]
        self.end_session_endpoint = self.metadata.get("end_session_endpoint")

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def log(self) -> str:
        """What the server wrote on stderr so far (oidc-provider's errors and warnings)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """SIGTERM the server process (this PID only), SIGKILL it if it lingers. Idempotent."""
        process = self._process
        try:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        finally:
            for pipe in (process.stdin, process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()

    def __enter__(self) -> OidcServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"OidcServer(issuer={self.issuer!r}, pid={self.pid})"


def _node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("`node` (Node.js 20+) is not on PATH; it is needed for oidc-provider")
    return node


def _check_installed() -> None:
    if not (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        raise RuntimeError(
            f"oidc-provider is not installed in {OIDC_DIR / 'node_modules'}: {INSTALL_HINT}"
        )


def _read_listening_port(process: subprocess.Popen[bytes], log_path: Path) -> int:
    """Read stdout until ``LISTENING <port>``; raise with the server's stderr on exit/timeout."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    buffer = b""

    def failure(reason: str) -> RuntimeError:
        try:
            log = log_path.read_text(encoding="utf-8", errors="replace").strip()
        except FileNotFoundError:
            log = ""
        return RuntimeError(f"oidc-provider {reason}; its stderr:\n{log or '(empty)'}")

    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise failure(f"did not report LISTENING within {STARTUP_TIMEOUT:.0f} s")
            if not selector.select(timeout=remaining):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                process.wait(timeout=STOP_TIMEOUT)
                raise failure(f"exited with status {process.returncode} before listening")
            buffer += chunk

    line = buffer.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    word, _, port = line.partition(" ")
    if word != "LISTENING" or not port.isdigit():
        raise failure(f"printed {line!r} instead of 'LISTENING <port>'")
    return int(port)


def start_oidc_server(config: dict[str, Any], tmp_dir: Path) -> OidcServer:
    """Start oidc-provider with ``config`` (written to ``tmp_dir/config.json``).

    ``config`` keys are those of server.mjs; without ``clients`` the server gets
    :func:`default_clients`. The server's stderr goes to ``tmp_dir/server.log``.
    """
    _check_installed()
    node = _node_executable()
    config = copy.deepcopy(config)
    config.setdefault("clients", default_clients())

    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    config_path = tmp_dir / "config.json"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    log_path = tmp_dir / "server.log"

    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            # --exit-with-stdin: the server also exits when our end of its stdin closes, so it
            # cannot outlive this process even if this process dies without calling stop().
            [node, str(SERVER_SCRIPT), str(config_path), "--exit-with-stdin"],
            cwd=OIDC_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
        )

    server: OidcServer | None = None
    try:
        port = _read_listening_port(process, log_path)
        server = OidcServer(process, port, config, log_path)
        server._load_metadata()
    except BaseException:
        if server is None:
            server = OidcServer(process, 0, config, log_path)
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    """One oidc-provider for the session: default clients, rotation on, AccessToken TTL 3600 s."""
    server = start_oidc_server(default_config(), tmp_path_factory.mktemp("oidc-server"))
    try:
        yield server
    finally:
        server.stop()


OidcServerFactory = Callable[..., OidcServer]


@pytest.fixture
def oidc_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OidcServerFactory]:
    """``oidc_server_factory(overrides=None)`` starts a dedicated server whose config is
    :func:`default_config` merged with ``overrides`` (see :func:`merge_config`), e.g.
    ``{"ttl": {"AccessToken": 2}, "rotateRefreshToken": False}``. Servers stop at teardown."""
    started: list[OidcServer] = []

    def factory(overrides: dict[str, Any] | None = None) -> OidcServer:
        config = merge_config(default_config(), overrides)
        server = start_oidc_server(config, tmp_path_factory.mktemp("oidc-server"))
        started.append(server)
        return server

    try:
        yield factory
    finally:
        for server in reversed(started):
            server.stop()
