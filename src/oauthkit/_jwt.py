"""JWS signing and verification (RFC 7515, RFC 7518, RFC 7519), keys parsed once.

Layer 0: no I/O, no clock. ``cryptography`` and ``PyJWT`` are imported when a key is
first parsed, never at ``import oauthkit``.

Signing is written by hand over ``cryptography`` because it is the hot path of every
service account (RFC 7523 §2.1 assertions): the header segment is encoded once per key,
the padding and hash objects are reused, and each assertion costs one JSON dump and one
private-key operation. Verification goes through PyJWT with exactly one algorithm: the one
bound to the key (RFC 8725 §3.1), never one chosen by the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from oauthkit._errors import ConfigurationError

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "SigningKey",
    "VerifyingKey",
    "b64url_decode",
    "b64url_encode",
    "decode_segments",
    "hash_for_alg",
    "load_pkcs12",
    "load_private_key",
    "verifying_keys_from_jwks",
]

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
_KTY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP", "HS": "oct"}
MAX_JWT = 64 * 1024


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url_encode(data: bytes) -> str:
    """BASE64URL without padding (RFC 7515 §2)."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url_encode`; raises ``ValueError`` on bad input."""
    if not isinstance(text, str) or "=" in text:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def hash_for_alg(alg: str) -> Any:
    """The hash function a JWS ``alg`` uses (for ``at_hash``, OIDC Core §3.1.3.8); EdDSA
    with Ed25519 uses SHA-512. ``None`` for an unknown alg (callers fail closed)."""
    if alg == "EdDSA":
        return hashlib.sha512
    if len(alg) == 5 and alg[:2] in ("RS", "PS", "ES", "HS"):
        return _HASHES.get(alg[2:])
    return None


