"""The relay on the real NATS JetStream server, from SQLite and PostgreSQL: every committed
event once, in store order, across restarts and a publish retried after a crash; and a
subscriber replays from any position."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from uuid import UUID

import nats
import orjson
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from domain.application import QualityRecords
from domain.records import Provenance
from services.composition import build_records
from services.contracts import EventEnvelope, Topology
from services.log_identity import log_id
from services.relay import POSITION_HEADER, Relay, event_id, tracking_name
from services.settings import Settings
from services.streams import declare_streams

pytestmark = pytest.mark.nats


def register_gauges(records: QualityRecords, first: int, count: int) -> None:
    for i in range(first, first + count):
        records.register_instrument(f"G-{i:04d}", "bore gauge", "mm", (10, 15), 0.001, 0.002,
                                    180, "Line 1", Provenance(actor="qe-1"))


async def stream_messages(js: Any, topology: Topology, start: int = 1) -> list[Any]:
    """Every message the events stream holds from sequence `start` on (it knows how many:
    a fetch that comes back short under load is not taken for the end)."""
    info = await js.stream_info(topology.events_stream)
    expected = info.state.last_seq - start + 1
    sub = await js.pull_subscribe(
        f"{topology.prefix}.events.>", stream=topology.events_stream,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                              opt_start_seq=start))
    out: list[Any] = []
    deadline = asyncio.get_running_loop().time() + 20
    while len(out) < expected and asyncio.get_running_loop().time() < deadline:
        with contextlib.suppress(nats.errors.TimeoutError, asyncio.TimeoutError):
            out += await sub.fetch(min(500, expected - len(out)), timeout=1)
    return out


def positions(records: QualityRecords) -> list[int]:
    return [n.id for n in records.recorder.select_notifications(1, 100_000)]


def test_the_relay_publishes_every_event_once_in_store_order_across_restarts(
        store_settings: Settings, nats_url: str, topology: Topology) -> None:
    records = build_records(store_settings)

    async def scenario() -> list[Any]:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        await declare_streams(js, topology)
        # The relay publishes what is there, then stops (as if the process ended).
        register_gauges(records, 0, 30)
        log = log_id(store_settings)
        await Relay(records, js, topology, log_id=log, batch_size=7).catch_up()
        # More is recorded while no relay runs; a new relay goes on from its position.
        register_gauges(records, 30, 25)
        records.quarantine_instrument("G-0003", Provenance(actor="qe-1", reason="dropped"))
        await Relay(records, js, topology, log_id=log, batch_size=7).catch_up()
        msgs = await stream_messages(js, topology)
        await nc.close()
        return msgs

    msgs = asyncio.run(scenario())
    assert [int(m.headers[POSITION_HEADER]) for m in msgs] == positions(records)
    last = EventEnvelope.model_validate(orjson.loads(msgs[-1].data))
    assert msgs[-1].subject == f"{topology.prefix}.events.instrument.quarantined"
    assert (last.event_type, last.record_kind, last.version) == (
        "Instrument.Quarantined", "instrument", 2)
    assert last.provenance is not None and last.provenance["reason"] == "dropped"
    stored = records.recorder.select_events(UUID(last.record_id), gt=1, limit=1)[0]
    assert msgs[-1].headers["Nats-Msg-Id"] == last.event_id == str(
        event_id(stored.originator_id, 2, stored.topic, stored.state))
    assert (last.record_key, last.log_id) == ("instrument:G-0003", log_id(store_settings))
    assert {m.headers["Qrec-Log-Id"] for m in msgs} == {log_id(store_settings)}
    tracking = Relay.tracking_recorder(records)
    assert tracking.max_tracking_id(tracking_name(topology)) == last.position


def test_a_publish_retried_after_a_crash_is_not_repeated_and_replay_starts_anywhere(
        sqlite_settings: Settings, nats_url: str, topology: Topology) -> None:
    records = build_records(sqlite_settings)
    register_gauges(records, 0, 20)

    async def scenario() -> tuple[list[Any], list[Any]]:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        await declare_streams(js, topology)
        relay = Relay(records, js, topology, log_id=log_id(sqlite_settings))
        # The relay publishes a batch and crashes before it writes its position...
        notifications = records.recorder.select_notifications(1, 12)
        await relay.publish(notifications)
        assert relay.tracked_position() == 0
        # ...so the batch is published again: the server drops it by Nats-Msg-Id.
        await relay.publish(notifications)
        # A restarted relay goes on after what the stream already holds.
        await Relay(records, js, topology, log_id=log_id(sqlite_settings)).catch_up()
        everything = await stream_messages(js, topology)
        # A subscriber replays from position 15.
        replay = await stream_messages(js, topology, start=15)
        await nc.close()
        return everything, replay

    everything, replay = asyncio.run(scenario())
    assert [int(m.headers[POSITION_HEADER]) for m in everything] == positions(records)
    assert [orjson.loads(m.data)["position"] for m in replay] == positions(records)[14:]
