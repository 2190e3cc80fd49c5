"""(classic) ``oauth2client.contrib.dictionary_storage``: credentials in a dictionary."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from oauthkit._storage import KeyStorage
from oauthkit.storage._dict import DictStore

__all__ = ["DictionaryStorage"]


class DictionaryStorage(KeyStorage):
    """Credentials stored as JSON under ``key`` in ``dictionary`` (e.g. a web session).
    ``lock`` is accepted for the classic signature; the exclusive section is per process."""

    def __init__(self, dictionary: MutableMapping[str, Any], key: str, lock: Any = None) -> None:
        del lock
        super().__init__(DictStore(dictionary), key)
