"""The oidc-provider fixture and the scripted user agent work (plain httpx, no oauthkit)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sys
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.oidc import fixture
from tests.oidc.fixture import WEB_REDIRECT_URI, OidcServer, default_clients, start_oidc_server
from tests.oidc.useragent import ScriptedUserAgent, UserAgentError

pytestmark = pytest.mark.oidc

# Make the fixtures visible here unless tests/conftest.py already provides them (a session
# fixture defined in two places would start one server per definition).
if not hasattr(sys.modules.get("tests.conftest"), "oidc_server"):
    oidc_server = fixture.oidc_server
    oidc_server_factory = fixture.oidc_server_factory

LOOPBACK_REDIRECT_URI = "http://127.0.0.1:54321/callback"


# -- helpers (deliberately independent of oauthkit) ----------------------------------------


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def basic_auth(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: form-urlencode id and secret, then HTTP Basic."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def authorization_url(server: OidcServer, client_id: str, redirect_uri: str, **extra: str) -> str:
    params = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        **extra,
    }
    return f"{server.authorization_endpoint}?{urlencode(params)}"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def get_code(
    server: OidcServer,
    client_id: str,
    redirect_uri: str,
    scope: str = "openid offline_access",
    **params: str,
) -> tuple[dict[str, str], str]:
    """Run the front channel with PKCE (and ``prompt=consent`` unless ``params`` set
    ``prompt``; ``prompt=""`` omits it); return (redirect query, code_verifier)."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    params.setdefault("prompt", "consent")
    if not params["prompt"]:
        del params["prompt"]
    url = authorization_url(
        server,
        client_id,
        redirect_uri,
        scope=scope,
        state=state,
        code_challenge=challenge,
        code_challenge_method="S256",
        **params,
    )
    with ScriptedUserAgent(server.issuer) as agent:
        location = agent.authorize(url)
    assert location.startswith(redirect_uri + "?"), location
    result = query(location)
    assert result.get("state") == state, location
    assert result.get("iss") == server.issuer, location
    return result, verifier


def verify_id_token(server: OidcServer, http: httpx.Client, id_token: str) -> dict[str, Any]:
    header_b64, payload_b64, signature_b64 = id_token.split(".")
    header = json.loads(b64url_decode(header_b64))
    assert header["alg"] == "RS256"
    jwks = http.get(server.jwks_uri).json()
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    public_key = rsa.RSAPublicNumbers(
        int.from_bytes(b64url_decode(jwk["e"]), "big"),
        int.from_bytes(b64url_decode(jwk["n"]), "big"),
    ).public_key()
    public_key.verify(  # raises InvalidSignature
        b64url_decode(signature_b64),
        f"{header_b64}.{payload_b64}".encode("ascii"),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    claims: dict[str, Any] = json.loads(b64url_decode(payload_b64))
    return claims


@pytest.fixture
def http() -> Any:
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        yield client


# -- tests -----------------------------------------------------------------------------------


def test_discovery(oidc_server: OidcServer, http: httpx.Client) -> None:
    server = oidc_server
    assert server.issuer == f"http://127.0.0.1:{server.port}"
    metadata = http.get(f"{server.issuer}/.well-known/openid-configuration").json()
    assert metadata["issuer"] == server.issuer
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "device_authorization_endpoint",
        "jwks_uri",
    ):
        assert getattr(server, name) == metadata[name]
        assert metadata[name].startswith(server.issuer + "/")
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert set(server.clients) >= {"web-basic", "web-post", "native-basic", "public-native"}


