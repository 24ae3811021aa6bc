"""Two witnesses, each its own `qrec witness serve` process on 127.0.0.1, cosign qrec's
checkpoints on SQLite and PostgreSQL; they keep their state across restarts; and when the
operator, holding the real key and the whole database, rewrites an old event and rebuilds
the ledger, every witness refuses, `qrec audit verify --witnesses 1` fails saying why, and an
auditor's pack from before still verifies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from domain.calibration import instrument_id
from domain.records import Provenance
from projections.ledger import verifier
from projections.ledger.pack import export_pack
from projections.ledger.store import Base, Ledger, LedgerPolicy
from projections.ledger.verifier import NoteKey, WitnessPolicy, cosigned_by, pack_problems
from services import cli
from services.composition import build_ledger, build_records
from services.ledger_outside import publish_outside
from services.settings import Settings
from services.witness_client import WitnessConnection, WitnessEndpoint, WitnessRefused
from tests.integration.test_ledger_tampering import EventTable
from tests.integration.witness_processes import WitnessProcess

pytestmark = pytest.mark.slow

POLICY = LedgerPolicy(page_size=10, checkpoint_every=16, checkpoint_seconds=3600)


@pytest.fixture
def witnesses(tmp_path: Path) -> Iterator[list[WitnessProcess]]:
    started = [WitnessProcess(tmp_path / f"witness-{i}", f"witness.example/w{i}")
               for i in (1, 2)]
    yield started
    for w in started:
        w.stop()


def register(records: Any, tags: range) -> None:
    for i in tags:
        records.register_instrument(f"G-{i:04d}", "bore gauge", "mm", (10, 15), 0.001, 0.002,
                                    180, "Line 1", Provenance(actor="qe-1"))


def outcomes(ledger: Ledger, settings: Settings) -> list[str]:
    return [line.split(" at tree size")[0] for line in publish_outside(ledger, settings)]


def test_witnesses_cosign_keep_their_state_and_refuse_a_history_rewritten_with_the_real_key(
        store_settings: Settings, witnesses: list[WitnessProcess], clock: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # The plant records 30 gauges; G-0002 is quarantined. Two certification bodies run a
    # witness each, told the log's verifier key; qrec is told theirs.
    records = build_records(store_settings, clock=clock)
    register(records, range(30))
    records.quarantine_instrument("G-0002", Provenance(actor="qe-1", reason="dropped"))
    ledger = build_ledger(store_settings, records, clock=clock, policy=POLICY)
    log_vkey = str(ledger.keyring.signer().note_key(ledger.origin))
    for w in witnesses:
        w.watch(log_vkey)
        w.start()
    settings = store_settings.with_(witnesses=tuple((w.vkey, w.url) for w in witnesses))
    keys = [NoteKey.parse(w.vkey) for w in witnesses]

    # Every checkpoint goes to both witnesses, each cosigns.
    ledger.catch_up(seal=True)
    assert outcomes(ledger, settings) == [f"witness {w.name}: cosigned" for w in witnesses]
    assert all(cosigned_by(cp, keys) == keys for cp in ledger.checkpoints())

    # An auditor takes G-0002's history away; it carries both cosignatures.
    pack = export_pack(ledger, records.recorder, instrument_id("G-0002"),
                       ledger.keyring.public_keys())
    before = tmp_path / "pack-before.json"
    before.write_text(json.dumps(pack))
    assert pack_problems(pack, None, WitnessPolicy(tuple(keys), 2)) == []

    # More events; the witnesses cosign the new checkpoints from the size they hold.
    register(records, range(30, 37))
    ledger.catch_up(seal=True)
    assert outcomes(ledger, settings) == [f"witness {w.name}: cosigned" for w in witnesses]
    cosigned_size = ledger.latest_checkpoint().tree_size  # type: ignore[union-attr]

    # A witness restarts: it still holds the size it cosigned, and refuses to go back.
    witnesses[0].restart()
    assert f"cosigned up to size {cosigned_size}" in witnesses[0].status()
    first = ledger.checkpoints()[0]
    conn = WitnessConnection(WitnessEndpoint.parse(witnesses[0].vkey, witnesses[0].url))
    with pytest.raises(WitnessRefused) as rollback:
        conn.add_checkpoint(cosigned_size, [], first.note())
    with pytest.raises(WitnessRefused) as stale:
        conn.add_checkpoint(0, [], first.note())
    conn.close()
    assert rollback.value.status == 400
    assert (stale.value.status, stale.value.body) == (409, f"{cosigned_size}\n")

    # The attack: the operator edits an old event in the database, wipes the ledger and
    # rebuilds it with the genuine key; the new ledger is internally perfect.
    events = EventTable(store_settings)
    events.set_state(3, events.state(3).replace(b'"Line 1"', b'"Line 7"'))
    events.close()
    with ledger.engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            conn.execute(delete(table))
    register(records, range(37, 40))
    rebuilt = build_ledger(store_settings, records, clock=clock, policy=POLICY)
    rebuilt.catch_up(seal=True)
    said = publish_outside(rebuilt, settings)
    assert all("refused" in line and "consistency proof" in line for line in said), said
    for w in witnesses:
        assert "(422): the consistency proof" in w.status()

    # The operator's own verify finds the rebuilt ledger consistent with its events, but
    # demanding a witness's cosignature fails and says why.
    for name, value in {"QREC_DATA_DIR": str(settings.data_dir),
                        "QREC_STORE_URL": settings.store_url,
                        "QREC_PG_SCHEMA": settings.pg_schema,
                        "QREC_WITNESSES": ",".join(f"{w.vkey} {w.url}"
                                                   for w in witnesses)}.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["audit", "verify"]) == 0
    assert cli.main(["audit", "verify", "--witnesses", "1"]) == 1
    err = capsys.readouterr().err
    assert "0 valid witness cosignatures, 1 required" in err
    assert "witness.example/w1: refused at tree size" in err and "consistency proof" in err

    # The auditor's pack from before the rewrite still verifies offline, cosignatures too.
    assert verifier.main([str(before), "--witness-key", keys[0].__str__(),
                          "--witness-key", str(keys[1]), "--witnesses", "2"]) == 0
    rewritten = export_pack(rebuilt, records.recorder, instrument_id("G-0002"),
                            rebuilt.keyring.public_keys())
    assert pack_problems(rewritten, None, WitnessPolicy(tuple(keys), 1)) == [
        f"checkpoint at tree size {rewritten['checkpoint']['tree_size']}: 0 valid "
        "cosignatures from trusted witnesses, 1 required (0 cosignatures in the pack)"]
    records.close()
