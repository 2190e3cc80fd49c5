"""The classic ``oauth2client.service_account`` API, under ``oauthkit.service_account``.

Re-exports of oauthkit's implementation (``oauthkit._service_account``): one class, one home.
"""

from __future__ import annotations

from oauthkit._service_account import (
    SERVICE_ACCOUNT,
    ServiceAccountCredentials,
    _JWTAccessCredentials,
)

__all__ = ["SERVICE_ACCOUNT", "ServiceAccountCredentials", "_JWTAccessCredentials"]
