"""RFC 8628, OAuth 2.0 Device Authorization Grant."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from oauthkit._errors import InvalidResponseError
from oauthkit._models import Request, Response
from oauthkit._protocol.rfc6749 import (
    ClientAuth,
    parse_error_body,
    parse_json_object,
    token_request,
)

__all__ = [
    "GRANT_TYPE",
    "DeviceAuthorization",
    "device_authorization_request",
    "device_token_request",
    "parse_device_authorization",
]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL = 5


@dataclass(frozen=True)
class DeviceAuthorization:
    """A device authorization response (§3.2). ``expires_at`` is timezone-aware UTC."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    interval: int
    expires_at: datetime.datetime | None

    def __repr__(self) -> str:
        return (
            f"DeviceAuthorization(user_code={self.user_code!r}, "
            f"verification_uri={self.verification_uri!r}, interval={self.interval})"
        )


def device_authorization_request(uri: str, scope: str | None, client: ClientAuth) -> Request:
    """The device authorization request (§3.1)."""
    return token_request(uri, {"scope": scope}, client)


def parse_device_authorization(response: Response, now: datetime.datetime) -> DeviceAuthorization:
    """Parse §3.2; errors as in RFC 6749 §5.2. Accepts Google's older ``verification_url``."""
    if response.status != 200:
        raise parse_error_body(response, "device authorization")
    data = parse_json_object(response, "device authorization")
    device_code, user_code = data.get("device_code"), data.get("user_code")
    uri = data.get("verification_uri", data.get("verification_url"))
    if not (isinstance(device_code, str) and device_code):
        raise InvalidResponseError("the device authorization response has no device_code")
    if not (isinstance(user_code, str) and user_code):
        raise InvalidResponseError("the device authorization response has no user_code")
    if not (isinstance(uri, str) and uri):
        raise InvalidResponseError("the device authorization response has no verification_uri")
    interval = data.get("interval", DEFAULT_INTERVAL)
    if isinstance(interval, bool) or not isinstance(interval, int) or not 0 < interval <= 3600:
        interval = DEFAULT_INTERVAL
    expires_in = data.get("expires_in")
    expires_at = None
    if isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0:
        expires_at = now + datetime.timedelta(seconds=expires_in)
    complete = data.get("verification_uri_complete")
    return DeviceAuthorization(
        device_code,
        user_code,
        uri,
        complete if isinstance(complete, str) else None,
        interval,
        expires_at,
    )


def device_token_request(token_uri: str, device_code: str, client: ClientAuth) -> Request:
    """The device access token request (§3.4)."""
    return token_request(token_uri, {"grant_type": GRANT_TYPE, "device_code": device_code}, client)
