"""Layer 0: pure protocol functions, with RFC example vectors and property tests."""

from __future__ import annotations

import base64
import datetime
import json
import string
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthkit._errors import (
    AuthorizationError,
    ConfigurationError,
    InvalidClientError,
    InvalidGrantError,
    InvalidResponseError,
    TokenEndpointError,
)
from oauthkit._models import Response
from oauthkit._protocol import rfc6749, rfc6750, rfc7009, rfc7636, rfc8628, rfc9207

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


def resp(status: int, body: object, ctype: str = "application/json") -> Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status, {"content-type": ctype}, data)


# --- RFC 7636 -------------------------------------------------------------------------------


def test_pkce_challenge_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert rfc7636.code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_generated_verifiers_are_long_unreserved_and_distinct() -> None:
    allowed = set(string.ascii_letters + string.digits + "-._~")
    verifiers = {rfc7636.generate_code_verifier() for _ in range(200)}
    assert len(verifiers) == 200
    for v in verifiers:
        assert 43 <= len(v) <= 128
        assert set(v) <= allowed
        assert rfc7636.validate_code_verifier(v) == v


@pytest.mark.parametrize("bad", ["short", "x" * 129, "a" * 42, "é" * 50, "a b" * 20])
def test_bad_verifiers_are_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        rfc7636.validate_code_verifier(bad)


def test_there_is_no_plain_method() -> None:
    assert rfc7636.METHOD == "S256"


# --- RFC 6749 authorization request and response --------------------------------------------


def test_authorization_url_keeps_endpoint_query_and_drops_none() -> None:
    url = rfc6749.authorization_url(
        "https://as.example/auth?tenant=a",
        {"response_type": "code", "client_id": "c", "login_hint": None},
    )
    q = parse_qs(urlsplit(url).query)
    assert q == {"tenant": ["a"], "response_type": ["code"], "client_id": ["c"]}


@pytest.mark.parametrize("rtype", ["token", "code token", "id_token token", None])
def test_implicit_and_hybrid_response_types_are_refused(rtype: str | None) -> None:
    with pytest.raises(ConfigurationError):
        rfc6749.authorization_url("https://as.example/auth", {"response_type": rtype})


@pytest.mark.parametrize(
    "query", ["code=a&code=b&state=s", "code=a&state=x&state=y", "code=a&state=s&iss=1&iss=2"]
)
def test_repeated_response_parameters_are_refused(query: str) -> None:
    with pytest.raises(AuthorizationError) as info:
        rfc6749.query_params(query)
    assert info.value.error == "invalid_authorization_response"


@pytest.mark.parametrize("state", [None, "", "other", "s2"])
def test_state_must_match(state: str | None) -> None:
    params = {"code": "c"}
    if state is not None:
        params["state"] = state
    with pytest.raises(AuthorizationError) as info:
        rfc6749.parse_authorization_response(params, "s")
    assert info.value.error == "state_mismatch"


def test_state_is_checked_before_an_error_is_believed() -> None:
    with pytest.raises(AuthorizationError) as info:
        rfc6749.parse_authorization_response({"error": "access_denied", "state": "evil"}, "s")
    assert info.value.error == "state_mismatch"


def test_error_redirect_carries_provider_error() -> None:
    with pytest.raises(AuthorizationError) as info:
        rfc6749.parse_authorization_response(
            {"error": "access_denied", "error_description": "User said no", "state": "s"}, "s"
        )
    assert info.value.error == "access_denied"
    assert info.value.description == "User said no"


@pytest.mark.parametrize(
    ("iss", "expected", "required", "ok"),
    [
        ("https://as.example", "https://as.example", False, True),
        ("https://as.example/", "https://as.example", False, False),
        ("https://AS.example", "https://as.example", False, False),
        ("http://as.example", "https://as.example", False, False),
        (None, "https://as.example", False, True),
        (None, "https://as.example", True, False),
    ],
)
def test_rfc9207_issuer_is_compared_exactly(
    iss: str | None, expected: str, required: bool, ok: bool
) -> None:
    params = {"code": "c"} if iss is None else {"code": "c", "iss": iss}
    if ok:
        rfc9207.check_issuer(params, expected, required=required)
    else:
        with pytest.raises(AuthorizationError) as info:
            rfc9207.check_issuer(params, expected, required=required)
        assert info.value.error == "issuer_mismatch"


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/cb",
        "http://127.0.0.1:8080/cb",
        "http://[::1]/cb",
        "http://localhost:9/cb",
        "com.example.app:/oauth2redirect",
    ],
)
def test_safe_redirect_uris(uri: str) -> None:
    assert rfc6749.require_safe_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.com/auth_return",
        "https://app.example/cb#frag",
        "urn:ietf:wg:oauth:2.0:oob",
        "/relative",
        "javascript:alert(1)",
        "http://127.0.0.1.evil.example/cb",
    ],
)
def test_unsafe_redirect_uris(uri: str) -> None:
    with pytest.raises(ConfigurationError):
        rfc6749.require_safe_redirect_uri(uri)


