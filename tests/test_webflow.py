"""The classic web-server flow: URL building, state/iss/PKCE, pickling, JSON, client secrets,
exchange against a real token endpoint on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from oauthkit import clientsecrets
from oauthkit._errors import AuthorizationError, ConfigurationError, InvalidGrantError
from oauthkit.client import (
    FlowExchangeError,
    OAuth2Credentials,
    OAuth2WebServerFlow,
    UnknownClientSecretsFlowError,
    credentials_from_clientsecrets_and_code,
    credentials_from_code,
    flow_from_clientsecrets,
)
from oauthkit.clientsecrets import InvalidClientSecretsError
from tests.scripted_server import Canned, ScriptedServer

REDIRECT = "https://example.com/auth_return"


def query(url: str) -> dict[str, str]:
    parsed = parse_qs(urlsplit(url).query)
    assert all(len(v) == 1 for v in parsed.values())
    return {k: v[0] for k, v in parsed.items()}


def make_flow(server: ScriptedServer | None = None, **kwargs: Any) -> OAuth2WebServerFlow:
    base = server.url if server else "https://as.example"
    return OAuth2WebServerFlow(
        client_id="your_client_id",
        client_secret="your_client_secret",
        scope="https://www.googleapis.com/auth/calendar",
        redirect_uri=REDIRECT,
        auth_uri=base + "/auth",
        token_uri=base + "/token",
        revoke_uri=base + "/revoke",
        **kwargs,
    )


def test_reference_page_example_with_google_defaults() -> None:
    flow = OAuth2WebServerFlow(
        client_id="your_client_id",
        client_secret="your_client_secret",
        scope="https://www.googleapis.com/auth/calendar",
        redirect_uri=REDIRECT,
    )
    auth_uri = flow.step1_get_authorize_url()
    assert auth_uri.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    q = query(auth_uri)
    assert q["client_id"] == "your_client_id"
    assert q["redirect_uri"] == REDIRECT
    assert q["scope"] == "https://www.googleapis.com/auth/calendar"
    assert q["response_type"] == "code"
    assert q["access_type"] == "offline"
    assert q["code_challenge_method"] == "S256"
    assert q["state"] == flow.state and len(flow.state or "") >= 40
    digest = hashlib.sha256((flow.code_verifier or "").encode()).digest()
    assert q["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert "your_client_secret" not in auth_uri


def test_extra_kwargs_are_authorization_parameters_and_none_removes() -> None:
    flow = make_flow(prompt="consent", hd="example.com", login_hint=None, access_type=None)
    q = query(flow.step1_get_authorize_url())
    assert q["prompt"] == "consent" and q["hd"] == "example.com"
    assert "access_type" not in q
    classic = make_flow(approval_prompt="force")
    assert query(classic.step1_get_authorize_url())["prompt"] == "consent"


def test_openid_scope_adds_nonce_and_two_flows_differ() -> None:
    a, b = make_flow(), make_flow()
    a.scope = b.scope = "openid email"
    qa, qb = query(a.step1_get_authorize_url()), query(b.step1_get_authorize_url())
    assert qa["nonce"] == a.nonce and qb["nonce"] == b.nonce
    assert len({qa["nonce"], qb["nonce"]}) == 2
    assert len({qa["state"], qb["state"]}) == 2
    assert len({qa["code_challenge"], qb["code_challenge"]}) == 2


def test_pkce_can_be_turned_off_and_verifier_given() -> None:
    assert "code_challenge" not in query(make_flow(pkce=False).step1_get_authorize_url())
    flow = make_flow(code_verifier="a" * 50)
    assert (
        query(flow.step1_get_authorize_url())["code_challenge"]
        == base64.urlsafe_b64encode(hashlib.sha256(b"a" * 50).digest()).rstrip(b"=").decode()
    )
    with pytest.raises(ConfigurationError):
        make_flow(code_verifier="short")


@pytest.mark.parametrize(
    "uri", ["http://example.com/auth_return", "urn:ietf:wg:oauth:2.0:oob", "https://x/cb#f"]
)
def test_unsafe_redirect_uri_refused_at_step1(uri: str) -> None:
    flow = make_flow()
    with pytest.raises(ConfigurationError):
        flow.step1_get_authorize_url(redirect_uri=uri)


def test_http_redirect_allowed_with_explicit_development_flag() -> None:
    flow = make_flow(allow_insecure_redirect=True)
    assert "allow_insecure_redirect" not in flow.step1_get_authorize_url("http://dev.test/cb")


def test_non_https_endpoints_refused() -> None:
    with pytest.raises(ConfigurationError):
        OAuth2WebServerFlow("c", "s", "x", auth_uri="http://as.example/auth")
    with pytest.raises(ConfigurationError):
        OAuth2WebServerFlow("c", "s", "x", token_uri="http://as.example/token")


def test_scope_required() -> None:
    with pytest.raises(ConfigurationError):
        OAuth2WebServerFlow("c", "s", None)


def test_flow_pickles_mid_flight() -> None:
    flow = make_flow()
    flow.step1_get_authorize_url()
    again = pickle.loads(pickle.dumps(flow))
    assert (again.state, again.code_verifier, again.redirect_uri) == (
        flow.state,
        flow.code_verifier,
        flow.redirect_uri,
    )


def test_flow_json_round_trip_without_secret_by_default() -> None:
    flow = make_flow(prompt="consent", issuer="https://as.example")
    flow.scope = "openid"
    flow.step1_get_authorize_url()
    data = flow.to_json()
    assert "your_client_secret" not in data
    again = OAuth2WebServerFlow.from_json(data, client_secret="your_client_secret")
    for name in ("state", "code_verifier", "nonce", "redirect_uri", "params", "issuer", "scope"):
        assert getattr(again, name) == getattr(flow, name), name
    assert again.client_secret == "your_client_secret"
    with_secret = OAuth2WebServerFlow.from_json(flow.to_json(include_client_secret=True))
    assert with_secret.client_secret == "your_client_secret"
    with pytest.raises(ConfigurationError):
        OAuth2WebServerFlow.from_json('{"_class": "Popen"}')


# --- step 2 ----------------------------------------------------------------------------------


def test_exchange_with_redirect_params(server: ScriptedServer) -> None:
    flow = make_flow(server)
    q = query(flow.step1_get_authorize_url())
    creds = flow.step2_exchange({"code": "the-code", "state": q["state"]})
    assert isinstance(creds, OAuth2Credentials)
    assert creds.access_token == "at-1" and creds.refresh_token == "rt-0"
    assert creds.client_id == "your_client_id"
    assert creds.token_uri == server.url + "/token"
    assert creds.revoke_uri == server.url + "/revoke"
    assert creds.scopes == {"https://www.googleapis.com/auth/calendar"}
    (seen,) = server.requests_to("/token")
    assert seen.form == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": REDIRECT,
        "code_verifier": flow.code_verifier,
    }
    assert seen.headers["authorization"].startswith("Basic ")


def test_exchange_with_full_redirect_url_and_post_auth(server: ScriptedServer) -> None:
    flow = make_flow(server, token_endpoint_auth_method="client_secret_post")
    state = query(flow.step1_get_authorize_url())["state"]
    flow.step2_exchange(REDIRECT + "?" + urlencode({"code": "c1", "state": state}))
    (seen,) = server.requests_to("/token")
    assert seen.form["client_secret"] == "your_client_secret"
    assert "authorization" not in seen.headers


def test_exchange_with_code_string_is_classic(server: ScriptedServer) -> None:
    flow = make_flow(server)
    flow.step1_get_authorize_url()
    assert flow.step2_exchange("kACAH-1Ng1MImB").access_token == "at-1"


def test_error_redirect_raises_flow_exchange_error(server: ScriptedServer) -> None:
    flow = make_flow(server)
    state = query(flow.step1_get_authorize_url())["state"]
    with pytest.raises(FlowExchangeError) as info:
        flow.step2_exchange(
            {"error": "access_denied", "error_description": "The user denied", "state": state}
        )
    assert isinstance(info.value, AuthorizationError)
    assert info.value.error == "access_denied"
    assert info.value.description == "The user denied"
    assert server.count("/token") == 0


@pytest.mark.parametrize("state", [None, "", "wrong"])
def test_missing_or_wrong_state_sends_nothing(server: ScriptedServer, state: str | None) -> None:
    flow = make_flow(server)
    flow.step1_get_authorize_url()
    params = {"code": "c"}
    if state is not None:
        params["state"] = state
    with pytest.raises(FlowExchangeError) as info:
        flow.step2_exchange(params)
    assert info.value.error == "state_mismatch"
    assert server.count("/token") == 0


def test_state_is_single_use(server: ScriptedServer) -> None:
    flow = make_flow(server)
    state = query(flow.step1_get_authorize_url())["state"]
    flow.step2_exchange({"code": "c", "state": state})
    with pytest.raises(FlowExchangeError):
        flow.step2_exchange({"code": "c", "state": state})
    assert server.count("/token") == 1


class MultiDict(dict[str, list[str]]):
    """Like Werkzeug's MultiDict / Django's QueryDict: getlist() sees repeats."""

    def getlist(self, key: str) -> list[str]:
        return self[key]


def test_repeated_parameters_refused(server: ScriptedServer) -> None:
    flow = make_flow(server)
    state = query(flow.step1_get_authorize_url())["state"]
    with pytest.raises(FlowExchangeError) as info:
        flow.step2_exchange(MultiDict(code=["a", "b"], state=[state]))
    assert info.value.error == "invalid_authorization_response"
    flow.step1_get_authorize_url()
    with pytest.raises(FlowExchangeError):
        flow.step2_exchange(f"{REDIRECT}?code=a&state={flow.state}&state={flow.state}")
    assert server.count("/token") == 0


def test_iss_checked_when_sent(server: ScriptedServer) -> None:
    flow = make_flow(server, issuer=server.url)
    state = query(flow.step1_get_authorize_url())["state"]
    with pytest.raises(FlowExchangeError) as info:
        flow.step2_exchange({"code": "c", "state": state, "iss": server.url + "/"})
    assert info.value.error == "issuer_mismatch"
    flow.step1_get_authorize_url()
    flow.step2_exchange({"code": "c", "state": flow.state or "", "iss": server.url})
    required = make_flow(server, issuer=server.url, require_iss=True)
    required.step1_get_authorize_url()
    with pytest.raises(FlowExchangeError):
        required.step2_exchange({"code": "c", "state": required.state or ""})
    assert server.count("/token") == 1


def test_token_endpoint_error_is_flow_exchange_error_and_typed(server: ScriptedServer) -> None:
    server.queue("/token", Canned(400, {"error": "invalid_grant", "error_description": "used"}))
    flow = make_flow(server)
    flow.step1_get_authorize_url()
    with pytest.raises(FlowExchangeError) as info:
        flow.step2_exchange("code")
    assert isinstance(info.value, InvalidGrantError)
    assert info.value.description == "used"


@pytest.mark.parametrize(
    "canned",
    [
        Canned(200, "<html>login</html>", {"Content-Type": "text/html"}),
        Canned(200, b'{"access_token": "a", "tok'),
        Canned(200, {"token_type": "Bearer"}),
        Canned(200, {"access_token": "a"}),
        Canned(200, {"access_token": "a", "token_type": "Bearer", "expires_in": "never"}),
        Canned(200, {"access_token": "a", "token_type": "Bearer", "expires_in": -5}),
        Canned(200, {"access_token": "a", "token_type": "Bearer", "expires_in": 10**12}),
        Canned(502, "<html>Bad gateway</html>"),
        Canned(302, b"", {"Location": "https://evil.example/"}),
    ],
)
def test_bad_token_responses_are_typed_and_change_nothing(
    server: ScriptedServer, canned: Canned
) -> None:
    server.queue("/token", canned)
    flow = make_flow(server)
    flow.step1_get_authorize_url()
    verifier = flow.code_verifier
    with pytest.raises(FlowExchangeError):
        flow.step2_exchange("code")
    assert flow.code_verifier == verifier


def test_exchange_without_step1_state_is_refused_and_missing_verifier_explained(
    server: ScriptedServer,
) -> None:
    flow = make_flow(server)
    with pytest.raises(FlowExchangeError):
        flow.step2_exchange({"code": "c", "state": "anything"})
    with pytest.raises(ConfigurationError):
        flow.step2_exchange("c")  # PKCE on, but this flow never made a verifier


def test_credentials_from_code(server: ScriptedServer) -> None:
    creds = credentials_from_code(
        "cid", "secret", "email", "code-from-js", token_uri=server.url + "/token"
    )
    assert creds.access_token == "at-1"
    assert server.requests_to("/token")[0].form["redirect_uri"] == "postmessage"


# --- client secrets ------------------------------------------------------------------------------


def write_secrets(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "client_secrets.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def web_secrets(server_url: str = "https://as.example") -> dict[str, Any]:
    return {
        "web": {
            "client_id": "cid",
            "client_secret": "csecret",
            "redirect_uris": [REDIRECT],
            "auth_uri": server_url + "/auth",
            "token_uri": server_url + "/token",
        }
    }


def test_flow_from_clientsecrets_reference_example(tmp_path: Path) -> None:
    path = write_secrets(tmp_path, web_secrets())
    flow = flow_from_clientsecrets(
        path, scope="https://www.googleapis.com/auth/calendar", redirect_uri=REDIRECT
    )
    assert (flow.client_id, flow.client_secret) == ("cid", "csecret")
    assert query(flow.step1_get_authorize_url())["client_id"] == "cid"
    assert clientsecrets.loadfile(path) == ("web", web_secrets()["web"])


def test_credentials_from_clientsecrets_and_code(tmp_path: Path, server: ScriptedServer) -> None:
    path = write_secrets(tmp_path, web_secrets(server.url))
    creds = credentials_from_clientsecrets_and_code(path, "email", "the-code")
    assert creds.access_token == "at-1"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ([], "not a JSON object"),
        ({}, "exactly one client type"),
        ({"web": {}, "installed": {}}, "exactly one client type"),
        ({"service": {}}, "Unknown client type"),
        ({"web": []}, "not a JSON object"),
        *[
            (
                {"web": {k: v for k, v in web_secrets()["web"].items() if k != missing}},
                f'"{missing}"',
            )
            for missing in ("client_id", "client_secret", "redirect_uris", "auth_uri", "token_uri")
        ],
        ({"web": {**web_secrets()["web"], "client_id": 5}}, '"client_id"'),
        ({"web": {**web_secrets()["web"], "client_secret": "[[INSERT]]"}}, '"client_secret"'),
        ({"web": {**web_secrets()["web"], "redirect_uris": "x"}}, '"redirect_uris"'),
    ],
)
def test_bad_client_secrets_name_the_problem(tmp_path: Path, data: Any, fragment: str) -> None:
    path = write_secrets(tmp_path, data)
    with pytest.raises(InvalidClientSecretsError) as info:
        flow_from_clientsecrets(path, "email")
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_file_and_message_exit(tmp_path: Path) -> None:
    with pytest.raises(InvalidClientSecretsError):
        flow_from_clientsecrets(str(tmp_path / "nope.json"), "email")
    with pytest.raises(SystemExit) as info:
        flow_from_clientsecrets(str(tmp_path / "nope.json"), "email", message="Get a file")
    assert "Get a file" in str(info.value.code)


def test_unknown_flow_type_error_is_classic() -> None:
    assert issubclass(UnknownClientSecretsFlowError, ConfigurationError)


def test_loadfile_cache(tmp_path: Path) -> None:
    class Cache:
        def __init__(self) -> None:
            self.store: dict[tuple[str, str], Any] = {}

        def get(self, key: str, namespace: str = "") -> Any:
            return self.store.get((namespace, key))

        def set(self, key: str, value: Any, namespace: str = "") -> None:
            self.store[(namespace, key)] = value

    cache = Cache()
    path = write_secrets(tmp_path, web_secrets())
    first = clientsecrets.loadfile(path, cache=cache)
    Path(path).unlink()
    assert clientsecrets.loadfile(path, cache=cache) == first
