from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from tests.scripted_server import ScriptedServer

try:  # the oidc-provider fixtures (need `bash .ci/install-oidc.sh`)
    from tests.oidc.fixture import oidc_server, oidc_server_factory  # noqa: F401
except ImportError:  # pragma: no cover - the module itself is missing
    pass


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def expired_credentials(server: ScriptedServer, **kwargs: object):  # type: ignore[no-untyped-def]
    from oauthkit.client import OAuth2Credentials

    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    return OAuth2Credentials(
        "at-0",
        "client-id",
        "client-secret",
        server.refresh_token,
        past,
        server.url + "/token",
        None,
        revoke_uri=server.url + "/revoke",
        **kwargs,  # type: ignore[arg-type]
    )
