"""RFC 7636, Proof Key for Code Exchange (PKCE). Only ``S256`` exists here: ``plain``
gives no protection against a stolen authorization request (RFC 9700 §2.1.1)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from oauthkit._errors import ConfigurationError

__all__ = ["METHOD", "code_challenge", "generate_code_verifier", "validate_code_verifier"]

METHOD = "S256"
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def generate_code_verifier() -> str:
    """A fresh verifier (§4.1): 86 characters of the unreserved set, 512 bits of entropy."""
    return secrets.token_urlsafe(64)


def validate_code_verifier(verifier: str) -> str:
    """``verifier`` if it is 43 to 128 unreserved characters (§4.1), else ConfigurationError."""
    if not isinstance(verifier, str) or not _VERIFIER.match(verifier):
        raise ConfigurationError(
            "code_verifier must be 43 to 128 characters from [A-Za-z0-9-._~] (RFC 7636 §4.1)"
        )
    return verifier


def code_challenge(verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(verifier))) without padding (§4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
