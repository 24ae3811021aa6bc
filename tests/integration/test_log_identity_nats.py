"""One store, one log on the broker, against the real NATS server, from SQLite and PostgreSQL:
a store keeps its log id (and so does a backup of it); a second store on the same prefix is
refused by the relay, the checkpoint publisher and ingest, and by `qrec run` (exit 3), with
one line that names the stream, the other log and the remedies; a relay behind its stream
sends nothing twice, and one whose store took other events refuses at the first of them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid5

import nats
import orjson
import pytest

from domain.application import QualityRecords
from domain.records import Provenance, RecordExists
from projections.ledger.store import LedgerPolicy
from services.composition import build_ledger, build_records
from services.contracts import Topology
from services.ingest import IngestService
from services.ledger_publish import CheckpointPublisher
from services.log_identity import LogDiverged, LogMismatch, log_id, named_log
from services.record_keys import RecordKeys
from services.relay import POSITION_HEADER, Relay, envelope, notification_event_id
from services.settings import Settings
from services.streams import declare_streams
from tests.e2e.cli import qrec

pytestmark = pytest.mark.nats


def register_gauges(records: QualityRecords, prefix: str, count: int) -> None:
    for i in range(count):
        records.register_instrument(f"{prefix}-{i:03d}", "bore gauge", "mm", (10, 15), 0.001,
                                    0.002, 180, "Line 1", Provenance(actor="qe-1"))


async def every_message(js: Any, stream: str) -> list[Any]:
    info = await js.stream_info(stream)
    return [await js.get_msg(stream, seq)
            for seq in range(info.state.first_seq, info.state.last_seq + 1)]


def store_event_ids(records: QualityRecords) -> list[str]:
    return [str(notification_event_id(n))
            for n in records.recorder.select_notifications(1, 1_000_000)]


async def publish_all(settings: Settings, records: QualityRecords, js: Any,
                      topology: Topology) -> None:
    """The store's relay and checkpoint publisher, each until nothing is left."""
    log = log_id(settings)
    await Relay(records, js, topology, log_id=log, batch_size=7).catch_up()
    ledger = build_ledger(settings, records, policy=LedgerPolicy(checkpoint_every=10))
    ledger.catch_up(seal=True)
    await CheckpointPublisher(js, ledger, topology, log_id=log).publish_new()


def test_a_store_has_a_log_id_of_its_own_that_a_restored_backup_keeps(
        store_settings: Settings, another_store: Settings,
        backup: Callable[[Settings], Settings]) -> None:
    build_records(store_settings)
    mine = log_id(store_settings)
    assert log_id(store_settings) == mine  # read again, not made again
    assert log_id(backup(store_settings)) == mine
    build_records(another_store)
    assert log_id(another_store) != mine


def test_a_second_store_on_the_same_prefix_is_refused_by_every_component(
        store_settings: Settings, another_store: Settings, nats_url: str,
        topology: Topology) -> None:
    first, second = build_records(store_settings), build_records(another_store)
    register_gauges(first, "G", 12)
    register_gauges(second, "H", 5)
    theirs, mine = log_id(store_settings), log_id(another_store)

    async def scenario() -> list[str]:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        # The first store publishes its events and checkpoints and takes line messages.
        await declare_streams(js, topology, theirs)
        await publish_all(store_settings, first, js, topology)
        ingest = IngestService(first, nats_url, topology, log_id=theirs)
        await ingest.start()
        await ingest.stop()
        # The second store, on the same broker and prefix, is refused everywhere.
        refusals = []
        attempts = [
            Relay(second, js, topology, log_id=mine).catch_up(),
            CheckpointPublisher(js, build_ledger(another_store, second), topology,
                                log_id=mine).publish_new(),
            IngestService(second, nats_url, topology, log_id=mine).start(),
            declare_streams(js, topology, mine)]
        for attempt in attempts:
            with pytest.raises(LogMismatch) as refused:
                await attempt
            refusals.append(str(refused.value))
        # A stream re-declared by hand without its description: the consumers still say.
        info = await js.stream_info(topology.lines_stream)
        await js.update_stream(info.config.evolve(description=None))
        with pytest.raises(LogMismatch) as refused:
            await IngestService(second, nats_url, topology, log_id=mine).start()
        refusals.append(str(refused.value))
        # Nothing of the second store reached the streams.
        messages = await every_message(js, topology.events_stream)
        assert {m.headers["Qrec-Log-Id"] for m in messages} == {theirs}
        assert [orjson.loads(m.data)["event_id"] for m in messages] == store_event_ids(first)
        await nc.close()
        return refusals

    relay, ledger, ingest, declare, consumer = asyncio.run(scenario())
    for line, who, what in [(relay, "relay", topology.events_stream),
                            (ledger, "ledger", topology.ledger_stream),
                            (ingest, "ingest", topology.lines_stream),
                            (declare, "qrec", topology.lines_stream),
                            (consumer, "ingest", topology.durable("inspection"))]:
        assert "\n" not in line
        assert line.startswith(f"{who} refused: ") and what in line, line
        assert f"belongs to log {theirs}, not to this store's log {mine}" in line, line
        assert "QREC_STREAM_PREFIX" in line and "separate NATS server or account" in line


