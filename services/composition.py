"""The composition root: every entry point (CLI, broker apps, API, tests) builds qrec here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from domain.application import QualityRecords
from projections.ledger.keys import Keyring
from projections.ledger.store import Ledger, LedgerPolicy, ledger_engine
from services.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def event_store_env(settings: Settings, *, create_tables: bool = True) -> dict[str, str]:
    """eventsourcing's environment for the event store the settings name."""
    if settings.uses_postgres:
        pg = settings.postgres_parts()
        ensure_pg_schema(settings)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": "services.pg_recorder:CopyApplicationRecorder",
            "POSTGRES_DBNAME": pg["dbname"],
            "POSTGRES_HOST": pg["host"],
            "POSTGRES_PORT": pg["port"],
            "POSTGRES_USER": pg["user"],
            "POSTGRES_PASSWORD": pg["password"],
            "POSTGRES_SCHEMA": settings.pg_schema,
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "POSTGRES_PRE_PING": "y",  # a connection left from before a restart is replaced
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "4",
            "CREATE_TABLE": "y" if create_tables else "n",
        }
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(settings.events_path),
        "SQLITE_LOCK_TIMEOUT": "30",
        "CREATE_TABLE": "y" if create_tables else "n",
    }


def ensure_pg_schema(settings: Settings) -> None:
    import psycopg
    from psycopg import sql

    if settings.pg_schema == "public":
        return
    pg = settings.postgres_parts()
    with psycopg.connect(autocommit=True, **pg) as conn:  # type: ignore[arg-type]
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
            sql.Identifier(settings.pg_schema)))


def build_records(settings: Settings, *, create_tables: bool = True,
                  clock: Clock = utc_now) -> QualityRecords:
    """The write model on the store the settings name."""
    return QualityRecords(env=event_store_env(settings, create_tables=create_tables),
                          clock=clock)


def keyring(settings: Settings) -> Keyring:
    return Keyring(settings.data_dir / "ledger-keys")


def build_ledger(settings: Settings, records: QualityRecords, *,
                 clock: Clock = utc_now, policy: LedgerPolicy | None = None) -> Ledger:
    """The ledger over the records' event store, its tables in the views database.

    The caller keeps ``records`` alive: closing it closes the store the ledger reads."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    schema = settings.pg_schema if settings.uses_postgres else None
    return Ledger(ledger_engine(settings.views_url, schema), records.recorder,
                  keyring(settings), clock=clock, policy=policy)
