"""pytest plugin: the ``local_authorization_server`` fixture.

Registered through the ``pytest11`` entry point, so it is imported by every pytest run in
an environment where oauthkit is installed: Authlib (the ``testing`` extra) is therefore
imported lazily, only when the fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from oauthkit.testing._server import LocalAuthorizationServer

__all__ = [
    "PUBLIC_CLIENT_ID",
    "REDIRECT_URI",
    "TEST_CLIENT_ID",
    "TEST_CLIENT_SECRET",
    "build_default_server",
    "local_authorization_server",
]

#: The confidential client (``client_secret_basic``) registered by the fixture.
TEST_CLIENT_ID = "test-client"
TEST_CLIENT_SECRET = "test-secret"
#: The public client (``none``; PKCE S256 required) registered by the fixture.
PUBLIC_CLIENT_ID = "test-public"
#: Loopback redirect URI registered for both clients; any port matches (RFC 8252 §7.3).
REDIRECT_URI = "http://127.0.0.1/callback"


def build_default_server(**options: Any) -> LocalAuthorizationServer:
    """A ``LocalAuthorizationServer`` (not started) with the fixture's two clients.

    ``options`` are passed to the constructor. The confidential client is
    ``test-client`` / ``test-secret`` with redirect URIs ``http://127.0.0.1/callback`` and
    ``https://client.example/callback``; the public client is ``test-public`` with
    ``http://127.0.0.1/callback``.
    """
    from oauthkit.testing._server import LocalAuthorizationServer

    server = LocalAuthorizationServer(**options)
    server.register_client(
        TEST_CLIENT_ID,
        TEST_CLIENT_SECRET,
        redirect_uris=[REDIRECT_URI, "https://client.example/callback"],
    )
    server.register_client(
        PUBLIC_CLIENT_ID, redirect_uris=[REDIRECT_URI], token_endpoint_auth_method="none"
    )
    return server


@pytest.fixture
def local_authorization_server() -> Iterator[LocalAuthorizationServer]:
    """A started local authorization server (function scope), stopped afterwards.

    Clients: ``test-client`` / ``test-secret`` (``client_secret_basic``; redirect URIs
    ``http://127.0.0.1/callback`` and ``https://client.example/callback``) and
    ``test-public`` (public, ``none``; ``http://127.0.0.1/callback``).
    """
    with build_default_server() as server:
        yield server
