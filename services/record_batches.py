"""Reading many write-model records at once, for decisions that touch hundreds of them (a
reverse trace reads every suspect inspection and lot): each record's latest snapshot and
the events after it, for all of them in one query, through the recorder's own connection.
And bringing many records read earlier up to date the same way: only the events after the
version each one is at. PostgreSQL and SQLite only; with other stores the unit of work
reads one by one, in full.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    InterfaceError,
    Mapper,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier

from domain.unit_of_work import FastForward, ReadMany

# ids -> the latest snapshot of each record that has one, and the events after it (all
# the events of a record without one), in order per record
SelectLatest = Callable[[Sequence[UUID]], tuple[list[StoredEvent], list[StoredEvent]]]
# id -> version: the events after that version of each record, in order per record
SelectAfter = Callable[[Mapping[UUID, int]], list[StoredEvent]]
SQLITE_CHUNK = 500  # well under SQLite's limit on bound parameters


def batch_reader(app: Application[UUID]) -> ReadMany | None:
    """The application's batch read, or None if its store has none."""
    events = app.recorder
    snapshots = app.snapshots.recorder if app.snapshots is not None else None
    select: SelectLatest | None = None
    if isinstance(events, PostgresAggregateRecorder) and (
            snapshots is None or isinstance(snapshots, PostgresAggregateRecorder)
            and snapshots.datastore is events.datastore):
        select = partial(_pg_select_latest, events, snapshots)
    elif isinstance(events, SQLiteAggregateRecorder) and (
            snapshots is None or isinstance(snapshots, SQLiteAggregateRecorder)):
        select = partial(_sqlite_select_latest, events, snapshots)
    return None if select is None else partial(read_many, app.mapper, select)


def batch_fast_forward(app: Application[UUID]) -> FastForward | None:
    """The application's batch fast-forward, or None if its store has none."""
    events = app.recorder
    select: SelectAfter | None = None
    if isinstance(events, PostgresAggregateRecorder):
        select = partial(_pg_select_after, events)
    elif isinstance(events, SQLiteAggregateRecorder):
        select = partial(_sqlite_select_after, events)
    return None if select is None else partial(fast_forward, app.mapper, select)


def fast_forward(mapper: Mapper[UUID], select: SelectAfter,
                 records: Sequence[Aggregate]) -> None:
    """Apply to each record, in place, the events recorded after its version (with the
    library's version check, so a gap or a record with unsaved changes fails loudly)."""
    by_id: dict[UUID, Any] = {r.id: r for r in records}
    for stored in select({r.id: r.version for r in records}):
        event: Any = mapper.to_domain_event(stored)
        event.mutate(by_id[event.originator_id])


def read_many(mapper: Mapper[UUID], select: SelectLatest,
              ids: Sequence[UUID]) -> dict[UUID, Aggregate]:
    """The records with these ids as the repository would give them; ids not found are
    left out. Each event is applied with the library's version check, as on a plain get."""
    records: dict[UUID, Any] = {}
    snapshots, events = select(ids)
    for stored in snapshots:
        snapshot: Any = mapper.to_domain_event(stored)
        records[snapshot.originator_id] = snapshot.mutate(None)
    for stored in events:
        event: Any = mapper.to_domain_event(stored)
        records[event.originator_id] = event.mutate(records.get(event.originator_id))
    return {i: r for i, r in records.items() if r is not None}


# -- PostgreSQL ----------------------------------------------------------------------------

def _pg_table(recorder: PostgresAggregateRecorder) -> Any:
    return SQL("{0}.{1}").format(Identifier(recorder.datastore.schema),
                                 Identifier(recorder.events_table_name))


def _pg_statement(events: PostgresAggregateRecorder,
                  snapshots: PostgresAggregateRecorder | None) -> Any:
    """One query: each record's latest snapshot (flagged), then the events after it."""
    ids = SQL("%(ids)s::{0}[]").format(Identifier(events.datastore.originator_id_type))
    if snapshots is None:
        return SQL("SELECT false AS snapshot, originator_id, originator_version, topic, state "
                   "FROM {0} WHERE originator_id = ANY({1}) "
                   "ORDER BY originator_id, originator_version").format(_pg_table(events), ids)
    return SQL(
        "WITH s AS (SELECT DISTINCT ON (originator_id) originator_id, originator_version, "
        "topic, state FROM {0} WHERE originator_id = ANY({2}) "
        "ORDER BY originator_id, originator_version DESC) "
        "SELECT true AS snapshot, originator_id, originator_version, topic, state FROM s "
        "UNION ALL "
        "SELECT false, e.originator_id, e.originator_version, e.topic, e.state FROM {1} e "
        "LEFT JOIN s ON s.originator_id = e.originator_id "
        "WHERE e.originator_id = ANY({2}) "
        "AND e.originator_version > coalesce(s.originator_version, 0) "
        "ORDER BY 1 DESC, 2, 3").format(_pg_table(snapshots), _pg_table(events), ids)


@retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
def _pg_select_latest(events: PostgresAggregateRecorder,
                      snapshots: PostgresAggregateRecorder | None,
                      ids: Sequence[UUID]) -> tuple[list[StoredEvent], list[StoredEvent]]:
    params = {"ids": list(ids) if events.datastore.originator_id_type == "uuid"
              else [str(i) for i in ids]}
    with events.datastore.get_connection() as conn, conn.transaction(), \
            conn.cursor() as curs:
        # A read by primary key of a few hundred records: on a table not analyzed since a
        # bulk load, the row estimates are so far off that the planner scans the whole
        # table and compiles the query (tens of ms each), which never pays off here.
        curs.execute("SET LOCAL jit = off; SET LOCAL enable_seqscan = off")
        curs.execute(_pg_statement(events, snapshots), params)
        rows = curs.fetchall()
    stored = [(row["snapshot"], StoredEvent(
        originator_id=row["originator_id"], originator_version=row["originator_version"],
        topic=row["topic"], state=bytes(row["state"]))) for row in rows]
    return [e for is_snapshot, e in stored if is_snapshot], \
        [e for is_snapshot, e in stored if not is_snapshot]


@retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
def _pg_select_after(events: PostgresAggregateRecorder,
                     versions: Mapping[UUID, int]) -> list[StoredEvent]:
    id_type = events.datastore.originator_id_type
    # One primary-key range scan per record (OFFSET 0 keeps the planner from turning the
    # LATERAL back into a join): as a join it scanned the whole key index, 265 ms for
    # 500 lots at 1M results, to find nothing new.
    statement = SQL(
        "SELECT e.originator_id, e.originator_version, e.topic, e.state "
        "FROM unnest(%(ids)s::{1}[], %(versions)s::bigint[]) AS k(id, version) "
        "CROSS JOIN LATERAL (SELECT * FROM {0} WHERE originator_id = k.id "
        "AND originator_version > k.version OFFSET 0) e "
        "ORDER BY e.originator_id, e.originator_version").format(
        _pg_table(events), Identifier(id_type))
    params = {"ids": [i if id_type == "uuid" else str(i) for i in versions],
              "versions": list(versions.values())}
    with events.datastore.get_connection() as conn, conn.transaction(), \
            conn.cursor() as curs:
        curs.execute("SET LOCAL jit = off; SET LOCAL enable_seqscan = off")  # as above
        curs.execute(statement, params)
        rows = curs.fetchall()
    return [StoredEvent(originator_id=row["originator_id"],
                        originator_version=row["originator_version"], topic=row["topic"],
                        state=bytes(row["state"])) for row in rows]


# -- SQLite --------------------------------------------------------------------------------

def _sqlite_select_after(events: SQLiteAggregateRecorder,
                         versions: Mapping[UUID, int]) -> list[StoredEvent]:
    found: list[StoredEvent] = []
    ids = list(versions)
    for chunk in _chunks(ids, SQLITE_CHUNK // 2):
        keys = ", ".join("(?, ?)" for _ in chunk)
        params = [p for i in chunk for p in (_sqlite_id(events, i), versions[i])]
        with events.datastore.transaction(commit=False) as c:
            c.execute(f"WITH k(id, version) AS (VALUES {keys}) "
                      f"SELECT e.* FROM {events.events_table_name} e JOIN k "
                      "ON e.originator_id = k.id AND e.originator_version > k.version "
                      "ORDER BY e.originator_id, e.originator_version", params)
            found.extend(StoredEvent(
                originator_id=events.convert_originator_id(row["originator_id"]),
                originator_version=row["originator_version"], topic=row["topic"],
                state=row["state"]) for row in c.fetchall())
    return found


def _sqlite_id(recorder: SQLiteAggregateRecorder, record_id: UUID) -> str:
    return record_id.hex if recorder.datastore.originator_id_type == "uuid" else str(record_id)


def _sqlite_select_latest(events: SQLiteAggregateRecorder,
                          snapshots: SQLiteAggregateRecorder | None,
                          ids: Sequence[UUID]) -> tuple[list[StoredEvent], list[StoredEvent]]:
    # SQLite takes a bare column's value from the row where MAX() found its maximum.
    latest = [] if snapshots is None else _sqlite_select(
        snapshots, "SELECT originator_id, MAX(originator_version) AS originator_version, "
        f"topic, state FROM {snapshots.events_table_name} "
        "WHERE originator_id IN ({}) GROUP BY originator_id", ids)
    after = {UUID(str(s.originator_id)): s.originator_version for s in latest}
    found = _sqlite_select(
        events, f"SELECT * FROM {events.events_table_name} WHERE originator_id IN ({{}}) "
        "ORDER BY originator_id, originator_version", ids)
    return latest, [e for e in found
                    if e.originator_version > after.get(UUID(str(e.originator_id)), 0)]


def _sqlite_select(recorder: SQLiteAggregateRecorder, statement: str,
                   ids: Sequence[UUID]) -> list[StoredEvent]:
    return [StoredEvent(originator_id=recorder.convert_originator_id(row["originator_id"]),
                        originator_version=row["originator_version"], topic=row["topic"],
                        state=row["state"])
            for chunk in _chunks(ids, SQLITE_CHUNK)
            for row in _sqlite_rows(recorder, statement, chunk)]


def _sqlite_rows(recorder: SQLiteAggregateRecorder, statement: str,
                 ids: Sequence[UUID]) -> list[Any]:
    params = [_sqlite_id(recorder, i) for i in ids]
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(statement.format(", ".join("?" * len(params))), params)
        return list(c.fetchall())


def _chunks(ids: Sequence[UUID], size: int) -> Iterator[Sequence[UUID]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]