def test_insecure_redirect_needs_explicit_flag() -> None:
    uri = "http://example.com/auth_return"
    assert rfc6749.require_safe_redirect_uri(uri, allow_insecure=True) == uri


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://as.example/token", True),
        ("http://127.0.0.1:9000/token", True),
        ("http://localhost/token", True),
        ("http://as.example/token", False),
        ("ftp://as.example/token", False),
        ("https://as.example/token#x", False),
        ("", False),
    ],
)
def test_endpoints_must_be_https_except_loopback(url: str, ok: bool) -> None:
    if ok:
        assert rfc6749.require_secure_endpoint(url, "token_uri") == url
    else:
        with pytest.raises(ConfigurationError):
            rfc6749.require_secure_endpoint(url, "token_uri")


# --- client authentication (RFC 6749 §2.3.1) ------------------------------------------------


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_basic_auth_round_trips_any_id_and_secret(client_id: str, secret: str) -> None:
    form: dict[str, str] = {}
    headers: dict[str, str] = {}
    rfc6749.ClientAuth(client_id, secret).apply(form, headers)
    assert form == {}
    raw = base64.b64decode(headers["authorization"].removeprefix("Basic ")).decode()
    enc_id, enc_secret = raw.split(":")  # encoding removes every ':' from both halves
    assert unquote(enc_id) == client_id
    assert unquote(enc_secret) == secret


def test_basic_auth_encodes_special_characters() -> None:
    headers: dict[str, str] = {}
    rfc6749.ClientAuth("my client", "s:e%c+r é").apply({}, headers)
    raw = base64.b64decode(headers["authorization"][6:]).decode()
    assert raw == "my%20client:s%3Ae%25c%2Br%20%C3%A9"


def test_post_and_none_auth() -> None:
    form: dict[str, str] = {}
    headers: dict[str, str] = {}
    rfc6749.ClientAuth("c", "s", "client_secret_post").apply(form, headers)
    assert form == {"client_id": "c", "client_secret": "s"}
    assert "authorization" not in headers
    form = {}
    rfc6749.ClientAuth("c").apply(form, headers)
    assert form == {"client_id": "c"}


def test_secret_methods_need_a_secret() -> None:
    with pytest.raises(ConfigurationError):
        rfc6749.ClientAuth("c", None, "client_secret_basic")
    with pytest.raises(ConfigurationError):
        rfc6749.ClientAuth("c", "s", "private_key_jwt_typo")


def test_client_auth_repr_hides_secret() -> None:
    assert "s3cr3t" not in repr(rfc6749.ClientAuth("c", "s3cr3t"))


def test_code_request_has_exact_redirect_uri_and_verifier() -> None:
    req = rfc6749.authorization_code_request(
        "https://as.example/token",
        "the-code",
        "http://127.0.0.1:5/cb?x=1",
        rfc6749.ClientAuth("c", "s"),
        "v" * 43,
    )
    form = parse_qs(req.body.decode())
    assert form == {
        "grant_type": ["authorization_code"],
        "code": ["the-code"],
        "redirect_uri": ["http://127.0.0.1:5/cb?x=1"],
        "code_verifier": ["v" * 43],
    }
    assert req.method == "POST"
    assert req.follow_redirects is False
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"


# --- token responses (§5.1, §5.2) -----------------------------------------------------------


def test_parse_good_token_response() -> None:
    tok = rfc6749.parse_token_response(
        resp(
            200,
            {
                "access_token": "a",
                "token_type": "bearer",
                "expires_in": 3600,
                "refresh_token": "r",
                "scope": "x y",
                "extra": 1,
            },
        ),
        NOW,
    )
    assert tok.access_token == "a"
    assert tok.token_type == "Bearer"
    assert tok.expires_at == NOW + datetime.timedelta(hours=1)
    assert tok.scope == ("x", "y")
    assert tok.raw["extra"] == 1


def test_token_repr_hides_tokens() -> None:
    tok = rfc6749.parse_token_response(
        resp(200, {"access_token": "AT-SECRET", "token_type": "Bearer", "refresh_token": "RT-S"}),
        NOW,
    )
    assert "AT-SECRET" not in repr(tok)
    assert "RT-S" not in repr(tok)


