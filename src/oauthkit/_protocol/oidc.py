"""OpenID Connect Core 1.0, Discovery 1.0 and RFC 8414: validation as pure functions.

No I/O: the caller brings the verification keys (fetched from the issuer's ``jwks_uri``,
never from the token, RFC 8725 §3.10), the time and the expected values. Every failure is
an :class:`~oauthkit._errors.IdTokenError` whose ``error`` names the failed check; messages
never contain the token.
"""

from __future__ import annotations

import datetime
import hmac
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from oauthkit import _jwt
from oauthkit._errors import ConfigurationError, IdTokenError, InvalidResponseError

__all__ = [
    "DEFAULT_ALGORITHMS",
    "DEFAULT_LEEWAY",
    "FORBIDDEN_HEADERS",
    "check_acr",
    "check_auth_time",
    "check_discovered_issuer",
    "check_refreshed_id_token",
    "check_userinfo_sub",
    "discovery_url",
    "require_algorithms",
    "select_keys",
    "validate_id_token",
]

DEFAULT_ALGORITHMS: tuple[str, ...] = ("RS256",)
"""OIDC Core §3.1.3.7 step 7: RS256 unless the client registered another algorithm."""
DEFAULT_LEEWAY = datetime.timedelta(seconds=60)
DEFAULT_MAX_IAT_AGE = datetime.timedelta(hours=24)

FORBIDDEN_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c"})
"""Headers that name or carry a key. The verification key comes only from the issuer's
JWKS (RFC 8725 §3.10); a token that tries to supply its own is refused outright."""
UNDERSTOOD_CRIT: frozenset[str] = frozenset()
_ID_TOKEN_TYPS = frozenset({"jwt", "application/jwt"})


def discovery_url(issuer: str, *, oauth: bool = False) -> str:
    """Where the issuer's metadata lives: ``/.well-known/openid-configuration`` appended
    to the issuer (OIDC Discovery §4), or for ``oauth`` the RFC 8414 §3 form, which
    inserts ``/.well-known/oauth-authorization-server`` between host and path."""
    if oauth:
        scheme, rest = issuer.split("://", 1)
        host, _, path = rest.partition("/")
        path = path.rstrip("/")
        suffix = f"/{path}" if path else ""
        return f"{scheme}://{host}/.well-known/oauth-authorization-server{suffix}"
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def check_discovered_issuer(metadata: Mapping[str, Any], expected: str) -> None:
    """OIDC Discovery §4.3, RFC 8414 §3.3: the ``issuer`` in the metadata must equal the
    configured issuer exactly (no trailing-slash, case or scheme tolerance)."""
    got = metadata.get("issuer")
    if not isinstance(got, str) or got != expected:
        raise InvalidResponseError(
            "the discovered issuer does not equal the configured issuer exactly",
            error="issuer_mismatch",
        )


def _fail(error: str, description: str) -> IdTokenError:
    return IdTokenError(description, error=error)


def _numeric(payload: Mapping[str, Any], name: str, required: bool) -> float | None:
    value = payload.get(name)
    if value is None:
        if required:
            raise _fail(f"missing_{name}", f"the ID token has no {name} claim")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(f"invalid_{name}", f"the ID token's {name} is not a number")
    return float(value)


def select_keys(
    header: Mapping[str, Any], keys: Sequence[_jwt.VerifyingKey], alg: str
) -> list[_jwt.VerifyingKey]:
    """The issuer keys that may verify a token with this header (OIDC Core §10.1): the key
    with the token's ``kid``; without a ``kid``, the keys for ``alg`` if there is exactly
    one. Raises ``unknown_kid`` (the caller may refetch the JWKS once, rate-limited) or
    ``kid_required``."""
    usable = [k for k in keys if k.alg == alg]
    kid = header.get("kid")
    if kid is not None:
        if not isinstance(kid, str):
            raise _fail("invalid_header", "the ID token's kid is not a string")
        found = [k for k in usable if k.kid == kid]
        if not found:
            raise _fail("unknown_kid", "no key of the issuer has the ID token's kid")
        return found
    if len(usable) == 1:
        return usable
    if not usable:
        raise _fail("unknown_kid", "the issuer has no key for the ID token's algorithm")
    raise _fail("kid_required", "the issuer has several keys and the ID token names none")