def decode_segments(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Split a compact JWS into (header, payload, signing input, signature), all decoded
    but NOT verified. Raises ``ValueError`` for anything that is not a compact JWS with
    JSON object header and payload (RFC 7515 §7.1; UTF-8 only, RFC 8725 §3.7)."""
    if not isinstance(token, str) or len(token) > MAX_JWT:
        raise ValueError("not a JWT")
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    header = json.loads(b64url_decode(parts[0]).decode("utf-8"))
    payload = json.loads(b64url_decode(parts[1]).decode("utf-8"))
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ValueError("JWT segments are not JSON objects")
    signature = b64url_decode(parts[2])
    return header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


class SigningKey:
    """A private (or shared) key bound to one JWS algorithm, parsed once.

    ``sign(data)`` signs raw bytes (``sign_blob``); :meth:`sign_jwt` builds a compact JWS.
    The key material never appears in ``repr``.
    """

    __slots__ = (
        "_hash",
        "_header_b64",
        "_kind",
        "_padding",
        "_prefix",
        "_secret",
        "alg",
        "key",
        "kid",
    )

    def __init__(self, key: Any, alg: str, kid: str | None = None) -> None:
        self.key = key
        self.alg = alg
        self.kid = kid
        self._secret: bytes | None = None
        header: dict[str, str] = {"alg": alg, "typ": "JWT"}
        if kid:
            header["kid"] = kid
        self._header_b64 = b64url_encode(_json(header))
        self._prefix = (self._header_b64 + ".").encode("ascii")
        family = alg[:2]
        if alg == "EdDSA":
            self._kind = "ed"
            self._hash: Any = None
            self._padding: Any = None
            return
        hash_name = alg[2:]
        if family == "HS":
            if not isinstance(key, bytes):
                raise ConfigurationError("an HS* key is a byte string")
            self._kind = "hs"
            self._secret = key
            self._hash = _HASHES[hash_name]
            self._padding = None
            return
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding

        if hash_name == "256":
            self._hash = hashes.SHA256()
        elif hash_name == "384":
            self._hash = hashes.SHA384()
        else:
            self._hash = hashes.SHA512()
        if family == "RS":
            self._kind = "rs"
            self._padding = padding.PKCS1v15()
        elif family == "PS":
            self._kind = "rs"
            self._padding = padding.PSS(
                mgf=padding.MGF1(self._hash), salt_length=padding.PSS.DIGEST_LENGTH
            )
        elif family == "ES":
            self._kind = "es"
            self._padding = ec.ECDSA(self._hash)
        else:
            raise ConfigurationError(f"unsupported signing algorithm {alg!r}")

    def __repr__(self) -> str:
        return f"SigningKey(alg={self.alg!r}, kid={self.kid!r})"

    def __reduce__(self) -> Any:
        raise TypeError("signing keys do not pickle")

    def sign(self, data: bytes) -> bytes:
        """The JWS signature of ``data`` (for ES*, the raw ``r || s`` of RFC 7518 §3.4)."""
        kind = self._kind
        if kind == "rs":
            sig: bytes = self.key.sign(data, self._padding, self._hash)
            return sig
        if kind == "hs":
            return hmac.new(self._secret or b"", data, self._hash).digest()
        if kind == "ed":
            out: bytes = self.key.sign(data)
            return out
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(self.key.sign(data, self._padding))
        size = (self.key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    def sign_jwt(self, claims: Mapping[str, Any], headers: Mapping[str, Any] | None = None) -> str:
        """A compact JWS over ``claims`` (RFC 7515 §7.1), header ``alg``/``typ``/``kid``."""
        if headers:
            header: dict[str, Any] = {"alg": self.alg, "typ": "JWT"}
            if self.kid:
                header["kid"] = self.kid
            header.update(headers)
            head = b64url_encode(_json(header))
        else:
            head = self._header_b64
        signing_input = head + "." + b64url_encode(_json(claims))
        return signing_input + "." + b64url_encode(self.sign(signing_input.encode("ascii")))

    def sign_payload(self, payload: bytes) -> str:
        """A compact JWS over an already serialized JSON claims set, with this key's
        header: the hot path of service-account assertions, kept to a few C calls."""
        b2a = binascii.b2a_base64
        signing_input = self._prefix + b2a(payload, newline=False).translate(_URLSAFE).rstrip(b"=")
        if self._kind == "rs":
            sig = self.key.sign(signing_input, self._padding, self._hash)
        else:
            sig = self.sign(signing_input)
        return (
            signing_input + b"." + b2a(sig, newline=False).translate(_URLSAFE).rstrip(b"=")
        ).decode("ascii")

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK (RFC 7517), for registering a ``private_key_jwt`` client
        or publishing a service account's certificate."""
        if self._kind == "hs":
            raise ConfigurationError("a shared secret has no public key")
        from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

        public = self.key.public_key()
        if self._kind == "rs":
            jwk: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif self._kind == "es":
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        jwk["alg"] = self.alg
        jwk["use"] = "sig"
        if self.kid:
            jwk["kid"] = self.kid
        return jwk


def _default_alg(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise ConfigurationError("unsupported private key type")


def load_private_key(
    data: str | bytes,
    *,
    alg: str | None = None,
    kid: str | None = None,
    password: bytes | None = None,
) -> SigningKey:
    """A :class:`SigningKey` from a PEM private key (PKCS#8 or PKCS#1, as in Google's JSON
    key files). Raises :class:`ConfigurationError` without echoing the key."""
    from cryptography.hazmat.primitives import serialization

    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        key = serialization.load_pem_private_key(raw, password=password)
    except (ValueError, TypeError):
        raise ConfigurationError("the private key is not a valid PEM private key") from None
    return SigningKey(key, alg or _default_alg(key), kid)


def load_pkcs12(
    data: bytes, password: str | bytes | None = "notasecret", *, kid: str | None = None
) -> SigningKey:
    """A :class:`SigningKey` from a PKCS#12 file's contents (Google's legacy ``.p12`` keys;
    their password is ``notasecret``)."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    pw = password.encode("utf-8") if isinstance(password, str) else password
    try:
        key, _cert, _more = pkcs12.load_key_and_certificates(data, pw)
    except (ValueError, TypeError):
        raise ConfigurationError("the PKCS#12 data or its password is not valid") from None
    if key is None:
        raise ConfigurationError("the PKCS#12 data holds no private key")
    return SigningKey(key, _default_alg(key), kid)


class VerifyingKey:
    """A public key from a JWKS, bound to exactly one algorithm (RFC 8725 §3.1)."""

    __slots__ = ("alg", "key", "kid", "kty")

    def __init__(self, key: Any, alg: str, kid: str | None, kty: str) -> None:
        self.key = key
        self.alg = alg
        self.kid = kid
        self.kty = kty

    def __repr__(self) -> str:
        return f"VerifyingKey(kid={self.kid!r}, alg={self.alg!r})"

    def verify(self, token: str) -> bool:
        """True when the JWS signature of ``token`` is valid under this key and its alg."""
        if self.kty == "oct":  # HS*: the client secret's octets (OIDC Core §10.1)
            head, _, rest = token.partition(".")
            body, _, sig = rest.partition(".")
            hasher = hash_for_alg(self.alg)
            if hasher is None or not isinstance(self.key, bytes):
                return False
            try:
                got = b64url_decode(sig)
            except ValueError:
                return False
            mac = hmac.new(self.key, f"{head}.{body}".encode("ascii"), hasher).digest()
            return hmac.compare_digest(mac, got)
        import jwt

        try:
            jwt.PyJWS().decode_complete(token, key=self.key, algorithms=[self.alg])
        except jwt.PyJWTError:
            return False
        return True


def _alg_for_jwk(jwk: Mapping[str, Any]) -> str | None:
    alg = jwk.get("alg")
    if isinstance(alg, str):
        return alg
    kty = jwk.get("kty")
    if kty == "RSA":
        return "RS256"  # OIDC Core §3.1.3.7 step 7: RS256 is the default
    if kty == "EC":
        return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(str(jwk.get("crv")))
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        return "EdDSA"
    return None


def verifying_keys_from_jwks(jwks: Mapping[str, Any]) -> list[VerifyingKey]:
    """Public signing keys of a JWK Set (RFC 7517 §5). Keys the client cannot use (an
    unknown ``kty``, ``use: enc``, a private or symmetric key, an unparseable or off-curve
    key) are ignored (RFC 7517 §5; SECURITY.md C39, C41)."""
    import jwt

    out: list[VerifyingKey] = []
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        return out
    for jwk in keys:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        kty = jwk.get("kty")
        alg = _alg_for_jwk(jwk)
        if kty not in ("RSA", "EC", "OKP") or alg not in ASYMMETRIC_ALGORITHMS:
            continue
        if _KTY.get(alg[:2]) != kty or "d" in jwk:
            continue
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=alg).key
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
        kid = jwk.get("kid")
        out.append(VerifyingKey(key, alg, kid if isinstance(kid, str) else None, kty))
    return out
