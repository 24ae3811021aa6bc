"""Signed checkpoints published on a real NATS JetStream server, exactly once, and usable
from there by a verifier who trusts only the public key."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import nats
import pytest

from domain.records import Provenance
from projections.ledger.store import LedgerPolicy
from projections.ledger.verifier import signature_problem
from services.composition import build_ledger, build_records
from services.ledger_publish import (
    ensure_checkpoint_stream,
    publish_new_checkpoints,
    published_checkpoints,
)
from services.settings import Settings

pytestmark = pytest.mark.nats


def test_checkpoints_reach_the_stream_once_each_and_verify_with_the_public_key(
        sqlite_settings: Settings, nats_url: str, clock: Any) -> None:
    records = build_records(sqlite_settings, clock=clock)
    ledger = build_ledger(sqlite_settings, records, clock=clock,
                          policy=LedgerPolicy(page_size=10, checkpoint_every=10))
    stream = f"QREC_LEDGER_TEST_{uuid.uuid4().hex[:10].upper()}"
    subject = f"qrec.ledger.checkpoints.test.{stream.lower()}"

    async def scenario() -> list[Any]:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        try:
            await ensure_checkpoint_stream(js, stream, subject)
            for batch in range(3):
                for i in range(10):
                    records.register_instrument(
                        f"G-{batch}-{i}", "bore gauge", "mm", (10, 15), 0.001, 0.002, 180,
                        "Line 1", Provenance(actor="qe-1"))
                ledger.catch_up()
                await publish_new_checkpoints(js, ledger, stream, subject)
            # A restart publishes again from the stream's last copy: nothing twice.
            await publish_new_checkpoints(js, ledger, stream, subject)
            return await published_checkpoints(js, stream)
        finally:
            await js.delete_stream(stream)
            await nc.close()

    copies = asyncio.run(scenario())
    assert [cp.tree_size for cp in copies] == [10, 20, 30]
    assert copies == ledger.checkpoints()
    keys = ledger.keyring.public_keys()
    assert all(signature_problem(cp, keys) is None for cp in copies)
