"""Reading ``client_secrets.json`` files (the classic ``oauth2client.clientsecrets`` API).

A file holds one client under a key naming its type, ``web`` or ``installed``::

    {"web": {"client_id": "...", "client_secret": "...", "redirect_uris": [...],
             "auth_uri": "...", "token_uri": "..."}}

Optional members: ``revoke_uri``, ``device_uri``, ``token_info_uri``, ``issuer`` and
``token_endpoint_auth_method``. ``client_secret`` may be left out only when
``token_endpoint_auth_method`` is ``private_key_jwt`` (the key is given to
``flow_from_clientsecrets``, never kept in this file) or ``none`` (a public client). An
``installed`` client's secret is not secret (RFC 8252 §8.5): it is sent because providers
expect it, never relied upon.
"""

from __future__ import annotations

import json
from typing import IO, Any, Protocol

from oauthkit._errors import InvalidClientSecretsError

__all__ = [
    "TYPE_INSTALLED",
    "TYPE_WEB",
    "VALID_CLIENT",
    "Error",
    "InvalidClientSecretsError",
    "load",
    "loadfile",
    "loads",
]

TYPE_WEB = "web"
TYPE_INSTALLED = "installed"

VALID_CLIENT: dict[str, dict[str, list[str]]] = {
    TYPE_WEB: {
        "required": ["client_id", "client_secret", "redirect_uris", "auth_uri", "token_uri"],
        "string": ["client_id", "client_secret"],
    },
    TYPE_INSTALLED: {
        "required": ["client_id", "client_secret", "redirect_uris", "auth_uri", "token_uri"],
        "string": ["client_id", "client_secret"],
    },
}

Error = InvalidClientSecretsError


class _Cache(Protocol):
    def get(self, key: str, namespace: str = ...) -> Any: ...
    def set(self, key: str, value: Any, namespace: str = ...) -> Any: ...


_NAMESPACE = "oauthkit:clientsecrets"
# client authentication methods that use no client secret (RFC 7591 §2, RFC 7523 §2.2)
_SECRETLESS_METHODS = frozenset({"private_key_jwt", "none"})


def _validate(data: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(data, dict):
        raise InvalidClientSecretsError("Invalid file format: the top level is not a JSON object.")
    if len(data) != 1:
        raise InvalidClientSecretsError(
            "Invalid file format: expected exactly one client type ('web' or 'installed'), "
            f"found {len(data)} top-level keys."
        )
    client_type, client_info = next(iter(data.items()))
    if client_type not in VALID_CLIENT:
        raise InvalidClientSecretsError(f"Unknown client type: {str(client_type)[:40]}.")
    if not isinstance(client_info, dict):
        raise InvalidClientSecretsError(f'The "{client_type}" entry is not a JSON object.')
    rules = VALID_CLIENT[client_type]
    method = client_info.get("token_endpoint_auth_method")
    if method is not None and not isinstance(method, str):
        raise InvalidClientSecretsError('Property "token_endpoint_auth_method" is not a string.')
    secretless = method in _SECRETLESS_METHODS and "client_secret" not in client_info
    for prop in rules["required"]:
        if secretless and prop == "client_secret":
            continue
        if prop not in client_info:
            raise InvalidClientSecretsError(
                f'Missing property "{prop}" in a client type of "{client_type}".'
            )
    for prop in rules["string"]:
        if secretless and prop == "client_secret":
            continue
        value = client_info[prop]
        if not isinstance(value, str) or value.startswith("[["):
            raise InvalidClientSecretsError(f'Property "{prop}" is not configured.')
    uris = client_info["redirect_uris"]
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise InvalidClientSecretsError('Property "redirect_uris" is not a list of strings.')
    for prop in ("auth_uri", "token_uri", "revoke_uri", "device_uri", "token_info_uri", "issuer"):
        if prop in client_info and not isinstance(client_info[prop], str):
            raise InvalidClientSecretsError(f'Property "{prop}" is not a string.')
    return client_type, client_info


def load(fp: IO[str]) -> tuple[str, dict[str, Any]]:
    """``(client_type, client_info)`` from an open file."""
    return loads(fp.read())


def loads(s: str | bytes) -> tuple[str, dict[str, Any]]:
    """``(client_type, client_info)`` from a JSON string. Raises
    :class:`InvalidClientSecretsError` naming what is wrong."""
    try:
        data = json.loads(s)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidClientSecretsError(f"The client secrets are not valid JSON: {exc}") from None
    return _validate(data)


def _loadfile(filename: str) -> tuple[str, dict[str, Any]]:
    try:
        with open(filename, encoding="utf-8") as fp:
            text = fp.read()
    except OSError as exc:
        raise InvalidClientSecretsError(
            f"Error opening file {filename!r}: {exc.strerror or type(exc).__name__}"
        ) from exc
    except UnicodeDecodeError:
        raise InvalidClientSecretsError(f"File {filename!r} is not UTF-8 text.") from None
    return loads(text)


def loadfile(filename: str, cache: _Cache | None = None) -> tuple[str, dict[str, Any]]:
    """``(client_type, client_info)`` from a file, through ``cache`` if given (any object
    with ``get(key, namespace)`` and ``set(key, value, namespace)``, like memcache)."""
    if cache is None:
        return _loadfile(filename)
    obj = cache.get(filename, namespace=_NAMESPACE)
    if obj is None:
        client_type, client_info = _loadfile(filename)
        cache.set(filename, {client_type: client_info}, namespace=_NAMESPACE)
        return client_type, client_info
    return _validate(obj)
