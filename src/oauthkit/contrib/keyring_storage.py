"""(classic) ``oauth2client.contrib.keyring_storage``: credentials in the OS keyring.

Needs the ``keyring`` extra. Entries oauth2client wrote are read unchanged. A failing or
absent keyring raises :class:`~oauthkit.StorageError`; nothing falls back to plaintext.
"""

from __future__ import annotations

from oauthkit._storage import KeyStorage
from oauthkit.storage._keyring import KeyringStore

__all__ = ["Storage"]


class Storage(KeyStorage):
    """Credentials under (``service_name``, ``user_name``) in the keyring; the refresh
    section is locked with a lock file (``lock_path``, default in the user's config dir)."""

    def __init__(self, service_name: str, user_name: str, *, lock_path: str | None = None) -> None:
        super().__init__(KeyringStore(service_name, lock_path=lock_path), user_name)
