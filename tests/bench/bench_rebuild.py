"""Rebuild every view from 1M stored events on PostgreSQL (scale 1.0), against the plain
alternative (SELECT + orjson decode + executemany of the same rows); then as-of reads of a
record with 1,000 events.

The store is filled fast and honestly: line inspections are made by the domain
(`Inspection.perform`, one result each, 100 per lot, each lot opened by `Lot.open`),
encoded by the application's own mapper, and written with one binary COPY per 20,000
events. The views are then rebuilt from position 0 by the projection runner.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg import sql

from domain.application import QualityRecords
from domain.calibration import instrument_id
from domain.inspection import Inspection, InspectionHeader, Result, inspection_id
from domain.lot import Lot
from domain.records import Provenance
from domain.timetravel import record_as_occurred_at, record_as_recorded_at, replay
from projections.base import ViewBase, create_views_engine
from projections.catalog import VIEWS
from projections.runner import ProjectionRunner, RecorderSource
from services.composition import build_records, ensure_pg_schema
from services.settings import Settings
from tests.bench.common import bench_line, percentile
from tests.integration.views_scenario import calibrate

PG_URL = os.environ.get("QREC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
COPY_EVERY = 20_000


def run(scale: float) -> None:
    events = int(1_000_000 * scale)
    tag = uuid.uuid4().hex[:8]
    schemas = [f"qrec_bench_rebuild_{tag}", f"qrec_bench_plain_{tag}"]
    settings = Settings(store_url=PG_URL, pg_schema=schemas[0])
    try:
        app = build_records(settings)
        started = time.perf_counter()
        fill(app, events)
        stored = app.recorder.max_notification_id() or 0
        print(f"filled {stored:,} events in {time.perf_counter() - started:.1f} s (domain + "
              "mapper + binary COPY)", flush=True)
        ours = rebuild_with_runner(app, settings)
        plain = rebuild_plain(app, settings.with_(pg_schema=schemas[1]))
        bench_line("rebuild", stored / ours, "events/s", stored / plain)
        as_of_reads(app)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(schema)))


# -- filling the store -------------------------------------------------------------------------

def fill(app: QualityRecords, events: int) -> None:
    app.register_instrument("G-1", "bore gauge", "mm", (10, 15), 0.001, 0.002, 180, "L1",
                            Provenance("qe"))
    rng = random.Random(1)
    rows: list[tuple[Any, ...]] = []
    for i in range(events - 1):
        rows.extend(stored_rows(app, i, rng))
        if len(rows) >= COPY_EVERY:
            copy_rows(app, rows)
            rows = []
    copy_rows(app, rows)


def stored_rows(app: QualityRecords, i: int, rng: random.Random) -> list[tuple[Any, ...]]:
    lot = f"LOT-{i // 100:06d}"
    at = T0 + timedelta(seconds=i)
    prov = Provenance("op-17", occurred_at=at, source="line:L1", source_message_id=f"L1-{i}")
    made: list[Any] = []
    if i % 100 == 0:
        made.append(Lot.open(lot, "P-7", prov, at))
    value = rng.gauss(12.0, 0.004)
    result = Result("bore", value, "mm", "G-1", 11.99, 12.01, 11.99 <= value <= 12.01, "ok")
    header = InspectionHeader(lot, "in_process", "IP-1", "A", "L1", "CMM-1", "op-17", None)
    made.append(Inspection.perform(inspection_id("line:L1", f"L1-{i}"), header, (result,),
                                   prov, at))
    out = []
    for aggregate in made:
        for event in aggregate.collect_events():
            s = app.mapper.to_stored_event(event)
            out.append((s.originator_id, s.originator_version, s.topic, s.state))
    return out


def copy_rows(app: QualityRecords, rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    table = sql.SQL("{}.{}").format(sql.Identifier(app.recorder.datastore.schema),
                                    sql.Identifier(app.recorder.events_table_name))
    with psycopg.connect(PG_URL) as conn, conn.cursor() as cur:
        with cur.copy(sql.SQL("COPY {} (originator_id, originator_version, topic, state) "
                              "FROM STDIN (FORMAT BINARY)").format(table)) as copy:
            copy.set_types(["uuid", "int8", "text", "bytea"])
            for row in rows:
                copy.write_row(row)
        conn.commit()


# -- the two rebuilds -------------------------------------------------------------------------

def rebuild_with_runner(app: QualityRecords, settings: Settings) -> float:
    engine = create_views_engine(settings.views_url, settings.pg_schema)
    runner = ProjectionRunner(engine, RecorderSource(app), list(VIEWS.values()))
    started = time.perf_counter()
    read = runner.rebuild()
    seconds = time.perf_counter() - started
    runner.release()
    engine.dispose()
    print(f"runner: {read:,} events into {len(VIEWS)} views in {seconds:.1f} s "
          f"({read / seconds:,.0f} events/s)", flush=True)
    return seconds


PLAIN_TABLES = ("record_history", "inspections", "inspection_results", "gauge_usage",
                "lot_inspections", "lot_status", "instrument_register")


def rebuild_plain(app: QualityRecords, plain: Settings) -> float:
    """The same rows, written by hand: psycopg SELECT of pages of 1,000, orjson, executemany,
    one transaction per page with the position. Knows only the event types this store has."""
    ensure_pg_schema(plain)
    engine = create_views_engine(plain.views_url, plain.pg_schema)
    ViewBase.metadata.create_all(engine)
    engine.dispose()
    events = sql.SQL("{}.{}").format(sql.Identifier(app.recorder.datastore.schema),
                                     sql.Identifier(app.recorder.events_table_name))
    inserts = {t: _insert_statement(plain.pg_schema, t) for t in PLAIN_TABLES}
    started = time.perf_counter()
    position = 0
    with psycopg.connect(PG_URL) as read, psycopg.connect(PG_URL) as write:
        write.execute(sql.SQL("INSERT INTO {}.view_positions VALUES ('plain', 0, 1)").format(
            sql.Identifier(plain.pg_schema)))
        write.commit()
        while True:
            page = read.execute(sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {} WHERE notification_id > %s ORDER BY notification_id LIMIT 1000"
            ).format(events), (position,)).fetchall()
            read.commit()
            if not page:
                break
            rows = plain_rows(page)
            with write.cursor() as cur:
                for table, values in rows.items():
                    if values:
                        cur.executemany(inserts[table], values)
                position = page[-1][0]
                cur.execute(sql.SQL("UPDATE {}.view_positions SET position = %s "
                                    "WHERE view = 'plain'").format(
                    sql.Identifier(plain.pg_schema)), (position,))
            write.commit()
    seconds = time.perf_counter() - started
    print(f"plain: {position:,} events in {seconds:.1f} s ({position / seconds:,.0f} events/s)",
          flush=True)
    return seconds


def _insert_statement(schema: str, table: str) -> sql.Composed:
    columns = [c.name for c in ViewBase.metadata.tables[table].columns]
    return sql.SQL("INSERT INTO {}.{} ({}) VALUES ({})").format(
        sql.Identifier(schema), sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)))


def plain_rows(page: list[tuple[Any, ...]]) -> dict[str, list[tuple[Any, ...]]]:
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in PLAIN_TABLES}
    for position, oid, version, topic, state in page:
        body = orjson.loads(state)
        prov, name = body["provenance"], topic.rsplit(":", 1)[1]
        recorded = datetime.fromisoformat(body["timestamp"])
        occurred = datetime.fromisoformat(prov["occurred_at"]) if prov["occurred_at"] else None
        kind, _, event = name.partition(".")
        rows["record_history"].append((
            position, str(oid), version, kind, event, prov["actor"], occurred, recorded,
            prov["reason"], prov["source"], prov["source_message_id"], prov["correlation_id"],
            prov["causation_id"], name))
        if name == "Inspection.Performed":
            h = body["header"]
            rows["inspections"].append((
                str(oid), h["lot"], h["stage"], h["plan"], h["plan_revision"], h["line"],
                h["station"], h["inspector"], h["part"], True, body["verdict"],
                len(body["results"]), occurred or recorded, recorded))
            rows["lot_inspections"].append((str(oid), h["lot"], h["stage"], body["verdict"],
                                            recorded))
            for i, r in enumerate(body["results"]):
                rows["inspection_results"].append((
                    str(oid), i, h["lot"], h["stage"], h["plan"], r["characteristic"],
                    r["value"], r["unit"], r["gauge"], r["lsl"], r["usl"], r["conforming"],
                    r["gauge_condition"], 0, occurred or recorded, recorded, position))
                if r["gauge"]:
                    rows["gauge_usage"].append((
                        str(oid), i, r["gauge"], h["lot"], r["characteristic"],
                        occurred or recorded, recorded, r["gauge_condition"], r["conforming"]))
        elif name == "Lot.Opened":
            rows["lot_status"].append((str(oid), body["lot"], body["product"], False,
                                       "in_house", 0, None, None, recorded, recorded, position))
        elif name == "Instrument.Registered":
            rows["instrument_register"].append((
                str(oid), body["tag"], body["kind"], body["unit"], body["location"],
                body.get("serial_number"), body["interval_days"], "in_calibration", None,
                None, None, None, None, None, recorded, position))
    return rows


# -- as-of reads ---------------------------------------------------------------------------------

def as_of_reads(app: QualityRecords, samples: int = 200) -> None:
    """A gauge with 1,000 events (1 registration, 999 calibrations); the app snapshots
    every 50 events."""
    app.register_instrument("G-AS-OF", "bore gauge", "mm", (10, 15), 0.001, 0.002, 180, "L1",
                            Provenance("qe"))
    for n in range(999):
        calibrate(app, "G-AS-OF", n + 1)
    rid = instrument_id("G-AS-OF")
    events = list(app.events.get(rid))
    assert len(events) == 1000, len(events)
    rng = random.Random(3)
    instants = [rng.choice(events).timestamp for _ in range(samples)]
    recorded = _timed(lambda when: record_as_recorded_at(app, rid, when), instants)
    full = _timed(lambda when: replay(e for e in app.events.get(rid) if e.timestamp <= when),
                  instants)
    occurred = _timed(lambda when: record_as_occurred_at(app, rid, when), instants[:50])
    print(f"as-of recorded time (snapshot + events): p50 {percentile(recorded, 50):.2f} ms, "
          f"p99 {percentile(recorded, 99):.2f} ms", flush=True)
    print(f"as-of recorded time, full replay:        p50 {percentile(full, 50):.2f} ms, "
          f"p99 {percentile(full, 99):.2f} ms", flush=True)
    print(f"as-of occurred time (all events):        p50 {percentile(occurred, 50):.2f} ms, "
          f"p99 {percentile(occurred, 99):.2f} ms", flush=True)
    bench_line("asof_p50_ms", percentile(recorded, 50), "ms", percentile(full, 50))
    bench_line("asof_p99_ms", percentile(recorded, 99), "ms", percentile(full, 99))


def _timed(read: Any, instants: list[datetime]) -> list[float]:
    samples = []
    for when in instants:
        started = time.perf_counter()
        read(when)
        samples.append((time.perf_counter() - started) * 1000)
    return samples