def validate_id_token(
    token: str,
    *,
    keys: Sequence[_jwt.VerifyingKey],
    issuer: str,
    client_id: str | Collection[str],
    now: datetime.datetime,
    algorithms: Collection[str] = DEFAULT_ALGORITHMS,
    leeway: datetime.timedelta = DEFAULT_LEEWAY,
    nonce: str | None = None,
    access_token: str | None = None,
    client_secret: str | None = None,
    max_iat_age: datetime.timedelta | None = DEFAULT_MAX_IAT_AGE,
    max_age: datetime.timedelta | None = None,
) -> dict[str, Any]:
    """Validate an ID token and return its claims (OIDC Core §3.1.3.7, §3.1.3.8, §2;
    RFC 8725). Checks, in order, each failing with the ``error`` shown:

    - ``malformed``: not a compact JWS with JSON header and payload (a JWE is refused:
      encrypted ID tokens are not supported, C28);
    - ``alg_none``, ``alg_not_allowed``: ``alg`` must be in ``algorithms`` (the caller's
      allow-list; an empty list allows nothing, C40); ``none`` never;
    - ``forbidden_header``: ``jku``/``jwk``/``x5u``/``x5c`` present (C42);
    - ``wrong_token_type``: a ``typ`` other than ``JWT`` (an ``at+jwt`` access token, a
      ``dpop+jwt`` proof...) or an ``events`` claim (a logout token) (RFC 8725 §3.11; C43);
    - ``unsupported_crit``: a ``crit`` header naming anything (RFC 7515 §4.1.11);
    - ``unknown_kid``, ``kid_required``, ``invalid_signature``: verified with the
      issuer's key for that ``alg`` only (HS* only with ``client_secret``, §10.1; C31);
    - ``iss_mismatch`` (exact, C29), ``aud_mismatch``, ``untrusted_aud``, ``azp_missing``,
      ``azp_mismatch`` (C30);
    - ``missing_exp``/``expired``, ``missing_iat``/``iat_in_future``/``iat_too_old``,
      ``not_yet_valid`` (nbf), all with ``leeway`` (C32);
    - ``nonce_mismatch`` when ``nonce`` was sent (C33);
    - ``missing_auth_time``, ``invalid_auth_time``, ``auth_time_in_future``,
      ``auth_time_too_old`` when ``max_age`` was sent (:func:`check_auth_time`, C34);
    - ``at_hash_mismatch`` when ``access_token`` is given and ``at_hash`` present (C35).
    """
    try:
        header, payload, _signing_input, _sig = _jwt.decode_segments(token)
    except (ValueError, UnicodeDecodeError):
        raise _fail("malformed", "the ID token is not a compact JWS") from None
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise _fail("malformed", "the ID token has no alg header")
    if alg.lower() == "none":
        raise _fail("alg_none", "an unsigned ID token (alg none) is never accepted")
    allowed = set(algorithms)
    if alg not in allowed:
        raise _fail("alg_not_allowed", f"the ID token's algorithm {alg[:20]!r} is not allowed")
    if FORBIDDEN_HEADERS & header.keys():
        raise _fail(
            "forbidden_header",
            "the ID token names its own key (jku/jwk/x5u/x5c); keys come only from the "
            "issuer's JWKS",
        )
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in _ID_TOKEN_TYPS):
        raise _fail("wrong_token_type", "the token is typed as something other than an ID token")
    if "crit" in header:
        crit = header["crit"]
        if not isinstance(crit, list) or not crit or set(crit) - UNDERSTOOD_CRIT:
            raise _fail("unsupported_crit", "the ID token has a crit header we do not understand")
    if alg.startswith("HS"):
        if not client_secret:
            raise _fail("alg_not_allowed", "an HS* ID token needs the client secret")
        candidates = [_jwt.VerifyingKey(client_secret.encode("utf-8"), alg, None, "oct")]
    else:
        candidates = select_keys(header, keys, alg)
    if not any(key.verify(token) for key in candidates):
        raise _fail("invalid_signature", "the ID token's signature does not verify")

    if "events" in payload:  # a logout token (OIDC Back-Channel Logout §2.4), C43
        raise _fail("wrong_token_type", "a logout token is not an ID token")
    iss = payload.get("iss")
    if not isinstance(iss, str) or not hmac.compare_digest(iss.encode(), issuer.encode()):
        raise _fail("iss_mismatch", "the ID token's issuer is not the expected issuer")
    clients = {client_id} if isinstance(client_id, str) else set(client_id)
    aud = payload.get("aud")
    auds = [aud] if isinstance(aud, str) else aud
    if not isinstance(auds, list) or not auds or not all(isinstance(a, str) for a in auds):
        raise _fail("aud_mismatch", "the ID token has no valid aud claim")
    if not clients & set(auds):
        raise _fail("aud_mismatch", "the ID token is not meant for this client")
    if set(auds) - clients:
        raise _fail("untrusted_aud", "the ID token names audiences this client does not trust")
    azp = payload.get("azp")
    if len(auds) > 1 and azp is None:
        raise _fail("azp_missing", "an ID token with several audiences needs azp")
    if azp is not None and azp not in clients:
        raise _fail("azp_mismatch", "the ID token's azp is not this client")

    now_s = now.timestamp()
    slack = leeway.total_seconds()
    exp = _numeric(payload, "exp", True) or 0.0
    if now_s > exp + slack:
        raise _fail("expired", "the ID token has expired")
    iat = _numeric(payload, "iat", True) or 0.0
    if iat > now_s + slack:
        raise _fail("iat_in_future", "the ID token was issued in the future")
    if max_iat_age is not None and now_s - iat > max_iat_age.total_seconds() + slack:
        raise _fail("iat_too_old", "the ID token was issued too long ago")
    nbf = _numeric(payload, "nbf", False)
    if nbf is not None and now_s + slack < nbf:
        raise _fail("not_yet_valid", "the ID token is not valid yet (nbf)")

    if nonce is not None:
        got = payload.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise _fail("nonce_mismatch", "the ID token's nonce does not match this flow")
    if max_age is not None:
        check_auth_time(payload, max_age, now=now, leeway=leeway)

    at_hash = payload.get("at_hash")
    if access_token is not None and at_hash is not None:
        hasher = _jwt.hash_for_alg(alg)
        if hasher is None:
            raise _fail("at_hash_mismatch", "cannot check at_hash for this algorithm")
        digest = hasher(access_token.encode("ascii")).digest()
        expected = _jwt.b64url_encode(digest[: len(digest) // 2])
        if not isinstance(at_hash, str) or not hmac.compare_digest(
            at_hash.encode(), expected.encode()
        ):
            raise _fail(
                "at_hash_mismatch", "the ID token's at_hash does not match the access token"
            )
    return dict(payload)


def check_auth_time(
    claims: Mapping[str, Any],
    max_age: datetime.timedelta,
    *,
    now: datetime.datetime,
    leeway: datetime.timedelta = DEFAULT_LEEWAY,
) -> float:
    """OIDC Core §3.1.3.7 item 13 (SECURITY.md C34): when the authorization request sent
    ``max_age``, the ID token MUST carry ``auth_time`` (§3.1.2.1, §2) and the end-user
    must have authenticated at most ``max_age`` ago: ``auth_time + max_age + leeway >=
    now``. Returns ``auth_time``; raises :class:`IdTokenError` with ``error``
    ``missing_auth_time``, ``invalid_auth_time`` (not a JSON number),
    ``auth_time_in_future`` (beyond ``leeway``) or ``auth_time_too_old``. The caller asks
    the user to authenticate again (a new flow) when it is too old."""
    auth_time = _numeric(claims, "auth_time", True) or 0.0
    now_s = now.timestamp()
    slack = leeway.total_seconds()
    if auth_time > now_s + slack:
        raise _fail("auth_time_in_future", "the ID token's auth_time is in the future")
    if auth_time + max_age.total_seconds() + slack < now_s:
        raise _fail(
            "auth_time_too_old",
            "the end-user authenticated longer ago than max_age allows",
        )
    return auth_time


def check_acr(claims: Mapping[str, Any], accepted: Collection[str]) -> str:
    """OIDC Core §3.1.3.7 item 12 (SECURITY.md C34): when the client requires one of the
    ``accepted`` Authentication Context Class References, the ID token's ``acr`` must be
    one of them (the server MAY satisfy ``acr_values`` with another class, §3.1.2.1: what
    is acceptable is the client's policy). Returns the ``acr``; raises
    :class:`IdTokenError` ``acr_not_accepted``."""
    acr = claims.get("acr")
    if not isinstance(acr, str) or acr not in accepted:
        raise _fail("acr_not_accepted", "the ID token's acr is not one this client accepts")
    return acr


def check_refreshed_id_token(original: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """OIDC Core §12.2 (SECURITY.md C37): an ID token from a refresh names the same
    ``iss``, ``sub``, ``aud``, ``azp`` (absent if it was absent) and ``auth_time`` as the
    original, a nonce only if it equals the original's, and a new ``iat``."""
    for claim in ("iss", "sub", "aud", "azp", "auth_time"):
        if original.get(claim) != new.get(claim):
            raise _fail(
                f"refresh_{claim}_mismatch",
                f"the refreshed ID token's {claim} differs from the original (OIDC Core §12.2)",
            )
    if "nonce" in new and new.get("nonce") != original.get("nonce"):
        raise _fail("refresh_nonce_mismatch", "the refreshed ID token carries a foreign nonce")
    if not isinstance(new.get("iat"), (int, float)):
        raise _fail("missing_iat", "the refreshed ID token has no iat")


def check_userinfo_sub(userinfo: Mapping[str, Any], id_token: Mapping[str, Any]) -> None:
    """OIDC Core §5.3.2 (C36): the UserInfo ``sub`` must equal the ID token's, else the
    UserInfo response must not be used."""
    sub = id_token.get("sub")
    if not isinstance(sub, str) or userinfo.get("sub") != sub:
        raise IdTokenError(
            "the UserInfo sub does not match the ID token's sub", error="userinfo_sub_mismatch"
        )


def require_algorithms(algorithms: Collection[str]) -> tuple[str, ...]:
    """An allow-list as given, refusing ``none`` (C40)."""
    out = tuple(algorithms)
    if any(a.lower() == "none" for a in out):
        raise ConfigurationError("the algorithm 'none' can never be allowed for ID tokens")
    return out
