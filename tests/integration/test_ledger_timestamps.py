"""Trusted time: checkpoints are timestamped by an RFC 3161 authority (a local one this test
starts: `openssl ts -reply` behind HTTP, its CA made here), every one or one per period, and
verify checks each token against the authority's certificate."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from domain.records import Provenance
from projections.ledger.pack import export_pack
from projections.ledger.store import LedgerPolicy, LedgerTimestamp
from services import cli
from services.composition import build_ledger, build_records
from services.ledger_outside import publish_outside, timestamp_problem
from services.settings import Settings
from services.timestamps import Authority
from tests.integration.local_tsa import LocalTsa, local_tsa

POLICY = LedgerPolicy(page_size=10, checkpoint_every=10, checkpoint_seconds=3600)


@pytest.fixture
def tsa() -> Iterator[LocalTsa]:
    with local_tsa() as authority:
        yield authority


def test_every_checkpoint_gets_a_token_that_verifies_against_the_authority(
        store_settings: Settings, tsa: LocalTsa, clock: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    settings = store_settings.with_(tsa_url=tsa.url, tsa_cert=tsa.ca_cert)
    records = build_records(settings, clock=clock)
    for i in range(25):
        records.register_instrument(f"G-{i:04d}", "bore gauge", "mm", (10, 15), 0.001, 0.002,
                                    180, "Line 1", Provenance(actor="qe-1"))
    ledger = build_ledger(settings, records, clock=clock, policy=POLICY)
    ledger.catch_up(seal=True)
    assert publish_outside(ledger, settings) == [f"timestamps: 3 new from {tsa.url}"]
    assert [t[0] for t in ledger.timestamps()] == [10, 20, 25]
    assert timestamp_problem(ledger, settings) is None
    # The pack of a record carries its checkpoint's token, which stamps the note text.
    pack = export_pack(ledger, records.recorder, records.recorder.select_notifications(1, 1)[0]
                       .originator_id, ledger.keyring.public_keys())
    token = base64.b64decode(pack["timestamp"]["response"])
    text = ledger.latest_checkpoint().text().encode()  # type: ignore[union-attr]
    assert Authority.from_files(tsa.url, tsa.ca_cert).verify(token, text)
    pack_path = tmp_path / "pack.json"
    pack_path.write_text(json.dumps(pack))
    args = ["audit", "verify-pack", str(pack_path), "--tsa-cert"]
    assert cli.main([*args, str(tsa.ca_cert)]) == 0
    assert "timestamped at" in capsys.readouterr().out
    with local_tsa() as stranger:  # a token is checked against the authority one trusts
        assert cli.main([*args, str(stranger.ca_cert)]) == 1
    assert "does not verify" in capsys.readouterr().err
    # A token moved onto another checkpoint no longer verifies; verify names it.
    with ledger.engine.begin() as conn:
        conn.execute(update(LedgerTimestamp).where(LedgerTimestamp.tree_size == 20)
                     .values(response=ledger.timestamps()[0][3]))
    assert "tree size 20" in (timestamp_problem(ledger, settings) or "")
    records.close()


def test_with_a_period_only_one_checkpoint_per_period_is_timestamped(
        sqlite_settings: Settings, tsa: LocalTsa, clock: Any) -> None:
    settings = sqlite_settings.with_(tsa_url=tsa.url, tsa_cert=tsa.ca_cert, tsa_every=3600)
    records = build_records(settings, clock=clock)
    ledger = build_ledger(settings, records, clock=clock, policy=POLICY)
    for batch in range(3):
        for i in range(10):
            records.register_instrument(f"G-{batch}-{i}", "bore gauge", "mm", (10, 15), 0.001,
                                        0.002, 180, "Line 1", Provenance(actor="qe-1"))
        ledger.catch_up()
        publish_outside(ledger, settings)
        clock.advance(minutes=40)
    # Checkpoints at 10 (t), 20 (t + 40 min), 30 (t + 80 min): the first and the third.
    assert [t[0] for t in ledger.timestamps()] == [10, 30]
    assert len(tsa.requests) == 2
    records.close()


def test_a_token_from_another_authority_does_not_verify(
        sqlite_settings: Settings, tsa: LocalTsa, clock: Any) -> None:
    with local_tsa() as other:
        settings = sqlite_settings.with_(tsa_url=other.url, tsa_cert=other.ca_cert)
        records = build_records(settings, clock=clock)
        records.register_instrument("G-1", "bore gauge", "mm", (10, 15), 0.001, 0.002, 180,
                                    "Line 1", Provenance(actor="qe-1"))
        ledger = build_ledger(settings, records, clock=clock, policy=POLICY)
        ledger.catch_up(seal=True)
        publish_outside(ledger, settings)
    trusting_ours = settings.with_(tsa_url=tsa.url, tsa_cert=tsa.ca_cert)
    assert "does not verify" in (timestamp_problem(ledger, trusting_ours) or "")
    records.close()
