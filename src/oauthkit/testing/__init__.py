"""Test helpers for code that uses oauthkit: a real local OAuth 2.0 authorization server.

Needs the ``testing`` extra (Authlib)::

    from oauthkit.testing import LocalAuthorizationServer

    with LocalAuthorizationServer() as server:
        server.register_client(
            "my-app", "s3cret", redirect_uris=["http://127.0.0.1/callback"]
        )
        ...  # point your client at server.issuer / server.metadata_endpoint

With pytest, the ``local_authorization_server`` fixture (``oauthkit.testing.pytest_plugin``)
yields a started server with ``test-client`` / ``test-secret`` and ``test-public``
registered.
"""

from __future__ import annotations

from oauthkit.testing._server import LocalAuthorizationServer

__all__ = ["LocalAuthorizationServer"]
