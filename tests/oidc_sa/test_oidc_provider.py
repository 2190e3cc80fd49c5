"""Against a real oidc-provider: private_key_jwt and client_secret_jwt clients with the
client credentials grant, discovery, JWKS, and fully validated ID tokens from the code flow
and from refresh (OIDC Core §3.1.3.7, §12.2), and UserInfo with the ``sub`` check."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

import oauthkit
from oauthkit import ClientCredentials, IdTokenError, IdTokenVerifier, fetch_userinfo
from oauthkit._jwt import load_private_key
from oauthkit._protocol.rfc6749 import ClientAuth
from oauthkit.client import OAuth2WebServerFlow
from tests.oidc.fixture import (
    NATIVE_BASIC_SECRET,
    WEB_BASIC_SECRET,
    WEB_REDIRECT_URI,
    OidcServer,
    OidcServerFactory,
    default_clients,
)
from tests.oidc.useragent import ScriptedUserAgent
from tests.oidc_sa.keys import pem, rsa_key

pytestmark = pytest.mark.oidc

JWT_SECRET = "client-secret-jwt-" + "k" * 40  # HS256 wants >= 32 octets


@pytest.fixture(scope="module")
def jwt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    from tests.oidc.fixture import default_config, merge_config, start_oidc_server

    key = load_private_key(pem(rsa_key(4)), kid="client-key-1")
    clients = [
        *default_clients(),
        {
            "client_id": "pkjwt",
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "RS256",
            "jwks": {"keys": [key.public_jwk()]},
            "grant_types": ["client_credentials"],
            "redirect_uris": [],
            "response_types": [],
        },
        {
            "client_id": "csjwt",
            "client_secret": JWT_SECRET,
            "token_endpoint_auth_method": "client_secret_jwt",
            "token_endpoint_auth_signing_alg": "HS256",
            "grant_types": ["client_credentials"],
            "redirect_uris": [],
            "response_types": [],
        },
    ]
    config = merge_config(default_config(), {"clients": clients})
    server = start_oidc_server(config, tmp_path_factory.mktemp("oidc-jwt"))
    try:
        yield server
    finally:
        server.stop()


def introspect(server: OidcServer, token: str) -> dict[str, Any]:
    r = httpx.post(
        server.introspection_endpoint,
        data={"token": token},
        auth=("native-basic", NATIVE_BASIC_SECRET),
    )
    r.raise_for_status()
    return dict(r.json())


def test_discovery_and_jwks(jwt_server: OidcServer) -> None:
    meta = oauthkit.discover(jwt_server.issuer)
    assert meta.token_endpoint == jwt_server.token_endpoint
    assert "private_key_jwt" in (meta.token_endpoint_auth_methods or [])
    assert meta.jwks_uri is not None
    keys = oauthkit.JwksCache(meta.jwks_uri).keys()
    assert keys and all(k.alg == "RS256" for k in keys)
    with pytest.raises(oauthkit.InvalidResponseError) as info:
        oauthkit.discover(jwt_server.issuer + "/")
    assert info.value.error == "issuer_mismatch"


def test_private_key_jwt_client_credentials(jwt_server: OidcServer) -> None:
    key = load_private_key(pem(rsa_key(4)), kid="client-key-1")
    creds = ClientCredentials.from_issuer(jwt_server.issuer, "pkjwt", signing_key=key)
    assert creds._client_auth().resolved_method == "private_key_jwt"  # from metadata
    first = creds.get_access_token().access_token
    assert introspect(jwt_server, first)["active"] is True
    assert creds.get_access_token().access_token == first  # cached
    creds.invalid = True  # re-fetch on its own (a fresh assertion: jti is single use)
    second = creds.get_access_token().access_token
    assert second != first and introspect(jwt_server, second)["client_id"] == "pkjwt"
    assert creds.refresh_token is None


def test_client_secret_jwt_client_credentials(jwt_server: OidcServer) -> None:
    meta = oauthkit.discover(jwt_server.issuer)
    creds = ClientCredentials.from_metadata(
        meta, "csjwt", JWT_SECRET, token_endpoint_auth_method="client_secret_jwt"
    )
    token = creds.get_access_token().access_token
    assert introspect(jwt_server, token)["client_id"] == "csjwt"


def test_secret_methods_from_metadata(jwt_server: OidcServer) -> None:
    creds = ClientCredentials.from_issuer(jwt_server.issuer, "web-basic", WEB_BASIC_SECRET)
    assert creds._client_auth().resolved_method == "client_secret_basic"
    assert introspect(jwt_server, creds.get_access_token().access_token)["active"] is True


def test_client_assertion_shape_c22(jwt_server: OidcServer) -> None:
    key = load_private_key(pem(rsa_key(4)), kid="client-key-1")
    auth = ClientAuth("pkjwt", signing_key=key, audience=jwt_server.issuer)
    seen = []
    for _ in range(2):
        form: dict[str, str] = {}
        auth.apply(form, {})
        seen.append(jwt.decode(form["client_assertion"], options={"verify_signature": False}))
        assert form["client_assertion_type"].endswith("client-assertion-type:jwt-bearer")
    for claims in seen:
        assert claims["aud"] == jwt_server.issuer and isinstance(claims["aud"], str)
        assert claims["iss"] == claims["sub"] == "pkjwt"
        assert claims["exp"] - claims["iat"] <= 300
    assert seen[0]["jti"] != seen[1]["jti"]


def test_wrong_key_is_refused(jwt_server: OidcServer) -> None:
    key = load_private_key(pem(rsa_key(3)), kid="client-key-1")
    creds = ClientCredentials.from_issuer(jwt_server.issuer, "pkjwt", signing_key=key)
    with pytest.raises(oauthkit.InvalidClientError):
        creds.get_access_token()


# --- ID tokens from the code flow and from refresh ------------------------------------------


def make_flow(server: OidcServer) -> OAuth2WebServerFlow:
    return OAuth2WebServerFlow(
        "web-basic",
        WEB_BASIC_SECRET,
        "openid email profile offline_access",
        redirect_uri=WEB_REDIRECT_URI,
        auth_uri=server.authorization_endpoint,
        token_uri=server.token_endpoint,
        revoke_uri=server.revocation_endpoint,
        issuer=server.issuer,
        jwks_uri=server.jwks_uri,
        prompt="consent",
    )


def login(server: OidcServer, flow: OAuth2WebServerFlow) -> oauthkit.OAuth2Credentials:
    url = flow.step1_get_authorize_url()
    with ScriptedUserAgent(server.issuer) as agent:
        redirect = agent.authorize(url, login="alice")
    return flow.step2_exchange(redirect)


def test_code_flow_id_token_is_validated_and_refresh_checked(jwt_server: OidcServer) -> None:
    flow = make_flow(jwt_server)
    creds = login(jwt_server, flow)
    assert creds.id_token is not None and creds.id_token["sub"] == "alice"
    assert creds.id_token["nonce"] == flow.nonce and creds.id_token["aud"] == "web-basic"
    assert creds._id_token_verifier is not None
    first_rt = creds.refresh_token
    # oidc-provider signs deterministically: within the same second the refreshed ID token
    # can be byte-identical to the one held (and is then not checked again); forget it so
    # the refreshed one is always validated against the JWKS and per OIDC Core §12.2.
    creds.id_token_jwt = None
    creds.refresh()
    assert creds.refresh_token != first_rt and creds.token_response is not None
    assert creds.id_token_jwt == creds.token_response["id_token"]
    assert creds.id_token["sub"] == "alice"
    info = fetch_userinfo(creds, jwt_server.userinfo_endpoint)
    assert info["sub"] == "alice"
    # a UserInfo answer for someone else is refused (OIDC Core §5.3.2)
    creds.id_token = {**creds.id_token, "sub": "mallory"}
    with pytest.raises(IdTokenError) as err:
        fetch_userinfo(creds, jwt_server.userinfo_endpoint)
    assert err.value.error == "userinfo_sub_mismatch"


def test_refresh_id_token_for_another_subject_is_refused(jwt_server: OidcServer) -> None:
    creds = login(jwt_server, make_flow(jwt_server))
    assert creds.id_token is not None
    creds.id_token = {**creds.id_token, "sub": "bob"}  # as if the grant were someone else's
    creds.id_token_jwt = None
    with pytest.raises(IdTokenError) as err:
        creds.refresh()
    assert err.value.error == "refresh_sub_mismatch"


def test_id_token_from_another_issuer_is_refused(
    jwt_server: OidcServer, oidc_server_factory: OidcServerFactory
) -> None:
    other = oidc_server_factory()
    flow = make_flow(other)
    flow.jwks_uri = jwt_server.jwks_uri  # keys of the wrong server
    with pytest.raises(oauthkit.FlowExchangeError) as err:
        login(other, flow)
    assert isinstance(err.value, IdTokenError)
    assert err.value.error in ("unknown_kid", "invalid_signature")


def test_flow_algorithm_allow_list_and_json(jwt_server: OidcServer) -> None:
    flow = make_flow(jwt_server)
    flow.id_token_algorithms = ["ES256"]  # the provider signs RS256: refused
    again = OAuth2WebServerFlow.from_json(flow.to_json(), client_secret=WEB_BASIC_SECRET)
    assert again.jwks_uri == jwt_server.jwks_uri and again.id_token_algorithms == ["ES256"]
    with pytest.raises(IdTokenError) as err:
        login(jwt_server, again)
    assert err.value.error == "alg_not_allowed"


def test_verifier_directly_against_the_provider_jwks(jwt_server: OidcServer) -> None:
    flow = make_flow(jwt_server)
    creds = login(jwt_server, flow)
    meta = oauthkit.discover(jwt_server.issuer)
    verifier = IdTokenVerifier.from_metadata(meta, "web-basic")
    assert creds.id_token_jwt is not None
    claims = verifier.verify(creds.id_token_jwt, nonce=flow.nonce)
    assert claims["iss"] == jwt_server.issuer
    other = IdTokenVerifier.from_metadata(meta, "web-post")
    with pytest.raises(IdTokenError) as err:
        other.verify(creds.id_token_jwt)
    assert err.value.error == "aud_mismatch"
    head = json.loads(base64.urlsafe_b64decode(creds.id_token_jwt.split(".")[0] + "=="))
    assert head["alg"] == "RS256"
