"""Events appended per second on PostgreSQL through qrec's own write path, against plain COPY.

Two workloads, each many records per transaction:
- intake: line inspection reports through `record_inspections` in batches (one
  `Inspection.Performed` per report, a `Lot.Opened` per new lot), as ingest drives it;
- fine-grained: instruments and lots registered, then changed by commands
  (quarantine/release, operations started/completed, hold/release), many aggregates saved
  together with `app.save(*aggregates)`.

"plain" is psycopg binary COPY of the very rows qrec stored (same bytes), in the same
number of transactions, into an identical table: the floor of what any write path costs.
The library's stock recorder (eventsourcing's PostgresApplicationRecorder) runs the same
work for comparison. Everything lives in throwaway schemas, dropped at the end.
"""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from domain.application import QualityRecords
from domain.calibration import Instrument
from domain.inspection import Characteristic, Measurement, PlanRevision
from domain.lot import Lot
from domain.records import Provenance
from domain.reports import InspectionReport
from services.composition import build_records, construct, event_store_env, utc_now
from services.settings import Settings
from tests.bench.common import bench_line
from tests.conftest import PG_URL, drop_pg_schema

T = TypeVar("T")

REPORTS = 20_000  # inspection reports at scale 1
REPORTS_PER_BATCH = 250
REPORTS_PER_LOT = 100
RESULTS_PER_REPORT = 5
RECORDS = 4_000  # instruments and lots each, at scale 1
RECORDS_PER_SAVE = 250
CHARACTERISTICS = ("bore_dia", "length", "flatness", "runout", "roughness")
GAUGES = ("G-0001", "G-0002", "G-0003")
START = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
ROUNDS = 2


def run(scale: float) -> None:
    schemas = [f"qrec_bench_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    ours_settings, stock_settings = (
        Settings(data_dir=Path("qrec-bench-unused"), store_url=PG_URL, pg_schema=s)
        for s in schemas)
    try:
        reports = max(REPORTS_PER_BATCH, int(REPORTS * scale))
        records = max(RECORDS_PER_SAVE, int(RECORDS * scale))
        ours = measure(build_records(ours_settings), reports, records, plain=ours_settings)
        stock = measure(stock_records(stock_settings), reports, records)
        report(ours, stock)
    finally:
        for schema in schemas:
            drop_pg_schema(PG_URL, schema)


def stock_records(settings: Settings) -> QualityRecords:
    """The same application on eventsourcing's own PostgreSQL recorder."""
    env = event_store_env(settings)
    env.pop("APPLICATION_RECORDER_TOPIC")
    return construct(settings, QualityRecords, env, clock=utc_now)


