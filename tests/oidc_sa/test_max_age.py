"""``max_age`` / ``auth_time`` and ``acr`` (OIDC Core §3.1.3.7 items 12-13; SECURITY.md C34):
pure checks on ID tokens built here, the flow's options (sent, kept across pickle and
JSON), and code flows against the real oidc-provider where an injected clock moves "now"
past ``auth_time + max_age + leeway``."""

from __future__ import annotations

import datetime
import pickle
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

import oauthkit
from oauthkit import FakeClock, IdTokenError
from oauthkit._jwt import VerifyingKey
from oauthkit._protocol import oidc
from oauthkit.client import FlowExchangeError, OAuth2WebServerFlow
from tests.oidc.fixture import WEB_BASIC_SECRET, WEB_REDIRECT_URI, OidcServer
from tests.oidc.useragent import ScriptedUserAgent
from tests.oidc_sa.keys import rsa_key

ISSUER = "https://issuer.example"
CLIENT = "client-1"
KID = "k1"
NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
T = int(NOW.timestamp())
MAX_AGE = datetime.timedelta(seconds=60)
SCOPE = "openid email profile offline_access"


def id_token(**over: Any) -> str:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": CLIENT,
        "iat": T,
        "exp": T + 600,
        "auth_time": T - 10,
    }
    claims.update(over)
    payload = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(payload, rsa_key(2), algorithm="RS256", headers={"kid": KID})


def validate(token: str, **kwargs: Any) -> dict[str, Any]:
    key = VerifyingKey(rsa_key(2).public_key(), "RS256", KID, "RSA")
    kwargs.setdefault("now", NOW)
    return oidc.validate_id_token(token, keys=[key], issuer=ISSUER, client_id=CLIENT, **kwargs)


def refused(token: str, **kwargs: Any) -> str:
    with pytest.raises(IdTokenError) as info:
        validate(token, **kwargs)
    assert token not in str(info.value)
    return info.value.error


# --- the pure check (OIDC Core §3.1.3.7 item 13) -------------------------------------------


def test_auth_time_is_required_only_when_max_age_was_sent() -> None:
    token = id_token(auth_time=None)
    assert "auth_time" not in validate(token)  # nothing asked, nothing required
    assert refused(token, max_age=MAX_AGE) == "missing_auth_time"
    with pytest.raises(IdTokenError) as info:
        oidc.check_auth_time({"auth_time": None}, MAX_AGE, now=NOW)  # null is absent
    assert info.value.error == "missing_auth_time"


def test_auth_time_older_than_max_age_plus_leeway_is_refused() -> None:
    # default leeway 60 s: the limit is auth_time + 60 + 60 >= now
    assert refused(id_token(auth_time=T - 121), max_age=MAX_AGE) == "auth_time_too_old"
    assert refused(id_token(auth_time=T - 3600), max_age=MAX_AGE) == "auth_time_too_old"
    zero = datetime.timedelta(0)
    assert refused(id_token(auth_time=T - 61), max_age=MAX_AGE, leeway=zero) == (
        "auth_time_too_old"
    )
    with pytest.raises(IdTokenError) as info:
        oidc.check_auth_time({"auth_time": T - 1}, datetime.timedelta(0), now=NOW, leeway=zero)
    assert info.value.error == "auth_time_too_old"  # max_age=0: "authenticate right now"


def test_auth_time_within_max_age_plus_leeway_passes() -> None:
    assert validate(id_token(auth_time=T - 120), max_age=MAX_AGE)["auth_time"] == T - 120
    assert validate(id_token(auth_time=T - 30), max_age=MAX_AGE)["auth_time"] == T - 30
    zero = datetime.timedelta(0)
    assert validate(id_token(auth_time=T - 60), max_age=MAX_AGE, leeway=zero)
    # NumericDate may have a fraction (RFC 7519 §2); the boundary is inclusive
    assert oidc.check_auth_time({"auth_time": T - 119.5}, MAX_AGE, now=NOW) == T - 119.5
    # a small clock skew forward is tolerated, a large one is not
    assert validate(id_token(auth_time=T + 60), max_age=MAX_AGE)
    assert refused(id_token(auth_time=T + 61), max_age=MAX_AGE) == "auth_time_in_future"


