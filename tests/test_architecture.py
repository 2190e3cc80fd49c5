"""The layer rule of DESIGN.md §2, and the public names, pinned."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import oauthkit
import oauthkit.client

SRC = Path(oauthkit.__file__).parent

# layer of each module (by dotted-name prefix); a module may import its own layer or lower.
LAYERS: dict[str, int] = {
    "oauthkit._models": 0,
    "oauthkit._errors": 0,
    "oauthkit._clock": 0,
    "oauthkit._redact": 0,
    "oauthkit._protocol": 0,
    "oauthkit._drivers": 1,
    "oauthkit._flows": 1,
    "oauthkit._credentials": 1,
    "oauthkit._storage": 1,
    "oauthkit._webflow": 1,
    "oauthkit.clientsecrets": 1,
    "oauthkit._jwt": 0,
    "oauthkit._service_account": 1,
    "oauthkit._client_credentials": 1,
    "oauthkit._idtoken": 1,
    "oauthkit._discovery": 1,
    "oauthkit._device": 1,
    "oauthkit._refresh": 1,
    "oauthkit.transport": 2,
    "oauthkit.storage": 2,
    "oauthkit.testing": 2,
    "oauthkit._loopback": 2,
    "oauthkit._adc": 2,
    "oauthkit.cli": 3,
    "oauthkit.tools": 3,
    "oauthkit.contrib.django_util": 3,
    "oauthkit.contrib.flask_util": 3,
    # the faces: public re-exports over every layer
    "oauthkit.client": 4,
    "oauthkit.service_account": 4,
    "oauthkit.file": 4,
    "oauthkit.contrib": 4,
    "oauthkit.__main__": 4,
    "oauthkit": 4,
}


def layer_of(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.name))
def test_every_module_has_a_declared_layer(path: Path) -> None:
    me = module_name(path)
    declared = [p for p in LAYERS if p != "oauthkit" and (me == p or me.startswith(p + "."))]
    assert declared or me == "oauthkit", f"{me}: add it to LAYERS in {__file__}"


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "oauthkit":  # `from oauthkit import _drivers` names a submodule
                found.update(f"oauthkit.{a.name}" for a in node.names)
            else:
                found.add(node.module)
    return {m for m in found if m == "oauthkit" or m.startswith("oauthkit.")}


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_only_its_layer_or_lower(path: Path) -> None:
    me = module_name(path)
    mine = layer_of(me)
    for target in imports_of(path):
        if target.startswith(me + "."):
            continue
        assert layer_of(target) <= mine, f"{me} (layer {mine}) imports {target}"


def test_layer_test_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from oauthkit.transport._httpx import BearerAuth\n")
    assert layer_of("oauthkit.transport._httpx") > layer_of("oauthkit._credentials")
    assert "oauthkit.transport._httpx" in imports_of(bad)


def test_protocol_core_does_no_io() -> None:
    forbidden = {
        "socket",
        "http",
        "urllib.request",
        "httpx",
        "requests",
        "httplib2",
        "time",
        "threading",
        "asyncio",
        "os",
        "subprocess",
        "io",
        "pathlib",
        "open",
    }
    for path in (SRC / "_protocol").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                names = [node.func.id] if node.func.id == "open" else []
            assert not set(names) & forbidden, f"{path.name} uses {names}"


PUBLIC = [
    "ClientCredentials",
    "IdTokenVerifier",
    "JwksCache",
    "ProviderMetadata",
    "ServiceAccountCredentials",
    "default",
    "discover",
    "fetch_userinfo",
    "AccessDeniedError",
    "AccessTokenCredentials",
    "AccessTokenInfo",
    "AuthorizationError",
    "AuthorizationPendingError",
    "Clock",
    "ConfigurationError",
    "Credentials",
    "ExpiredTokenError",
    "FakeClock",
    "FlowExchangeError",
    "IdTokenError",
    "InvalidClientError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidResponseError",
    "InvalidScopeError",
    "NotPersistedError",
    "OAuth2Credentials",
    "OAuth2WebServerFlow",
    "OAuthError",
    "RefreshError",
    "RefreshOutcomeUnknownError",
    "RetryPolicy",
    "SlowDownError",
    "Storage",
    "StorageError",
    "TokenEndpointError",
    "TokenRevokeError",
    "TransportError",
    "UnauthorizedClientError",
    "UnsupportedGrantTypeError",
    "UnsupportedTokenTypeError",
    "__version__",
    "flow_from_clientsecrets",
]

CLASSIC_CLIENT = [
    "AccessTokenCredentials",
    "AccessTokenCredentialsError",
    "AccessTokenInfo",
    "AccessTokenRefreshError",
    "ApplicationDefaultCredentialsError",
    "GoogleCredentials",
    "VerifyJwtTokenError",
    "save_to_well_known_file",
    "verify_id_token",
    "Credentials",
    "DeviceFlowInfo",
    "EXPIRY_FORMAT",
    "Error",
    "Flow",
    "FlowExchangeError",
    "GOOGLE_AUTH_URI",
    "GOOGLE_DEVICE_URI",
    "GOOGLE_REVOKE_URI",
    "GOOGLE_TOKEN_INFO_URI",
    "GOOGLE_TOKEN_URI",
    "HttpAccessTokenRefreshError",
    "InvalidClientSecretsError",
    "OAuth2Credentials",
    "OAuth2WebServerFlow",
    "OOB_CALLBACK_URN",
    "REFRESH_STATUS_CODES",
    "Storage",
    "TokenRevokeError",
    "UnknownClientSecretsFlowError",
    "credentials_from_clientsecrets_and_code",
    "credentials_from_code",
    "flow_from_clientsecrets",
]


def test_public_names_are_pinned() -> None:
    assert sorted(oauthkit.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(oauthkit, name) is not None
    assert sorted(oauthkit.client.__all__) == sorted(CLASSIC_CLIENT)
    for name in CLASSIC_CLIENT:
        assert hasattr(oauthkit.client, name)


def test_classic_face_reexports_one_implementation() -> None:
    assert oauthkit.client.OAuth2Credentials is oauthkit.OAuth2Credentials
    assert oauthkit.client.OAuth2WebServerFlow is oauthkit.OAuth2WebServerFlow
    assert oauthkit.client.Error is oauthkit.OAuthError


def test_classic_exceptions_live_in_the_error_tree() -> None:
    c = oauthkit.client
    for name in (
        "FlowExchangeError",
        "AccessTokenRefreshError",
        "HttpAccessTokenRefreshError",
        "TokenRevokeError",
        "AccessTokenCredentialsError",
        "UnknownClientSecretsFlowError",
        "InvalidClientSecretsError",
    ):
        assert issubclass(getattr(c, name), oauthkit.OAuthError), name
    assert issubclass(c.AccessTokenCredentialsError, c.AccessTokenRefreshError)
    assert issubclass(c.UnknownClientSecretsFlowError, ValueError)


def test_import_oauthkit_loads_no_http_library() -> None:
    code = (
        "import sys, oauthkit; heavy = {'httpx', 'requests', 'httplib2', 'cryptography', "
        "'jwt', 'authlib'} & set(sys.modules); print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_protocol_functions_cite_their_section() -> None:
    import importlib
    import inspect

    for path in sorted((SRC / "_protocol").glob("rfc*.py")):
        module = importlib.import_module(f"oauthkit._protocol.{path.stem}")
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                assert "§" in (obj.__doc__ or ""), f"{path.stem}.{name} cites no section"
