"""Signed checkpoints published on a real NATS JetStream server, exactly once, and usable
from there by a verifier who trusts only the public key."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import pytest

from domain.records import Provenance
from projections.ledger.store import LedgerPolicy
from projections.ledger.verifier import signature_problem
from services.composition import build_ledger, build_records
from services.contracts import Topology
from services.ledger_publish import CheckpointPublisher, published_checkpoints
from services.log_identity import log_id
from services.settings import Settings

pytestmark = pytest.mark.nats


def test_checkpoints_reach_the_stream_once_each_and_verify_with_the_public_key(
        sqlite_settings: Settings, nats_url: str, topology: Topology, clock: Any) -> None:
    records = build_records(sqlite_settings, clock=clock)
    ledger = build_ledger(sqlite_settings, records, clock=clock,
                          policy=LedgerPolicy(page_size=10, checkpoint_every=10))
    log = log_id(sqlite_settings)

    async def scenario() -> list[Any]:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        try:
            for batch in range(3):
                for i in range(10):
                    records.register_instrument(
                        f"G-{batch}-{i}", "bore gauge", "mm", (10, 15), 0.001, 0.002, 180,
                        "Line 1", Provenance(actor="qe-1"))
                ledger.catch_up()
                await CheckpointPublisher(js, ledger, topology, log_id=log).publish_new()
            # A restart publishes again from the stream's last copy: nothing twice.
            assert await CheckpointPublisher(js, ledger, topology, log_id=log
                                             ).publish_new() == 0
            newest = await js.get_last_msg(topology.ledger_stream, topology.checkpoints)
            assert newest.headers is not None and newest.headers["Qrec-Log-Id"] == log
            return await published_checkpoints(js, topology)
        finally:
            await nc.close()

    copies = asyncio.run(scenario())
    assert [cp.tree_size for cp in copies] == [10, 20, 30]
    assert copies == ledger.checkpoints()
    keys = ledger.keyring.public_keys()
    assert all(signature_problem(cp, keys) is None for cp in copies)