def test_expires_in_as_numeric_string_is_accepted() -> None:
    tok = rfc6749.parse_token_response(
        resp(200, {"access_token": "a", "token_type": "Bearer", "expires_in": "60"}), NOW
    )
    assert tok.expires_at == NOW + datetime.timedelta(seconds=60)


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>502 Bad Gateway</body></html>",
        b'{"access_token": "a", "token_type": "Bear',
        b"",
        b"[1, 2]",
        b"\xff\xfe",
        json.dumps({"token_type": "Bearer"}).encode(),
        json.dumps({"access_token": "a"}).encode(),
        json.dumps({"access_token": 5, "token_type": "Bearer"}).encode(),
        json.dumps({"access_token": "a", "token_type": "mac"}).encode(),
        json.dumps({"access_token": "a", "token_type": "Bearer", "expires_in": -1}).encode(),
        json.dumps({"access_token": "a", "token_type": "Bearer", "expires_in": "soon"}).encode(),
        json.dumps({"access_token": "a", "token_type": "Bearer", "expires_in": 1e20}).encode(),
        json.dumps({"access_token": "a", "token_type": "Bearer", "expires_in": True}).encode(),
        b'{"access_token": "a", "token_type": "Bearer", "expires_in": NaN}',
        json.dumps({"access_token": "a", "token_type": "Bearer", "refresh_token": 7}).encode(),
        b"x" * (rfc6749.MAX_BODY + 1),
    ],
)
def test_malformed_token_responses_raise_invalid_response(body: bytes) -> None:
    with pytest.raises(InvalidResponseError):
        rfc6749.parse_token_response(resp(200, body, "text/html"), NOW)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_from_token_endpoint_is_an_error(status: int) -> None:
    with pytest.raises(InvalidResponseError) as info:
        rfc6749.parse_token_response(Response(status, {"location": "https://evil/"}, b""), NOW)
    assert info.value.status == status


def test_error_bodies_map_to_typed_errors() -> None:
    with pytest.raises(InvalidGrantError) as info:
        rfc6749.parse_token_response(
            resp(400, {"error": "invalid_grant", "error_description": "bad code"}), NOW
        )
    assert (info.value.error, info.value.description, info.value.status) == (
        "invalid_grant",
        "bad code",
        400,
    )
    with pytest.raises(InvalidClientError):
        rfc6749.parse_token_response(resp(401, {"error": "invalid_client"}), NOW)
    with pytest.raises(TokenEndpointError) as other:
        rfc6749.parse_token_response(resp(400, {"error": "something_new"}), NOW)
    assert other.value.error == "something_new"


def test_html_error_page_is_invalid_response_with_status() -> None:
    with pytest.raises(InvalidResponseError) as info:
        rfc6749.parse_token_response(resp(500, b"<html>oops</html>", "text/html"), NOW)
    assert info.value.status == 500
    assert "text/html" in str(info.value)


@given(st.binary(max_size=300))
def test_token_parser_never_raises_anything_untyped(body: bytes) -> None:
    for status in (200, 400, 503):
        try:
            rfc6749.parse_token_response(Response(status, {}, body), NOW)
        except (InvalidResponseError, TokenEndpointError):
            pass


@given(
    st.dictionaries(
        st.sampled_from(["access_token", "token_type", "expires_in", "scope", "refresh_token"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=10), st.floats(), st.booleans()),
    )
)
def test_token_parser_on_arbitrary_members(data: dict[str, object]) -> None:
    try:
        tok = rfc6749.parse_token_response(Response(200, {}, json.dumps(data).encode()), NOW)
    except (InvalidResponseError, TokenEndpointError):
        return
    assert isinstance(tok.access_token, str) and tok.access_token
    assert tok.token_type == "Bearer"


# --- RFC 6750, 7009, 8628 -------------------------------------------------------------------


def test_www_authenticate_parsing() -> None:
    header = 'Bearer realm="example", error="invalid_token", error_description="expired"'
    assert rfc6750.parse_www_authenticate(header) == {
        "realm": "example",
        "error": "invalid_token",
        "error_description": "expired",
    }
    assert rfc6750.is_invalid_token(Response(401, {"www-authenticate": header}))
    assert rfc6750.is_invalid_token(Response(401, {}))
    assert not rfc6750.is_invalid_token(
        Response(401, {"www-authenticate": 'Bearer error="insufficient_scope"'})
    )
    assert not rfc6750.is_invalid_token(Response(403, {}))


def test_revocation_request_and_response() -> None:
    req = rfc7009.revocation_request(
        "https://as.example/revoke", "tok", "refresh_token", rfc6749.ClientAuth("c", "s")
    )
    assert parse_qs(req.body.decode()) == {"token": ["tok"], "token_type_hint": ["refresh_token"]}
    assert req.headers["authorization"].startswith("Basic ")
    rfc7009.parse_revocation_response(Response(200, {}, b""))
    with pytest.raises(TokenEndpointError) as info:
        rfc7009.parse_revocation_response(resp(400, {"error": "unsupported_token_type"}))
    assert info.value.error == "unsupported_token_type"
    with pytest.raises(InvalidResponseError):
        rfc7009.parse_revocation_response(Response(302, {"location": "x"}, b""))


def test_device_authorization_parsing() -> None:
    info = rfc8628.parse_device_authorization(
        resp(
            200,
            {
                "device_code": "DEVCODE-SECRET",
                "user_code": "U-C",
                "verification_uri": "https://as.example/device",
                "expires_in": 600,
                "interval": 7,
            },
        ),
        NOW,
    )
    assert (info.device_code, info.user_code, info.interval) == ("DEVCODE-SECRET", "U-C", 7)
    assert info.expires_at == NOW + datetime.timedelta(minutes=10)
    assert "DEVCODE-SECRET" not in repr(info)
    with pytest.raises(InvalidResponseError):
        rfc8628.parse_device_authorization(resp(200, {"user_code": "x"}), NOW)
