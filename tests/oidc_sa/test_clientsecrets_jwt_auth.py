"""``flow_from_clientsecrets`` with JWT client authentication (RFC 7523 §2.2): the client
secrets file names the method (and may leave out ``client_secret`` for ``private_key_jwt``),
the signing key is passed in, never read from or written to the file. Against the real
oidc-provider, which accepts only the registered method."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

import oauthkit
from oauthkit import clientsecrets
from oauthkit._jwt import SigningKey, load_private_key
from oauthkit.client import (
    FlowExchangeError,
    InvalidClientSecretsError,
    credentials_from_clientsecrets_and_code,
    flow_from_clientsecrets,
)
from tests.oidc.fixture import WEB_REDIRECT_URI, OidcServer, OidcServerFactory
from tests.oidc.useragent import ScriptedUserAgent
from tests.oidc_sa.keys import pem, rsa_key
from tests.oidc_sa.test_user_flow_jwt_auth import (
    JWT_SECRET,
    KID,
    SCOPE,
    assert_no_key_material,
    introspect,
    jwt_clients,
    signing_key,
)


def secrets_file(tmp_path: Path, server: OidcServer, **client: Any) -> str:
    section = {
        "redirect_uris": [WEB_REDIRECT_URI],
        "auth_uri": server.authorization_endpoint,
        "token_uri": server.token_endpoint,
        "revoke_uri": server.revocation_endpoint,
        "issuer": server.issuer,
        **client,
    }
    path = tmp_path / f"client_secrets_{client['client_id']}.json"
    path.write_text(json.dumps({"web": section}), encoding="utf-8")
    return str(path)


@pytest.mark.oidc
def test_flow_from_clientsecrets_with_jwt_client_auth(
    oidc_server_factory: OidcServerFactory, tmp_path: Path
) -> None:
    server = oidc_server_factory({"clients": jwt_clients()})
    files = {
        # no client_secret at all: private_key_jwt needs none
        "private_key_jwt": secrets_file(
            tmp_path,
            server,
            client_id="web-pkjwt",
            token_endpoint_auth_method="private_key_jwt",
        ),
        "client_secret_jwt": secrets_file(
            tmp_path,
            server,
            client_id="web-csjwt",
            client_secret=JWT_SECRET,
            token_endpoint_auth_method="client_secret_jwt",
        ),
    }
    for method, client_id in (("private_key_jwt", "web-pkjwt"), ("client_secret_jwt", "web-csjwt")):
        key = signing_key() if method == "private_key_jwt" else None
        flow = flow_from_clientsecrets(
            files[method],
            SCOPE,
            redirect_uri=WEB_REDIRECT_URI,
            prompt="consent",
            client_signing_key=key,
        )
        assert flow.token_endpoint_auth_method == method and flow.issuer == server.issuer
        url = flow.step1_get_authorize_url()
        assert_no_key_material(pickle.dumps(flow).decode("latin-1"))
        with ScriptedUserAgent(server.issuer) as agent:
            redirect = agent.authorize(url, login="alice")
        creds = flow.step2_exchange(redirect)  # oidc-provider accepts only `method` here
        assert creds.token_endpoint_auth_method == method and creds.issuer == server.issuer
        assert creds.id_token is not None and creds.id_token["sub"] == "alice"
        assert introspect(server, creds.access_token or "")["client_id"] == client_id
        assert_no_key_material(creds.to_json())
        old_refresh = creds.refresh_token
        creds.refresh()  # the credentials keep the method and the key
        assert creds.refresh_token not in (None, old_refresh)
        assert introspect(server, creds.access_token or "")["client_id"] == client_id


@pytest.mark.oidc
def test_flow_from_clientsecrets_key_is_what_the_server_checks(
    oidc_server_factory: OidcServerFactory, tmp_path: Path
) -> None:
    server = oidc_server_factory({"clients": jwt_clients()})
    # the method is implied by the key when the file does not name it
    path = secrets_file(tmp_path, server, client_id="web-pkjwt", client_secret="unused")
    wrong = load_private_key(pem(rsa_key(3)), kid=KID)
    flow = flow_from_clientsecrets(
        path, SCOPE, redirect_uri=WEB_REDIRECT_URI, client_signing_key=wrong
    )
    assert flow.token_endpoint_auth_method == "private_key_jwt"
    url = flow.step1_get_authorize_url()
    with ScriptedUserAgent(server.issuer) as agent:
        redirect = agent.authorize(url, login="alice")
    with pytest.raises(oauthkit.InvalidClientError) as info:
        flow.step2_exchange(redirect)  # signed with a key the client did not register
    assert isinstance(info.value, FlowExchangeError)
    assert_no_key_material(str(info.value))

    # the registered key, through credentials_from_clientsecrets_and_code (a code obtained
    # elsewhere, so without PKCE, as that classic helper sends none)
    flow = flow_from_clientsecrets(
        path, SCOPE, redirect_uri=WEB_REDIRECT_URI, pkce=False, client_signing_key=signing_key()
    )
    url = flow.step1_get_authorize_url()
    with ScriptedUserAgent(server.issuer) as agent:
        redirect = agent.authorize(url, login="alice")
    code = oauthkit._protocol.rfc6749.query_params(redirect.split("?", 1)[1])["code"]
    creds = credentials_from_clientsecrets_and_code(
        path,
        SCOPE,
        code,
        redirect_uri=WEB_REDIRECT_URI,
        client_signing_key=pem(rsa_key(4)),
    )
    assert creds.token_endpoint_auth_method == "private_key_jwt"
    assert introspect(server, creds.access_token or "")["client_id"] == "web-pkjwt"


# --- no server needed ---------------------------------------------------------------------


def offline_file(tmp_path: Path, **section: Any) -> str:
    data = {
        "client_id": "cid",
        "redirect_uris": [WEB_REDIRECT_URI],
        "auth_uri": "https://issuer.example/auth",
        "token_uri": "https://issuer.example/token",
        "issuer": "https://issuer.example",
        **section,
    }
    path = tmp_path / "client_secrets.json"
    path.write_text(json.dumps({"installed": data}), encoding="utf-8")
    return str(path)


def test_private_key_jwt_file_needs_the_key(tmp_path: Path) -> None:
    path = offline_file(tmp_path, token_endpoint_auth_method="private_key_jwt")
    with pytest.raises(oauthkit.ConfigurationError):
        flow_from_clientsecrets(path, SCOPE, redirect_uri=WEB_REDIRECT_URI)
    flow = flow_from_clientsecrets(
        path, SCOPE, redirect_uri=WEB_REDIRECT_URI, client_signing_key=signing_key()
    )
    assert isinstance(flow.client_signing_key, SigningKey) and flow.client_secret is None
    assert flow._client_auth().resolved_method == "private_key_jwt"


def test_client_secret_may_be_absent_only_for_secretless_methods(tmp_path: Path) -> None:
    for method in ("private_key_jwt", "none"):
        client_type, info = clientsecrets.loadfile(
            offline_file(tmp_path, token_endpoint_auth_method=method)
        )
        assert client_type == "installed" and "client_secret" not in info
    for section in (
        {},  # classic: a secret is required
        {"token_endpoint_auth_method": "client_secret_jwt"},
        {"token_endpoint_auth_method": "client_secret_basic"},
    ):
        with pytest.raises(InvalidClientSecretsError, match="client_secret"):
            clientsecrets.loadfile(offline_file(tmp_path, **section))
    with pytest.raises(InvalidClientSecretsError, match="token_endpoint_auth_method"):
        clientsecrets.loadfile(
            offline_file(tmp_path, client_secret="s", token_endpoint_auth_method=["none"])
        )
    with pytest.raises(InvalidClientSecretsError, match="client_secret"):
        clientsecrets.loadfile(  # a present secret is still checked
            offline_file(tmp_path, client_secret=None, token_endpoint_auth_method="none")
        )


def test_flow_from_clientsecrets_passes_max_age(tmp_path: Path) -> None:
    path = offline_file(tmp_path, client_secret="s")
    flow = flow_from_clientsecrets(path, SCOPE, redirect_uri=WEB_REDIRECT_URI, max_age=300)
    assert flow.max_age == 300
    assert "max_age=300" in flow.step1_get_authorize_url()