def test_code_flow_web_basic_refresh_userinfo_revoke(
    oidc_server: OidcServer, http: httpx.Client
) -> None:
    server = oidc_server
    client = server.clients["web-basic"]
    auth = {"Authorization": basic_auth("web-basic", client["client_secret"])}

    result, verifier = get_code(server, "web-basic", WEB_REDIRECT_URI)
    assert "code" in result

    response = http.post(
        server.token_endpoint,
        headers=auth,
        data={
            "grant_type": "authorization_code",
            "code": result["code"],
            "redirect_uri": WEB_REDIRECT_URI,
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert {"access_token", "refresh_token", "id_token"} <= tokens.keys()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert set(tokens["scope"].split()) == {"openid", "offline_access"}
    id_claims = verify_id_token(server, http, tokens["id_token"])
    assert id_claims["iss"] == server.issuer
    assert id_claims["aud"] == "web-basic"
    assert id_claims["sub"] == "alice"

    userinfo = http.get(
        server.userinfo_endpoint,
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["sub"] == "alice"

    # Rotation: a new refresh token (and a new id_token) on every refresh.
    refreshed = http.post(
        server.token_endpoint,
        headers=auth,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]
    assert "id_token" in new

    introspect = {"token": new["access_token"]}
    active = http.post(server.introspection_endpoint, headers=auth, data=introspect).json()
    assert active["active"] is True
    assert active["client_id"] == "web-basic"

    revoked = http.post(
        server.revocation_endpoint,
        headers=auth,
        data={"token": new["access_token"], "token_type_hint": "access_token"},
    )
    assert revoked.status_code == 200, revoked.text
    inactive = http.post(server.introspection_endpoint, headers=auth, data=introspect)
    assert inactive.json() == {"active": False}
    # Revoking the access token revoked its whole grant, refresh token included.
    refresh_info = http.post(
        server.introspection_endpoint, headers=auth, data={"token": new["refresh_token"]}
    )
    assert refresh_info.json() == {"active": False}


def test_basic_auth_secret_must_be_form_encoded(
    oidc_server: OidcServer, http: httpx.Client
) -> None:
    """oidc-provider decodes Basic credentials per RFC 6749 §2.3.1: the raw secret (with
    `%`, `+`, `:` and a space) is refused, the form-encoded one accepted."""
    secret = oidc_server.clients["web-basic"]["client_secret"]
    assert {":", "%", "+", " "} <= set(secret)
    data = {"grant_type": "client_credentials"}
    raw = http.post(oidc_server.token_endpoint, auth=("web-basic", secret), data=data)
    assert raw.status_code == 400, raw.text
    assert raw.json()["error"] == "invalid_request"
    encoded = http.post(
        oidc_server.token_endpoint,
        headers={"Authorization": basic_auth("web-basic", secret)},
        data=data,
    )
    assert encoded.status_code == 200, encoded.text


def test_registered_secret_method_is_enforced(oidc_server: OidcServer, http: httpx.Client) -> None:
    """server.mjs (strictClientAuthMethod) rejects the secret method a client is not
    registered for; oidc-provider alone would accept either."""
    server = oidc_server
    data = {"grant_type": "client_credentials"}
    post_secret = server.clients["web-post"]["client_secret"]
    as_basic = http.post(
        server.token_endpoint,
        headers={"Authorization": basic_auth("web-post", post_secret)},
        data=data,
    )
    assert as_basic.status_code == 401
    assert as_basic.json()["error"] == "invalid_client"
    basic_secret = server.clients["web-basic"]["client_secret"]
    as_post = http.post(
        server.token_endpoint,
        data={**data, "client_id": "web-basic", "client_secret": basic_secret},
    )
    assert as_post.status_code == 401
    assert as_post.json()["error"] == "invalid_client"
    wrong_secret = http.post(
        server.token_endpoint,
        data={**data, "client_id": "web-post", "client_secret": post_secret + "x"},
    )
    assert wrong_secret.status_code == 401
    ok = http.post(
        server.token_endpoint,
        data={**data, "client_id": "web-post", "client_secret": post_secret},
    )
    assert ok.status_code == 200, ok.text


def test_code_flow_web_post(oidc_server: OidcServer, http: httpx.Client) -> None:
    server = oidc_server
    result, verifier = get_code(server, "web-post", WEB_REDIRECT_URI, scope="openid email")
    response = http.post(
        server.token_endpoint,
        data={
            "grant_type": "authorization_code",
            "code": result["code"],
            "redirect_uri": WEB_REDIRECT_URI,
            "code_verifier": verifier,
            "client_id": "web-post",
            "client_secret": server.clients["web-post"]["client_secret"],
        },
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert "refresh_token" not in tokens  # no offline_access requested
    userinfo = http.get(
        server.userinfo_endpoint,
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert userinfo.json() == {"sub": "alice", "email": "alice@example.test"}


def test_offline_access_needs_prompt_consent(oidc_server: OidcServer, http: httpx.Client) -> None:
    """Without prompt=consent oidc-provider silently drops offline_access: no refresh token."""
    server = oidc_server
    secret = server.clients["native-basic"]["client_secret"]
    redirect_uri = "http://127.0.0.1:40001/callback"
    result, verifier = get_code(server, "native-basic", redirect_uri, prompt="")
    response = http.post(
        server.token_endpoint,
        headers={"Authorization": basic_auth("native-basic", secret)},
        data={
            "grant_type": "authorization_code",
            "code": result["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["scope"] == "openid"
    assert "refresh_token" not in tokens


def test_resource_indicator_gives_jwt_access_token(
    oidc_server: OidcServer, http: httpx.Client
) -> None:
    server = oidc_server
    auth = {"Authorization": basic_auth("web-basic", server.clients["web-basic"]["client_secret"])}
    response = http.post(
        server.token_endpoint,
        headers=auth,
        data={
            "grant_type": "client_credentials",
            "resource": "urn:example:api",
            "scope": "api:read",
        },
    )
    assert response.status_code == 200, response.text
    header_b64, payload_b64, _ = response.json()["access_token"].split(".")
    assert json.loads(b64url_decode(header_b64))["typ"] == "at+jwt"
    payload = json.loads(b64url_decode(payload_b64))
    assert payload["aud"] == "urn:example:api"
    assert payload["scope"] == "api:read"
    unknown = http.post(
        server.token_endpoint,
        headers=auth,
        data={"grant_type": "client_credentials", "resource": "urn:example:unknown"},
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_target"


def test_public_native_client_loopback_any_port(
    oidc_server: OidcServer, http: httpx.Client
) -> None:
    server = oidc_server
    result, verifier = get_code(server, "public-native", LOOPBACK_REDIRECT_URI)
    response = http.post(
        server.token_endpoint,
        data={
            "grant_type": "authorization_code",
            "code": result["code"],
            "redirect_uri": LOOPBACK_REDIRECT_URI,
            "code_verifier": verifier,
            "client_id": "public-native",
        },
    )
    assert response.status_code == 200, response.text
    assert {"access_token", "refresh_token", "id_token"} <= response.json().keys()


def test_error_redirects(oidc_server: OidcServer) -> None:
    server = oidc_server
    _, challenge = pkce_pair()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    with ScriptedUserAgent(server.issuer) as agent:
        # No session yet: prompt=none answers login_required at the redirect URI.
        url = authorization_url(
            server, "web-basic", WEB_REDIRECT_URI, scope="openid", prompt="none", state="s1"
        )
        assert query(agent.authorize(url))["error"] == "login_required"

        # The user cancels at the consent page.
        url = authorization_url(
            server, "web-basic", WEB_REDIRECT_URI, scope="openid", state="s2", **pkce
        )
        denied = query(agent.authorize(url, consent=False))
        assert denied["error"] == "access_denied"
        assert denied["state"] == "s2"
        assert denied["iss"] == server.issuer

        # A public client without PKCE is refused before any login.
        url = authorization_url(server, "public-native", LOOPBACK_REDIRECT_URI, scope="openid")
        assert query(agent.authorize(url))["error"] == "invalid_request"

        # An unregistered redirect URI is an error page, not a redirect.
        url = authorization_url(server, "web-basic", "https://evil.example/cb", scope="openid")
        with pytest.raises(UserAgentError, match="HTTP 400"):
            agent.authorize(url)


def test_device_flow(oidc_server: OidcServer, http: httpx.Client) -> None:
    server = oidc_server
    grant = "urn:ietf:params:oauth:grant-type:device_code"
    start = http.post(
        server.device_authorization_endpoint,
        data={"client_id": "public-native", "scope": "openid offline_access"},
    )
    assert start.status_code == 200, start.text
    device = start.json()
    poll = {"grant_type": grant, "device_code": device["device_code"], "client_id": "public-native"}
    pending = http.post(server.token_endpoint, data=poll)
    assert pending.json()["error"] == "authorization_pending"

    with ScriptedUserAgent(server.issuer) as agent:
        agent.device_login(device["verification_uri_complete"], login="bob")

    response = http.post(server.token_endpoint, data=poll)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert {"access_token", "refresh_token", "id_token"} <= tokens.keys()
    userinfo = http.get(
        server.userinfo_endpoint,
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert userinfo.json()["sub"] == "bob"

    # Typed user code, user aborts: the device gets access_denied.
    device = http.post(
        server.device_authorization_endpoint,
        data={"client_id": "public-native", "scope": "openid"},
    ).json()
    with ScriptedUserAgent(server.issuer) as agent:
        agent.device_login(device["verification_uri"], device["user_code"], consent=False)
    poll["device_code"] = device["device_code"]
    assert http.post(server.token_endpoint, data=poll).json()["error"] == "access_denied"


def test_factory_overrides(oidc_server_factory: Any, http: httpx.Client) -> None:
    server = oidc_server_factory(
        {"ttl": {"AccessToken": 2}, "rotateRefreshToken": False, "alwaysIssueRefreshToken": True}
    )
    assert server.config["ttl"]["AccessToken"] == 2
    client = server.clients["native-basic"]
    auth = {"Authorization": basic_auth("native-basic", client["client_secret"])}
    redirect_uri = "http://127.0.0.1:40000/"
    result, verifier = get_code(server, "native-basic", redirect_uri, scope="openid")
    tokens = http.post(
        server.token_endpoint,
        headers=auth,
        data={
            "grant_type": "authorization_code",
            "code": result["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    ).json()
    assert tokens["expires_in"] == 2
    assert "refresh_token" in tokens  # alwaysIssueRefreshToken: no offline_access needed
    refreshed = http.post(
        server.token_endpoint,
        headers=auth,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    ).json()
    assert refreshed["refresh_token"] == tokens["refresh_token"]  # no rotation


def test_invalid_client_fails_at_startup(tmp_path: Any) -> None:
    """oidc-provider refuses a client_secret outside VSCHAR (RFC 6749 Appendix A)."""
    clients = default_clients()
    clients[0]["client_secret"] = "caf\u00e9"
    with pytest.raises(RuntimeError, match="invalid client_secret value"):
        start_oidc_server({"clients": clients}, tmp_path)


def test_missing_node_modules_raises(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixture, "OIDC_DIR", tmp_path)
    with pytest.raises(RuntimeError, match=r"bash \.ci/install-oidc\.sh"):
        start_oidc_server({}, tmp_path)
