"""The classic ``oauth2client.client`` API, under ``oauthkit.client``.

Code written for oauth2client runs after replacing ``oauth2client`` with ``oauthkit`` in
its imports. Everything here is re-exported from oauthkit's implementation: one class, one
home.
"""

from __future__ import annotations

from oauthkit._adc import (
    ApplicationDefaultCredentialsError,
    GoogleCredentials,
    save_to_well_known_file,
)
from oauthkit._credentials import (
    EXPIRY_FORMAT,
    GOOGLE_AUTH_URI,
    GOOGLE_DEVICE_URI,
    GOOGLE_REVOKE_URI,
    GOOGLE_TOKEN_INFO_URI,
    GOOGLE_TOKEN_URI,
    AccessTokenCredentials,
    AccessTokenInfo,
    Credentials,
    OAuth2Credentials,
)
from oauthkit._errors import (
    AccessTokenCredentialsError,
    AccessTokenRefreshError,
    Error,
    FlowExchangeError,
    HttpAccessTokenRefreshError,
    IdTokenError,
    TokenRevokeError,
    UnknownClientSecretsFlowError,
)
from oauthkit._idtoken import verify_id_token
from oauthkit._storage import Storage
from oauthkit._webflow import (
    DeviceFlowInfo,
    Flow,
    OAuth2WebServerFlow,
    credentials_from_clientsecrets_and_code,
    credentials_from_code,
    flow_from_clientsecrets,
)
from oauthkit.clientsecrets import InvalidClientSecretsError

OOB_CALLBACK_URN = "urn:ietf:wg:oauth:2.0:oob"
"""(classic) Kept so old code imports; oauthkit refuses it as a redirect URI."""

REFRESH_STATUS_CODES = (401,)

VerifyJwtTokenError = IdTokenError
"""(classic) An ID token failed verification: :class:`oauthkit.IdTokenError`."""

__all__ = [
    "EXPIRY_FORMAT",
    "GOOGLE_AUTH_URI",
    "GOOGLE_DEVICE_URI",
    "GOOGLE_REVOKE_URI",
    "GOOGLE_TOKEN_INFO_URI",
    "GOOGLE_TOKEN_URI",
    "OOB_CALLBACK_URN",
    "REFRESH_STATUS_CODES",
    "AccessTokenCredentials",
    "AccessTokenCredentialsError",
    "AccessTokenInfo",
    "AccessTokenRefreshError",
    "ApplicationDefaultCredentialsError",
    "Credentials",
    "DeviceFlowInfo",
    "Error",
    "Flow",
    "FlowExchangeError",
    "GoogleCredentials",
    "HttpAccessTokenRefreshError",
    "InvalidClientSecretsError",
    "OAuth2Credentials",
    "OAuth2WebServerFlow",
    "Storage",
    "TokenRevokeError",
    "UnknownClientSecretsFlowError",
    "VerifyJwtTokenError",
    "credentials_from_clientsecrets_and_code",
    "credentials_from_code",
    "flow_from_clientsecrets",
    "save_to_well_known_file",
    "verify_id_token",
]
