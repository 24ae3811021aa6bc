"""The relay on PostgreSQL and NATS: a store of N inspections (three lines, lots of 100, each
inspection one event, with the policies' reactions: gauge usage, control charts, their
alarms and nonconformances, events of records seen before) published on the events stream,
events a second, by a relay that starts cold (every record's key looked up once) and one
that starts after a stream holding the first half (what it finds there is compared, not
sent again). Plain alternative in the same run: the same notifications read page by page
and published as they are stored (no envelope, no key, no check), acks awaited per page.

Needs the PostgreSQL and NATS servers of the tests (QREC_TEST_PG_URL, QREC_TEST_NATS_URL).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import mkdtemp

import nats

from domain.inspection import Measurement
from domain.reports import InspectionReport
from services.composition import build_records
from services.contracts import Topology
from services.log_identity import log_id
from services.policy_runner import PolicyRunner, build_tracked_records
from services.relay import Relay
from services.settings import Settings
from services.simulator import SAMPLE_MASTER_DATA, load_master_data
from services.streams import declare_streams, delete_streams
from tests.bench.common import bench_line
from tests.conftest import NATS_URL, PG_URL, drop_pg_schema

T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
BATCH = 500


def report(n: int) -> InspectionReport:
    line = f"L{n % 3 + 1}"
    return InspectionReport(
        f"{line}-{n:07d}", line, "CMM-2", f"LOT-{line}-{n // 300:04d}", "in_process", "IP-100",
        "op-17", T0 + timedelta(seconds=n),
        (Measurement("bore_dia", 12.0 + (n % 7) * 0.001, "mm", "G-0042"),
         Measurement("length", 45.0 + (n % 5) * 0.002, "mm", "C-0101")))


def fill(settings: Settings, inspections: int) -> int:
    records = build_records(settings)
    Relay.tracking_recorder(records)
    load_master_data(records, SAMPLE_MASTER_DATA)
    for start in range(0, inspections, BATCH):
        records.record_inspections([report(n) for n in range(start, min(
            inspections, start + BATCH))])
    records.close()
    policies = build_tracked_records(settings)
    PolicyRunner(policies).catch_up()
    events = policies.recorder.max_notification_id() or 0
    policies.close()
    return events


async def qrec_relay(settings: Settings, halfway: bool) -> tuple[float, Relay]:
    """Events a second of a relay publishing the whole store (after a first relay published
    half of it and stopped before it wrote its position, when ``halfway``)."""
    topology = Topology(prefix=f"benchrelay{uuid.uuid4().hex[:8]}")
    records = build_records(settings, create_tables=False)
    nc = await nats.connect(NATS_URL)
    js, log = nc.jetstream(), log_id(settings)
    await declare_streams(js, topology, log)
    try:
        if halfway:
            head = (records.recorder.max_notification_id() or 0) // 2
            first = Relay(records, js, topology, log_id=log, batch_size=BATCH)
            for page in range(0, head, BATCH):
                await first.publish(records.recorder.select_notifications(
                    page + 1, min(BATCH, head - page)))
        relay = Relay(records, js, topology, log_id=log, batch_size=BATCH)
        started = time.perf_counter()
        await relay.catch_up(timeout=3600)
        elapsed = time.perf_counter() - started
    finally:
        await delete_streams(js, topology)
        await nc.close()
        records.close()
    return (relay.stats.published + relay.stats.skipped) / elapsed, relay


async def plain_relay(settings: Settings) -> float:
    topology = Topology(prefix=f"plainrelay{uuid.uuid4().hex[:8]}")
    records = build_records(settings, create_tables=False)
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    await declare_streams(js, topology)
    subject = topology.event("plain", "event")
    count, position = 0, 0
    try:
        started = time.perf_counter()
        while page := records.recorder.select_notifications(position + 1, BATCH):
            acks = [await js.publish_async(subject, n.state, headers={
                "Nats-Msg-Id": f"{n.originator_id}:{n.originator_version}",
                "Qrec-Position": str(n.id)}) for n in page]
            await asyncio.gather(*acks)
            count, position = count + len(page), page[-1].id
        elapsed = time.perf_counter() - started
    finally:
        await delete_streams(js, topology)
        await nc.close()
        records.close()
    return count / elapsed


def run(scale: float) -> None:
    inspections = max(300, int(30_000 * scale))
    schema = f"qrec_bench_relay_{uuid.uuid4().hex[:8]}"
    settings = Settings(data_dir=Path(mkdtemp()), store_url=PG_URL, pg_schema=schema)
    try:
        events = fill(settings, inspections)
        cold, relay = asyncio.run(qrec_relay(settings, halfway=False))
        plain = asyncio.run(plain_relay(settings))
        behind, second = asyncio.run(qrec_relay(settings, halfway=True))
    finally:
        drop_pg_schema(PG_URL, schema)
    print(f"{inspections} inspections, {events} events, pages of {BATCH}")
    print(f"qrec relay   {cold:10.1f} events/s ({relay.keys.reads} first events read for "
          f"record keys)")
    print(f"  behind     {behind:10.1f} events/s ({second.stats.skipped} found on the "
          f"stream, {second.stats.published} published, {second.keys.reads} first events "
          "read)")
    print(f"plain        {plain:10.1f} events/s")
    bench_line("relay", cold, "events/s", plain)