@pytest.mark.parametrize("bad", [str(T), True, [T], {"t": T}], ids=["str", "bool", "list", "obj"])
def test_non_numeric_auth_time_is_refused(bad: Any) -> None:
    assert refused(id_token(auth_time=bad), max_age=MAX_AGE) == "invalid_auth_time"


def test_signature_and_issuer_are_checked_before_auth_time() -> None:
    # a forged token with a fine auth_time is refused for what it is
    forged = jwt.encode(
        {"iss": ISSUER, "aud": CLIENT, "iat": T, "exp": T + 60, "auth_time": T},
        rsa_key(3),
        algorithm="RS256",
        headers={"kid": KID},
    )
    assert refused(forged, max_age=MAX_AGE) == "invalid_signature"
    assert refused(id_token(iss="https://evil.example", auth_time=None), max_age=MAX_AGE) == (
        "iss_mismatch"
    )


# --- acr (OIDC Core §3.1.3.7 item 12: the client's policy) ---------------------------------


def test_acr_must_be_one_the_client_accepts() -> None:
    accepted = ["urn:example:mfa", "urn:example:hwk"]
    assert oidc.check_acr({"acr": "urn:example:hwk"}, accepted) == "urn:example:hwk"
    for claims in ({}, {"acr": "urn:example:pwd"}, {"acr": ["urn:example:mfa"]}, {"acr": None}):
        with pytest.raises(IdTokenError) as info:
            oidc.check_acr(claims, accepted)
        assert info.value.error == "acr_not_accepted"


# --- the flow's options -------------------------------------------------------------------


def offline_flow(**kwargs: Any) -> OAuth2WebServerFlow:
    kwargs.setdefault("scope", "openid email")
    return OAuth2WebServerFlow(
        CLIENT,
        "secret",
        redirect_uri="https://app.example/cb",
        auth_uri=ISSUER + "/auth",
        token_uri=ISSUER + "/token",
        issuer=ISSUER,
        **kwargs,
    )


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_max_age_is_sent_and_survives_pickle_and_json() -> None:
    flow = offline_flow(max_age=60)
    query = query_of(flow.step1_get_authorize_url())
    assert query["max_age"] == ["60"]
    for again in (
        pickle.loads(pickle.dumps(flow)),
        OAuth2WebServerFlow.from_json(flow.to_json(), client_secret="secret"),
    ):
        assert again.max_age == 60 and again.nonce == flow.nonce
        assert query_of(again.step1_get_authorize_url())["max_age"] == ["60"]
    plain = offline_flow()
    assert "max_age" not in query_of(plain.step1_get_authorize_url())
    # a flow pickled before the option existed restores with no max_age
    state = plain.__getstate__()
    del state["max_age"], state["require_acr"]
    old = OAuth2WebServerFlow.__new__(OAuth2WebServerFlow)
    old.__setstate__(state)
    assert old.max_age is None and old.require_acr is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_age": -1},
        {"max_age": "60"},
        {"max_age": True},
        {"max_age": 1.5},
        {"max_age": 60, "scope": "email"},  # no openid, no ID token to check
        {"require_acr": ["urn:example:mfa"], "scope": "email"},
        {"require_acr": [1]},
    ],
    ids=["negative", "string", "bool", "float", "max_age-no-openid", "acr-no-openid", "acr-int"],
)
def test_bad_max_age_or_require_acr_fails_early(kwargs: dict[str, Any]) -> None:
    with pytest.raises(oauthkit.ConfigurationError):
        offline_flow(**kwargs)


def test_require_acr_sends_acr_values_and_survives_json() -> None:
    flow = offline_flow(require_acr="urn:example:mfa urn:example:hwk")
    assert flow.require_acr == ["urn:example:mfa", "urn:example:hwk"]
    assert query_of(flow.step1_get_authorize_url())["acr_values"] == [
        "urn:example:mfa urn:example:hwk"
    ]
    again = OAuth2WebServerFlow.from_json(flow.to_json(), client_secret="secret")
    assert again.require_acr == flow.require_acr
    explicit = offline_flow(require_acr=["urn:example:mfa"], acr_values="urn:example:pwd")
    assert query_of(explicit.step1_get_authorize_url())["acr_values"] == ["urn:example:pwd"]