def measure(app: QualityRecords, reports: int, records: int,
            plain: Settings | None = None) -> dict[str, float]:
    """Each workload in ROUNDS rounds of fresh records, each followed at once by plain COPY
    of the rows it stored (when asked); the best round of each counts (the machine is
    shared, so a round can be slowed by others)."""
    seed_master_data(app)
    app.record_inspections(inspection_reports("WARM", REPORTS_PER_BATCH))  # warm up
    rates: dict[str, list[float]] = {k: [] for k in ("intake", "fine", "intake_plain",
                                                     "fine_plain")}
    for n in range(ROUNDS):
        batches = list(chunks(inspection_reports(f"L{n}", reports // ROUNDS),
                              REPORTS_PER_BATCH))
        runs = {"intake": timed_appends(app, partial(record_intake, app, batches)),
                "fine": timed_appends(
                    app, partial(record_fine_grained, app, f"R{n}", records // ROUNDS))}
        for key, (rate, rows, transactions) in runs.items():
            rates[key].append(rate)
            rates[f"{key}_events"] = [len(rows)]
            rates[f"{key}_txns"] = [transactions]
            if plain is not None:
                rates[f"{key}_plain"].append(plain_copy(plain, rows, transactions))
    app.close()
    return {key: max(values, default=0.0) for key, values in rates.items()}


def timed_appends(app: QualityRecords, work: Callable[[], int]
                  ) -> tuple[float, list[tuple[Any, ...]], int]:
    """Run work (returning its transaction count); events/s and the rows it stored."""
    before = app.recorder.max_notification_id() or 0
    gc.collect()
    started = time.perf_counter()
    transactions = work()
    elapsed = time.perf_counter() - started
    rows = stored_rows(app, before)
    return len(rows) / elapsed, rows, transactions


def stored_rows(app: QualityRecords, after: int) -> list[tuple[Any, ...]]:
    recorder: Any = app.recorder
    table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
    with psycopg.connect(PG_URL) as conn:
        return conn.execute(sql.SQL(
            "SELECT originator_id, originator_version, topic, state FROM {} "
            "WHERE notification_id > %s ORDER BY notification_id").format(table),
            (after,)).fetchall()


# -- the work -------------------------------------------------------------------------------


def seed_master_data(app: QualityRecords) -> None:
    prov = Provenance(actor="qe-1")
    for tag in GAUGES:
        app.register_instrument(tag, "bore gauge", "mm", (0, 100), 0.001, 0.002, 180,
                                "Line 1", prov)
    chars = tuple(Characteristic(c, 12.0, 11.99, 12.01, "mm", "bore gauge")
                  for c in CHARACTERISTICS)
    app.define_inspection_plan("IP-100", PlanRevision("A", "P-7", "in_process", 5, chars), prov)


def inspection_reports(line: str, count: int) -> list[InspectionReport]:
    def measurement(i: int, k: int) -> Measurement:
        off_spec = 0.02 if (i + k) % 97 == 0 else 0.0
        return Measurement(CHARACTERISTICS[k % len(CHARACTERISTICS)],
                           12.0 + off_spec + (i % 7) * 0.001, "mm", GAUGES[k % len(GAUGES)])

    return [InspectionReport(
        message_id=f"{line}-{i:07d}", line=line, station="CMM-2",
        lot=f"{line}-LOT-{i // REPORTS_PER_LOT:05d}", stage="in_process", plan="IP-100",
        inspector="op-17", occurred_at=START + timedelta(milliseconds=i), part=f"SN-{i:07d}",
        results=tuple(measurement(i, k) for k in range(RESULTS_PER_REPORT)))
        for i in range(count)]


def record_intake(app: QualityRecords, batches: list[Sequence[InspectionReport]]) -> int:
    """The reports as ingest hands them over, already parsed, one batch per transaction."""
    for batch in batches:
        outcomes = app.record_inspections(batch)
        if any(o.status != "recorded" for o in outcomes):
            raise RuntimeError(f"benchmark intake not all recorded: {outcomes[:3]}")
    return len(batches)


def record_fine_grained(app: QualityRecords, prefix: str, count: int) -> int:
    """Commands on many records, each group saved in one transaction."""
    transactions = 0
    for group in chunks(range(count), RECORDS_PER_SAVE):
        gauges = [register_gauge(app, f"{prefix}-G-{i:05d}") for i in group]
        lots = [Lot.open(f"{prefix}-LOT-{i:05d}", "P-7", Provenance("erp"), app.clock())
                for i in group]
        app.save(*gauges, *lots)
        for gauge in gauges:
            gauge.quarantine(Provenance("qe-1", reason="dropped on the floor"), app.clock())
            gauge.release(Provenance("qe-1", reason="checked against REF-7"), app.clock())
        for lot in lots:
            lot.start_operation("cure", "OVEN-1", Provenance("OVEN-1"), app.clock())
            lot.complete_operation("cure", Provenance("OVEN-1"), app.clock())
            lot.hold(Provenance("qe-1", reason="awaiting first article"), app.clock())
        app.save(*gauges, *lots)
        transactions += 2
    return transactions


def register_gauge(app: QualityRecords, tag: str) -> Instrument:
    return Instrument.register(tag, "caliper", "mm", (0, 150), 0.01, 0.02, 365,
                               "Line 2", Provenance("qe-1", source="import"), app.clock())


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- plain COPY -----------------------------------------------------------------------------


def plain_copy(settings: Settings, rows: list[tuple[Any, ...]], transactions: int
               ) -> float:
    """Rows/s of binary COPY of the same rows into a fresh table like qrec's, in as many
    transactions as qrec used."""
    table = sql.Identifier(settings.pg_schema, f"plain_{uuid.uuid4().hex[:8]}")
    per_transaction = -(-len(rows) // transactions)
    with psycopg.connect(PG_URL) as conn:
        conn.execute(sql.SQL(
            "CREATE TABLE {} (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
            "topic text, state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))").format(table))
        conn.execute(sql.SQL("CREATE UNIQUE INDEX ON {} (notification_id)").format(table))
        conn.commit()
        copy = sql.SQL("COPY {} (originator_id, originator_version, topic, state) "
                       "FROM STDIN (FORMAT BINARY)").format(table)
        gc.collect()
        started = time.perf_counter()
        for batch in chunks(rows, per_transaction):
            with conn.transaction(), conn.cursor() as curs, curs.copy(copy) as out:
                out.set_types(("uuid", "int8", "text", "bytea"))
                for row in batch:
                    out.write_row(row)
        return len(rows) / (time.perf_counter() - started)


def report(ours: dict[str, float], stock: dict[str, float]) -> None:
    for what, key in (("intake (record_inspections)", "intake"),
                      ("fine-grained (app.save(*aggregates))", "fine")):
        plain = ours[f"{key}_plain"]
        print(f"{what}: {ours[f'{key}_events']:.0f} events in {ours[f'{key}_txns']:.0f} "
              f"transactions per round, best of {ROUNDS}", flush=True)
        print(f"  qrec (COPY recorder) {ours[key]:9.0f} events/s  ratio {ours[key] / plain:.3f}")
        print(f"  eventsourcing stock  {stock[key]:9.0f} events/s  ratio {stock[key] / plain:.3f}")
        print(f"  plain binary COPY    {plain:9.0f} rows/s", flush=True)
    # commands -> aggregates -> stored events, many records per transaction
    bench_line("append", ours["fine"], "events/s", ours["fine_plain"])
    # coarse events: one per inspection message, carrying its judged results
    bench_line("append-intake", ours["intake"], "events/s", ours["intake_plain"])
