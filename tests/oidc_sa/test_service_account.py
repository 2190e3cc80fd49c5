"""ServiceAccountCredentials against a local JWT-bearer token endpoint that verifies every
assertion with the service account's public key (RFC 7523 §2.1)."""

from __future__ import annotations

import asyncio
import base64
import datetime
import io
import json
import logging
import pickle
import threading
from collections.abc import Iterator
from typing import Any

import httplib2
import httpx
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

import oauthkit
from oauthkit import FakeClock
from oauthkit.client import Credentials, OAuth2Credentials
from oauthkit.service_account import ServiceAccountCredentials, _JWTAccessCredentials
from tests.oidc_sa.keys import EMAIL, KEY_ID, keyfile, p12, pem, rsa_key
from tests.oidc_sa.servers import JwtBearerServer

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@pytest.fixture
def endpoint() -> Iterator[JwtBearerServer]:
    with JwtBearerServer(rsa_key().public_key()) as server:
        yield server


def make(endpoint: JwtBearerServer, **kwargs: Any) -> ServiceAccountCredentials:
    return ServiceAccountCredentials.from_json_keyfile_dict(
        keyfile(endpoint.token_uri), scopes=[SCOPE], **kwargs
    )


def test_keyfile_token_uri_is_honoured_and_the_assertion_verifies(
    endpoint: JwtBearerServer,
) -> None:
    creds = make(endpoint)
    info = creds.get_access_token()
    assert info.access_token == "sa-token-1" and 3590 <= info.expires_in <= 3600
    (claims,) = endpoint.claims
    assert claims["iss"] == EMAIL and claims["aud"] == endpoint.token_uri
    assert claims["scope"] == SCOPE and "sub" not in claims
    assert claims["exp"] - claims["iat"] <= 3600
    assert endpoint.headers_seen[0]["kid"] == KEY_ID
    assert creds.service_account_email == EMAIL
    # cached until the refresh margin: no second request
    assert creds.get_access_token().access_token == "sa-token-1"
    assert endpoint.count("/token") == 1


def test_explicit_token_uri_wins_over_the_keyfile(endpoint: JwtBearerServer) -> None:
    data = keyfile("https://oauth2.googleapis.com/token")
    creds = ServiceAccountCredentials.from_json_keyfile_dict(data, token_uri=endpoint.token_uri)
    assert creds.token_uri == endpoint.token_uri
    assert creds.create_scoped_required()
    assert not creds.create_scoped([SCOPE]).create_scoped_required()


def test_keyfile_name_and_refetch_after_the_refresh_margin(
    endpoint: JwtBearerServer, tmp_path: Any
) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(keyfile(endpoint.token_uri)))
    clock = FakeClock(datetime.datetime.now(datetime.timezone.utc))
    creds = ServiceAccountCredentials.from_json_keyfile_name(str(path), SCOPE, clock=clock)
    assert creds.get_access_token().access_token == "sa-token-1"
    clock.advance(3600 - 120)
    assert creds.get_access_token().access_token == "sa-token-1"
    clock.advance(90)  # within the 60 s margin now
    assert creds.get_access_token().access_token == "sa-token-2"
    assert endpoint.count("/token") == 2


def test_32_threads_on_a_cold_account_make_one_token_request(endpoint: JwtBearerServer) -> None:
    creds = make(endpoint)
    endpoint.gate = threading.Event()
    started = threading.Barrier(33)
    results: list[str] = []

    def worker() -> None:
        started.wait()
        results.append(creds.get_access_token().access_token)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    started.wait()
    endpoint.gate.set()
    for t in threads:
        t.join()
    assert results == ["sa-token-1"] * 32
    assert endpoint.count("/token") == 1


async def test_32_tasks_share_one_token_request(endpoint: JwtBearerServer) -> None:
    creds = make(endpoint)
    async with httpx.AsyncClient() as client:
        tokens = await asyncio.gather(*(creds.async_get_access_token(client) for _ in range(32)))
    assert {t.access_token for t in tokens} == {"sa-token-1"}
    assert endpoint.count("/token") == 1