def test_qrec_run_of_a_second_store_on_the_same_prefix_stops_with_exit_code_3(
        store_settings: Settings, another_store: Settings, nats_url: str,
        topology: Topology) -> None:
    first = build_records(store_settings)
    register_gauges(first, "G", 3)

    async def first_store_publishes() -> None:
        nc = await nats.connect(nats_url)
        await declare_streams(nc.jetstream(), topology, log_id(store_settings))
        await publish_all(store_settings, first, nc.jetstream(), topology)
        await nc.close()

    asyncio.run(first_store_publishes())
    build_records(another_store)
    refused = qrec("run", "--only", "relay,ledger", "--for", "1", **env_of(another_store),
                   QREC_BROKER_URL=nats_url, QREC_STREAM_PREFIX=topology.prefix)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    line, = refused.stderr.strip().splitlines()
    assert topology.lines_stream in line and log_id(store_settings) in line
    assert "QREC_STREAM_PREFIX" in line


def env_of(settings: Settings) -> dict[str, Any]:
    return {"data_dir": settings.data_dir, "QREC_STORE_URL": settings.store_url,
            "QREC_PG_SCHEMA": settings.pg_schema}


def test_a_relay_behind_its_stream_sends_nothing_twice_where_sequences_are_not_positions(
        store_settings: Settings, nats_url: str, topology: Topology) -> None:
    records = build_records(store_settings)
    register_gauges(records, "G", 10)
    with pytest.raises(RecordExists):  # on PostgreSQL this leaves a gap in the positions
        register_gauges(records, "G", 1)
    register_gauges(records, "K", 10)
    log = log_id(store_settings)

    async def scenario() -> tuple[list[Any], Relay]:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        await declare_streams(js, topology, log)
        # A stream emptied by hand: its sequences go on from where they were.
        for _ in range(3):
            await js.publish(topology.event("test", "emptied"), b"{}")
        await js.purge_stream(topology.events_stream)
        # The relay publishes 15 events and stops before it writes its position...
        relay = Relay(records, js, topology, log_id=log)
        await relay.prepare()
        await relay.publish(records.recorder.select_notifications(1, 15))
        # ...a new one compares those with the stream and sends only the rest.
        again = Relay(records, js, topology, log_id=log, batch_size=4)
        await again.catch_up()
        messages = await every_message(js, topology.events_stream)
        await nc.close()
        return messages, again

    messages, again = asyncio.run(scenario())
    positions = [n.id for n in records.recorder.select_notifications(1, 1000)]
    assert [int(m.headers[POSITION_HEADER]) for m in messages] == positions
    assert [m.seq for m in messages] == [p + 3 for p in range(1, len(positions) + 1)]
    assert (again.stats.skipped, again.stats.published) == (15, len(positions) - 15)


def test_a_relay_refuses_a_restored_store_at_the_first_event_it_recorded_anew(
        store_settings: Settings, nats_url: str, topology: Topology,
        backup: Callable[[Settings], Settings], tmp_path: Path) -> None:
    records = build_records(store_settings)
    register_gauges(records, "G", 6)
    log = log_id(store_settings)

    async def publish(settings: Settings, records: QualityRecords) -> None:
        nc = await nats.connect(nats_url)
        await Relay(records, nc.jetstream(), topology, log_id=log).catch_up()
        await nc.close()

    asyncio.run(publish(store_settings, records))
    restored = backup(store_settings)
    register_gauges(records, "H", 4)  # positions 7..10: lost with the restore
    asyncio.run(publish(store_settings, records))
    again = build_records(restored)
    register_gauges(again, "K", 2)  # positions 7 and 8 again, other events
    with pytest.raises(LogDiverged) as refused:
        asyncio.run(publish(restored, again))
    assert refused.value.position == 7 and refused.value.exit_code == 3
    assert "position 7" in str(refused.value) and "agree up to position 6" in str(
        refused.value) and "qrec stream resume-after-restore" in str(refused.value)


async def publish_as_an_older_qrec(js: Any, records: QualityRecords, topology: Topology,
                                   count: int) -> None:
    """What qrec's relay published before log ids: no Qrec-Log-Id, event id uuid5 of record
    id and version, no log_id or record_key in the envelope."""
    keys = RecordKeys(lambda record: None)
    for n in records.recorder.select_notifications(1, count):
        kind, _, body = envelope(n, records.mapper, "-", keys)
        old = {k: v for k, v in orjson.loads(body).items() if k not in ("log_id", "record_key")}
        old["event_id"] = str(uuid5(n.originator_id, str(n.originator_version)))
        await js.publish(topology.event(kind.record_kind, kind.event_name), orjson.dumps(old),
                         headers={"Nats-Msg-Id": old["event_id"], POSITION_HEADER: str(n.id)})


def test_an_older_qrecs_events_stream_is_adopted_by_its_own_store_only(
        store_settings: Settings, another_store: Settings, nats_url: str,
        topology: Topology) -> None:
    records, other = build_records(store_settings), build_records(another_store)
    register_gauges(records, "G", 8)
    register_gauges(other, "H", 8)

    async def scenario() -> tuple[Relay, str, str | None]:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        await declare_streams(js, topology)
        await publish_as_an_older_qrec(js, records, topology, 5)
        # Another store cannot take the stream over: its newest event is not that store's.
        with pytest.raises(LogMismatch) as refused:
            await Relay(other, js, topology, log_id=log_id(another_store)).catch_up()
        # The store whose events they are adopts it, and sends only what it lacks.
        relay = Relay(records, js, topology, log_id=log_id(store_settings))
        await relay.catch_up()
        info = await js.stream_info(topology.events_stream)
        await nc.close()
        return relay, str(refused.value), named_log(info.config.description)

    relay, refusal, owner = asyncio.run(scenario())
    assert "names no log and its newest message" in refusal, refusal
    assert topology.events_stream in refusal and "QREC_STREAM_PREFIX" in refusal
    assert owner == log_id(store_settings)
    assert (relay.stats.skipped, relay.stats.published) == (5, 3)
