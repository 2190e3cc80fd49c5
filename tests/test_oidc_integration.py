"""The reference page's examples, run against a real, independent authorization server
(oidc-provider, OpenID Certified) on 127.0.0.1, with a scripted user agent playing the user."""

from __future__ import annotations

import copy
import datetime
import json
import time
from collections.abc import Callable
from typing import Any

import httplib2
import httpx
import pytest
import requests

from oauthkit._errors import AccessDeniedError, AuthorizationPendingError, InvalidGrantError
from oauthkit.client import (
    AccessTokenRefreshError,
    FlowExchangeError,
    OAuth2Credentials,
    OAuth2WebServerFlow,
    flow_from_clientsecrets,
)
from tests.oidc.fixture import (
    LOOPBACK_REDIRECT_URIS,
    NATIVE_BASIC_SECRET,
    WEB_BASIC_SECRET,
    WEB_POST_SECRET,
    WEB_REDIRECT_URI,
    OidcServer,
)
from tests.oidc.useragent import ScriptedUserAgent

pytestmark = pytest.mark.oidc

SCOPE = "openid email profile offline_access"
CLIENTS = {
    "web-basic": (WEB_BASIC_SECRET, "client_secret_basic"),
    "web-post": (WEB_POST_SECRET, "client_secret_post"),
}


def make_flow(
    server: OidcServer, client_id: str = "web-basic", **kwargs: Any
) -> OAuth2WebServerFlow:
    secret, method = CLIENTS.get(client_id, (None, None))
    options: dict[str, Any] = {
        "redirect_uri": WEB_REDIRECT_URI,
        "auth_uri": server.authorization_endpoint,
        "token_uri": server.token_endpoint,
        "revoke_uri": server.revocation_endpoint,
        "token_info_uri": server.introspection_endpoint,
        "device_uri": server.device_authorization_endpoint,
        "issuer": server.issuer,
        "prompt": "consent",
    }
    if method:
        options["token_endpoint_auth_method"] = method
    options.update(kwargs)
    return OAuth2WebServerFlow(client_id, secret, SCOPE, **options)


def login(server: OidcServer, flow: OAuth2WebServerFlow, user: str = "alice") -> OAuth2Credentials:
    url = flow.step1_get_authorize_url()
    with ScriptedUserAgent(server.issuer) as agent:
        redirect = agent.authorize(url, login=user)
    return flow.step2_exchange(redirect)


def introspect(server: OidcServer, token: str) -> dict[str, Any]:
    r = httpx.post(
        server.introspection_endpoint,
        data={"token": token},
        auth=("native-basic", NATIVE_BASIC_SECRET),
    )
    r.raise_for_status()
    return dict(r.json())


@pytest.mark.parametrize("client_id", ["web-basic", "web-post"])
def test_code_flow_with_pkce_for_confidential_clients(
    oidc_server: OidcServer, client_id: str
) -> None:
    flow = make_flow(oidc_server, client_id)
    creds = login(oidc_server, flow)
    assert creds.access_token and creds.refresh_token
    assert creds.id_token is not None and creds.id_token["sub"] == "alice"
    assert creds.id_token["nonce"] == flow.nonce
    assert creds.id_token_jwt and creds.id_token_jwt.count(".") == 2
    assert creds.has_scopes(["openid", "offline_access"])
    assert creds.token_expiry is not None and creds.token_expiry.tzinfo is not None
    assert introspect(oidc_server, creds.access_token)["active"] is True


def test_classic_json_of_live_credentials_round_trips(oidc_server: OidcServer) -> None:
    creds = login(oidc_server, make_flow(oidc_server))
    again = OAuth2Credentials.new_from_json(creds.to_json())
    assert isinstance(again, OAuth2Credentials)
    assert (again.access_token, again.refresh_token) == (creds.access_token, creds.refresh_token)
    assert again.get_access_token().access_token == creds.access_token


def userinfo_httplib2(creds: OAuth2Credentials, url: str) -> dict[str, Any]:
    http = creds.authorize(httplib2.Http())
    try:
        resp, content = http.request(url)
        assert resp.status == 200, content
        return dict(json.loads(content))
    finally:
        http.close()


