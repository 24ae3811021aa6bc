"""Ingest end to end: lines publish N inspection messages (10 results each) on JetStream;
qrec's ingest commits them into PostgreSQL. Committed results a second and publish-to-commit
latency (p50, p99), against the plain alternative in the same run: a raw nats-py pull
consumer that COPYs the same rows into one table with psycopg and acks after the commit.

Needs the PostgreSQL and NATS servers of the tests (QREC_TEST_PG_URL, QREC_TEST_NATS_URL).
QREC_BENCH_PROFILE=1 prints where qrec's ingest spends its time (cProfile).
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import orjson
import psycopg
from psycopg import sql

from services.composition import build_records
from services.contracts import Topology
from services.ingest import IngestOptions, IngestService
from services.log_identity import log_id
from services.settings import Settings
from services.simulator import SAMPLE_MASTER_DATA, load_master_data
from services.streams import declare_streams, delete_streams
from tests.bench.common import bench_line, percentile

PG_URL = os.environ.get("QREC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("QREC_TEST_NATS_URL", "nats://127.0.0.1:4222")
RESULTS_PER_MESSAGE = 10
BATCH = 500
ROUNDS = 3


def message(n: int, line: str) -> bytes:
    results = [{"characteristic": "bore_dia" if i % 2 else "length",
                "value": (12.0 if i % 2 else 45.0) + (n % 9) * 0.001,
                "unit": "mm", "gauge": "G-0042" if i % 2 else "C-0101"}
               for i in range(RESULTS_PER_MESSAGE)]
    return orjson.dumps({
        "schema": "qrec.inspection.v1", "message_id": f"{line}-{n:07d}", "line": line,
        "station": "CMM-2", "lot": f"LOT-{line}-{n // 500:04d}", "stage": "in_process",
        "plan": "IP-100", "inspector": "op-17",
        "occurred_at": datetime.now(UTC).isoformat(), "results": results})


async def publish_all(js: Any, topology: Topology, count: int) -> float:
    started = time.perf_counter()
    acks = []
    for n in range(count):
        line = f"L{n % 4 + 1}"
        acks.append(await js.publish_async(topology.line_subject(line, "inspection"),
                                           message(n, line)))
        if len(acks) >= 2000:
            await asyncio.gather(*acks)
            acks = []
    await asyncio.gather(*acks)
    return started


def latencies_from_store(settings: Settings) -> list[float]:
    """Recorded time minus the time the line stamped on the message, per inspection."""
    records = build_records(settings, create_tables=False)
    out = []
    for n in records.recorder.select_notifications(1, 10_000_000,
                                                   topics=["domain.inspection:Inspection.Performed"]):
        state = orjson.loads(n.state)
        recorded = datetime.fromisoformat(state["timestamp"])
        occurred = datetime.fromisoformat(state["provenance"]["occurred_at"])
        out.append((recorded - occurred).total_seconds())
    return out


async def qrec_ingest(settings: Settings, count: int, profile: cProfile.Profile | None
                      ) -> tuple[float, list[float]]:
    topology = Topology(prefix=f"bench{uuid.uuid4().hex[:8]}")
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    await declare_streams(js, topology)
    service = IngestService(build_records(settings, create_tables=False), NATS_URL, topology,
                            IngestOptions(batch_size=BATCH), log_id=log_id(settings))
    if profile:  # the commits run in a worker thread: profile them there
        records = service.ingest.records
        record = records.record_inspections
        records.record_inspections = lambda reports: profile.runcall(  # type: ignore[method-assign]
            record, reports)
    try:
        await service.start()
        started = await publish_all(js, topology, count)
        while service.ingest.stats.recorded < count:
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
        stats = service.ingest.stats
        print(f"qrec ingest: {stats.batches} batches, {stats.commit_seconds:.2f} s of "
              f"{elapsed:.2f} s in record_inspections (the event-store transaction)")
        await service.stop()
    finally:
        await delete_streams(js, topology)
        await nc.close()
    return count * RESULTS_PER_MESSAGE / elapsed, latencies_from_store(settings)


ROWS_TABLE = """CREATE TABLE {} (message_id text, line text, lot text, characteristic text,
    value double precision, unit text, gauge text, occurred_at timestamptz,
    recorded_at timestamptz DEFAULT clock_timestamp())"""


async def plain_ingest(settings: Settings, count: int) -> tuple[float, list[float]]:
    """The plain alternative: fetch a batch, COPY its rows, commit, ack."""
    topology = Topology(prefix=f"plain{uuid.uuid4().hex[:8]}")
    table = sql.Identifier(settings.pg_schema, "plain_results")
    conn = await psycopg.AsyncConnection.connect(PG_URL)
    await conn.execute(sql.SQL(ROWS_TABLE).format(table))
    await conn.commit()
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    await declare_streams(js, topology)
    sub = await js.pull_subscribe(topology.inspections, durable="plain",
                                  stream=topology.lines_stream)
    done = 0

    async def consume() -> None:
        nonlocal done
        while done < count:
            try:
                msgs = await sub.fetch(BATCH, timeout=0.2)
            except nats.errors.TimeoutError:
                continue
            async with conn.cursor() as cur, cur.copy(sql.SQL(
                    "COPY {} (message_id, line, lot, characteristic, value, unit, gauge, "
                    "occurred_at) FROM STDIN").format(table)) as copy:
                for m in msgs:
                    body = orjson.loads(m.data)
                    for r in body["results"]:
                        await copy.write_row((body["message_id"], body["line"], body["lot"],
                                              r["characteristic"], r["value"], r["unit"],
                                              r["gauge"], body["occurred_at"]))
            await conn.commit()
            await asyncio.gather(*(m.ack() for m in msgs))
            done += len(msgs)

    try:
        consumer = asyncio.create_task(consume())
        started = await publish_all(js, topology, count)
        await consumer
        elapsed = time.perf_counter() - started
        cur = await conn.execute(sql.SQL(
            "SELECT DISTINCT ON (message_id) extract(epoch FROM recorded_at - occurred_at) "
            "FROM {}").format(table))
        latencies = [float(r[0]) for r in await cur.fetchall()]
    finally:
        await delete_streams(js, topology)
        await nc.close()
        await conn.close()
    return count * RESULTS_PER_MESSAGE / elapsed, latencies


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def one_round(count: int, profile: cProfile.Profile | None
              ) -> tuple[float, list[float], float, list[float]]:
    """qrec's ingest, then at once the plain alternative, on a fresh schema and streams."""
    schema = f"qrec_bench_{uuid.uuid4().hex[:10]}"
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), store_url=PG_URL, pg_schema=schema)
    try:
        load_master_data(build_records(settings), SAMPLE_MASTER_DATA)
        rate, lat = asyncio.run(qrec_ingest(settings, count, profile))
        plain, plain_lat = asyncio.run(plain_ingest(settings, count))
    finally:
        drop_schema(schema)
    return rate, lat, plain, plain_lat


def run(scale: float) -> None:
    """The best of ROUNDS rounds for each side: the machine is shared, and a round can be
    slowed by others (one round when profiling)."""
    count = max(500, int(20_000 * scale))
    profile = cProfile.Profile() if os.environ.get("QREC_BENCH_PROFILE") == "1" else None
    rounds = [one_round(count, profile) for _ in range(1 if profile else ROUNDS)]
    rate, lat, _, _ = max(rounds, key=lambda r: r[0])
    _, _, plain, plain_lat = max(rounds, key=lambda r: r[2])
    print(f"{count} messages x {RESULTS_PER_MESSAGE} results, batches of {BATCH}, "
          f"best of {len(rounds)} rounds")
    for name, value, samples in (("qrec ingest", rate, lat), ("plain COPY", plain, plain_lat)):
        p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
        print(f"{name:12s} {value:10.1f} results/s  publish-to-commit p50 {p50:.0f} ms  "
              f"p99 {p99:.0f} ms")
    if profile:
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(25)
        print(text.getvalue())
    bench_line("ingest", rate, "results/s", plain)
