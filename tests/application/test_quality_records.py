"""QualityRecords' use cases, in memory. tests/integration re-runs the same cases on SQLite
and PostgreSQL by subclassing QualityRecordsContract."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.application import QualityRecords
from domain.calibration import Instrument
from domain.inspection import Inspection, InspectionClosed, Measurement
from domain.lot import LotHasOpenNonconformance
from domain.process import ParameterReading
from domain.records import Provenance, ReasonRequired, RecordExists, RecordNotFound, WrongUnit
from tests.application.fixtures import (
    QE,
    T0,
    calibration,
    inspection,
    reading,
    set_up_plant,
)
from tests.conftest import ManualClock


class QualityRecordsContract:
    """The cases every store must pass; subclasses provide the `app` fixture."""

    @pytest.fixture
    def app(self, clock: ManualClock) -> QualityRecords:
        raise NotImplementedError

    @pytest.fixture
    def plant(self, app: QualityRecords) -> QualityRecords:
        set_up_plant(app)
        return app

    def events_in_store(self, app: QualityRecords) -> int:
        # a count, not the last id: PostgreSQL's sequence skips ids of rolled-back inserts
        return len(app.recorder.select_notifications(start=None, limit=1_000_000))

    def test_a_batch_of_line_reports_is_recorded_and_opens_the_lots_it_names(
            self, plant: QualityRecords) -> None:
        outcomes = plant.record_inspections(
            [inspection(i, lot=f"LOT-{i % 3}", value=12.0 + i / 1000) for i in range(20)])
        assert [o.status for o in outcomes] == ["recorded"] * 20
        assert {plant.lot(f"LOT-{k}").product for k in range(3)} == {"P-7"}
        judged = plant.repository.get(outcomes[15].record_id)
        assert isinstance(judged, Inspection)
        assert judged.results[0].value == pytest.approx(12.015)
        assert judged.results[0].conforming is False and judged.verdict == "reject"
        assert judged.results[0].gauge_condition == "ok"

    def test_a_message_sent_twice_is_one_record(self, plant: QualityRecords) -> None:
        first = plant.record_inspections([inspection(1), inspection(2)])
        before = self.events_in_store(plant)
        again = plant.record_inspections([inspection(2), inspection(3), inspection(3)])
        assert [o.status for o in again] == ["duplicate", "recorded", "duplicate"]
        assert again[0].record_id == first[1].record_id
        assert self.events_in_store(plant) == before + 1

    def test_the_same_message_id_from_another_line_is_another_record(
            self, plant: QualityRecords) -> None:
        a, b = plant.record_inspections([inspection(1, line="L1"), inspection(1, line="L2")])
        assert a.status == b.status == "recorded" and a.record_id != b.record_id

    def test_a_bad_message_is_rejected_with_its_reason_and_the_rest_of_the_batch_commits(
            self, plant: QualityRecords) -> None:
        before = self.events_in_store(plant)
        outcomes = plant.record_inspections([
            inspection(1), inspection(2, unit="in"), inspection(3, plan="IP-999"),
            inspection(4, lot="LOT-NEW", value=float("nan")), inspection(5)])
        assert [o.status for o in outcomes] == [
            "recorded", "rejected", "rejected", "rejected", "recorded"]
        assert isinstance(outcomes[1].error, WrongUnit)
        assert "mm" in str(outcomes[1].reason) and "'in'" in str(outcomes[1].reason)
        assert isinstance(outcomes[2].error, RecordNotFound)
        assert "IP-999" in str(outcomes[2].reason)
        assert "not a number" in str(outcomes[3].reason)
        # nothing of the rejected messages was written, not even the lot one of them named
        assert self.events_in_store(plant) == before + 3  # two inspections and LOT-0001
        with pytest.raises(RecordNotFound):
            plant.lot("LOT-NEW")

    def test_results_measured_with_an_unknown_or_overdue_gauge_are_recorded_and_marked(
            self, plant: QualityRecords) -> None:
        late = T0 + timedelta(days=200)
        unknown, overdue = plant.record_inspections(
            [inspection(1, gauge="G-9999"), inspection(2, at=late)])
        assert plant.repository.get(unknown.record_id).results[0].gauge_condition == "unknown"
        assert plant.repository.get(overdue.record_id).results[0].gauge_condition == "overdue"

    def test_results_measured_with_a_quarantined_gauge_are_marked(
            self, plant: QualityRecords) -> None:
        plant.quarantine_instrument("G-0042", Provenance("qe-anna", reason="dropped"))
        (o,) = plant.record_inspections([inspection(1)])
        assert plant.repository.get(o.record_id).results[0].gauge_condition == "quarantined"

    def test_process_readings_are_judged_against_the_control_plan(
            self, plant: QualityRecords) -> None:
        ok, hot, unknown, wrong_unit = plant.record_readings([
            reading(1, 181.5), reading(2, 186.0), reading(3, 2.0, parameter="pressure"),
            reading(4, 356.0, unit="degF")])
        hot_reading = plant.repository.get(hot.record_id)
        assert isinstance(hot_reading, ParameterReading)
        assert plant.repository.get(ok.record_id).within_limits
        assert not hot_reading.within_limits
        assert unknown.status == wrong_unit.status == "rejected"
        assert "pressure" in str(unknown.reason) and "degC" in str(wrong_unit.reason)

    def test_a_failed_calibration_left_out_of_tolerance_quarantines_the_gauge(
            self, plant: QualityRecords) -> None:
        outcome = plant.record_calibration(
            calibration("G-0042", "LAB-2", T0, result="fail", as_left=12.004))
        assert outcome.status == "recorded"
        gauge = plant.instrument("G-0042")
        assert gauge.status == "quarantined" and gauge.last_result == "fail"
        assert plant.record_calibration(
            calibration("G-0042", "LAB-2", T0, result="fail")).status == "duplicate"

    def test_a_calibration_of_an_unknown_instrument_is_refused(
            self, plant: QualityRecords) -> None:
        with pytest.raises(RecordNotFound, match="G-7777"):
            plant.record_calibration(calibration("G-7777", "LAB-9", T0))

    def test_registering_an_instrument_twice_is_refused(self, plant: QualityRecords) -> None:
        with pytest.raises(RecordExists, match="G-0042"):
            plant.register_instrument("G-0042", "bore gauge", "mm", (10, 15), 0.001, 0.002,
                                      180, "Line 1", QE)

    def test_a_nonconformance_holds_its_lots_in_the_same_transaction(
            self, plant: QualityRecords) -> None:
        plant.record_inspections([inspection(1, value=12.05)])
        plant.raise_nonconformance("NC-1", "inspection", "bore oversize", ("LOT-0001",),
                                   Provenance("qe-anna", reason="bore oversize"))
        lot = plant.lot("LOT-0001")
        assert lot.on_hold and plant.nonconformance("NC-1").id in lot.open_nonconformances
        with pytest.raises(LotHasOpenNonconformance):
            plant.release_lot("LOT-0001", Provenance("qe-anna", reason="looks fine"))

    def test_a_nonconformance_naming_an_unknown_lot_writes_nothing(
            self, plant: QualityRecords) -> None:
        before = self.events_in_store(plant)
        with pytest.raises(RecordNotFound, match="LOT-404"):
            plant.raise_nonconformance("NC-2", "audit", "label missing", ("LOT-404",),
                                       Provenance("qe-anna", reason="audit finding"))
        assert self.events_in_store(plant) == before
        with pytest.raises(RecordNotFound):
            plant.nonconformance("NC-2")

    def test_a_hold_without_a_reason_is_refused(self, plant: QualityRecords) -> None:
        plant.record_inspections([inspection(1)])
        with pytest.raises(ReasonRequired):
            plant.hold_lot("LOT-0001", Provenance("qe-anna"))

    def test_a_closed_inspection_takes_no_more_results_but_can_be_corrected_with_a_reason(
            self, plant: QualityRecords) -> None:
        plant.open_inspection("FI-1", "LOT-0009", "in_process", "IP-100", "op-3", QE)
        plant.record_results("FI-1", (Measurement("bore_dia", 12.02, "mm", "G-0042"),), QE)
        assert plant.close_inspection("FI-1", QE).verdict == "reject"
        with pytest.raises(InspectionClosed):
            plant.record_results("FI-1", (Measurement("bore_dia", 12.0, "mm", "G-0042"),), QE)
        inspection_id = plant.inspection("FI-1").id
        with pytest.raises(ReasonRequired):
            plant.correct_result(inspection_id, 0, 12.002, QE)
        corrected = plant.correct_result(inspection_id, 0, 12.002,
                                         Provenance("qe-anna", reason="transcription error"))
        assert corrected.verdict == "accept" and corrected.results[0].value == 12.002
        history = plant.history(inspection_id)
        assert history[1].results[0].value == 12.02  # the original stays in the history

    def test_a_command_that_meets_a_concurrent_change_is_retried_on_fresh_state(
            self, plant: QualityRecords) -> None:
        plant.record_inspections([inspection(1)])
        interfered: list[bool] = []

        def start_cure_while_someone_holds_the_lot(lot: object) -> None:
            if not interfered:
                interfered.append(True)
                plant.start_operation("LOT-0001", "deburr", "DB-1", QE)
            lot.start_operation("cure", "OVEN-1", QE, plant.clock())  # type: ignore[attr-defined]

        from domain.lot import Lot, lot_id
        lot = plant.change(Lot, lot_id("LOT-0001"), "LOT-0001",
                           start_cure_while_someone_holds_the_lot)
        assert lot.operations == {"deburr": "started", "cure": "started"}
        assert plant.lot("LOT-0001").version == 3

    def test_a_long_record_reads_back_the_same_through_its_snapshots(
            self, plant: QualityRecords) -> None:
        for k in range(60):
            plant.quarantine_instrument("G-0043", Provenance("qe", reason=f"check {k}"))
            plant.release_instrument("G-0043", Provenance("qe", reason=f"ok {k}"))
        gauge = plant.instrument("G-0043")
        replayed = None
        for event in plant.history(gauge.id):
            replayed = event.mutate(replayed)
        assert isinstance(replayed, Instrument)
        assert gauge.version == replayed.version == 122
        assert gauge.next_due == replayed.next_due and gauge.range == replayed.range
        assert gauge.calibration_messages == replayed.calibration_messages

    def test_a_record_can_be_read_as_it_was_recorded_at_a_time(
            self, plant: QualityRecords, clock: ManualClock) -> None:
        plant.record_inspections([inspection(1)])
        before_hold = clock.advance(minutes=5)
        plant.hold_lot("LOT-0001", Provenance("qe-anna", reason="suspect gauge"))
        lot_id = plant.lot("LOT-0001").id
        then = plant.as_recorded_at(lot_id, before_hold)
        assert then is not None and then.on_hold is False  # type: ignore[attr-defined]
        assert plant.lot("LOT-0001").on_hold is True
        assert plant.as_recorded_at(lot_id, before_hold - timedelta(days=1)) is None


class TestInMemory(QualityRecordsContract):
    @pytest.fixture
    def app(self, clock: ManualClock) -> QualityRecords:
        return QualityRecords(clock=clock)
