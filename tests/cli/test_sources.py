"""Service-account key files and Application Default Credentials as sources of the
``oauthkit`` command (RFC 7523 JWT bearer against a real HTTP token endpoint)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from oauthkit.cli import EXIT_USAGE, main
from tests.cli.test_cli import expire
from tests.oidc_sa.keys import EMAIL, keyfile, rsa_key
from tests.oidc_sa.servers import JwtBearerServer

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@pytest.fixture
def endpoint() -> Iterator[JwtBearerServer]:
    with JwtBearerServer(rsa_key().public_key()) as server:
        yield server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_service_account_profile(
    endpoint: JwtBearerServer,
    config_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = tmp_path / "key.json"
    key.write_text(json.dumps(keyfile(endpoint.token_uri)))
    code, out, err = run(
        capsys, "login", "--profile", "sa", "--service-account", str(key), "--scope", SCOPE
    )
    assert code == 0, err
    assert f"logged in as {EMAIL}" in out
    code, token, _ = run(capsys, "token", "--profile", "sa")
    assert code == 0 and token.strip() == "sa-token-1"
    expire(config_dir, "sa")
    code, token, err = run(capsys, "token", "--profile", "sa")
    assert code == 0, err
    assert token.strip() == "sa-token-2"  # a new assertion, through the store
    code, status, _ = run(capsys, "status", "--profile", "sa", "--json")
    assert json.loads(status)["subject"] == EMAIL and "sa-token" not in status
    code, _, err = run(capsys, "login", "--service-account", str(key), "--adc")
    assert code == EXIT_USAGE


def test_application_default_credentials_profile(
    endpoint: JwtBearerServer,
    config_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = tmp_path / "adc.json"
    key.write_text(json.dumps(keyfile(endpoint.token_uri)))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    code, _, err = run(capsys, "login", "--profile", "adc", "--adc", "--scope", SCOPE)
    assert code == 0, err
    code, token, _ = run(capsys, "token", "--profile", "adc")
    assert token.strip() == "sa-token-1"