@pytest.mark.parametrize("kind", ["httpx", "requests", "httplib2"])
def test_authorize_any_client(endpoint: JwtBearerServer, kind: str) -> None:
    creds = make(endpoint)
    url = endpoint.url + "/api"
    if kind == "httpx":
        with creds.authorize(httpx.Client()) as client:
            assert client.get(url).status_code == 200
    elif kind == "requests":
        with creds.authorize(requests.Session()) as session:
            assert session.get(url).status_code == 200
    else:
        http = creds.authorize(httplib2.Http())
        try:
            resp, _ = http.request(url)
            assert resp.status == 200
        finally:
            http.close()
    assert endpoint.count("/token") == 1


def test_delegation_and_extra_claims(endpoint: JwtBearerServer) -> None:
    base = make(endpoint)
    delegated = base.create_delegated("user@example.com")
    claimed = delegated.create_with_claims({"target_audience": "https://svc.example"})
    delegated.get_access_token()
    claimed.get_access_token()
    assert endpoint.claims[0]["sub"] == "user@example.com"
    assert endpoint.claims[1]["sub"] == "user@example.com"
    assert endpoint.claims[1]["target_audience"] == "https://svc.example"
    assert base._kwargs == {}  # copies: the original never changes


def test_sign_blob_verifies_with_the_public_key(endpoint: JwtBearerServer) -> None:
    key_id, signature = make(endpoint).sign_blob(b"blob to sign")
    assert key_id == KEY_ID
    rsa_key().public_key().verify(signature, b"blob to sign", padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize("password", [None, "s3cret"])
def test_p12_keyfile_and_buffer(
    endpoint: JwtBearerServer, tmp_path: Any, password: str | None
) -> None:
    data = p12(rsa_key(), (password or "notasecret").encode())
    path = tmp_path / "key.p12"
    path.write_bytes(data)
    a = ServiceAccountCredentials.from_p12_keyfile(
        EMAIL, str(path), password, SCOPE, token_uri=endpoint.token_uri
    )
    b = ServiceAccountCredentials.from_p12_keyfile_buffer(
        EMAIL, io.BytesIO(data), password, SCOPE, token_uri=endpoint.token_uri
    )
    assert a.get_access_token().access_token != b.get_access_token().access_token
    assert endpoint.count("/token") == 2
    again = Credentials.new_from_json(a.to_json(include_private_key=True))
    assert isinstance(again, ServiceAccountCredentials)
    assert again.sign_blob(b"x")[1] == a.sign_blob(b"x")[1]  # PKCS#1 v1.5 is deterministic


def test_stored_json_leaves_the_key_out_unless_asked(endpoint: JwtBearerServer) -> None:
    creds = make(endpoint)
    creds.get_access_token()
    stored = creds.to_json()
    assert "PRIVATE KEY" not in stored and pem(rsa_key()) not in stored
    loaded = Credentials.new_from_json(stored)
    assert isinstance(loaded, ServiceAccountCredentials)
    assert loaded.access_token == creds.access_token  # the cached token is usable
    assert loaded.get_access_token().access_token == "sa-token-1"
    loaded.invalid = True
    with pytest.raises(oauthkit.ConfigurationError) as info:
        loaded.get_access_token()
    assert info.value.error == "no_private_key"
    with_key = ServiceAccountCredentials.from_json(stored, private_key=pem(rsa_key()))
    with_key.access_token = None
    assert with_key.get_access_token().access_token == "sa-token-2"
    assert "PRIVATE KEY" in creds.to_json(include_private_key=True)


def test_classic_json_round_trips_with_oauth2client(endpoint: JwtBearerServer) -> None:
    from oauth2client.service_account import ServiceAccountCredentials as Classic

    classic = Classic.from_json_keyfile_dict(keyfile(endpoint.token_uri), scopes=[SCOPE])
    ours = Credentials.new_from_json(classic.to_json())
    assert isinstance(ours, ServiceAccountCredentials)
    assert ours.token_uri == endpoint.token_uri
    assert ours.get_access_token().access_token == "sa-token-1"
    back = Classic.from_json(ours.to_json(include_private_key=True))
    assert back.service_account_email == EMAIL
    assert back._private_key_id == KEY_ID


def test_self_signed_jwt_access_credentials_need_no_token_endpoint(
    endpoint: JwtBearerServer,
) -> None:
    sa = make(endpoint)
    jwt_creds = sa.create_jwt_access("https://pubsub.googleapis.com/")
    assert isinstance(jwt_creds, _JWTAccessCredentials)
    token = jwt_creds.get_access_token().access_token
    claims = jwt.decode(
        token,
        rsa_key().public_key(),
        algorithms=["RS256"],
        audience="https://pubsub.googleapis.com/",
    )
    assert claims["iss"] == claims["sub"] == EMAIL and claims["exp"] - claims["iat"] == 3600
    assert jwt.get_unverified_header(token)["kid"] == KEY_ID
    assert jwt_creds.get_access_token().access_token == token  # cached
    scoped = sa.create_jwt_access()
    claims = jwt.decode(
        scoped.get_access_token().access_token,
        rsa_key().public_key(),
        algorithms=["RS256"],
        options={"verify_aud": False},
    )
    assert claims["scope"] == SCOPE
    once = jwt_creds.get_access_token(additional_claims={"aud": "https://other.example/"})
    assert once.access_token != token
    assert endpoint.count() == 0
    assert isinstance(jwt_creds.create_scoped([SCOPE]), ServiceAccountCredentials)


def test_classic_jwt_access_json_loads(endpoint: JwtBearerServer) -> None:
    from oauth2client import crypt
    from oauth2client.service_account import _JWTAccessCredentials as Classic

    classic = Classic(
        EMAIL,
        crypt.Signer.from_string(pem(rsa_key())),
        private_key_id=KEY_ID,
        token_uri=endpoint.token_uri,
        additional_claims={"aud": "https://svc.example/"},
    )
    classic._private_key_pkcs8_pem = pem(rsa_key())
    ours = Credentials.new_from_json(classic.to_json())
    assert isinstance(ours, _JWTAccessCredentials)
    token = ours.get_access_token().access_token
    claims = jwt.decode(
        token, rsa_key().public_key(), algorithms=["RS256"], audience="https://svc.example/"
    )
    assert claims["sub"] == EMAIL


def test_pickles_without_the_signer_object(endpoint: JwtBearerServer) -> None:
    creds = make(endpoint)
    creds.get_access_token()
    again = pickle.loads(pickle.dumps(creds))
    assert again.sign_blob(b"x") == creds.sign_blob(b"x")


def test_not_an_oauth2_credentials_loop(endpoint: JwtBearerServer) -> None:
    assert isinstance(make(endpoint), OAuth2Credentials)


def test_wrong_key_is_refused_by_the_endpoint(endpoint: JwtBearerServer) -> None:
    data = keyfile(endpoint.token_uri, n=1)  # a key the endpoint does not know
    creds = ServiceAccountCredentials.from_json_keyfile_dict(data, scopes=SCOPE)
    with pytest.raises(oauthkit.InvalidGrantError):
        creds.get_access_token()


# --- no secrets in reprs, logs or errors (SECURITY.md C23, C50) -----------------------------


def _secret_fragments() -> list[str]:
    lines = pem(rsa_key()).splitlines()[1:-1]
    return lines[:3]


def test_no_key_or_assertion_in_reprs_logs_or_errors(
    endpoint: JwtBearerServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    creds = make(endpoint)
    creds.get_access_token()
    texts: list[str] = [repr(creds), str(creds), repr(creds._signer)]
    # a hostile endpoint echoing the assertion back in its error
    echoed: list[str] = []

    class Echo(JwtBearerServer):
        def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
            form = dict(__import__("urllib.parse").parse.parse_qsl(body.decode()))
            echoed.append(form["assertion"])
            return (
                400,
                {"Content-Type": "application/json"},
                json.dumps(
                    {"error": "invalid_grant", "error_description": "bad " + form["assertion"]}
                ).encode(),
            )

    with Echo(rsa_key().public_key()) as hostile:
        bad = ServiceAccountCredentials.from_json_keyfile_dict(keyfile(hostile.token_uri), SCOPE)
        with pytest.raises(oauthkit.OAuthError) as info:
            bad.get_access_token()
    texts += [str(info.value), repr(info.value), info.value.description or ""]
    texts += [r.getMessage() for r in caplog.records]
    assertion = echoed[0]
    for text in texts:
        assert assertion not in text
        assert assertion.split(".")[2] not in text
        for fragment in _secret_fragments():
            assert fragment not in text
    assert base64.b64encode(b"x")  # keep the import honest
