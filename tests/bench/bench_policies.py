"""Quality policies on PostgreSQL.

1. Reverse trace: a store with 1M results across 200 gauges (scale 1.0), taken in by the
   policy runner (gauge usage); then gauges fail calibration one at a time and each is timed
   from the committed calibration to the committed nonconformance listing its suspect lots
   and marking the suspect results (p50, p99). Plain alternative: the same trace with SQL
   over a plain indexed results table (select the gauge's results since its last good
   calibration, group by lot, insert the nonconformance and its suspect rows).
2. SPC: results charted by the policy runner (points/s, charts, alarms, events committed
   with the runner's position); plain alternative: the same rules evaluated in a Python loop
   over the same series, nothing stored.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from domain.inspection import Characteristic, Measurement, PlanRevision
from domain.records import Provenance
from domain.reports import InspectionReport
from domain.spc import individuals_limits
from domain.spc_rules import WESTERN_ELECTRIC_RULES, rules_named, violations
from services.policy_runner import PolicyRunner, build_tracked_records
from services.settings import Settings
from tests.application.fixtures import calibration
from tests.bench.common import bench_line, percentile
from tests.conftest import PG_URL, drop_pg_schema

T0 = datetime(2026, 11, 1, tzinfo=UTC)
RESULTS_PER_INSPECTION = 10
GAUGES = 200
FAILURES = 20


def run(scale: float) -> None:
    schema = f"qrec_bench_policies_{uuid.uuid4().hex[:8]}"
    settings = Settings(store_url=PG_URL, pg_schema=schema)
    try:
        trace(settings, int(1_000_000 * scale))
        spc(settings.with_(pg_schema=schema + "_spc"), max(2_000, int(100_000 * scale)))
    finally:
        drop_pg_schema(PG_URL, schema)
        drop_pg_schema(PG_URL, schema + "_spc")


def gauge(g: int) -> str:
    return f"G-{g:04d}"


def trace(settings: Settings, results: int) -> None:
    app = build_tracked_records(settings)
    plan = Characteristic("bore_dia", 12.0, 11.99, 12.01, "mm", "bore gauge", spc_rules=())
    app.define_inspection_plan("IP-1", PlanRevision("A", "P-7", "in_process", 1, (plan,)),
                               Provenance("qe"))
    for g in range(GAUGES):
        app.register_instrument(gauge(g), "bore gauge", "mm", (10, 15), 0.001, 0.002, 365,
                                "L1", Provenance("qe"))
        app.record_calibration(calibration(gauge(g), f"LAB-{g}-0", T0))
    rng = random.Random(3)
    inspections = results // RESULTS_PER_INSPECTION
    rows = []
    started = time.perf_counter()
    for k in range(0, inspections, 500):
        batch = [InspectionReport(
            f"M{i}", "L1", "CMM", f"LOT-{i // 200:05d}", "in_process", "IP-1", "op", T0 +
            timedelta(seconds=i + 1), tuple(Measurement("bore_dia", round(rng.gauss(12, .002), 4),
                                                        "mm", gauge(i % GAUGES))
                                            for _ in range(RESULTS_PER_INSPECTION)))
            for i in range(k, min(k + 500, inspections))]
        app.record_inspections(batch)
        rows.extend((gauge(i % GAUGES), T0 + timedelta(seconds=i + 1), f"LOT-{i // 200:05d}",
                     f"M{i}", j) for i in range(k, k + len(batch))
                    for j in range(RESULTS_PER_INSPECTION))
    print(f"trace: {inspections:,} inspections ({results:,} results, {GAUGES} gauges) recorded "
          f"in {time.perf_counter() - started:.1f} s", flush=True)
    runner = PolicyRunner(app, page_size=1000)
    started = time.perf_counter()
    events = runner.catch_up()
    print(f"trace: policy runner took in {events:,} events in "
          f"{time.perf_counter() - started:.1f} s ({events / (time.perf_counter() - started):,.0f}"
          " events/s)", flush=True)
    ours = []
    for n in range(FAILURES):
        g = gauge(n * (GAUGES // FAILURES))
        started = time.perf_counter()
        app.record_calibration(calibration(g, f"LAB-{g}-fail", T0 + timedelta(days=20),
                                           result="fail"))
        runner.run_page()
        ours.append(time.perf_counter() - started)
    nc = app.nonconformance(f"NC-CAL-{gauge(0)}-3")
    print(f"trace: {len(nc.suspects)} suspect lots, "
          f"{sum(len(s.results) for s in nc.suspects)} suspect results per failed gauge")
    plain = plain_trace(settings, rows)
    report_latency("trace", ours, plain)
    app.close()


def plain_trace(settings: Settings, rows: list[tuple[object, ...]]) -> list[float]:
    schema = settings.pg_schema + "_plain"
    latencies = []
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {0}; SET search_path TO {0}").format(
            sql.Identifier(schema)))
        conn.execute("CREATE TABLE results (gauge text, occurred_at timestamptz, lot text, "
                     "message text, idx int, suspect bool DEFAULT false)")
        with conn.cursor().copy("COPY results (gauge, occurred_at, lot, message, idx) "
                                "FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.execute("CREATE INDEX ON results (gauge, occurred_at)")
        conn.execute("CREATE TABLE nc (id text, lot text, results int)")
        try:
            for n in range(FAILURES):
                g = gauge(n * (GAUGES // FAILURES))
                started = time.perf_counter()
                with conn.transaction():
                    conn.execute("INSERT INTO nc SELECT %s, lot, count(*) FROM results "
                                 "WHERE gauge = %s AND occurred_at > %s GROUP BY lot",
                                 (f"NC-{g}", g, T0))
                    conn.execute("UPDATE results SET suspect = true WHERE gauge = %s AND "
                                 "occurred_at > %s", (g, T0))
                latencies.append(time.perf_counter() - started)
        finally:
            drop_pg_schema(PG_URL, schema)
    return latencies


def report_latency(name: str, ours: list[float], plain: list[float]) -> None:
    for who, samples in (("qrec", ours), ("plain SQL", plain)):
        print(f"{name}: {who:10s} failed calibration -> committed nonconformance: "
              f"p50 {percentile(samples, 50) * 1000:.0f} ms, "
              f"p99 {percentile(samples, 99) * 1000:.0f} ms", flush=True)
    # as a rate (traces a second at p50), so the ratio reads like the others: higher is better
    bench_line(name, 1 / percentile(ours, 50), "traces/s", 1 / percentile(plain, 50))


def spc(settings: Settings, points: int) -> None:
    app = build_tracked_records(settings)
    char = Characteristic("bore_dia", 12.0, 11.99, 12.01, "mm", "bore gauge",
                          spc_rules=WESTERN_ELECTRIC_RULES, spc_baseline=25)
    app.define_inspection_plan("IP-1", PlanRevision("A", "P-7", "in_process", 1, (char,)),
                               Provenance("qe"))
    app.register_instrument("G-1", "bore gauge", "mm", (10, 15), 0.001, 0.002, 365, "L1",
                            Provenance("qe"))
    rng = random.Random(5)
    lines = ("L1", "L2", "L3", "L4")
    values = {line: [] for line in lines}  # type: dict[str, list[float]]
    for k in range(0, points, 1000):
        batch = []
        for i in range(k, min(k + 1000, points)):
            line, value = lines[i % 4], round(rng.gauss(12, 0.002), 4)
            values[line].append(value)
            batch.append(InspectionReport(f"S{i}", line, "CMM", f"LOT-{i // 500}",
                                          "in_process", "IP-1", "op", T0 + timedelta(seconds=i),
                                          (Measurement("bore_dia", value, "mm", "G-1"),)))
        app.record_inspections(batch)
    runner = PolicyRunner(app, page_size=1000)
    started = time.perf_counter()
    runner.catch_up()
    ours = points / (time.perf_counter() - started)
    started = time.perf_counter()
    alarms = 0
    rules = rules_named(WESTERN_ELECTRIC_RULES)
    for series in values.values():
        limits = individuals_limits(series[:25])
        rest = series[25:]
        for i in range(len(rest)):  # point by point, as a live stream arrives
            window = rest[max(0, i - 14):i + 1]
            alarms += len(violations(rules, window, limits.centre, limits.sigma,
                                     since=len(window) - 1))
    plain = points / (time.perf_counter() - started)
    print(f"spc: {points:,} points on 4 charts; {alarms} rule violations in the plain loop; "
          f"policy runner events committed: {runner.stats.reactions:,}", flush=True)
    bench_line("spc", ours, "points/s", plain)
    app.close()
