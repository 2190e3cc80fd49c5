"""(classic) ``oauth2client.file``: credentials in one JSON file.

:class:`Storage` reads files oauth2client wrote unchanged, writes atomically and durably,
creates them 0600, refuses symlinks (:class:`CredentialsFileSymbolicLinkError`, a
:class:`~oauthkit.StorageError`), and refreshes under a lock on ``<file>.lock``
(SECURITY.md §6).
"""

from __future__ import annotations

from oauthkit.storage._file import Storage
from oauthkit.storage._fs import CredentialsFileSymbolicLinkError

__all__ = ["CredentialsFileSymbolicLinkError", "Storage"]