# --- against oidc-provider ----------------------------------------------------------------


def live_flow(server: OidcServer, clock: FakeClock, *, verified: bool = True, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "redirect_uri": WEB_REDIRECT_URI,
        "auth_uri": server.authorization_endpoint,
        "token_uri": server.token_endpoint,
        "revoke_uri": server.revocation_endpoint,
        "issuer": server.issuer,
        "token_endpoint_auth_method": "client_secret_basic",
        "prompt": "consent",
        "clock": clock,
    }
    if verified:
        options["jwks_uri"] = server.jwks_uri
    options.update(kwargs)
    return OAuth2WebServerFlow("web-basic", WEB_BASIC_SECRET, SCOPE, **options)


def authorize(server: OidcServer, flow: OAuth2WebServerFlow) -> str:
    url = flow.step1_get_authorize_url()
    with ScriptedUserAgent(server.issuer) as agent:
        return agent.authorize(url, login="alice")


def real_now() -> FakeClock:
    return FakeClock(datetime.datetime.now(datetime.timezone.utc))


@pytest.mark.oidc
def test_code_flow_with_max_age_gets_a_recent_auth_time(oidc_server: OidcServer) -> None:
    clock = real_now()
    flow = live_flow(oidc_server, clock, max_age=60)
    url = flow.step1_get_authorize_url()
    assert query_of(url)["max_age"] == ["60"]
    flow = pickle.loads(pickle.dumps(flow))  # kept between the steps
    flow._clock = clock
    with ScriptedUserAgent(oidc_server.issuer) as agent:
        redirect = agent.authorize(url, login="alice")
    clock.advance(115)  # still within max_age + leeway (60 + 60) of the login
    creds = flow.step2_exchange(redirect)
    assert creds.id_token is not None
    auth_time = creds.id_token["auth_time"]
    assert isinstance(auth_time, int) and time.time() - 5 <= auth_time <= time.time()

    # a refresh later keeps the original auth_time (OIDC Core §12.2) and max_age does not
    # apply to it: it bounds the authentication of the code exchange only
    clock.advance(1800)
    old_access = creds.access_token
    creds.id_token_jwt = None  # validate the refreshed ID token even if byte-identical
    creds.refresh()
    assert creds.access_token != old_access
    assert creds.id_token is not None and creds.id_token["auth_time"] == auth_time


@pytest.mark.oidc
@pytest.mark.parametrize("verified", [True, False], ids=["jwks", "unverified"])
def test_code_flow_refuses_an_auth_time_older_than_max_age(
    oidc_server: OidcServer, verified: bool
) -> None:
    clock = real_now()
    flow = live_flow(oidc_server, clock, verified=verified, max_age=60)
    redirect = authorize(oidc_server, flow)
    clock.advance(125)  # "now" is past auth_time + max_age + leeway
    with pytest.raises(IdTokenError) as info:
        flow.step2_exchange(redirect)
    assert info.value.error == "auth_time_too_old"
    assert isinstance(info.value, FlowExchangeError)  # the classic except clause still works


@pytest.mark.oidc
def test_code_flow_with_require_acr_refuses_an_id_token_without_acr(
    oidc_server: OidcServer,
) -> None:
    # this oidc-provider has no acrValues configured: it ignores acr_values (a voluntary
    # request) and asserts no acr, which a client that requires one must refuse
    flow = live_flow(oidc_server, real_now(), require_acr=["urn:example:mfa"])
    url = flow.step1_get_authorize_url()
    assert query_of(url)["acr_values"] == ["urn:example:mfa"]
    with ScriptedUserAgent(oidc_server.issuer) as agent:
        redirect = agent.authorize(url, login="alice")
    with pytest.raises(IdTokenError) as info:
        flow.step2_exchange(redirect)
    assert info.value.error == "acr_not_accepted"
