"""The composition root: every entry point (CLI, broker apps, API, tests) builds qrec here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any, TypeVar

from domain.application import QualityRecords
from projections.ledger.keys import Keyring
from projections.ledger.store import Ledger, LedgerPolicy, ledger_engine
from services.contracts import Topology
from services.identity.credentials import CredentialStore, credential_engine
from services.log_identity import log_id
from services.settings import Settings

Clock = Callable[[], datetime]
App = TypeVar("App")


def utc_now() -> datetime:
    return datetime.now(UTC)


def event_store_env(settings: Settings, *, create_tables: bool = True) -> dict[str, str]:
    """eventsourcing's environment for the event store the settings name."""
    if settings.uses_postgres:
        pg = settings.postgres_parts()
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
    with _setup_lock(settings):
        pass


@contextmanager
def _setup_lock(settings: Settings) -> Iterator[None]:
    """One process at a time sets up the PostgreSQL schema and the event store's tables.

    eventsourcing creates its tables, types and functions with IF NOT EXISTS and OR REPLACE,
    which still fail ("tuple concurrently updated", a duplicate key) when two processes,
    say two `qrec run` started together, do it at the same moment. A session advisory lock
    per schema, held on a connection of its own, makes them take turns."""
    import psycopg
    from psycopg import sql

    pg = settings.postgres_parts()
    with psycopg.connect(autocommit=True, **pg) as conn:  # type: ignore[arg-type]
        key = f"qrec-setup:{settings.pg_schema}"
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        try:
            if settings.pg_schema != "public":
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    sql.Identifier(settings.pg_schema)))
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


setup_turn = _setup_lock  # for tables made outside eventsourcing (services.log_identity)


def taking_turns(settings: Settings) -> AbstractContextManager[None]:
    """Setting up tables of qrec's own beside the event store: on PostgreSQL one process at
    a time (see _setup_lock); SQLite serializes its writers by itself."""
    return _setup_lock(settings) if settings.uses_postgres else nullcontext()


def build_credentials(settings: Settings, *, clock: Clock = utc_now) -> CredentialStore:
    """The credential store (accounts, API keys, sessions, security log) beside the log."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = CredentialStore(credential_engine(settings.identity_url, settings.pg_schema),
                            clock=clock, lockout_after=settings.lockout_after,
                            session_hours=settings.session_hours)
    with taking_turns(settings):
        store.create_tables()
    return store


def construct(settings: Settings, build: Callable[..., App], env: dict[str, str],
              **options: Any) -> App:
    """``build(env=env, **options)``: an application on the settings' store. On PostgreSQL
    its schema is made sure of first, and a construction that creates the event store's
    tables takes turns with other processes."""
    if not settings.uses_postgres:
        return build(env=env, **options)
    with _setup_lock(settings):
        return build(env=env, **options)


def build_records(settings: Settings, *, create_tables: bool = True,
                  clock: Clock = utc_now) -> QualityRecords:
    """The write model on the store the settings name; a store made here gets its log id
    (services.log_identity) at once, so that every backup of it carries that id."""
    records = construct(settings, QualityRecords,
                        event_store_env(settings, create_tables=create_tables), clock=clock)
    if create_tables:
        log_id(settings)
    return records


def build_topology(settings: Settings) -> Topology:
    """Subjects, streams and durable consumers under the settings' QREC_STREAM_PREFIX."""
    return Topology(prefix=settings.stream_prefix)


def keyring(settings: Settings) -> Keyring:
    return Keyring(settings.data_dir / "ledger-keys")


def log_origin(settings: Settings, log_id: Callable[[], str]) -> str:
    """The origin line that names the log in its checkpoints (and to witnesses, who keep
    one state per origin, so it must never change): QREC_LOG_ORIGIN, else from the store's
    log id (services.log_identity)."""
    return settings.log_origin or f"qrec.log/{log_id()}"


def build_ledger(settings: Settings, records: QualityRecords, *,
                 clock: Clock = utc_now, policy: LedgerPolicy | None = None) -> Ledger:
    """The ledger over the records' event store, its tables in the views database.

    The caller keeps ``records`` alive: closing it closes the store the ledger reads."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    schema = settings.pg_schema if settings.uses_postgres else None
    origin = log_origin(settings, lambda: log_id(settings))
    return Ledger(ledger_engine(settings.views_url, schema), records.recorder,
                  keyring(settings), clock=clock, policy=policy, origin=origin)
