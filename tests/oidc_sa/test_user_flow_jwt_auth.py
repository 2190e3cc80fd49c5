"""The authorization-code flow and its credentials with JWT client authentication
(RFC 7523 §2.2: ``private_key_jwt`` and ``client_secret_jwt``) against a real oidc-provider:
log in, exchange, refresh (rotation) and revoke, each authenticated with the client's
registered method (oidc-provider refuses any other). The private key never reaches JSON
or a pickle."""

from __future__ import annotations

import json
import pickle
from typing import Any

import httpx
import pytest

import oauthkit
from oauthkit._jwt import SigningKey, load_private_key
from oauthkit.client import Credentials, OAuth2Credentials, OAuth2WebServerFlow
from tests.oidc.fixture import (
    NATIVE_BASIC_SECRET,
    WEB_REDIRECT_URI,
    OidcServer,
    OidcServerFactory,
    default_clients,
)
from tests.oidc.useragent import ScriptedUserAgent
from tests.oidc_sa.keys import pem, rsa_key

SCOPE = "openid offline_access"
JWT_SECRET = "user-flow-client-secret-jwt-" + "s" * 40  # HS256 wants >= 32 octets
ISSUER = "https://issuer.example"
KID = "web-client-key-1"


def signing_key() -> SigningKey:
    return load_private_key(pem(rsa_key(4)), kid=KID)


def key_material() -> list[str]:
    """Strings that only a leaked private key would put in a text."""
    private_pem = pem(rsa_key(4))
    numbers = rsa_key(4).private_numbers()
    from oauthkit._jwt import b64url_encode

    d = b64url_encode(numbers.d.to_bytes((numbers.d.bit_length() + 7) // 8, "big"))
    return ["PRIVATE KEY", private_pem.splitlines()[1], d[:40], str(numbers.p)[:40]]


def assert_no_key_material(text: str) -> None:
    for needle in key_material():
        assert needle not in text


def web_client(client_id: str, method: str, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "token_endpoint_auth_method": method,
        "application_type": "web",
        "redirect_uris": [WEB_REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": SCOPE,
        **extra,
    }


def jwt_clients() -> list[dict[str, Any]]:
    return [
        *default_clients(),  # native-basic introspects
        web_client(
            "web-pkjwt",
            "private_key_jwt",
            token_endpoint_auth_signing_alg="RS256",
            jwks={"keys": [signing_key().public_jwk()]},
        ),
        web_client(
            "web-csjwt",
            "client_secret_jwt",
            client_secret=JWT_SECRET,
            token_endpoint_auth_signing_alg="HS256",
        ),
    ]


def make_flow(server: OidcServer, method: str) -> OAuth2WebServerFlow:
    options: dict[str, Any] = {
        "redirect_uri": WEB_REDIRECT_URI,
        "auth_uri": server.authorization_endpoint,
        "token_uri": server.token_endpoint,
        "revoke_uri": server.revocation_endpoint,
        "issuer": server.issuer,
        "jwks_uri": server.jwks_uri,
        "token_endpoint_auth_method": method,
        "prompt": "consent",
    }
    if method == "private_key_jwt":
        return OAuth2WebServerFlow(
            "web-pkjwt", None, SCOPE, client_signing_key=signing_key(), **options
        )
    return OAuth2WebServerFlow("web-csjwt", JWT_SECRET, SCOPE, **options)


def introspect(server: OidcServer, token: str) -> dict[str, Any]:
    r = httpx.post(
        server.introspection_endpoint,
        data={"token": token},
        auth=("native-basic", NATIVE_BASIC_SECRET),
    )
    r.raise_for_status()
    return dict(r.json())


@pytest.mark.oidc
def test_code_flow_refresh_and_revoke_with_jwt_client_auth(
    oidc_server_factory: OidcServerFactory,
) -> None:
    server = oidc_server_factory({"clients": jwt_clients()})
    for method, client_id in (("private_key_jwt", "web-pkjwt"), ("client_secret_jwt", "web-csjwt")):
        flow = make_flow(server, method)
        url = flow.step1_get_authorize_url()
        # keep the flow between the steps: JSON for one client, pickle for the other; the
        # signing key is in neither and is given back
        if method == "private_key_jwt":
            saved = flow.to_json(include_client_secret=True)
            assert_no_key_material(saved)
            flow = OAuth2WebServerFlow.from_json(saved, client_signing_key=signing_key())
        else:
            flow = pickle.loads(pickle.dumps(flow))
        with ScriptedUserAgent(server.issuer) as agent:
            redirect = agent.authorize(url, login="alice")
        creds = flow.step2_exchange(redirect)  # the code exchange: the JWT method or nothing
        assert creds.token_endpoint_auth_method == method and creds.issuer == server.issuer
        assert creds.id_token is not None and creds.id_token["sub"] == "alice"
        assert creds.access_token and creds.refresh_token
        assert introspect(server, creds.access_token)["client_id"] == client_id

        # the stored form: issuer kept, no key material; the key is attached again
        data = creds.to_json()
        assert_no_key_material(data)
        assert json.loads(data)["issuer"] == server.issuer
        again = Credentials.new_from_json(data)
        assert isinstance(again, OAuth2Credentials)
        assert again.issuer == server.issuer and again.token_endpoint_auth_method == method
        if method == "private_key_jwt":
            with pytest.raises(oauthkit.ConfigurationError):
                again.refresh()  # no key yet: refused locally, nothing sent
            again.set_client_signing_key(load_private_key(pem(rsa_key(3)), kid=KID))
            with pytest.raises(oauthkit.InvalidClientError):
                again.refresh()  # the server checks the assertion: another key is refused
            again.set_client_signing_key(pem(rsa_key(4)))

        # refresh with rotation, authenticated with the same method
        old_access, old_refresh = again.access_token, again.refresh_token
        again.id_token_jwt = None  # validate the refreshed ID token even if byte-identical
        again.refresh()
        assert again.access_token not in (None, old_access)
        assert again.refresh_token not in (None, old_refresh)
        assert again.id_token is not None and again.id_token["sub"] == "alice"
        assert introspect(server, old_refresh or "")["active"] is False
        assert introspect(server, again.access_token or "")["client_id"] == client_id

        # revoke, authenticated with the same method
        access, refresh = again.access_token or "", again.refresh_token or ""
        again.revoke()
        assert again.invalid
        assert introspect(server, access) == {"active": False}
        assert introspect(server, refresh) == {"active": False}


# --- no server needed ---------------------------------------------------------------------


def offline_flow(**kwargs: Any) -> OAuth2WebServerFlow:
    options: dict[str, Any] = {
        "redirect_uri": WEB_REDIRECT_URI,
        "auth_uri": ISSUER + "/auth",
        "token_uri": ISSUER + "/token",
        "revoke_uri": ISSUER + "/revoke",
        "issuer": ISSUER,
        "token_endpoint_auth_method": "private_key_jwt",
        "client_signing_key": signing_key(),
    }
    options.update(kwargs)
    secret = options.pop("client_secret", None)
    return OAuth2WebServerFlow("cid", secret, SCOPE, **options)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"issuer": None},  # private_key_jwt without an audience
        {"client_signing_key": None},  # private_key_jwt without a key
        {"client_signing_key": 42},  # not a key
        {"client_signing_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n"},
        {"token_endpoint_auth_method": "client_secret_jwt", "issuer": None, "client_secret": "s"},
        {"token_endpoint_auth_method": "client_secret_jwt", "client_signing_key": None},
    ],
    ids=[
        "pkjwt-no-issuer",
        "pkjwt-no-key",
        "bad-key",
        "bad-pem",
        "csjwt-no-issuer",
        "csjwt-no-secret",
    ],
)
def test_misconfigured_jwt_flows_fail_early(kwargs: dict[str, Any]) -> None:
    with pytest.raises(oauthkit.ConfigurationError) as info:
        offline_flow(**kwargs)
    assert "not a key" not in str(info.value)


