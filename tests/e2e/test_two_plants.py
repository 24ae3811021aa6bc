"""Two plants on one NATS server, each with its own store and QREC_STREAM_PREFIX, run by
`qrec run --simulate` at the same time: each publishes all of its events and checkpoints on
its own streams, and ingest consumes each prefix's lines with consumers of its own."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import orjson
import pytest

from projections.ledger.verifier import Checkpoint
from services.composition import build_ledger, build_records
from services.contracts import Topology
from services.ingest import INGESTED
from services.log_identity import log_id, named_log
from services.relay import notification_event_id
from services.settings import Settings
from services.streams import delete_streams

pytestmark = [pytest.mark.nats, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def second_topology(topology: Topology, nats_url: str) -> Iterator[Topology]:
    second = Topology(prefix=f"{topology.prefix}b")
    yield second

    async def clean() -> None:
        nc = await nats.connect(nats_url)
        await delete_streams(nc.jetstream(), second)
        await nc.close()
    asyncio.run(clean())


def start_plant(settings: Settings, nats_url: str, prefix: str) -> subprocess.Popen[str]:
    env = {**os.environ, "QREC_DATA_DIR": str(settings.data_dir),
           "QREC_STORE_URL": settings.store_url, "QREC_PG_SCHEMA": settings.pg_schema,
           "QREC_BROKER_URL": nats_url, "QREC_STREAM_PREFIX": prefix}
    return subprocess.Popen([sys.executable, "-m", "services.cli", "run", "--simulate",
                             "--rate", "10", "--for", "6"], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


async def what_the_broker_holds(url: str, topology: Topology
                                ) -> tuple[list[bytes], set[str], dict[str, str | None], bytes]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    info = await js.stream_info(topology.events_stream)
    messages = [await js.get_msg(topology.events_stream, seq)
                for seq in range(info.state.first_seq, info.state.last_seq + 1)]
    consumers = {c.name: c.config.description
                 for c in await js.consumers_info(topology.lines_stream)}
    newest = await js.get_last_msg(topology.ledger_stream, topology.checkpoints)
    await nc.close()
    return ([m.data for m in messages], {m.headers["Qrec-Log-Id"] for m in messages},
            consumers, newest.data)


def test_two_plants_on_one_broker_each_publish_everything_and_share_no_consumer(
        store_settings: Settings, another_store: Settings, nats_url: str,
        topology: Topology, second_topology: Topology) -> None:
    plants = [(store_settings, topology), (another_store, second_topology)]
    runs = [start_plant(settings, nats_url, t.prefix) for settings, t in plants]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    for run, out in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out
        recorded = re.search(r"ingest (\d+) recorded", out.strip().splitlines()[-1])
        assert recorded and int(recorded.group(1)) > 0, out
    seen_consumers: set[str] = set()
    for settings, t in plants:
        log = log_id(settings)
        bodies, logs, consumers, checkpoint = asyncio.run(what_the_broker_holds(nats_url, t))
        records = build_records(settings, create_tables=False)
        stored = records.recorder.select_notifications(1, 1_000_000)
        # Every event of this plant's store, once, in store order, naming its log.
        assert [orjson.loads(b)["event_id"] for b in bodies] == [
            str(notification_event_id(n)) for n in stored]
        assert logs == {log}
        # Its checkpoints: the newest covers the whole store, signed by its ledger.
        newest = Checkpoint.from_json(orjson.loads(checkpoint))
        ledger = build_ledger(settings, records)
        assert orjson.loads(checkpoint)["log_id"] == log
        assert newest.tree_size == len(stored)
        assert newest.root_hash == ledger.root_at(newest.tree_size)
        # Its own consumers, each naming its log.
        assert len(consumers) == len(INGESTED)
        assert {named_log(d) for d in consumers.values()} == {log}
        assert not seen_consumers & set(consumers)
        seen_consumers |= set(consumers)
        records.close()
