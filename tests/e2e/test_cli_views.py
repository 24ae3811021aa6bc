"""`qrec rebuild`, `qrec views status` and `qrec history --as-of` as a user runs them."""

from __future__ import annotations

from pathlib import Path

from services.composition import build_records
from services.settings import Settings
from tests.conftest import ManualClock
from tests.e2e.cli import qrec
from tests.integration.views_scenario import build_plant


def test_a_user_rebuilds_the_views_sees_their_status_and_reads_a_lot_as_of_a_date(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "plant"
    app = build_records(Settings(data_dir=data_dir), clock=ManualClock())
    build_plant(app, inspections=30)
    head = app.recorder.max_notification_id()
    del app

    rebuilt = qrec("rebuild", data_dir=data_dir)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "100.0%" in rebuilt.stderr and f"from {head} events" in rebuilt.stdout

    status = qrec("views", "status", data_dir=data_dir)
    assert status.returncode == 0, status.stderr
    assert f"log head: {head}" in status.stdout
    assert all(f"{name:<20} {head:>10}        0" in status.stdout
               for name in ("instruments", "lots", "history"))

    history = qrec("history", "lot:LOT-001", data_dir=data_dir)
    assert history.returncode == 0, history.stderr
    assert "released from hold" in history.stdout and "shipped (ACME)" in history.stdout
    before = qrec("history", "lot:LOT-001", "--as-of", "2026-11-25", data_dir=data_dir)
    assert "(no such record yet)" in before.stdout

    unknown = qrec("rebuild", "nope", data_dir=data_dir)
    assert unknown.returncode == 2 and "qrec: no view 'nope'" in unknown.stderr
