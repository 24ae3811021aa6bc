"""`qrec audit ...` as an auditor and an operator use it, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from domain.calibration import instrument_id
from domain.records import Provenance
from projections.ledger import verifier
from services import cli
from services.composition import build_records
from services.settings import Settings
from tests.integration.witness_processes import WitnessProcess


@pytest.fixture
def env_for(monkeypatch: pytest.MonkeyPatch) -> Any:
    def use(settings: Settings) -> Settings:
        monkeypatch.setenv("QREC_DATA_DIR", str(settings.data_dir))
        monkeypatch.setenv("QREC_STORE_URL", settings.store_url)
        monkeypatch.setenv("QREC_PG_SCHEMA", settings.pg_schema)
        return settings
    return use


def register(settings: Settings, tags: range, clock: Any) -> None:
    records = build_records(settings, clock=clock)
    for i in tags:
        records.register_instrument(f"G-{i:04d}", "bore gauge", "mm", (10, 15), 0.001, 0.002,
                                    180, "Line 1", Provenance(actor="qe-1"))
    records.quarantine_instrument("G-0002", Provenance(actor="qe-1", reason="dropped"))


def test_an_auditor_exports_a_record_and_checks_the_pack_offline(
        store_settings: Settings, env_for: Any, clock: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    env_for(store_settings)
    register(store_settings, range(30), clock)
    # The operator brings the ledger up to date and the history verifies.
    assert cli.main(["audit", "catch-up"]) == 0
    assert cli.main(["audit", "verify"]) == 0
    # The auditor takes gauge G-0002's history away with the public key.
    pack_path, key_path = tmp_path / "g2.json", tmp_path / "ledger.pem"
    assert cli.main(["audit", "export", str(instrument_id("G-0002")), "-o", str(pack_path)]) == 0
    capsys.readouterr()
    assert cli.main(["audit", "public-key"]) == 0
    key_path.write_text(capsys.readouterr().out)
    pack = json.loads(pack_path.read_text())
    assert [e["originator_version"] for e in pack["events"]] == [1, 2]
    assert pack["events"][1]["body"]["provenance"]["reason"] == "dropped"
    # With no database at all, with the pinned key, the pack checks out.
    assert cli.main(["audit", "verify-pack", str(pack_path), "--public-key", str(key_path)]) == 0
    assert verifier.main([str(pack_path), "--public-key", str(key_path)]) == 0
    # A pack edited after export does not.
    edited = json.loads(json.dumps(pack))
    edited["events"][1]["state"] = edited["events"][0]["state"]
    pack_path.write_text(json.dumps(edited))
    assert cli.main(["audit", "verify-pack", str(pack_path)]) == 1
    assert "position" in capsys.readouterr().err
    # Nor does one whose newest event (the quarantine) was left out: every proof in it
    # holds, but the checkpoint's heads map says the record goes on to version 2.
    shortened = dict(pack, events=pack["events"][:1])
    pack_path.write_text(json.dumps(shortened))
    assert verifier.main([str(pack_path), "--public-key", str(key_path)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL record {instrument_id('G-0002')}: the checkpoint at tree size 31 has its " \
        "newest event at version 2 (position 30); the pack lacks version 2" in out


def test_a_pack_signed_by_another_key_fails_against_the_published_key(
        sqlite_settings: Settings, env_for: Any, clock: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    env_for(sqlite_settings)
    register(sqlite_settings, range(5), clock)
    pack_path = tmp_path / "pack.json"
    assert cli.main(["audit", "export", str(instrument_id("G-0001")), "-o", str(pack_path)]) == 0
    other = tmp_path / "other"
    env_for(sqlite_settings.with_(data_dir=other))
    register(sqlite_settings.with_(data_dir=other), range(3), clock)
    capsys.readouterr()
    assert cli.main(["audit", "public-key"]) == 0
    (tmp_path / "other.pem").write_text(capsys.readouterr().out)
    assert cli.main(["audit", "verify-pack", str(pack_path), "--public-key",
                     str(tmp_path / "other.pem")]) == 1
    assert "not a trusted key" in capsys.readouterr().err


def test_verify_names_the_failing_position_and_exits_non_zero(
        sqlite_settings: Settings, env_for: Any, clock: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    env_for(sqlite_settings)
    register(sqlite_settings, range(20), clock)
    assert cli.main(["audit", "catch-up"]) == 0
    with sqlite3.connect(sqlite_settings.events_path) as conn:
        conn.execute("UPDATE stored_events SET state = replace(state, 'Line 1', 'Line 9') "
                     "WHERE rowid = 12")
    capsys.readouterr()
    assert cli.main(["audit", "verify", "--progress"]) == 1
    err = capsys.readouterr().err
    assert "FAILED at position 11: changed" in err
    assert "verifying [" in err


def test_verify_against_a_checkpoint_kept_earlier_fails_once_the_history_is_truncated(
        sqlite_settings: Settings, env_for: Any, clock: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    env_for(sqlite_settings)
    register(sqlite_settings, range(20), clock)
    kept = tmp_path / "kept.json"
    assert cli.main(["audit", "catch-up"]) == 0
    assert cli.main(["audit", "checkpoint", "-o", str(kept)]) == 0
    assert cli.main(["audit", "verify", "--checkpoint", str(kept)]) == 0
    # Someone truncates both the events and the ledger, tracking row and all, and drops
    # the checkpoints that covered the removed events: only the kept copy remembers.
    with sqlite3.connect(sqlite_settings.events_path) as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid > 15")
    with sqlite3.connect(sqlite_settings.views_path) as conn:
        conn.execute("DELETE FROM ledger_leaves WHERE position >= 15")
        conn.execute("DELETE FROM ledger_checkpoints WHERE tree_size > 15")
        conn.execute("DELETE FROM ledger_tracking")
        conn.execute("DELETE FROM ledger_nodes")
        conn.execute("DELETE FROM ledger_leaves")
        conn.execute("DELETE FROM ledger_checkpoint_notes WHERE tree_size > 15")
        conn.execute("DELETE FROM ledger_head_buckets")
    assert cli.main(["audit", "catch-up"]) == 0
    capsys.readouterr()
    assert cli.main(["audit", "verify", "--checkpoint", str(kept)]) == 1
    assert "checkpoint inconsistent" in capsys.readouterr().err


def test_the_signing_key_is_owner_only_and_rotation_keeps_old_checkpoints_verifiable(
        sqlite_settings: Settings, env_for: Any, clock: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    env_for(sqlite_settings)
    register(sqlite_settings, range(10), clock)
    assert cli.main(["audit", "catch-up"]) == 0
    keys = sqlite_settings.data_dir / "ledger-keys"
    (private,) = keys.glob("*.key")
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o700
    # Rotation: new events are signed with the new key; the old checkpoint still verifies.
    assert cli.main(["audit", "rotate-key"]) == 0
    register(sqlite_settings, range(10, 15), clock)
    assert cli.main(["audit", "catch-up"]) == 0
    capsys.readouterr()
    assert cli.main(["audit", "verify"]) == 0
    rotations = list(keys.glob("rotation-*.json"))
    assert len(rotations) == 1 and len(list(keys.glob("*.pub"))) == 2
    statement = json.loads(rotations[0].read_text())
    capsys.readouterr()
    assert cli.main(["audit", "public-key", "--key-id", statement["old"]]) == 0
    old_pem = capsys.readouterr().out
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from projections.ledger.keys import rotation_message
    load_pem_public_key(old_pem.encode()).verify(  # type: ignore[union-attr,call-arg]
        __import__("base64").b64decode(statement["signature"]),
        rotation_message(statement["old"], statement["new"]))


@pytest.mark.slow
def test_a_certification_body_runs_a_witness_and_the_auditor_demands_its_cosignature(
        sqlite_settings: Settings, env_for: Any, clock: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env_for(sqlite_settings)
    register(sqlite_settings, range(12), clock)
    # The plant gives the certification body its log's verifier key...
    assert cli.main(["audit", "public-key", "--vkey"]) == 0
    log_vkey = capsys.readouterr().out.strip()
    assert log_vkey.startswith("qrec.log/") and log_vkey.split("+")[2].startswith("A")
    # ...which sets up a witness with the `qrec witness` commands and starts it.
    body = tmp_path / "cert-body"
    assert cli.main(["witness", "init", "--dir", str(body), "--name", "cert.example/w"]) == 0
    witness_vkey = capsys.readouterr().out.strip()
    assert cli.main(["witness", "add-log", "--dir", str(body), log_vkey]) == 0
    witness = WitnessProcess.existing(body, "cert.example/w", witness_vkey).start()
    try:
        monkeypatch.setenv("QREC_WITNESSES", f"{witness_vkey} {witness.url}")
        capsys.readouterr()
        assert cli.main(["audit", "catch-up"]) == 0
        assert "witness cert.example/w: cosigned at tree size 13" in capsys.readouterr().out
        assert cli.main(["audit", "verify", "--witnesses", "1"]) == 0
        assert "cosigned: the checkpoint at tree size 13 by cert.example/w" in \
            capsys.readouterr().out
        pack_path = tmp_path / "g2.json"
        assert cli.main(["audit", "export", str(instrument_id("G-0002")), "-o",
                         str(pack_path)]) == 0
        capsys.readouterr()
        assert cli.main(["audit", "verify-pack", str(pack_path), "--witness-key",
                         witness_vkey]) == 0
        assert "cosigned by 1 trusted witnesses (cert.example/w)" in capsys.readouterr().out
        assert cli.main(["audit", "verify-pack", str(pack_path), "--witness-key",
                         witness_vkey, "--witnesses", "2"]) == 1
    finally:
        witness.stop()
    assert cli.main(["witness", "status", "--dir", str(body)]) == 0
    assert "cosigned up to size 13" in capsys.readouterr().out
