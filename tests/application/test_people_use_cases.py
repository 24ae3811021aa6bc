"""The use cases people reach through the HTTP API (and the CLI): access records, commands
that refuse a stale version, hand-entered calibrations and lot movements, a gauge's reverse
trace. tests/integration re-runs them on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.access import RoleNotHeld
from domain.application import QualityRecords
from domain.calibration import TestPoint as Point
from domain.records import Provenance, RecordExists, VersionConflict
from domain.reports import CalibrationReport, LotMovementReport
from tests.application.fixtures import QE, T0, calibration, inspection, set_up_plant
from tests.conftest import ManualClock

ROOT = Provenance(actor="root", reason="new starter")


class PeopleUseCasesContract:
    @pytest.fixture
    def app(self, clock: ManualClock) -> QualityRecords:
        raise NotImplementedError

    @pytest.fixture
    def plant(self, app: QualityRecords) -> QualityRecords:
        set_up_plant(app)
        app.record_inspections([inspection(1)])
        return app

    def test_a_command_at_the_version_the_caller_saw_is_recorded(
            self, plant: QualityRecords) -> None:
        seen = plant.lot("LOT-0001").version
        lot = plant.hold_lot("LOT-0001", Provenance("qe-anna", reason="suspect"),
                             expected_version=seen)
        assert lot.on_hold and lot.version == seen + 1

    def test_a_command_on_a_version_changed_since_is_refused_and_records_nothing(
            self, plant: QualityRecords) -> None:
        seen = plant.lot("LOT-0001").version
        plant.start_operation("LOT-0001", "cure", "OVEN-1", QE)
        with pytest.raises(VersionConflict, match=f"at version {seen + 1}, not {seen}"):
            plant.hold_lot("LOT-0001", Provenance("qe-anna", reason="suspect"),
                           expected_version=seen)
        assert plant.lot("LOT-0001").on_hold is False

    def test_a_concurrent_write_under_an_expected_version_is_a_conflict_not_a_retry(
            self, plant: QualityRecords) -> None:
        from domain.lot import Lot, lot_id

        seen = plant.lot("LOT-0001").version

        def hold_while_someone_starts_an_operation(lot: Lot) -> None:
            if lot.version == seen:
                plant.start_operation("LOT-0001", "deburr", "DB-1", QE)
            lot.hold(Provenance("qe-anna", reason="suspect"), plant.clock())

        with pytest.raises(VersionConflict):
            plant.change(Lot, lot_id("LOT-0001"), "LOT-0001",
                         hold_while_someone_starts_an_operation, expected_version=seen)
        assert plant.lot("LOT-0001").on_hold is False

    def test_who_holds_which_role_is_a_record_with_its_history(
            self, app: QualityRecords, clock: ManualClock) -> None:
        app.enroll("anna", "Anna Berg", "user", ROOT)
        assert app.roles_of("anna") == frozenset()
        assert app.grant_role("anna", "operator", ROOT) is True
        as_operator = clock.advance(hours=1)
        app.grant_role("anna", "quality_engineer", Provenance("root", reason="promoted"))
        app.revoke_role("anna", "operator", Provenance("root", reason="promoted"))

        assert app.roles_of("anna") == {"quality_engineer"}
        assert app.roles_of("anna", at=as_operator) == {"operator"}
        assert app.roles_of("anna", at=T0 - timedelta(days=400)) == frozenset()
        assert app.grant_role("anna", "quality_engineer", ROOT) is False
        with pytest.raises(RoleNotHeld):
            app.revoke_role("anna", "auditor", ROOT)
        reasons = [e.provenance.reason for e in app.history(app.access("anna").id)]
        assert reasons == ["new starter", "new starter", "promoted", "promoted"]

    def test_a_principal_is_enrolled_once(self, app: QualityRecords) -> None:
        app.enroll("anna", "Anna Berg", "user", ROOT)
        with pytest.raises(RecordExists, match="access anna"):
            app.enroll("anna", "Anna Other", "user", ROOT)

    def test_a_principal_never_enrolled_holds_no_role(self, app: QualityRecords) -> None:
        assert app.roles_of("nobody") == frozenset()
        assert app.roles_of("nobody", at=T0) == frozenset()

    def test_a_lot_added_to_a_nonconformance_is_linked_and_held_with_it(
            self, plant: QualityRecords) -> None:
        plant.record_inspections([inspection(2, lot="LOT-0002")])
        why = Provenance("qe-anna", reason="same batch of castings")
        plant.raise_nonconformance("NC-1", "inspection", "porosity", ("LOT-0001",), why)
        nc = plant.add_lot_to_nonconformance("NC-1", "LOT-0002", why)
        plant.add_evidence("NC-1", ("photo-1.jpg",), why)
        plant.add_evidence("NC-1", ("photo-1.jpg", "xray-7.pdf"), why)

        assert nc.lots == ["LOT-0001", "LOT-0002"]
        lot = plant.lot("LOT-0002")
        assert lot.on_hold and nc.id in lot.open_nonconformances
        assert plant.nonconformance("NC-1").evidence == ["photo-1.jpg", "xray-7.pdf"]

    def test_a_calibration_entered_by_hand_carries_who_entered_it(
            self, plant: QualityRecords) -> None:
        report = CalibrationReport(
            message_id="hand-1", instrument="G-0042", performed_at=T0, performed_by="tech-9",
            certificate="C-900", standard=None, uncertainty=None,
            points=(Point(12.0, 12.0, 12.0, "mm"),), result="pass", source="api")
        plant.record_calibration(report, Provenance("metro-mia", source="api"))
        last = plant.history(plant.instrument("G-0042").id)[-1]
        assert (last.provenance.actor, last.performed_by) == ("metro-mia", "tech-9")

    def test_a_lot_movement_entered_by_hand_carries_who_entered_it(
            self, plant: QualityRecords) -> None:
        report = LotMovementReport("m-1", "LOT-0001", "shipped", "ACME", T0, source="api")
        plant.record_lot_movement(report, Provenance("op-ola", source="api",
                                                     source_message_id="m-1"))
        lot = plant.lot("LOT-0001")
        assert lot.location == "shipped"
        assert plant.history(lot.id)[-1].provenance.actor == "op-ola"

    def test_a_gauges_reverse_trace_names_its_failed_calibrations_and_recent_uses(
            self, plant: QualityRecords) -> None:
        plant.record_calibration(calibration("G-0042", "LAB-9", T0 + timedelta(hours=1),
                                             result="fail", as_left=12.004))
        trace = plant.reverse_trace("G-0042")
        (failure,) = trace.failures
        assert trace.status == "quarantined"
        assert failure.nonconformance == f"NC-CAL-G-0042-{failure.version}"
        assert failure.certificate == "C-LAB-9" and failure.listed is False


class TestInMemory(PeopleUseCasesContract):
    @pytest.fixture
    def app(self, clock: ManualClock) -> QualityRecords:
        return QualityRecords(clock=clock)
