"""ID-token validation (OIDC Core §3.1.3.7; SECURITY.md §1.3) against a local issuer whose
JWKS is served over real HTTP, with hostile tokens built here. Every refusal is a typed
IdTokenError whose ``error`` names the check; no request ever goes to a URL in a token."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

import oauthkit
from oauthkit import FakeClock, IdTokenError, IdTokenVerifier, JwksCache
from oauthkit.client import VerifyJwtTokenError, verify_id_token
from tests.oidc_sa.keys import certificate, rsa_key
from tests.oidc_sa.servers import StaticServer

CLIENT = "client-1"
KID = "issuer-key-1"


def jwk_of(key: Any, kid: str) -> dict[str, Any]:
    data: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**data, "kid": kid, "alg": "RS256", "use": "sig"}


@pytest.fixture
def issuer() -> Iterator[StaticServer]:
    with StaticServer() as server:
        server.docs["/jwks"] = {
            "keys": [
                jwk_of(rsa_key(2), KID),
                {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},  # ignored (C39)
                {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},  # ignored: not a public key
            ]
        }
        server.docs["/.well-known/openid-configuration"] = {
            "issuer": server.url,
            "jwks_uri": server.url + "/jwks",
            "token_endpoint": server.url + "/token",
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
        }
        yield server


@pytest.fixture
def trap() -> Iterator[StaticServer]:
    """Where hostile headers point: it must never receive a request."""
    with StaticServer({"/jwks": {"keys": [jwk_of(rsa_key(3), "attacker")]}}) as server:
        yield server


def claims(issuer: StaticServer, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": issuer.url,
        "sub": "alice",
        "aud": CLIENT,
        "iat": now,
        "exp": now + 600,
        "nonce": "n-1",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = None, **headers: Any) -> str:
    headers.setdefault("kid", KID)
    return jwt.encode(payload, key or rsa_key(2), algorithm="RS256", headers=headers)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def verifier(issuer: StaticServer, clock: Any = None, **kwargs: Any) -> IdTokenVerifier:
    clock = clock or oauthkit._clock.SYSTEM_CLOCK  # type: ignore[attr-defined]
    jwks = JwksCache(issuer.url + "/jwks", clock=clock)
    return IdTokenVerifier(issuer.url, CLIENT, jwks, clock=clock, **kwargs)


def refused(v: IdTokenVerifier, token: str, **kwargs: Any) -> str:
    with pytest.raises(IdTokenError) as info:
        v.verify(token, **kwargs)
    parts = token.split(".")
    if len(parts) == 3 and len(parts[1]) > 8:  # the token never appears in the error
        assert token not in str(info.value) and parts[1] not in repr(info.value)
    return info.value.error


def test_a_good_token_validates(issuer: StaticServer) -> None:
    at = "access-token-value"
    digest = hashlib.sha256(at.encode()).digest()[:16]
    at_hash = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    token = sign(claims(issuer, at_hash=at_hash))
    got = verifier(issuer).verify(token, nonce="n-1", access_token=at)
    assert got["sub"] == "alice"
    assert issuer.count("/jwks") == 1


# --- the hostile tokens ------------------------------------------------------------------


def test_alg_none(issuer: StaticServer) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(issuer))}."
    assert refused(verifier(issuer), token) == "alg_none"
    token = f"{b64({'alg': 'NoNe'})}.{b64(claims(issuer))}."
    assert refused(verifier(issuer), token) == "alg_none"


def test_hs256_signed_with_the_public_key(issuer: StaticServer) -> None:
    public_pem = (
        rsa_key(2)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    head = b64({"alg": "HS256", "typ": "JWT", "kid": KID})
    body = b64(claims(issuer))
    import hmac as _hmac

    mac = _hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    token = f"{head}.{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert refused(verifier(issuer), token) == "alg_not_allowed"
    # even a caller who allows HS256 (with its client secret) is not fooled
    lax = verifier(issuer, algorithms=["RS256", "HS256"], client_secret="the-client-secret")
    assert refused(lax, token) == "invalid_signature"


@pytest.mark.parametrize(
    ("iss", "why"),
    [("https://evil.example", "foreign"), ("{url}/", "trailing slash"), ("{URL}", "case")],
)
def test_wrong_issuer(issuer: StaticServer, iss: str, why: str) -> None:
    value = iss.format(url=issuer.url, URL=issuer.url.upper())
    assert refused(verifier(issuer), sign(claims(issuer, iss=value))) == "iss_mismatch", why


def test_foreign_audience(issuer: StaticServer) -> None:
    v = verifier(issuer)
    assert refused(v, sign(claims(issuer, aud="someone-else"))) == "aud_mismatch"
    assert refused(v, sign(claims(issuer, aud=[CLIENT, "other"]))) == "untrusted_aud"
    assert refused(v, sign(claims(issuer, azp="other"))) == "azp_mismatch"
    assert refused(v, sign(claims(issuer, aud=None))) == "aud_mismatch"


def test_expired_and_not_yet_valid_with_leeway(issuer: StaticServer) -> None:
    now = int(time.time())
    v = verifier(issuer, leeway=datetime.timedelta(seconds=30))
    assert refused(v, sign(claims(issuer, exp=now - 31))) == "expired"
    v.verify(sign(claims(issuer, exp=now - 20)))  # within the leeway
    assert refused(v, sign(claims(issuer, nbf=now + 120))) == "not_yet_valid"
    assert refused(v, sign(claims(issuer, iat=now + 120))) == "iat_in_future"
    assert refused(v, sign(claims(issuer, iat=None))) == "missing_iat"
    assert refused(v, sign(claims(issuer, exp=None))) == "missing_exp"


def test_bad_signature(issuer: StaticServer) -> None:
    head, _body, sig = sign(claims(issuer)).split(".")
    forged = f"{head}.{b64(claims(issuer, sub='mallory'))}.{sig}"
    assert refused(verifier(issuer), forged) == "invalid_signature"
    other_key = sign(claims(issuer), key=rsa_key(3))  # right kid, wrong key
    assert refused(verifier(issuer), other_key) == "invalid_signature"


def test_unknown_kid_refetches_at_a_bounded_rate(issuer: StaticServer) -> None:
    clock = FakeClock(datetime.datetime.now(datetime.timezone.utc))
    v = verifier(issuer, clock=clock)
    for n in range(5):
        token = sign(claims(issuer), kid=f"made-up-{n}")
        assert refused(v, token) == "unknown_kid"
    assert issuer.count("/jwks") == 2  # first fetch + one refetch per interval
    clock.advance(61)
    assert refused(v, sign(claims(issuer), kid="made-up-again")) == "unknown_kid"
    assert issuer.count("/jwks") == 3


def test_key_rotation_succeeds_after_one_refetch(issuer: StaticServer) -> None:
    v = verifier(issuer)
    v.verify(sign(claims(issuer)), nonce="n-1")
    issuer.docs["/jwks"] = {"keys": [jwk_of(rsa_key(2), KID), jwk_of(rsa_key(1), "rotated")]}
    v.verify(sign(claims(issuer), key=rsa_key(1), kid="rotated"))
    assert issuer.count("/jwks") == 2


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk", "x5c"])
def test_key_headers_pointing_elsewhere(
    issuer: StaticServer, trap: StaticServer, header: str
) -> None:
    attacker = rsa_key(3)
    value: Any = {
        "jku": trap.url + "/jwks",
        "x5u": trap.url + "/cert.pem",
        "jwk": jwk_of(attacker, "attacker"),
        "x5c": [
            base64.b64encode(
                certificate(attacker).public_bytes(serialization.Encoding.DER)
            ).decode()
        ],
    }[header]
    token = sign(claims(issuer), key=attacker, kid="attacker", **{header: value})
    assert refused(verifier(issuer), token) == "forbidden_header"
    same_kid = sign(claims(issuer), key=attacker, **{header: value})
    assert refused(verifier(issuer), same_kid) == "forbidden_header"
    assert trap.count() == 0


def test_other_token_types_are_not_id_tokens(issuer: StaticServer) -> None:
    v = verifier(issuer)
    assert refused(v, sign(claims(issuer), typ="at+jwt")) == "wrong_token_type"
    logout = claims(
        issuer, nonce=None, events={"http://schemas.openid.net/event/backchannel-logout": {}}
    )
    assert refused(v, sign(logout)) == "wrong_token_type"


def test_unknown_crit(issuer: StaticServer) -> None:
    token = sign(claims(issuer), crit=["exp-ext"], **{"exp-ext": 1})
    assert refused(verifier(issuer), token) == "unsupported_crit"


def test_nonce_and_at_hash(issuer: StaticServer) -> None:
    v = verifier(issuer)
    assert refused(v, sign(claims(issuer)), nonce="other") == "nonce_mismatch"
    assert refused(v, sign(claims(issuer, nonce=None)), nonce="n-1") == "nonce_mismatch"
    token = sign(claims(issuer, at_hash="AAAAAAAAAAAAAAAAAAAAAA"))
    assert refused(v, token, access_token="the-access-token") == "at_hash_mismatch"


def test_empty_allow_list_allows_nothing(issuer: StaticServer) -> None:
    assert refused(verifier(issuer, algorithms=[]), sign(claims(issuer))) == "alg_not_allowed"
    with pytest.raises(oauthkit.ConfigurationError):
        verifier(issuer, algorithms=["none"])


def test_not_a_jwt(issuer: StaticServer) -> None:
    for junk in ("", "a.b", "a.b.c", "x" * 70000, "e30.e30.e30.e30.e30"):
        assert refused(verifier(issuer), junk) == "malformed"


def test_kid_absent_needs_a_single_key(issuer: StaticServer) -> None:
    token = jwt.encode(claims(issuer), rsa_key(2), algorithm="RS256")  # no kid
    verifier(issuer).verify(token)  # one usable key: accepted (OIDC Core §10.1)
    issuer.docs["/jwks"] = {"keys": [jwk_of(rsa_key(2), KID), jwk_of(rsa_key(1), "k2")]}
    assert refused(verifier(issuer), token) == "kid_required"


# --- discovery --------------------------------------------------------------------------


def test_discovery_issuer_must_match_exactly(issuer: StaticServer) -> None:
    meta = oauthkit.discover(issuer.url)
    assert meta.issuer == issuer.url and meta.jwks_uri == issuer.url + "/jwks"
    with pytest.raises(oauthkit.InvalidResponseError) as info:
        oauthkit.discover(issuer.url + "/")
    assert info.value.error == "issuer_mismatch"
    issuer.docs["/.well-known/openid-configuration"]["issuer"] = issuer.url + "/"
    with pytest.raises(oauthkit.InvalidResponseError) as info:
        oauthkit.discover(issuer.url)
    assert info.value.error == "issuer_mismatch"


def test_verifier_from_metadata(issuer: StaticServer) -> None:
    meta = oauthkit.discover(issuer.url)
    v = IdTokenVerifier.from_metadata(meta, CLIENT)
    assert v.verify(sign(claims(issuer)))["sub"] == "alice"


# --- the classic verify_id_token -------------------------------------------------------


def test_classic_verify_id_token_with_google_style_certs() -> None:
    pem = certificate(rsa_key(2)).public_bytes(serialization.Encoding.PEM).decode()
    with StaticServer({"/certs": {KID: pem}, "/v3": {"keys": [jwk_of(rsa_key(2), KID)]}}) as g:
        now = int(time.time())
        payload = {
            "iss": "https://accounts.google.com",
            "aud": CLIENT,
            "sub": "123",
            "iat": now,
            "exp": now + 300,
        }
        token = sign(payload)
        assert verify_id_token(token, CLIENT, cert_uri=g.url + "/certs")["sub"] == "123"
        payload["iss"] = "accounts.google.com"
        assert verify_id_token(sign(payload), CLIENT, cert_uri=g.url + "/v3")["sub"] == "123"
        with pytest.raises(VerifyJwtTokenError) as info:
            verify_id_token(token, "other-client", cert_uri=g.url + "/certs")
        assert info.value.error == "aud_mismatch"
        with pytest.raises(VerifyJwtTokenError) as info:
            verify_id_token(token, CLIENT, cert_uri=g.url + "/missing")
        assert isinstance(info.value, oauthkit.InvalidResponseError)
        payload["iss"] = "https://accounts.google.com.evil"
        with pytest.raises(VerifyJwtTokenError) as info:
            verify_id_token(sign(payload), CLIENT, cert_uri=g.url + "/certs")
        assert info.value.error == "iss_mismatch"