def userinfo_requests(creds: OAuth2Credentials, url: str) -> dict[str, Any]:
    with creds.authorize(requests.Session()) as session:
        r = session.get(url)
        assert r.status_code == 200, r.text
        return dict(r.json())


def userinfo_httpx(creds: OAuth2Credentials, url: str) -> dict[str, Any]:
    with creds.authorize(httpx.Client()) as client:
        r = client.get(url)
        assert r.status_code == 200, r.text
        return dict(r.json())


def userinfo_httpx_async(creds: OAuth2Credentials, url: str) -> dict[str, Any]:
    import asyncio

    async def main() -> dict[str, Any]:
        async with creds.authorize(httpx.AsyncClient()) as client:
            r = await client.get(url)
            assert r.status_code == 200, r.text
            return dict(r.json())

    return asyncio.run(main())


CALLERS: dict[str, Callable[[OAuth2Credentials, str], dict[str, Any]]] = {
    "httplib2": userinfo_httplib2,
    "requests": userinfo_requests,
    "httpx": userinfo_httpx,
    "httpx-async": userinfo_httpx_async,
}


@pytest.mark.parametrize("transport", sorted(CALLERS))
def test_authorized_userinfo_call(oidc_server: OidcServer, transport: str) -> None:
    creds = login(oidc_server, make_flow(oidc_server), user=f"user-{transport}")
    info = CALLERS[transport](creds, oidc_server.userinfo_endpoint)
    assert info["sub"] == f"user-{transport}"
    assert info["email"] == f"user-{transport}@example.test"


def test_refresh_rotates_and_old_refresh_token_is_dead(oidc_server: OidcServer) -> None:
    creds = login(oidc_server, make_flow(oidc_server))
    stale = copy.copy(creds)
    stale.__setstate__(creds.__getstate__())
    old_access, old_refresh = creds.access_token, creds.refresh_token
    creds.refresh()
    assert creds.access_token != old_access
    assert creds.refresh_token not in (None, old_refresh)
    assert creds.id_token is not None and creds.id_token["sub"] == "alice"
    assert userinfo_httpx(creds, oidc_server.userinfo_endpoint)["sub"] == "alice"
    # A second holder of the old refresh token: the server detects the reuse.
    with pytest.raises(InvalidGrantError) as info:
        stale.refresh()
    assert isinstance(info.value, AccessTokenRefreshError)
    assert stale.invalid


def wait_until_inactive(server: OidcServer, token: str, limit: float = 15.0) -> None:
    """Block until the server itself says the token is expired (a condition, not a guess)."""
    deadline = time.monotonic() + limit
    while introspect(server, token)["active"]:
        assert time.monotonic() < deadline, "token never expired"
        time.sleep(0.1)


def test_short_lived_token_is_refreshed_on_expiry_and_on_401(
    oidc_server_factory: Callable[..., OidcServer],
) -> None:
    # oidc-provider counts lifetimes in whole seconds from a truncated iat, so a token may die
    # up to 1 s before issue time + TTL; with TTL 3 our refresh margin (half the lifetime)
    # still fires before the server's expiry.
    server = oidc_server_factory({"ttl": {"AccessToken": 3}})
    creds = login(server, make_flow(server))
    first = creds.access_token
    assert first is not None
    wait_until_inactive(server, first)
    with creds.authorize(requests.Session()) as session:
        # Proactive: the credentials know the token's lifetime and refresh before sending.
        r = session.get(server.userinfo_endpoint)
        assert (r.status_code, r.history) == (200, [])
        second = creds.access_token
        assert second not in (None, first)
        # Reactive: the client believes the token good, the server answers 401: one refresh,
        # one replay.
        wait_until_inactive(server, second or "")
        creds.token_expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
            hours=1
        )
        r = session.get(server.userinfo_endpoint)
        assert r.status_code == 200 and r.json()["sub"] == "alice"
        assert [h.status_code for h in r.history] == [401]
    assert creds.access_token not in (first, second)


def test_revoke_kills_the_grant(oidc_server: OidcServer) -> None:
    creds = login(oidc_server, make_flow(oidc_server))
    access, refresh = creds.access_token or "", creds.refresh_token or ""
    creds.revoke()
    assert creds.invalid
    assert introspect(oidc_server, access) == {"active": False}
    assert introspect(oidc_server, refresh) == {"active": False}
    revived = OAuth2Credentials.from_json(creds.to_json())
    revived.invalid = False
    with pytest.raises(InvalidGrantError):
        revived.refresh()


