"""The classic names, files oauth2client wrote (read as they are), migration and lookup."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path

import oauth2client.client
import oauth2client.contrib.keyring_storage
import oauth2client.file
import pytest
import sqlalchemy
import sqlalchemy.orm

from oauthkit import OAuth2Credentials
from oauthkit.contrib import dictionary_storage, keyring_storage, multistore_file
from oauthkit.contrib import sqlalchemy as classic_sqlalchemy
from oauthkit.file import Storage as FileStorage
from oauthkit.storage import SQLiteStore, bind, credential_key, find, main, migrate
from oauthkit.storage._multistore import close_all


def o2c_credentials(n: int = 1) -> oauth2client.client.OAuth2Credentials:
    return oauth2client.client.OAuth2Credentials(
        f"at-{n}",
        "cid",
        "secret",
        f"rt-{n}",
        datetime.datetime(2030, 1, 1),
        "https://example.test/token",
        "ua",
        scopes=["email", "profile"],
    )


def test_file_written_by_oauth2client_is_read_and_written_back(tmp_path: Path) -> None:
    path = str(tmp_path / "cred.json")
    oauth2client.file.Storage(path).put(o2c_credentials())
    creds = FileStorage(path).get()
    assert isinstance(creds, OAuth2Credentials) and creds.refresh_token == "rt-1"
    creds.access_token = "at-9"
    FileStorage(path).put(creds)
    again = oauth2client.file.Storage(path).get()
    assert again.access_token == "at-9"


def test_multistore_reads_and_migrates_version_1(tmp_path: Path) -> None:
    path = tmp_path / "multi.json"
    key = {"clientId": "cid", "userAgent": "ua", "scope": "email profile"}
    path.write_text(
        json.dumps(
            {
                "file_version": 1,
                "data": [
                    {"key": key, "credential": json.loads(o2c_credentials().to_json())},
                    {
                        "key": {"key": "other"},
                        "credential": json.loads(o2c_credentials(2).to_json()),
                    },
                ],
            }
        )
    )
    try:
        storage = multistore_file.get_credential_storage(path, "cid", "ua", ["email", "profile"])
        creds = storage.get()
        assert isinstance(creds, OAuth2Credentials) and creds.access_token == "at-1"
        other = multistore_file.get_credential_storage_custom_string_key(path, "other").get()
        assert other is not None
        assert sorted(
            json.dumps(k, sort_keys=True) for k in multistore_file.get_all_credential_keys(path)
        ) == sorted(json.dumps(k, sort_keys=True) for k in [key, {"key": "other"}])
        assert (tmp_path / "multi.json.oauth2client.bak").exists()
        custom = multistore_file.get_credential_storage_custom_key(path, {"a": "b"})
        custom.put(creds)
        assert custom.get() is not None
    finally:
        close_all()


def test_multistore_reads_multiprocess_version_2(tmp_path: Path) -> None:
    # the layout oauth2client.contrib.multiprocess_file_storage._write_credentials_file
    # writes (that module needs `fasteners`, which is not a dependency here)
    path = str(tmp_path / "mp.json")
    encoded = base64.b64encode(o2c_credentials(3).to_json().encode()).decode()
    Path(path).write_text(json.dumps({"file_version": 2, "credentials": {"alice": encoded}}))
    try:
        creds = multistore_file.get_credential_storage_custom_string_key(path, "alice").get()
        assert creds is not None and creds.access_token == "at-3"  # type: ignore[attr-defined]
    finally:
        close_all()


def test_keyring_entry_written_by_oauth2client(memory_keyring: object, tmp_path: Path) -> None:
    oauth2client.contrib.keyring_storage.Storage("svc", "bob").put(o2c_credentials(4))
    storage = keyring_storage.Storage("svc", "bob", lock_path=str(tmp_path / "k.lock"))
    creds = storage.get()
    assert creds is not None and creds.access_token == "at-4"  # type: ignore[attr-defined]
    storage.delete()
    assert storage.get() is None


def test_dictionary_storage() -> None:
    data: dict[str, str] = {}
    storage = dictionary_storage.DictionaryStorage(data, "creds")
    storage.put(OAuth2Credentials.new_from_json(o2c_credentials().to_json()))
    assert "creds" in data and storage.get() is not None
    storage.delete()
    assert storage.get() is None


def test_classic_sqlalchemy_storage_uses_a_json_column() -> None:
    class Base(sqlalchemy.orm.DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = "users"
        id: sqlalchemy.orm.Mapped[str] = sqlalchemy.orm.mapped_column(primary_key=True)
        credentials = sqlalchemy.Column(classic_sqlalchemy.CredentialsType)

    engine = sqlalchemy.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    try:
        with sqlalchemy.orm.Session(engine) as session:
            storage = classic_sqlalchemy.Storage(session, User, "id", "u1", "credentials")
            storage.put(OAuth2Credentials.new_from_json(o2c_credentials().to_json()))
            creds = storage.get()
            assert creds is not None and creds.access_token == "at-1"  # type: ignore[attr-defined]
            raw = session.execute(sqlalchemy.text("SELECT credentials FROM users")).scalar_one()
            assert json.loads(raw)["refresh_token"] == "rt-1"
            storage.delete()
            assert storage.get() is None
    finally:
        engine.dispose()


def test_lookup_by_issuer_client_subject_and_scopes(tmp_path: Path) -> None:
    def make(sub: str, scopes: list[str]) -> OAuth2Credentials:
        c = OAuth2Credentials.new_from_json(o2c_credentials().to_json())
        assert isinstance(c, OAuth2Credentials)
        c.id_token = {"iss": "https://idp.test", "sub": sub}
        c.scopes = set(scopes)
        return c

    with SQLiteStore(tmp_path / "db") as store:
        for sub, scopes in (("alice", ["email", "profile"]), ("bob", ["email"])):
            bind(store, credential_key("https://idp.test", "cid", sub, scopes)).put(
                make(sub, scopes)
            )
        both = find(store, issuer="https://idp.test", client_id="cid", scopes=["email"])
        assert len(both) == 2
        (alice,) = find(store, issuer="https://idp.test", scopes=["profile"])
        assert json.loads(alice)[2] == "alice"
        assert find(store, subject="bob", scopes=["profile"]) == []
        assert find(store, issuer="https://other.test") == []


def test_migrate_every_oauth2client_format(tmp_path: Path, memory_keyring: object) -> None:
    single = tmp_path / "single.json"
    oauth2client.file.Storage(str(single)).put(o2c_credentials(1))
    v2 = tmp_path / "v2.json"
    v2.write_text(
        json.dumps(
            {
                "file_version": 2,
                "credentials": {
                    "ok": base64.b64encode(o2c_credentials(2).to_json().encode()).decode(),
                    "evil": base64.b64encode(
                        json.dumps(
                            {"_module": "os", "_class": "system", "access_token": "x"}
                        ).encode()
                    ).decode(),
                },
            }
        )
    )
    oauth2client.contrib.keyring_storage.Storage("svc", "carol").put(o2c_credentials(3))
    with SQLiteStore(tmp_path / "out.db") as dest:
        report = migrate(
            [
                str(single),
                str(v2),
                "keyring:svc:carol",
                "keyring:svc:nobody",
                str(tmp_path / "missing.json"),
            ],
            dest,
        )
        assert len(report.converted) == 3
        reasons = dict(report.skipped)
        assert reasons[str(tmp_path / "missing.json")] == "not_found"
        assert reasons["keyring:svc:nobody"] == "not_found"
        assert any(r == "unknown_credentials_type" for r in reasons.values())
        assert len(dest.keys()) == 3


def test_migrate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    single = tmp_path / "single.json"
    oauth2client.file.Storage(str(single)).put(o2c_credentials(1))
    assert main([str(single), "--to", f"sqlite:{tmp_path / 'out.db'}"]) == 0
    assert "1 converted, 0 skipped" in capsys.readouterr().out
    assert main([str(tmp_path / "nope"), "--to", f"sqlite:{tmp_path / 'out.db'}"]) == 1
