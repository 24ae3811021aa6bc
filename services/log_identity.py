"""The store's log identity: one id per event store, made with it and kept in it.

The id lives in a table of its own (`qrec_log_identity`) in the event store's database (the
SQLite events file, or the PostgreSQL schema), so a backup restored elsewhere keeps it, and a
store made afresh, even from the same settings, gets a new one. Everything qrec publishes
carries it (header `Qrec-Log-Id`), and the streams and durable consumers qrec declares name it
in their description: no component ever publishes into, or consumes for, another log's
streams (services.stream_claims).
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from services.settings import Settings

LOG_ID_HEADER = "Qrec-Log-Id"
TABLE = "qrec_log_identity"
RESUME_COMMAND = "qrec stream resume-after-restore"
_NAMED = re.compile(r"\[Qrec-Log-Id ([0-9a-f-]{36})\]")


class LogMismatch(RuntimeError):
    """A stream or consumer that belongs to another log (or to none this store can adopt).
    Its text is the one line to print; a process that meets it stops with ``exit_code``."""

    exit_code = 3


class LogDiverged(LogMismatch):
    """The store's log and the stream's copy of it differ from a position on: a store restored
    from a backup that then took other events. The text names the first such position and
    the command an operator runs to resume."""

    def __init__(self, what: str, position: int) -> None:
        super().__init__(f"{what} (run `{RESUME_COMMAND}` to publish this store's events "
                         "from there on, as docs/streams.md describes)")
        self.position = position


def mismatch(who: str, where: str, other: str, mine: str) -> LogMismatch:
    return LogMismatch(
        f"{who} refused: {where} belongs to log {other}, not to this store's log {mine}; "
        "give this store a separate QREC_STREAM_PREFIX, or a separate NATS server or "
        "account")


def described(what: str, log_id: str) -> str:
    """A stream's or consumer's description that names its log."""
    return f"{what} [Qrec-Log-Id {log_id}]"


def named_log(description: str | None) -> str | None:
    """The log id a description names, or None (an older qrec's, or not qrec's)."""
    found = _NAMED.search(description or "")
    return found.group(1) if found else None


def log_id(settings: Settings) -> str:
    """The log id of the store the settings name, made now if the store has none yet."""
    found = _read(settings)
    return found if found is not None else _create(settings)


def _read(settings: Settings) -> str | None:
    if settings.uses_postgres:
        import psycopg
        from psycopg import sql

        with psycopg.connect(autocommit=True, **settings.postgres_parts()) as conn:  # type: ignore[arg-type]
            try:
                row = conn.execute(sql.SQL("SELECT log_id FROM {}").format(
                    sql.Identifier(settings.pg_schema, TABLE))).fetchone()
            except psycopg.errors.UndefinedTable:
                return None
        return str(row[0]) if row else None
    if not settings.events_path.exists():
        return None
    with _sqlite(settings) as conn:
        try:
            row = conn.execute(f"SELECT log_id FROM {TABLE}").fetchone()
        except sqlite3.OperationalError:  # no such table
            return None
    return str(row[0]) if row else None


_CREATE = (" (one INTEGER PRIMARY KEY CHECK (one = 1), log_id TEXT NOT NULL, "
           "created_at TEXT NOT NULL)")


def _create(settings: Settings) -> str:
    """The table and its one row, unless another process made them first."""
    new, now = str(uuid.uuid4()), datetime.now(UTC).isoformat()
    if settings.uses_postgres:
        return _create_pg(settings, new, now)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with _sqlite(settings) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE}{_CREATE}")
        conn.execute(f"INSERT INTO {TABLE} VALUES (1, ?, ?) ON CONFLICT DO NOTHING",
                     (new, now))
        return str(conn.execute(f"SELECT log_id FROM {TABLE}").fetchone()[0])


def _create_pg(settings: Settings, new: str, now: str) -> str:
    import psycopg
    from psycopg import sql

    # composition imports this module; its turn-taking is what creates tables on PostgreSQL
    from services.composition import setup_turn

    table = sql.Identifier(settings.pg_schema, TABLE)
    with setup_turn(settings), psycopg.connect(
            autocommit=True, **settings.postgres_parts()) as conn:  # type: ignore[arg-type]
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}" + _CREATE).format(table))
        conn.execute(sql.SQL("INSERT INTO {} VALUES (1, %s, %s) ON CONFLICT DO NOTHING")
                     .format(table), (new, now))
        row = conn.execute(sql.SQL("SELECT log_id FROM {}").format(table)).fetchone()
    assert row is not None
    return str(row[0])


@contextmanager
def _sqlite(settings: Settings) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(settings.events_path, timeout=30, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()
