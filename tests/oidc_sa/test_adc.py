"""Application Default Credentials: the environment variable, gcloud's well-known file,
and the GCE metadata server (a local server speaking its protocol)."""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import oauthkit
from oauthkit._adc import GceCredentials
from oauthkit.client import (
    ApplicationDefaultCredentialsError,
    Credentials,
    GoogleCredentials,
    save_to_well_known_file,
)
from oauthkit.service_account import ServiceAccountCredentials
from tests.oidc_sa.keys import keyfile, rsa_key
from tests.oidc_sa.servers import JwtBearerServer, MetadataServer
from tests.scripted_server import ScriptedServer

USER = {
    "type": "authorized_user",
    "client_id": "gcloud-client",
    "client_secret": "gcloud-secret",
    "refresh_token": "gcloud-refresh",
    "quota_project_id": "quota-proj",
}


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ambient credentials: an empty gcloud dir, no env file, no metadata server."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", closed_port())
    return tmp_path / "gcloud"


@pytest.fixture
def metadata(monkeypatch: pytest.MonkeyPatch) -> Iterator[MetadataServer]:
    with MetadataServer() as server:
        yield server


def test_nothing_found(clean_env: Path) -> None:
    with pytest.raises(ApplicationDefaultCredentialsError):
        GoogleCredentials.get_application_default()
    with pytest.raises(oauthkit.ConfigurationError):
        oauthkit.default()


def test_env_var_service_account(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with JwtBearerServer(rsa_key().public_key()) as endpoint:
        path = clean_env.parent / "sa.json"
        path.write_text(json.dumps(keyfile(endpoint.token_uri)))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
        classic = GoogleCredentials.get_application_default()
        assert isinstance(classic, ServiceAccountCredentials)
        assert classic.create_scoped_required()
        creds, project = oauthkit.default(["https://www.googleapis.com/auth/cloud-platform"])
        assert project == "test-project"
        assert isinstance(creds, ServiceAccountCredentials)
        assert creds.get_access_token().access_token == "sa-token-1"
        assert endpoint.claims[0]["scope"] == "https://www.googleapis.com/auth/cloud-platform"


def test_env_var_pointing_at_a_bad_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = clean_env.parent / "bad.json"
    path.write_text(json.dumps({"type": "external_account"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    with pytest.raises(ApplicationDefaultCredentialsError):
        oauthkit.default()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(clean_env.parent / "missing.json"))
    with pytest.raises(ApplicationDefaultCredentialsError):
        oauthkit.default()


def test_well_known_file_authorized_user_refreshes(clean_env: Path) -> None:
    with ScriptedServer() as server:
        clean_env.mkdir()
        data = {**USER, "refresh_token": server.refresh_token, "token_uri": server.url + "/token"}
        (clean_env / "application_default_credentials.json").write_text(json.dumps(data))
        creds = GoogleCredentials.get_application_default()
        assert isinstance(creds, GoogleCredentials) and not creds.create_scoped_required()
        assert creds.get_access_token().access_token
        assert server.count("/token") == 1
        again, project = oauthkit.default()
        assert project == "quota-proj" and isinstance(again, GoogleCredentials)
        stored = Credentials.new_from_json(creds.to_json())
        assert isinstance(stored, GoogleCredentials)


def test_well_known_file_service_account(clean_env: Path) -> None:
    clean_env.mkdir()
    (clean_env / "application_default_credentials.json").write_text(
        json.dumps(keyfile("https://oauth2.googleapis.com/token"))
    )
    creds, project = oauthkit.default()
    assert isinstance(creds, ServiceAccountCredentials) and project == "test-project"


def test_gce_metadata_server(
    clean_env: Path, metadata: MetadataServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GCE_METADATA_HOST", metadata.host)
    creds, project = oauthkit.default(["scope-a", "scope-b"])
    assert isinstance(creds, GceCredentials) and project == "test-project"
    assert creds.get_access_token().access_token == "gce-token-1"
    token_requests = [r for r in metadata.requests if "/token" in r[1]]
    assert token_requests[0][1].endswith("?scopes=scope-a,scope-b")
    assert all(r[2].get("metadata-flavor") == "Google" for r in metadata.requests)
    classic = GoogleCredentials.get_application_default()
    assert isinstance(classic, GceCredentials)
    with creds.authorize(httpx.Client()) as client:  # the token is usable as Bearer
        assert client.auth is not None


def test_metadata_answers_without_the_flavor_header_are_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MetadataServer(send_flavor=False) as impostor:
        monkeypatch.setenv("GCE_METADATA_HOST", impostor.host)
        with pytest.raises(ApplicationDefaultCredentialsError):
            oauthkit.default()  # the ping is not believed
        creds = GceCredentials(metadata_base=impostor.url)
        with pytest.raises(oauthkit.OAuthError) as info:
            creds.get_access_token()
        assert "Metadata-Flavor" in str(info.value)


def test_save_to_well_known_file(clean_env: Path, tmp_path: Path) -> None:
    creds = GoogleCredentials(None, "cid", "csecret", "rtok", None, "https://x/token", None)
    save_to_well_known_file(creds)
    path = clean_env / "application_default_credentials.json"
    assert json.loads(path.read_text()) == {
        "type": "authorized_user",
        "client_id": "cid",
        "client_secret": "csecret",
        "refresh_token": "rtok",
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = GoogleCredentials.get_application_default()
    assert isinstance(loaded, GoogleCredentials) and loaded.refresh_token == "rtok"
    target = tmp_path / "elsewhere.json"
    save_to_well_known_file(creds, str(target))
    assert target.exists()
    link = tmp_path / "link.json"
    os.symlink(target, link)
    with pytest.raises(oauthkit.ConfigurationError):
        save_to_well_known_file(creds, str(link))


def test_service_account_round_trips_through_the_well_known_file(
    clean_env: Path,
) -> None:
    sa = ServiceAccountCredentials.from_json_keyfile_dict(keyfile("https://o.example/token"))
    save_to_well_known_file(sa)
    loaded: Any = GoogleCredentials.get_application_default()
    assert loaded.service_account_email == sa.service_account_email
