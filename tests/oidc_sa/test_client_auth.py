"""Client authentication (RFC 6749 §2.3; RFC 7523 §2.2), the client credentials grant
against a real local endpoint, and the pure pieces (rfc7523, oidc §12.2)."""

from __future__ import annotations

import base64
import datetime
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import jwt
import pytest

import oauthkit
from oauthkit import ClientCredentials, FakeClock
from oauthkit._jwt import SigningKey, load_private_key, verifying_keys_from_jwks
from oauthkit._protocol import oidc, rfc7523
from oauthkit._protocol.rfc6749 import ClientAuth, choose_auth_method, token_request
from oauthkit.client import Credentials
from tests.oidc_sa.keys import pem, rsa_key
from tests.scripted_server import Canned, ScriptedServer

ISSUER = "https://issuer.example"
SECRET = "SECRET-CANARY-client-secret-0123456789abcdef"


def key() -> SigningKey:
    return load_private_key(pem(rsa_key(4)), kid="c1")


def form_of(auth: ClientAuth) -> tuple[dict[str, str], dict[str, str]]:
    request = token_request(ISSUER + "/token", {"grant_type": "client_credentials"}, auth)
    return dict(parse_qsl(request.body.decode())), dict(request.headers)


def test_private_key_jwt_assertion() -> None:
    clock = FakeClock()
    form, headers = form_of(ClientAuth("cid", signing_key=key(), audience=ISSUER, clock=clock))
    assert "authorization" not in headers and form["client_id"] == "cid"
    public = rsa_key(4).public_key()
    claims = jwt.decode(
        form["client_assertion"],
        public,
        algorithms=["RS256"],
        audience=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == claims["sub"] == "cid" and claims["aud"] == ISSUER
    assert claims["iat"] == int(clock.now().timestamp()) and claims["exp"] - claims["iat"] == 60


def test_client_secret_jwt_assertion() -> None:
    form, _ = form_of(ClientAuth("cid", SECRET, "client_secret_jwt", audience=ISSUER))
    claims = jwt.decode(form["client_assertion"], SECRET, algorithms=["HS256"], audience=ISSUER)
    assert claims["sub"] == "cid" and "client_secret" not in form


def test_basic_form_encodes_before_base64() -> None:
    _, headers = form_of(ClientAuth("id:1", "p%s+ :"))
    raw = base64.b64decode(headers["authorization"].split()[1]).decode()
    assert raw == "id%3A1:p%25s%2B%20%3A"


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"method": "private_key_jwt", "audience": ISSUER}, "no key"),
        ({"method": "client_secret_jwt", "audience": ISSUER}, "no secret"),
        ({"method": "client_secret_jwt", "client_secret": SECRET}, "no audience"),
        ({"method": "tls_client_auth"}, "unsupported"),
    ],
)
def test_misconfigured_client_auth(kwargs: dict[str, Any], why: str) -> None:
    with pytest.raises(oauthkit.ConfigurationError):
        ClientAuth("cid", **kwargs)


def test_choose_auth_method_from_metadata() -> None:
    both = ["client_secret_basic", "private_key_jwt", "client_secret_post"]
    assert choose_auth_method(both, has_key=True, has_secret=True) == "private_key_jwt"
    assert choose_auth_method(both, has_key=False, has_secret=True) == "client_secret_basic"
    assert choose_auth_method(["client_secret_post"], has_key=False, has_secret=True) == (
        "client_secret_post"
    )
    assert choose_auth_method(None, has_key=False, has_secret=True) == "client_secret_basic"
    assert choose_auth_method(["none"], has_key=False, has_secret=False) == "none"
    with pytest.raises(oauthkit.ConfigurationError):
        choose_auth_method(["private_key_jwt"], has_key=False, has_secret=True)


def test_rfc7523_claims_bounds() -> None:
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    claims = rfc7523.client_assertion_claims("cid", ISSUER, now)
    assert isinstance(claims["aud"], str)
    assert claims["jti"] != rfc7523.client_assertion_claims("cid", ISSUER, now)["jti"]
    with pytest.raises(oauthkit.ConfigurationError):
        rfc7523.client_assertion_claims("cid", ISSUER, now, lifetime=3600)
    with pytest.raises(oauthkit.ConfigurationError):
        rfc7523.grant_assertion_claims("sa", ISSUER, now, lifetime=7200)
    grant = rfc7523.grant_assertion_claims("sa", ISSUER, now, extra={"exp": 10**12, "x": 1})
    assert grant["exp"] - grant["iat"] == 3600 and grant["x"] == 1


