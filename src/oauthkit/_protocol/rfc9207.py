"""RFC 9207, OAuth 2.0 Authorization Server Issuer Identification: the mix-up defence."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from oauthkit._errors import AuthorizationError

__all__ = ["check_issuer"]


def check_issuer(
    params: Mapping[str, str], expected_issuer: str | None, *, required: bool = False
) -> None:
    """Check the ``iss`` parameter of an authorization response (§2.4).

    When the response carries ``iss`` it must equal ``expected_issuer`` exactly (no
    normalisation: a trailing slash is a different issuer). When ``required`` (the server's
    metadata says ``authorization_response_iss_parameter_supported``) a missing ``iss`` is
    refused too. With no expected issuer configured and ``iss`` present, nothing can be
    compared and the response is accepted, as §2.4 allows for clients that talk to one
    server. Raises :class:`AuthorizationError` (``issuer_mismatch``); this runs before an
    ``error`` in the response is attributed to the server.
    """
    iss = params.get("iss")
    if iss is None:
        if required:
            raise AuthorizationError(
                "the authorization response has no iss parameter, which this server promised",
                error="issuer_mismatch",
            )
        return
    if expected_issuer is None:
        return
    if not hmac.compare_digest(iss.encode("utf-8"), expected_issuer.encode("utf-8")):
        raise AuthorizationError(
            "the authorization response comes from another issuer (RFC 9207 mix-up defence)",
            error="issuer_mismatch",
        )
