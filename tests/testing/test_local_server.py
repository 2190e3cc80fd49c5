"""Tests of oauthkit.testing.LocalAuthorizationServer, driven with plain httpx."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import httpx
import pytest
from authlib.oauth2 import rfc8414, rfc9207

from oauthkit.testing import LocalAuthorizationServer, pytest_plugin
from oauthkit.testing.pytest_plugin import (
    PUBLIC_CLIENT_ID,
    REDIRECT_URI,
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    build_default_server,
)

# The plugin's fixture, available here without relying on the pytest11 entry point.
local_authorization_server = pytest_plugin.local_authorization_server

LOOPBACK_CALLBACK = "http://127.0.0.1:53682/callback"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[LocalAuthorizationServer]:
    with build_default_server() as srv:
        yield srv


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    # Module scope: building the TLS context of an httpx.Client costs ~50 ms.
    with httpx.Client(timeout=5, follow_redirects=False) as client:
        yield client


# --------------------------------------------------------------------------- helpers


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1: form-urlencode id and secret, then HTTP Basic."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode("ascii")
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def authorize(
    http: httpx.Client,
    server: LocalAuthorizationServer,
    *,
    client_id: str = TEST_CLIENT_ID,
    redirect_uri: str | None = LOOPBACK_CALLBACK,
    challenge: str | None = None,
    method: str | None = "S256",
    state: str = "state-123",
    **extra: str,
) -> httpx.Response:
    params: dict[str, str] = {"response_type": "code", "client_id": client_id, "state": state}
    if redirect_uri is not None:
        params["redirect_uri"] = redirect_uri
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None and challenge is not None:
        params["code_challenge_method"] = method
    params.update(extra)
    return http.get(server.authorization_endpoint, params=params)


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {key: values[0] for key, values in query.items()}


def get_code(
    http: httpx.Client,
    server: LocalAuthorizationServer,
    **kwargs: Any,
) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    params = redirect_params(authorize(http, server, challenge=challenge, **kwargs))
    return params["code"], verifier


def exchange(
    http: httpx.Client,
    server: LocalAuthorizationServer,
    code: str,
    verifier: str | None,
    *,
    client_id: str = TEST_CLIENT_ID,
    secret: str | None = TEST_CLIENT_SECRET,
    redirect_uri: str = LOOPBACK_CALLBACK,
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    headers: dict[str, str] = {}
    if secret is None:
        data["client_id"] = client_id
    else:
        headers = basic_auth(client_id, secret)
    return http.post(server.token_endpoint, data=data, headers=headers)


def tokens(http: httpx.Client, server: LocalAuthorizationServer) -> dict[str, Any]:
    code, verifier = get_code(http, server)
    response = exchange(http, server, code, verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh(
    http: httpx.Client, server: LocalAuthorizationServer, refresh_token: str, **extra: str
) -> httpx.Response:
    return http.post(
        server.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, **extra},
        headers=basic_auth(TEST_CLIENT_ID, TEST_CLIENT_SECRET),
    )


def userinfo_status(http: httpx.Client, server: LocalAuthorizationServer, token: str) -> int:
    return http.get(server.userinfo_endpoint, headers=bearer(token)).status_code


# --------------------------------------------------------------------------- lifecycle


def test_binds_loopback_on_an_ephemeral_port_and_stops(http: httpx.Client) -> None:
    server = build_default_server()
    with pytest.raises(RuntimeError):
        _ = server.issuer
    with server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.issuer)
        assert server.port > 0
        assert server.token_endpoint == server.issuer + "/token"
        assert "test-secret" not in repr(server)
        with pytest.raises(RuntimeError):
            server.start()
    with pytest.raises(httpx.ConnectError):
        http.get(server.metadata_endpoint)
    server.stop()  # idempotent


def test_plugin_fixture(
    local_authorization_server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    assert http.get(local_authorization_server.metadata_endpoint).status_code == 200
    assert local_authorization_server.user == "alice"


def test_register_client_validates_input() -> None:
    server = LocalAuthorizationServer()
    info = server.register_client("c", "s", redirect_uris=["https://a.example/cb"])
    assert info["client_id"] == "c"
    assert info["grant_types"] == ["authorization_code", "refresh_token"]
    with pytest.raises(ValueError, match="already registered"):
        server.register_client("c", "s", redirect_uris=["https://a.example/cb"])
    with pytest.raises(ValueError, match="secret"):
        server.register_client("d", redirect_uris=["https://a.example/cb"])
    with pytest.raises(ValueError, match="no secret"):
        server.register_client(
            "e", "s", redirect_uris=["https://a.example/cb"], token_endpoint_auth_method="none"
        )
    with pytest.raises(ValueError, match="redirect URI"):
        server.register_client("f", "s", redirect_uris=["https://a.example/cb#frag"])
    with pytest.raises(ValueError, match="grant_types"):
        server.register_client(
            "g", "s", redirect_uris=["https://a.example/cb"], grant_types=["password"]
        )


# --------------------------------------------------------------------------- metadata


def test_metadata(server: LocalAuthorizationServer, http: httpx.Client) -> None:
    response = http.get(server.issuer + "/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    metadata = rfc8414.AuthorizationServerMetadata(data)
    metadata.validate(metadata_classes=[rfc9207.AuthorizationServerMetadata])
    assert data["issuer"] == server.issuer
    assert data["authorization_endpoint"] == server.authorization_endpoint
    assert data["token_endpoint"] == server.token_endpoint
    assert data["revocation_endpoint"] == server.revocation_endpoint
    assert data["userinfo_endpoint"] == server.userinfo_endpoint
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert data["authorization_response_iss_parameter_supported"] is True
    assert set(data["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }


# --------------------------------------------------------------------------- code flow


def test_code_flow_confidential_client_basic_auth(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    verifier, challenge = pkce_pair()
    response = authorize(http, server, challenge=challenge, scope="openid profile")
    params = redirect_params(response)
    location = urlsplit(response.headers["location"])
    assert (location.scheme, location.netloc, location.path) == (
        "http",
        "127.0.0.1:53682",
        "/callback",
    )
    assert params["state"] == "state-123"
    assert params["iss"] == server.issuer

    token_response = exchange(http, server, params["code"], verifier)
    assert token_response.status_code == 200, token_response.text
    assert token_response.headers["cache-control"] == "no-store"
    body = token_response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "openid profile"
    assert body["access_token"] and body["refresh_token"]
    assert http.get(server.userinfo_endpoint, headers=bearer(body["access_token"])).json() == {
        "sub": "alice",
        "name": "Alice",
    }


def test_confidential_client_may_skip_pkce(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    params = redirect_params(
        authorize(http, server, redirect_uri="https://client.example/callback")
    )
    response = exchange(
        http, server, params["code"], None, redirect_uri="https://client.example/callback"
    )
    assert response.status_code == 200, response.text


def test_code_flow_public_client(server: LocalAuthorizationServer, http: httpx.Client) -> None:
    code, verifier = get_code(http, server, client_id=PUBLIC_CLIENT_ID)
    response = exchange(http, server, code, verifier, client_id=PUBLIC_CLIENT_ID, secret=None)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "openid profile email offline_access"


def test_public_client_requires_pkce(server: LocalAuthorizationServer, http: httpx.Client) -> None:
    params = redirect_params(authorize(http, server, client_id=PUBLIC_CLIENT_ID))
    assert params["error"] == "invalid_request"
    assert params["state"] == "state-123"
    assert params["iss"] == server.issuer  # RFC 9207: error responses too


def test_public_client_cannot_skip_verifier(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    code, _ = get_code(http, server, client_id=PUBLIC_CLIENT_ID)
    response = exchange(http, server, code, None, client_id=PUBLIC_CLIENT_ID, secret=None)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("method", ["plain", None])
def test_plain_pkce_refused(
    server: LocalAuthorizationServer, http: httpx.Client, method: str | None
) -> None:
    verifier = secrets.token_urlsafe(48)
    params: dict[str, str] = {
        "response_type": "code",
        "client_id": PUBLIC_CLIENT_ID,
        "redirect_uri": LOOPBACK_CALLBACK,
        "code_challenge": verifier,
        "state": "s",
    }
    if method is not None:
        params["code_challenge_method"] = method
    response = http.get(server.authorization_endpoint, params=params)
    assert redirect_params(response)["error"] == "invalid_request"
    assert "code" not in redirect_params(response)


def test_wrong_verifier(server: LocalAuthorizationServer, http: httpx.Client) -> None:
    code, _ = get_code(http, server)
    other_verifier, _ = pkce_pair()
    response = exchange(http, server, code, other_verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_reuse_is_refused_and_revokes_the_grant(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    code, verifier = get_code(http, server)
    first = exchange(http, server, code, verifier)
    assert first.status_code == 200
    second = exchange(http, server, code, verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert userinfo_status(http, server, first.json()["access_token"]) == 401
    assert refresh(http, server, first.json()["refresh_token"]).json()["error"] == "invalid_grant"


def test_concurrent_exchanges_of_one_code(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    code, verifier = get_code(http, server)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda _: exchange(http, server, code, verifier).status_code, range(8))
        )
    assert sorted(statuses) == [200] + [400] * 7


def test_code_bound_to_redirect_uri_and_client(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    code, verifier = get_code(http, server)
    response = exchange(http, server, code, verifier, redirect_uri="http://127.0.0.1:1/callback")
    assert response.json()["error"] == "invalid_grant"
    response = exchange(http, server, code, verifier, client_id=PUBLIC_CLIENT_ID, secret=None)
    assert response.json()["error"] == "invalid_grant"


def test_code_expires_after_60_seconds(http: httpx.Client) -> None:
    clock = FakeClock()
    with build_default_server(clock=clock) as server:
        code, verifier = get_code(http, server)
        clock.now += 61
        response = exchange(http, server, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


# --------------------------------------------------------------------------- redirect URIs


@pytest.mark.parametrize(
    "redirect_uri", ["http://127.0.0.1:1/callback", "http://127.0.0.1:65000/callback"]
)
def test_loopback_redirect_any_port(
    server: LocalAuthorizationServer, http: httpx.Client, redirect_uri: str
) -> None:
    _, challenge = pkce_pair()
    response = authorize(http, server, redirect_uri=redirect_uri, challenge=challenge)
    assert response.headers["location"].startswith(redirect_uri + "?")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:53682/other",  # path mismatch
        "http://127.0.0.1:53682/callback/",  # path mismatch
        "http://localhost:53682/callback",  # another loopback host
        "http://127.0.0.1:53682/callback?x=1",  # query mismatch
        "https://client.example:8443/callback",  # port only free for loopback
        "https://evil.example/callback",
    ],
)
def test_unregistered_redirect_uri_gets_400_not_a_redirect(
    server: LocalAuthorizationServer, http: httpx.Client, redirect_uri: str
) -> None:
    _, challenge = pkce_pair()
    response = authorize(http, server, redirect_uri=redirect_uri, challenge=challenge)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.json()["error"] == "invalid_request"


def test_unknown_client_gets_400(server: LocalAuthorizationServer, http: httpx.Client) -> None:
    response = authorize(http, server, client_id="nobody")
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.json()["error"] == "invalid_client"


def test_redirect_uri_required_with_several_registered(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    response = authorize(http, server, redirect_uri=None)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_invalid_scope_is_redirected(server: LocalAuthorizationServer, http: httpx.Client) -> None:
    _, challenge = pkce_pair()
    response = authorize(http, server, challenge=challenge, scope="openid admin")
    assert redirect_params(response)["error"] == "invalid_scope"


# --------------------------------------------------------------------------- refresh


def test_refresh_rotation_and_reuse_detection(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    first = tokens(http, server)
    second_response = refresh(http, server, first["refresh_token"])
    assert second_response.status_code == 200, second_response.text
    second = second_response.json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"]
    assert userinfo_status(http, server, second["access_token"]) == 200

    reused = refresh(http, server, first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    # The whole family is revoked: the legitimate successor tokens too.
    assert refresh(http, server, second["refresh_token"]).json()["error"] == "invalid_grant"
    assert userinfo_status(http, server, second["access_token"]) == 401
    assert userinfo_status(http, server, first["access_token"]) == 401


def test_refresh_with_narrower_scope(server: LocalAuthorizationServer, http: httpx.Client) -> None:
    first = tokens(http, server)
    narrower = refresh(http, server, first["refresh_token"], scope="openid").json()
    assert narrower["scope"] == "openid"
    # A rotated refresh token keeps the original scope (RFC 6749 §6).
    again = refresh(http, server, narrower["refresh_token"]).json()
    assert again["scope"] == first["scope"]
    wider = refresh(http, server, again["refresh_token"], scope="openid admin")
    assert wider.json()["error"] == "invalid_scope"


def test_refresh_without_rotation(http: httpx.Client) -> None:
    with build_default_server(rotate_refresh_tokens=False) as server:
        first = tokens(http, server)
        for _ in range(2):
            response = refresh(http, server, first["refresh_token"])
            assert response.status_code == 200
            assert "refresh_token" not in response.json()


def test_no_refresh_token_without_the_grant_type(http: httpx.Client) -> None:
    with LocalAuthorizationServer() as server:
        server.register_client(
            "only-code",
            "pw",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code"],
        )
        code, verifier = get_code(http, server, client_id="only-code")
        response = exchange(http, server, code, verifier, client_id="only-code", secret="pw")
    assert response.status_code == 200
    assert "refresh_token" not in response.json()


def test_access_token_lifetime(http: httpx.Client) -> None:
    clock = FakeClock()
    with build_default_server(access_token_lifetime=30, clock=clock) as server:
        body = tokens(http, server)
        assert body["expires_in"] == 30
        assert userinfo_status(http, server, body["access_token"]) == 200
        clock.now += 30
        response = http.get(server.userinfo_endpoint, headers=bearer(body["access_token"]))
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        assert refresh(http, server, body["refresh_token"]).status_code == 200


# --------------------------------------------------------------------------- revocation


def test_revoke_access_token(server: LocalAuthorizationServer, http: httpx.Client) -> None:
    body = tokens(http, server)
    response = http.post(
        server.revocation_endpoint,
        data={"token": body["access_token"], "token_type_hint": "access_token"},
        headers=basic_auth(TEST_CLIENT_ID, TEST_CLIENT_SECRET),
    )
    assert response.status_code == 200
    assert userinfo_status(http, server, body["access_token"]) == 401
    assert refresh(http, server, body["refresh_token"]).status_code == 200


def test_revoke_refresh_token_revokes_the_grant(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    body = tokens(http, server)
    response = http.post(
        server.revocation_endpoint,
        data={"token": body["refresh_token"]},
        headers=basic_auth(TEST_CLIENT_ID, TEST_CLIENT_SECRET),
    )
    assert response.status_code == 200
    assert userinfo_status(http, server, body["access_token"]) == 401
    assert refresh(http, server, body["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoke_unknown_token_and_bad_hint(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    for data in ({"token": "nope"}, {"token": "nope", "token_type_hint": "whatever"}):
        response = http.post(
            server.revocation_endpoint,
            data=data,
            headers=basic_auth(TEST_CLIENT_ID, TEST_CLIENT_SECRET),
        )
        assert response.status_code == 200


def test_public_client_revokes_with_client_id(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    code, verifier = get_code(http, server, client_id=PUBLIC_CLIENT_ID)
    body = exchange(http, server, code, verifier, client_id=PUBLIC_CLIENT_ID, secret=None).json()
    response = http.post(
        server.revocation_endpoint,
        data={"token": body["refresh_token"], "client_id": PUBLIC_CLIENT_ID},
    )
    assert response.status_code == 200
    assert userinfo_status(http, server, body["access_token"]) == 401


def test_revoke_requires_client_authentication(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    body = tokens(http, server)
    response = http.post(
        server.revocation_endpoint,
        data={"token": body["access_token"]},
        headers=basic_auth(TEST_CLIENT_ID, "wrong"),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert userinfo_status(http, server, body["access_token"]) == 200


# --------------------------------------------------------------------------- resources


def test_userinfo_and_echo_require_a_bearer_header(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    body = tokens(http, server)
    token = body["access_token"]
    response = http.put(server.issuer + "/api/echo?a=1", headers=bearer(token), content=b"x" * 123)
    assert response.status_code == 200
    assert response.json() == {
        "sub": "alice",
        "method": "PUT",
        "path": "/api/echo",
        "query": "a=1",
        "body_len": 123,
    }
    for method in ("GET", "POST", "PATCH", "DELETE"):
        echo = http.request(method, server.issuer + "/api/echo", headers=bearer(token))
        assert echo.json()["method"] == method

    missing = http.get(server.userinfo_endpoint)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    # Only the Authorization header counts (not the query or the body).
    assert http.get(server.userinfo_endpoint, params={"access_token": token}).status_code == 401
    assert http.post(server.api_endpoint, data={"access_token": token}).status_code == 401
    for url in (server.userinfo_endpoint, server.api_endpoint):
        invalid = http.get(url, headers=bearer("not-a-token"))
        assert invalid.status_code == 401
        assert 'error="invalid_token"' in invalid.headers["www-authenticate"]


# --------------------------------------------------------------------------- consent


def test_consent_form_deny_and_approve(http: httpx.Client) -> None:
    with build_default_server(auto_consent=False) as server:
        verifier, challenge = pkce_pair()
        page = authorize(http, server, challenge=challenge)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        nonce = re.search(r'name="consent_request" value="([^"]+)"', page.text)
        assert nonce is not None
        denied = http.post(
            server.authorization_endpoint,
            data={"consent_request": nonce.group(1), "decision": "deny"},
        )
        params = redirect_params(denied)
        assert params["error"] == "access_denied"
        assert params["state"] == "state-123"
        assert params["iss"] == server.issuer
        # The consent request is single use.
        replay = http.post(
            server.authorization_endpoint,
            data={"consent_request": nonce.group(1), "decision": "approve"},
        )
        assert replay.status_code == 400

        page = authorize(http, server, challenge=challenge)
        nonce = re.search(r'name="consent_request" value="([^"]+)"', page.text)
        assert nonce is not None
        approved = http.post(
            server.authorization_endpoint,
            data={"consent_request": nonce.group(1), "decision": "approve"},
        )
        code = redirect_params(approved)["code"]
        assert exchange(http, server, code, verifier).status_code == 200


# --------------------------------------------------------------------------- client auth


def test_client_secret_post(http: httpx.Client) -> None:
    with LocalAuthorizationServer() as server:
        server.register_client(
            "poster",
            "post-secret",
            redirect_uris=[REDIRECT_URI],
            token_endpoint_auth_method="client_secret_post",
        )
        code, verifier = get_code(http, server, client_id="poster")
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": LOOPBACK_CALLBACK,
            "code_verifier": verifier,
            "client_id": "poster",
            "client_secret": "post-secret",
        }
        # Basic is not this client's registered method.
        basic = http.post(
            server.token_endpoint,
            data={k: v for k, v in data.items() if k not in ("client_id", "client_secret")},
            headers=basic_auth("poster", "post-secret"),
        )
        assert basic.status_code == 401
        response = http.post(server.token_endpoint, data=data)
    assert response.status_code == 200, response.text


def test_basic_auth_is_form_urlencoded(http: httpx.Client) -> None:
    secret = "s3:cr%t+with é and space"
    with LocalAuthorizationServer() as server:
        server.register_client("odd:client", secret, redirect_uris=[REDIRECT_URI])
        code, verifier = get_code(http, server, client_id="odd:client")
        response = exchange(http, server, code, verifier, client_id="odd:client", secret=secret)
        assert response.status_code == 200, response.text
        # Without the form-urlencoding, '+' is read as a space and ':' splits early.
        raw = base64.b64encode(f"odd:client:{secret}".encode()).decode("ascii")
        code, verifier = get_code(http, server, client_id="odd:client")
        naive = http.post(
            server.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": LOOPBACK_CALLBACK,
                "code_verifier": verifier,
            },
            headers={"Authorization": f"Basic {raw}"},
        )
    assert naive.status_code == 401


def test_wrong_secret_and_mixed_methods(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    code, verifier = get_code(http, server)
    wrong = exchange(http, server, code, verifier, secret="nope")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    mixed = http.post(
        server.token_endpoint,
        data={"grant_type": "authorization_code", "code": code, "client_secret": "x"},
        headers=basic_auth(TEST_CLIENT_ID, TEST_CLIENT_SECRET),
    )
    assert mixed.status_code == 400
    assert mixed.json()["error"] == "invalid_request"
    assert exchange(http, server, code, verifier).status_code == 200


# --------------------------------------------------------------------------- HTTP details


def test_counters(server: LocalAuthorizationServer, http: httpx.Client) -> None:
    assert server.token_requests == 0
    body = tokens(http, server)
    refresh(http, server, body["refresh_token"])
    http.post(server.token_endpoint, data={"grant_type": "password"})
    assert server.token_requests == 3
    log = server.requests_log
    assert log[0] == ("GET", "/authorize")
    assert log.count(("POST", "/token")) == 3
    server.reset_counters()
    assert server.token_requests == 0
    assert server.requests_log == []


def test_unsupported_grant_and_methods(
    server: LocalAuthorizationServer, http: httpx.Client
) -> None:
    response = http.post(
        server.token_endpoint,
        data={"grant_type": "password", "username": "a", "password": "b"},
        headers=basic_auth(TEST_CLIENT_ID, TEST_CLIENT_SECRET),
    )
    assert response.json()["error"] == "unsupported_grant_type"
    assert http.get(server.token_endpoint).status_code == 405
    assert http.get(server.issuer + "/nowhere").status_code == 404


def test_large_bodies_are_refused(server: LocalAuthorizationServer, http: httpx.Client) -> None:
    response = http.post(server.token_endpoint, content=b"a" * (64 * 1024 + 1))
    assert response.status_code == 413
    ok = http.post(server.token_endpoint, content=b"a" * (64 * 1024))
    assert ok.status_code == 400
