"""A backup of a store, taken now and restored later as a store of its own: on SQLite a copy
of the data dir (as `cp -a` of a stopped qrec's data dir), on PostgreSQL a copy of the
schema's tables and of its position sequence in a new schema (what pg_dump of the schema and
pg_restore elsewhere give). Either way the copy keeps the store's log id."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from services.composition import build_ledger, build_records
from services.policy_runner import build_tracked_records
from services.relay import Relay
from services.settings import Settings

EVENTS_SEQUENCE = "qrec_events_notification_id_seq"


def take_backup(settings: Settings, where: Path) -> Settings:
    """The settings of a store restored from a backup of ``settings``' store taken now."""
    if not settings.uses_postgres:
        shutil.copytree(settings.data_dir, where / "restored-data")
        return settings.with_(data_dir=where / "restored-data")
    restored = settings.with_(pg_schema=f"{settings.pg_schema}_r{uuid.uuid4().hex[:6]}")
    empty_store(restored)
    copy_tables(settings, restored.pg_schema)
    return restored


def empty_store(settings: Settings) -> None:
    """What qrec makes in a schema (tables, the events' type and insert function)."""
    records = build_records(settings)
    build_tracked_records(settings).close()
    Relay.tracking_recorder(records)
    build_ledger(settings, records)
    records.close()


def copy_tables(settings: Settings, target: str) -> None:
    source = settings.pg_schema
    with psycopg.connect(settings.store_url, autocommit=True) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type = 'BASE TABLE'", (source,))]
        for table in tables:
            old, new = sql.Identifier(source, table), sql.Identifier(target, table)
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (LIKE {} INCLUDING ALL)")
                         .format(new, old))
            conn.execute(sql.SQL("TRUNCATE {}").format(new))
            conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(new, old))
        last, called = conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(
            sql.Identifier(source, EVENTS_SEQUENCE))).fetchone() or (1, False)
        conn.execute("SELECT setval(%s, %s, %s)", (f"{target}.{EVENTS_SEQUENCE}", last, called))
