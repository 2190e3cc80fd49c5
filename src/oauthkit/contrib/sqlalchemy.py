"""(classic) ``oauth2client.contrib.sqlalchemy``: credentials in a column of a model.

:class:`CredentialsType` stores credentials as a JSON column (oauth2client used a pickle
column: never here). :class:`Storage` has the classic constructor and commits after every
write so a rotated refresh token is durable. For a store with cross-process locking and
compare-and-swap use :class:`oauthkit.storage.SQLStore`.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy.types

from oauthkit._credentials import Credentials
from oauthkit._refresh import Record
from oauthkit._storage import Storage as _Storage
from oauthkit._storage import credentials_from_record

__all__ = ["CredentialsType", "Storage"]


class CredentialsType(sqlalchemy.types.TypeDecorator[Credentials]):
    """A JSON column holding credentials (their ``to_json`` object; a closed registry of
    types on the way back, so nothing named in the data is imported)."""

    impl = sqlalchemy.types.JSON
    cache_ok = True

    def process_bind_param(self, value: Credentials | None, dialect: Any) -> Any:
        return None if value is None else json.loads(value.to_json())

    def process_result_value(self, value: Any, dialect: Any) -> Credentials | None:
        if value is None:
            return None
        text = value if isinstance(value, str) else json.dumps(value)
        return credentials_from_record(Record(text, 0), "a database column")


class Storage(_Storage):
    """Credentials in ``property_name`` of the ``model_class`` row whose ``key_name``
    equals ``key_value``, through ``session``."""

    def __init__(
        self, session: Any, model_class: Any, key_name: str, key_value: Any, property_name: str
    ) -> None:
        super().__init__()
        self.session = session
        self.model_class = model_class
        self.key_name = key_name
        self.key_value = key_value
        self.property_name = property_name

    def _entity(self) -> Any:
        return (
            self.session.query(self.model_class)
            .filter_by(**{self.key_name: self.key_value})
            .first()
        )

    def locked_get(self) -> Credentials | None:
        entity = self._entity()
        if entity is None:
            return None
        credentials: Credentials | None = getattr(entity, self.property_name)
        if credentials is not None and hasattr(credentials, "set_store"):
            credentials.set_store(self)
        return credentials

    def locked_put(self, credentials: Credentials) -> None:
        entity = self._entity()
        if entity is None:
            entity = self.model_class(**{self.key_name: self.key_value})
        setattr(entity, self.property_name, credentials)
        self.session.add(entity)
        self.session.commit()

    def locked_delete(self) -> None:
        self.session.query(self.model_class).filter_by(**{self.key_name: self.key_value}).delete()
        self.session.commit()
