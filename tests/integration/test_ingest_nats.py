"""Ingest against the real NATS JetStream server and the real PostgreSQL: acks only after
the commit, poison messages dead-lettered while the rest of their batch commits, transient
failures retried then dead-lettered, and no loss or double count when a worker is killed
with SIGKILL in the middle of a batch.

Every test has its own subject prefix and streams (deleted after), and its own schema.
Consumers use a 2 s ack wait: nats-py on Python 3.11 can strand a message delivered just as
a fetch times out (asyncio.wait_for), and the server redelivers it after the ack wait.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import orjson
import psycopg
import pytest
from psycopg import sql

from services.composition import build_records
from services.contracts import Topology
from services.ingest import IngestOptions, IngestService
from services.log_identity import log_id
from services.settings import Settings
from services.simulator import SAMPLE_MASTER_DATA, load_master_data
from services.streams import declare_streams

pytestmark = [pytest.mark.nats, pytest.mark.postgres]
REPO = Path(__file__).resolve().parents[2]


def inspection(n: int, line: str = "L1", unit: str = "mm") -> bytes:
    return orjson.dumps({
        "schema": "qrec.inspection.v1", "message_id": f"{line}-{n:06d}", "line": line,
        "station": "CMM-2", "lot": f"LOT-{n // 100:04d}", "stage": "in_process",
        "plan": "IP-100", "inspector": "op-17", "occurred_at": "2026-11-26T12:00:00Z",
        "results": [{"characteristic": "bore_dia", "value": 12.0 + (n % 7) * 0.001,
                     "unit": unit, "gauge": "G-0042"}] * 2})


async def publish(nc: Any, topology: Topology, bodies: list[bytes], line: str = "L1") -> None:
    js = nc.jetstream()
    acks = [await js.publish_async(topology.line_subject(line, "inspection"), body)
            for body in bodies]
    await asyncio.gather(*acks)


def count_inspections(settings: Settings) -> int:
    with psycopg.connect(settings.store_url, autocommit=True) as conn:
        row = conn.execute(sql.SQL(
            "SELECT count(*), count(DISTINCT originator_id) FROM {}.qrec_events "
            "WHERE topic = 'domain.inspection:Inspection.Performed'").format(
                sql.Identifier(settings.pg_schema))).fetchone()
    assert row is not None and row[0] == row[1]
    return int(row[0])


async def until(condition: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def dead_letters(nc: Any, topology: Topology) -> list[tuple[dict[str, Any], Any]]:
    js = nc.jetstream()
    sub = await js.pull_subscribe(topology.dlq(">"), stream=topology.dlq_stream)
    try:
        msgs = await sub.fetch(1000, timeout=1)
    except nats.errors.TimeoutError:
        return []
    return [(orjson.loads(m.data), m.headers) for m in msgs]


@pytest.fixture
def records_settings(pg_settings: Settings) -> Settings:
    records = build_records(pg_settings)
    load_master_data(records, SAMPLE_MASTER_DATA)
    return pg_settings


@asynccontextmanager
async def running_ingest(settings: Settings, nats_url: str, topology: Topology,
                         options: IngestOptions) -> AsyncIterator[tuple[IngestService, Any]]:
    nc = await nats.connect(nats_url)
    await declare_streams(nc.jetstream(), topology)
    service = IngestService(build_records(settings, create_tables=False), nats_url, topology,
                            options, log_id=log_id(settings))
    await service.start()
    try:
        yield service, nc
    finally:
        await service.stop()
        await nc.close()


async def consumer_info(nc: Any, topology: Topology) -> Any:
    return await nc.jetstream().consumer_info(topology.lines_stream,
                                              topology.durable("inspection"))


async def settled(nc: Any, topology: Topology) -> bool:
    info = await consumer_info(nc, topology)
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


def test_a_batch_commits_its_good_messages_and_dead_letters_the_poison_ones_with_reasons(
        records_settings: Settings, nats_url: str, topology: Topology) -> None:
    good = [inspection(n) for n in range(300)]
    poison = [b"{oops", inspection(900, unit="in"), orjson.dumps({"schema": "qrec.x.v1"})]
    bodies = good[:100] + poison[:1] + good[100:200] + poison[1:] + good[200:]
    bodies += [inspection(5), inspection(6)]  # the line sends two again: same records

    async def scenario() -> list[tuple[dict[str, Any], Any]]:
        options = IngestOptions(batch_size=50, ack_wait=2.0)
        async with running_ingest(records_settings, nats_url, topology, options) as (
                service, nc):
            await publish(nc, topology, bodies)
            await until(lambda: settled(nc, topology))
            stats = service.ingest.stats
            assert (stats.recorded, stats.duplicates, stats.dead_lettered) == (300, 2, 3)
            info = await consumer_info(nc, topology)
            assert info.num_redelivered == 0  # nothing nacked: the poison did not hold it up
            return await dead_letters(nc, topology)

    letters = asyncio.run(scenario())
    assert count_inspections(records_settings) == 300
    reasons = sorted(body["reason"].split(":")[0] for body, _ in letters)
    assert reasons == ["WrongUnit", "bad JSON", "wrong schema"]
    for body, headers in letters:
        assert headers["Qrec-Reason"] == " ".join(body["reason"].split())
        assert headers["Qrec-Original-Subject"] == topology.line_subject("L1", "inspection")


def rename_events_table(settings: Settings, old: str, new: str) -> None:
    with psycopg.connect(settings.store_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER TABLE {}.{} RENAME TO {}").format(
            sql.Identifier(settings.pg_schema), sql.Identifier(old), sql.Identifier(new)))


def test_nothing_is_acked_while_the_store_fails_and_all_commits_once_it_is_back(
        records_settings: Settings, nats_url: str, topology: Topology) -> None:
    options = IngestOptions(batch_size=50, max_deliver=50, backoff=(0.2,), ack_wait=2.0)

    async def scenario() -> None:
        async with running_ingest(records_settings, nats_url, topology, options) as (
                service, nc):
            # The store goes away (as if the database were down) while messages arrive.
            rename_events_table(records_settings, "qrec_events", "qrec_events_away")
            try:
                await publish(nc, topology, [inspection(n) for n in range(100)])
                await until(lambda: asyncio.sleep(0, service.ingest.stats.retried >= 100))
                info = await consumer_info(nc, topology)
                assert info.ack_floor.stream_seq == 0  # not one message acked
            finally:
                rename_events_table(records_settings, "qrec_events_away", "qrec_events")
            # It is back: the nacked messages come again and are recorded, once.
            await until(lambda: settled(nc, topology))
            assert service.ingest.stats.recorded == 100

    asyncio.run(scenario())
    assert count_inspections(records_settings) == 100


def test_a_message_that_keeps_failing_is_dead_lettered_after_max_deliver(
        records_settings: Settings, nats_url: str, topology: Topology) -> None:
    options = IngestOptions(batch_size=10, max_deliver=2, backoff=(0.1,), ack_wait=2.0)

    async def scenario() -> list[tuple[dict[str, Any], Any]]:
        rename_events_table(records_settings, "qrec_events", "qrec_events_away")
        try:
            async with running_ingest(records_settings, nats_url, topology, options) as (
                    service, nc):
                await publish(nc, topology, [inspection(1)])
                await until(lambda: settled(nc, topology))
                return await dead_letters(nc, topology)
        finally:
            rename_events_table(records_settings, "qrec_events_away", "qrec_events")

    ((letter, headers),) = asyncio.run(scenario())
    assert letter["deliveries"] == 2
    assert letter["reason"].startswith("gave up after 2 deliveries")


def start_worker(settings: Settings, nats_url: str, topology: Topology) -> subprocess.Popen:
    env = dict(os.environ, QREC_STORE_URL=settings.store_url, QREC_PG_SCHEMA=settings.pg_schema,
               QREC_BROKER_URL=nats_url, QREC_DATA_DIR=str(settings.data_dir))
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run", "--only", "ingest", "--for", "60",
         "--stream-prefix", topology.prefix, "--batch-size", "100", "--ack-wait", "2"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def stop_worker(worker: subprocess.Popen) -> str:
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=30)
    return out.decode()


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_nothing_and_counts_nothing_twice(
        records_settings: Settings, nats_url: str, topology: Topology) -> None:
    total = 4000

    async def scenario() -> str:
        nc = await nats.connect(nats_url)
        await declare_streams(nc.jetstream(), topology)
        await publish(nc, topology, [inspection(n) for n in range(total)])
        # A worker takes batches; it is killed while it has messages it has not acked.
        worker = start_worker(records_settings, nats_url, topology)
        try:
            deadline = time.monotonic() + 30
            while count_inspections(records_settings) < 800:
                assert time.monotonic() < deadline and worker.poll() is None
                await asyncio.sleep(0.005)
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
        info = await consumer_info(nc, topology)
        assert info.num_ack_pending > 0  # it died in the middle of a batch
        assert count_inspections(records_settings) < total
        # Another worker starts; the server redelivers what the first never acked.
        second = start_worker(records_settings, nats_url, topology)
        try:
            await until(lambda: settled(nc, topology), timeout=40)
        finally:
            summary = stop_worker(second)
            await nc.close()
        return summary

    summary = asyncio.run(scenario())
    assert count_inspections(records_settings) == total, summary
