"""`qrec trace` and `qrec sampling` as a user runs them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from domain.genealogy import Component
from domain.reports import GenealogyReport
from services.composition import build_records
from services.settings import Settings
from tests.conftest import ManualClock
from tests.e2e.cli import qrec

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def test_a_user_traces_a_lot_forward_and_backward_through_its_genealogy(tmp_path: Path) -> None:
    data_dir = tmp_path / "plant"
    app = build_records(Settings(data_dir=data_dir), clock=ManualClock())
    for n, (lot, parts) in enumerate([
            ("RAW-1", ()), ("RAW-2", ()), ("SUB-1", (("RAW-1", 40), ("RAW-2", 60))),
            ("ASSY-1", (("SUB-1", 10),)), ("ASSY-2", (("SUB-1", 5), ("RAW-2", 2)))]):
        app.record_genealogy(GenealogyReport(f"G-{n}", lot, "P-7", 100, "pcs",
                                             tuple(Component(c, q) for c, q in parts), T0))
    app.close()

    forward = qrec("trace", "lot:RAW-2", "--forward", data_dir=data_dir)
    assert forward.returncode == 0, forward.stderr
    assert forward.stdout.splitlines() == [
        "RAW-2 [100 pcs]: 3 lots downstream, 2 levels deep, 4 links",
        "  1 ASSY-2 [100 pcs] (2 of RAW-2)",
        "  1 SUB-1 [100 pcs] (60 of RAW-2)",
        "    2 ASSY-1 [100 pcs] (10 of SUB-1)",
        "    2 ASSY-2 [100 pcs] (5 of SUB-1) (listed above)"]
    assert "genealogy view caught up" in forward.stderr

    backward = qrec("trace", "ASSY-2", "--backward", data_dir=data_dir)
    assert backward.returncode == 0, backward.stderr
    assert backward.stdout.splitlines()[0] == \
        "ASSY-2 [100 pcs]: 3 lots upstream, 2 levels deep, 4 links"
    assert "    2 RAW-1 [100 pcs] (40 into SUB-1)" in backward.stdout.splitlines()

    unknown = qrec("trace", "lot:NOPE", data_dir=data_dir)
    assert unknown.returncode == 2 and "no lot NOPE" in unknown.stderr


def test_a_user_reads_the_switching_state_and_a_decision_on_an_unknown_one_is_refused(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "plant"
    build_records(Settings(data_dir=data_dir)).close()
    status = qrec("sampling", "status", data_dir=data_dir)
    assert status.returncode == 0, status.stderr
    assert "acceptance view at position 0" in status.stdout
    refused = qrec("sampling", "approve-reduced", "IP-100", "P-7", "L1", "--actor", "qe-anna",
                   "--reason", "capability shown", data_dir=data_dir)
    assert refused.returncode == 2
    assert "no inspection switching record IP-100/P-7/L1" in refused.stderr