def test_flow_pem_key_json_and_pickle_keep_the_key_out() -> None:
    flow = offline_flow(client_signing_key=pem(rsa_key(4)))
    assert isinstance(flow.client_signing_key, SigningKey)
    assert flow._client_auth().resolved_method == "private_key_jwt"
    implicit = offline_flow(token_endpoint_auth_method=None)  # the key implies the method
    assert implicit.token_endpoint_auth_method == "private_key_jwt"  # kept in JSON/pickle
    flow.step1_get_authorize_url()
    saved = flow.to_json(include_client_secret=True)
    assert_no_key_material(saved)
    with pytest.raises(oauthkit.ConfigurationError):
        OAuth2WebServerFlow.from_json(saved)  # the key must be given back
    again = OAuth2WebServerFlow.from_json(saved, client_signing_key=signing_key())
    assert again.state == flow.state and again.code_verifier == flow.code_verifier
    pickled = pickle.dumps(flow)
    assert_no_key_material(pickled.decode("latin-1"))
    restored = pickle.loads(pickled)
    assert restored.client_signing_key is None and restored.state == flow.state
    with pytest.raises(oauthkit.ConfigurationError):
        restored.step2_exchange("some-code")  # refused before any request
    restored.client_signing_key = signing_key()
    assert restored._client_auth().resolved_method == "private_key_jwt"


def test_credentials_json_and_pickle_hold_no_private_key() -> None:
    creds = OAuth2Credentials(
        "at",
        "cid",
        None,
        "rt",
        None,
        ISSUER + "/token",
        None,
        revoke_uri=ISSUER + "/revoke",
        token_endpoint_auth_method="private_key_jwt",
        issuer=ISSUER,
        client_signing_key=signing_key(),
    )
    assert creds._client_auth() is not None
    data = creds.to_json()
    assert_no_key_material(data)
    assert json.loads(data)["issuer"] == ISSUER
    pickled = pickle.dumps(creds)
    assert_no_key_material(pickled.decode("latin-1"))
    for loaded in (OAuth2Credentials.from_json(data), pickle.loads(pickled)):
        assert loaded.issuer == ISSUER
        with pytest.raises(oauthkit.ConfigurationError):
            loaded._client_auth()
        loaded.set_client_signing_key(signing_key())
        auth = loaded._client_auth()
        assert auth is not None and auth.resolved_method == "private_key_jwt"
        assert auth.audience == ISSUER
    with pytest.raises(oauthkit.ConfigurationError):
        creds.set_client_signing_key(b"not a pem")
