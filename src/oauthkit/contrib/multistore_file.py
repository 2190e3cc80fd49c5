"""(classic) ``oauth2client.contrib.multistore_file``: many credentials in one file.

The file is a SQLite database (see :mod:`oauthkit.storage`); files oauth2client wrote
(``multistore_file`` version 1, ``multiprocess_file_storage`` version 2) are read and
migrated in place on first use, the original kept as ``<file>.oauth2client.bak``.
Each returned storage is bound to one key, with the classic ``Storage`` API and the
refresh protocol of SECURITY.md §6.4.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from oauthkit._credentials import scopes_to_string
from oauthkit._storage import KeyStorage
from oauthkit.storage._multistore import MultistoreFile, key_string

__all__ = [
    "get_all_credential_keys",
    "get_credential_storage",
    "get_credential_storage_custom_key",
    "get_credential_storage_custom_string_key",
]


def get_credential_storage(
    filename: str | os.PathLike[str],
    client_id: str,
    user_agent: str | None,
    scope: str | Iterable[str],
    warn_on_readonly: bool = True,
) -> KeyStorage:
    """The storage for (client_id, user_agent, scope) in ``filename``."""
    key = {"clientId": client_id, "userAgent": user_agent, "scope": scopes_to_string(scope)}
    return get_credential_storage_custom_key(filename, key, warn_on_readonly)


def get_credential_storage_custom_string_key(
    filename: str | os.PathLike[str], key_string: str, warn_on_readonly: bool = True
) -> KeyStorage:
    """The storage for a caller-chosen string key."""
    return get_credential_storage_custom_key(filename, {"key": key_string}, warn_on_readonly)


def get_credential_storage_custom_key(
    filename: str | os.PathLike[str], key_dict: dict[str, Any], warn_on_readonly: bool = True
) -> KeyStorage:
    """The storage for a caller-chosen dictionary key."""
    del warn_on_readonly  # oauthkit never falls back to a read-only mode (SECURITY.md §6.3.4)
    return KeyStorage(MultistoreFile(filename), key_string(dict(key_dict)))


def get_all_credential_keys(
    filename: str | os.PathLike[str], warn_on_readonly: bool = True
) -> list[dict[str, Any]]:
    """Every key dictionary stored in ``filename``."""
    del warn_on_readonly
    out: list[dict[str, Any]] = []
    keys = MultistoreFile(filename).keys()
    for key in keys:
        value = json.loads(key)
        out.append(value if isinstance(value, dict) else {"key": key})
    return out
