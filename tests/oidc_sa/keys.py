"""Keys and key files generated for the tests (never checked in)."""

from __future__ import annotations

import functools
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

EMAIL = "robot@project.iam.gserviceaccount.com"
KEY_ID = "key-id-1"


def rsa_key(n: int = 0) -> rsa.RSAPrivateKey:
    """The n-th test key (generated once per process)."""
    return _rsa_key(n)


@functools.lru_cache(maxsize=4)
def _rsa_key(n: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def keyfile(token_uri: str, n: int = 0) -> dict[str, Any]:
    """A Google JSON key file for ``rsa_key(n)``."""
    return {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": KEY_ID,
        "private_key": pem(rsa_key(n)),
        "client_email": EMAIL,
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }


def certificate(key: rsa.RSAPrivateKey, cn: str = "test") -> x509.Certificate:
    import datetime

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def p12(key: rsa.RSAPrivateKey, password: bytes = b"notasecret") -> bytes:
    """A PKCS#12 file like Google's legacy ``.p12`` service-account keys."""
    return pkcs12.serialize_key_and_certificates(
        b"privatekey",
        key,
        certificate(key),
        None,
        serialization.BestAvailableEncryption(password),
    )
