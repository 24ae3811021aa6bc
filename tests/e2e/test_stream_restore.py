"""A store restored from a backup, as an operator meets it through `qrec`: on SQLite (a copy
of the data dir) and PostgreSQL (a copy of the schema), with the real NATS server; and on
SQLite with qrec's own NATS server, whose streams outlive a restore of the store's files.

A restored store has lost what it recorded after the backup, while the streams still hold
it. `qrec run` refuses (exit 3) once the store has recorded other events at those positions;
`qrec stream resume-after-restore` publishes a marker and the store's events after the last
position both share, each with its own event id; a subscriber reading the events stream from
the start then sees every event of the store once by event id."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest

from domain.records import Provenance
from services.composition import build_ledger, build_records
from services.contracts import Topology
from services.embedded_nats import EmbeddedNats
from services.ledger_publish import CheckpointPublisher, checkpoint_of
from services.log_identity import log_id
from services.relay import Relay, notification_event_id
from services.settings import Settings
from tests.e2e.cli import qrec

pytestmark = [pytest.mark.nats, pytest.mark.slow]
RELAY_AND_LEDGER = ("run", "--only", "relay,ledger", "--for", "1")
RESUME = ("stream", "resume-after-restore", "--reason", "restored after a disk failure")


def register_gauges(settings: Settings, prefix: str, count: int) -> None:
    records = build_records(settings)
    for i in range(count):
        records.register_instrument(f"{prefix}-{i:03d}", "bore gauge", "mm", (10, 15), 0.001,
                                    0.002, 180, "Line 1", Provenance(actor="qe-1"))
    records.close()


def copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's own backup (what `sqlite3 events.sqlite .backup`, or copying the files of a
    stopped qrec, gives)."""
    with closing(sqlite3.connect(source)) as a, closing(sqlite3.connect(target)) as b:
        a.backup(b)


def qrec_on(settings: Settings, broker: str, prefix: str) -> Callable[..., Any]:
    def run(*args: str) -> Any:
        return qrec(*args, data_dir=settings.data_dir, QREC_STORE_URL=settings.store_url,
                    QREC_PG_SCHEMA=settings.pg_schema, QREC_BROKER_URL=broker,
                    QREC_STREAM_PREFIX=prefix)
    return run


def publish(settings: Settings, url: str, topology: Topology) -> None:
    """What `qrec run --only relay,ledger` does before it stops, in this process."""
    async def relay_and_ledger() -> None:
        records = build_records(settings)
        ledger = build_ledger(settings, records)
        nc = await nats.connect(url)
        js, log = nc.jetstream(), log_id(settings)
        await Relay(records, js, topology, log_id=log).catch_up()
        ledger.catch_up(seal=True)
        await CheckpointPublisher(js, ledger, topology, log_id=log).publish_new()
        await nc.close()
        records.close()
    asyncio.run(relay_and_ledger())


def ok(done: Any) -> Any:
    assert done.returncode == 0, done.stdout + done.stderr
    return done


async def read_streams(url: str, topology: Topology) -> tuple[list[Any], Any]:
    """Every message of the events stream from the start, and the newest checkpoint."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    info = await js.stream_info(topology.events_stream)
    messages = [await js.get_msg(topology.events_stream, seq)
                for seq in range(info.state.first_seq, info.state.last_seq + 1)]
    newest = await js.get_last_msg(topology.ledger_stream, topology.checkpoints)
    await nc.close()
    return messages, newest


def check_a_subscriber_sees_the_store(settings: Settings, messages: list[Any], newest: Any,
                                      lost: int, resumed_after: int) -> None:
    """Every event of the store once by event id, the lost ones apart, one marker; the newest
    checkpoint is the store's own."""
    records = build_records(settings, create_tables=False)
    stored = [str(notification_event_id(n))
              for n in records.recorder.select_notifications(1, 1_000_000)]
    markers = [orjson.loads(m.data) for m in messages if m.subject.endswith(".log.resumed")]
    seen = Counter(orjson.loads(m.data)["event_id"] for m in messages
                   if not m.subject.endswith(".log.resumed"))
    assert all(seen[event] == 1 for event in stored), seen
    assert len(set(seen) - set(stored)) == lost
    assert [(m["resumed_after"], m["log_id"]) for m in markers] == [
        (resumed_after, log_id(settings))]
    assert {m.headers["Qrec-Log-Id"] for m in messages} == {log_id(settings)}
    checkpoint, ledger = checkpoint_of(newest), build_ledger(settings, records)
    assert checkpoint is not None and newest.headers["Qrec-Log-Id"] == log_id(settings)
    assert checkpoint.tree_size == ledger.tree_size() == len(stored)
    assert checkpoint.root_hash == ledger.root_at(checkpoint.tree_size)


