"""An audit of one lot's life, replayed event by event. Runs in memory here and on SQLite
and PostgreSQL in tests/integration (subclasses of LotAuditScenario)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from domain.application import QualityRecords
from domain.inspection import Inspection, Measurement
from domain.lot import Lot
from domain.nonconformance import Nonconformance
from domain.records import Provenance
from tests.application.fixtures import T0, inspection, reading, set_up_plant
from tests.conftest import ManualClock


class LotAuditScenario:
    @pytest.fixture
    def app(self, clock: ManualClock) -> QualityRecords:
        raise NotImplementedError

    def test_a_lot_that_fails_inspection_is_held_dispositioned_reinspected_and_released(
            self, app: QualityRecords, clock: ManualClock) -> None:
        set_up_plant(app)
        # The lot is opened by the first message that names it: the oven's first reading.
        app.record_readings([reading(1, 180.4, lot="LOT-7731")])
        app.start_operation("LOT-7731", "cure", "OVEN-1", Provenance("op-5"))
        app.complete_operation("LOT-7731", "cure", Provenance("op-5"))
        # In-process inspection on line 1: the third part's bore is oversize.
        outcomes = app.record_inspections([
            inspection(n, lot="LOT-7731", value=v, at=T0 + timedelta(minutes=n))
            for n, v in ((1, 12.001), (2, 11.998), (3, 12.013))])
        failed = app.repository.get(outcomes[2].record_id)
        assert isinstance(failed, Inspection) and failed.verdict == "reject"
        # The quality engineer raises a nonconformance: the lot goes on hold with it.
        qe = Provenance("qe-anna", reason="bore_dia 12.013 above USL 12.01",
                        signature_meaning="responsibility")
        app.raise_nonconformance("NC-0042", "inspection", "bore diameter above USL",
                                 ("LOT-7731",), qe, characteristic="bore_dia",
                                 evidence=(str(failed.id),))
        app.record_containment("NC-0042", "lot moved to quarantine cage Q2", qe)
        # The review board dispositions it for rework, with an approver and a reason.
        app.disposition("NC-0042", "rework", "mrb-chair",
                        Provenance("mrb-chair", reason="hone bores to size",
                                   signature_meaning="approval"))
        # Re-inspection after rework, by hand, against the plan revision in force.
        app.open_inspection("RI-0042", "LOT-7731", "in_process", "IP-100", "op-12",
                            Provenance("op-12"))
        app.record_results("RI-0042", (Measurement("bore_dia", 12.004, "mm", "G-0043"),),
                           Provenance("op-12", occurred_at=T0 + timedelta(hours=3)))
        assert app.close_inspection("RI-0042", Provenance("op-12")).verdict == "accept"
        # Closing the nonconformance frees the lot; the release needs its own reason.
        app.close_nonconformance("NC-0042", Provenance("qe-anna", reason="rework verified"))
        released_at = clock.advance(minutes=1)
        app.release_lot("LOT-7731", Provenance("qe-anna", reason="re-inspection accepted",
                                                signature_meaning="approval"))

        # The auditor replays the lot's history, event by event.
        lot = app.lot("LOT-7731")
        history = app.history(lot.id)
        assert [type(e).__name__ for e in history] == [
            "Opened", "OperationStarted", "OperationCompleted", "NonconformanceLinked",
            "Held", "NonconformanceResolved", "Released"]
        opened, started, completed, linked, held, resolved, released = history
        assert opened.provenance.source == "line:L1"
        assert opened.provenance.source_message_id == "L1-P-000001"
        assert opened.product == "P-7"
        assert (started.operation, started.station, started.provenance.actor) == (
            "cure", "OVEN-1", "op-5")
        nc = app.nonconformance("NC-0042")
        assert linked.nonconformance == nc.id == resolved.nonconformance
        assert held.provenance.reason == "bore_dia 12.013 above USL 12.01"
        assert released.provenance.reason == "re-inspection accepted"
        assert released.provenance.signature_meaning == "approval"
        assert [e.originator_version for e in history] == list(range(1, 8))
        assert all(a.timestamp < b.timestamp for a, b in itertools.pairwise(history))
        # Replaying the events gives the state qrec holds now...
        replayed = None
        for event in history:
            replayed = event.mutate(replayed)
        assert isinstance(replayed, Lot)
        assert (replayed.on_hold, replayed.operations, replayed.open_nonconformances) == (
            False, {"cure": "completed"}, set())
        # ...and the state just before the release was: on hold.
        before = app.as_recorded_at(lot.id, released_at - timedelta(microseconds=1))
        assert isinstance(before, Lot) and before.on_hold
        # The nonconformance tells the same story from its side.
        nc_history = app.history(nc.id)
        assert [type(e).__name__ for e in nc_history] == [
            "Raised", "ContainmentRecorded", "Dispositioned", "Closed"]
        assert nc_history[2].disposition == "rework" and nc_history[2].approver == "mrb-chair"
        assert isinstance(nc, Nonconformance) and nc.status == "closed"
        # The original failing measurement is still there, unchanged.
        assert app.history(failed.id)[0].results[0].value == 12.013


class TestLotAuditInMemory(LotAuditScenario):
    @pytest.fixture
    def app(self, clock: ManualClock) -> QualityRecords:
        return QualityRecords(clock=clock)
