"""Durability settings checked for real (SECURITY.md §6.2 SL-25..28): an acknowledged
write survives the server being killed with SIGKILL."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import redis

from oauthkit.storage import RedisStore
from tests.storage.services import redis_process
from tests.storage.test_contract import doc


def test_redis_write_survives_sigkill_of_the_server(tmp_path: Path) -> None:
    with redis_process(tmp_path) as (port, proc):
        client = redis.Redis(host="127.0.0.1", port=port)
        try:
            store = RedisStore(client)
            store.write("k", doc(1), None)
            assert store.write("k", doc(2), 1) == 2
        finally:
            client.close()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with redis_process(tmp_path, port) as (port, _):
        client = redis.Redis(host="127.0.0.1", port=port)
        try:
            record = RedisStore(client).read("k")
        finally:
            client.close()
    assert record is not None and record.version == 2
    assert json.loads(record.data)["n"] == 2


def test_postgres_runs_with_the_durability_the_sql_store_relies_on(pg_url: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            settings = {
                name: conn.execute(sqlalchemy.text(f"SHOW {name}")).scalar_one()
                for name in ("fsync", "synchronous_commit", "full_page_writes")
            }
    finally:
        engine.dispose()
    assert settings == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