def test_a_restored_store_that_took_other_events_is_refused_then_resumed(
        store_settings: Settings, backup: Callable[[Settings], Settings], nats_url: str,
        topology: Topology) -> None:
    # The plant records six gauges; qrec publishes them; a backup is taken.
    register_gauges(store_settings, "G", 6)
    publish(store_settings, nats_url, topology)
    restored = backup(store_settings)
    # Four more are recorded and published; then the disk fails.
    register_gauges(store_settings, "H", 4)
    publish(store_settings, nats_url, topology)
    # The backup is restored and takes other events at positions 7 and 8.
    register_gauges(restored, "K", 2)
    again = qrec_on(restored, nats_url, topology.prefix)
    refused = again(*RELAY_AND_LEDGER)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    line = next(x for x in refused.stderr.splitlines() if x.startswith("relay refused"))
    assert "position 7" in line and "agree up to position 6" in line
    assert "qrec stream resume-after-restore" in line
    # The operator resumes: the new events go out after a marker, each with its own id.
    resumed = ok(again(*RESUME))
    assert "agree up to position 6" in resumed.stdout, resumed.stdout
    nothing = again(*RESUME)
    assert nothing.returncode == 1 and "nothing to resume" in nothing.stderr, nothing.stderr
    register_gauges(restored, "L", 2)
    publish(restored, nats_url, topology)
    messages, newest = asyncio.run(read_streams(nats_url, topology))
    check_a_subscriber_sees_the_store(restored, messages, newest, lost=4, resumed_after=6)


def test_a_restored_store_resumed_before_it_records_anything_loses_nothing_more(
        store_settings: Settings, backup: Callable[[Settings], Settings], nats_url: str,
        topology: Topology) -> None:
    # A backup is taken before qrec ever published the first ten events.
    register_gauges(store_settings, "G", 10)
    restored = backup(store_settings)
    publish(store_settings, nats_url, topology)
    register_gauges(store_settings, "H", 3)
    publish(store_settings, nats_url, topology)
    # Restored, it is resumed at once, as the restore procedure says: what the stream holds
    # of it is found there (not sent twice), what it lost is named.
    again = qrec_on(restored, nats_url, topology.prefix)
    resumed = ok(again(*RESUME))
    assert "agree up to position 10" in resumed.stdout and "up to 13" in resumed.stdout
    register_gauges(restored, "K", 4)
    ok(again(*RELAY_AND_LEDGER))  # as the plant goes on
    messages, newest = asyncio.run(read_streams(nats_url, topology))
    check_a_subscriber_sees_the_store(restored, messages, newest, lost=3, resumed_after=10)


def test_with_qrecs_own_nats_server_a_restore_of_the_store_files_is_found_and_resumed(
        tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "qrec-data")
    plant = qrec_on(settings, "", "qrec")
    register_gauges(settings, "G", 5)
    with EmbeddedNats(settings.data_dir) as server:
        publish(settings, server.url, Topology())
    # A backup of the store's files (the embedded NATS server's data is not in it).
    saved = tmp_path / "saved"
    saved.mkdir()
    for name in ("events.sqlite", "views.sqlite"):
        copy_sqlite(settings.data_dir / name, saved / name)
    register_gauges(settings, "H", 3)
    with EmbeddedNats(settings.data_dir) as server:
        publish(settings, server.url, Topology())
    for name in ("events.sqlite", "views.sqlite"):
        copy_sqlite(saved / name, settings.data_dir / name)
    register_gauges(settings, "K", 2)
    refused = plant(*RELAY_AND_LEDGER)
    assert refused.returncode == 3 and "position 6" in refused.stderr, refused.stderr
    ok(plant(*RESUME))
    with EmbeddedNats(settings.data_dir) as server:
        messages, newest = asyncio.run(read_streams(server.url, Topology()))
    check_a_subscriber_sees_the_store(settings, messages, newest, lost=3, resumed_after=5)