def test_refreshed_id_token_rules_c37() -> None:
    original = {"iss": ISSUER, "sub": "a", "aud": "c", "iat": 1, "auth_time": 5, "nonce": "n"}
    oidc.check_refreshed_id_token(original, {**original, "iat": 2})
    oidc.check_refreshed_id_token(original, {k: v for k, v in original.items() if k != "nonce"})
    for claim, value in [("iss", ISSUER + "/"), ("sub", "b"), ("aud", "d"), ("azp", "c")]:
        with pytest.raises(oauthkit.IdTokenError) as info:
            oidc.check_refreshed_id_token(original, {**original, claim: value})
        assert info.value.error == f"refresh_{claim}_mismatch"
    with pytest.raises(oauthkit.IdTokenError):
        oidc.check_refreshed_id_token(original, {**original, "auth_time": 6})
    with pytest.raises(oauthkit.IdTokenError):
        oidc.check_refreshed_id_token(original, {**original, "nonce": "other"})


def test_unusable_jwks_entries_are_ignored() -> None:
    good = key().public_jwk()
    keys = verifying_keys_from_jwks(
        {
            "keys": [
                good,
                {**good, "use": "enc"},
                {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},  # not on the curve
                {"kty": "oct", "k": "c2VjcmV0"},
                {**good, "alg": "HS256"},
                "junk",
            ]
        }
    )
    assert [k.kid for k in keys] == ["c1"]


# --- client credentials against a real local endpoint -------------------------------------


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def ok(token: str, expires_in: int = 3600) -> Canned:
    return Canned(
        200,
        {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": "a"},
    )


def test_client_credentials_fetch_and_refetch(server: ScriptedServer) -> None:
    clock = FakeClock(datetime.datetime.now(datetime.timezone.utc))
    server.queue("/token", ok("cc-1", 120), ok("cc-2"))
    creds = ClientCredentials("cid", SECRET, server.url + "/token", ["a", "b"], clock=clock)
    assert creds.get_access_token().access_token == "cc-1"
    assert creds.get_access_token().access_token == "cc-1"
    clock.advance(61)  # inside the margin (capped at half the 120 s lifetime)
    assert creds.get_access_token().access_token == "cc-2"
    seen = server.requests_to("/token")
    assert len(seen) == 2
    assert seen[0].form == {"grant_type": "client_credentials", "scope": "a b"}
    assert seen[1].form["scope"] == "a b"  # asks for what is configured, not what was granted
    assert seen[0].headers["authorization"].startswith("Basic ")
    again = Credentials.new_from_json(creds.to_json())
    assert isinstance(again, ClientCredentials) and again.access_token == "cc-2"


def test_client_credentials_with_private_key_jwt(server: ScriptedServer) -> None:
    server.queue("/token", ok("cc-1"))
    creds = ClientCredentials(
        "cid", None, server.url + "/token", signing_key=key(), issuer=server.url
    )
    creds.get_access_token()
    (seen,) = server.requests_to("/token")
    assertion = seen.form["client_assertion"]
    claims = jwt.decode(
        assertion, rsa_key(4).public_key(), algorithms=["RS256"], audience=server.url
    )
    assert claims["iss"] == "cid"
    assert "PRIVATE" not in creds.to_json() and "client_assertion" not in creds.to_json()
    with pytest.raises(oauthkit.ConfigurationError):
        ClientCredentials("cid", None, server.url + "/token", signing_key=key())  # no issuer


def test_client_credentials_secrets_stay_out_of_reprs_and_logs(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.queue(
        "/token",
        Canned(401, {"error": "invalid_client", "error_description": f"bad {SECRET}"}),
    )
    creds = ClientCredentials("cid", SECRET, server.url + "/token")
    with pytest.raises(oauthkit.InvalidClientError) as info:
        creds.get_access_token()
    texts = [repr(creds), str(info.value), repr(info.value)]
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(ClientAuth("cid", SECRET)), repr(key()), repr(creds._client_auth())]
    for text in texts:
        assert SECRET not in text
        assert pem(rsa_key(4)).splitlines()[1] not in text
