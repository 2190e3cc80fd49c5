"""RFC 7009, OAuth 2.0 Token Revocation."""

from __future__ import annotations

from oauthkit._errors import InvalidResponseError, TokenEndpointError
from oauthkit._models import Request, Response
from oauthkit._protocol.rfc6749 import ClientAuth, parse_error_body, token_request

__all__ = ["parse_revocation_response", "revocation_request"]


def revocation_request(
    revoke_uri: str, token: str, token_type_hint: str | None, client: ClientAuth | None
) -> Request:
    """The revocation request (§2.1): ``token`` and ``token_type_hint``, client authenticated
    as at the token endpoint."""
    return token_request(revoke_uri, {"token": token, "token_type_hint": token_type_hint}, client)


def parse_revocation_response(response: Response) -> None:
    """Success is any 200, whatever the body, even for an unknown token (§2.2). An error
    body raises its :class:`TokenEndpointError` (§2.2.1); other failures
    :class:`InvalidResponseError` with the status."""
    if response.status == 200:
        return
    if 300 <= response.status < 400:
        raise InvalidResponseError(
            "the revocation endpoint answered with a redirect, which is never followed",
            status=response.status,
        )
    error: TokenEndpointError | InvalidResponseError = parse_error_body(response, "revocation")
    raise error