def test_retrieve_scopes_through_introspection(oidc_server: OidcServer) -> None:
    creds = login(oidc_server, make_flow(oidc_server))
    assert creds.retrieve_scopes() == set(SCOPE.split())


def test_public_native_client_on_loopback_any_port(oidc_server: OidcServer) -> None:
    flow = make_flow(oidc_server, "public-native", redirect_uri="http://127.0.0.1:45127/callback")
    creds = login(oidc_server, flow)
    assert creds.client_secret is None and creds.refresh_token
    creds.refresh()  # public client: refresh with client_id only
    assert userinfo_httpx(creds, oidc_server.userinfo_endpoint)["sub"] == "alice"
    assert LOOPBACK_REDIRECT_URIS[0].startswith("http://127.0.0.1/")


def test_user_denies_consent(oidc_server: OidcServer) -> None:
    flow = make_flow(oidc_server)
    url = flow.step1_get_authorize_url()
    with ScriptedUserAgent(oidc_server.issuer) as agent:
        redirect = agent.authorize(url, consent=False)
    with pytest.raises(FlowExchangeError) as info:
        flow.step2_exchange(redirect)
    assert info.value.error == "access_denied"


def test_redirect_from_another_flow_is_refused(oidc_server: OidcServer) -> None:
    victim, attacker = make_flow(oidc_server), make_flow(oidc_server)
    victim.step1_get_authorize_url()
    url = attacker.step1_get_authorize_url()
    with ScriptedUserAgent(oidc_server.issuer) as agent:
        redirect = agent.authorize(url, login="mallory")
    with pytest.raises(FlowExchangeError) as info:
        victim.step2_exchange(redirect)
    assert info.value.error == "state_mismatch"


def test_flow_from_clientsecrets_against_oidc_provider(
    oidc_server: OidcServer, tmp_path: Any
) -> None:
    path = tmp_path / "client_secrets.json"
    path.write_text(
        json.dumps(
            {
                "web": {
                    "client_id": "web-basic",
                    "client_secret": WEB_BASIC_SECRET,
                    "redirect_uris": [WEB_REDIRECT_URI],
                    "auth_uri": oidc_server.authorization_endpoint,
                    "token_uri": oidc_server.token_endpoint,
                    "revoke_uri": oidc_server.revocation_endpoint,
                    "issuer": oidc_server.issuer,
                }
            }
        )
    )
    flow = flow_from_clientsecrets(
        str(path), scope=SCOPE, redirect_uri=WEB_REDIRECT_URI, prompt="consent"
    )
    creds = login(oidc_server, flow)
    assert userinfo_httplib2(creds, oidc_server.userinfo_endpoint)["sub"] == "alice"


def test_classic_device_flow_single_polls(oidc_server: OidcServer) -> None:
    flow = make_flow(oidc_server, "public-native", redirect_uri=None)
    info = flow.step1_get_device_and_user_codes()
    assert info.user_code and info.verification_url.startswith(oidc_server.issuer)
    with pytest.raises(AuthorizationPendingError) as pending:
        flow.step2_exchange(device_flow_info=info)
    assert isinstance(pending.value, FlowExchangeError)
    with ScriptedUserAgent(oidc_server.issuer) as agent:
        agent.device_login(
            info.verification_url, None if "user_code" in info.verification_url else info.user_code
        )
    creds = flow.step2_exchange(device_flow_info=info)
    assert userinfo_httpx(creds, oidc_server.userinfo_endpoint)["sub"] == "alice"


def test_device_flow_denied(oidc_server: OidcServer) -> None:
    flow = make_flow(oidc_server, "public-native", redirect_uri=None)
    info = flow.step1_get_device_and_user_codes()
    with ScriptedUserAgent(oidc_server.issuer) as agent:
        agent.device_login(
            info.verification_url,
            None if "user_code" in info.verification_url else info.user_code,
            consent=False,
        )
    with pytest.raises(AccessDeniedError):
        flow.step2_exchange(device_flow_info=info)
