"""Keep secrets out of reprs, messages and logs."""

from __future__ import annotations

import hashlib

__all__ = ["fingerprint", "scrub"]


def fingerprint(secret: str | None) -> str | None:
    """A short, non-reversible tag for a secret, so logs can tell two tokens apart."""
    if not secret:
        return None
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with every occurrence of each (non-trivial) secret replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
