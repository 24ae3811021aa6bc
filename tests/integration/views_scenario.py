"""A small plant whose records touch every view: gauges calibrated, quarantined and
retired; line inspections (some rejected); an inspection by hand with a result corrected
and one marked suspect; lots held, released and shipped; a nonconformance and a corrective
action carried to closure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.application import QualityRecords
from domain.calibration import ReferenceStandard, TestPoint
from domain.corrective_action import PlannedAction
from domain.inspection import Characteristic, Inspection, Measurement, PlanRevision
from domain.records import Provenance, record_id
from domain.reports import CalibrationReport, InspectionReport, LotMovementReport

T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
QE = Provenance("qe-anna", reason="scenario")


def master_data(app: QualityRecords) -> None:
    for tag in ("G-1", "G-2", "G-3"):
        app.register_instrument(tag, "bore gauge", "mm", (10, 15), 0.001, 0.002, 180,
                                "Line 1", QE)
    app.define_inspection_plan("IP-1", PlanRevision("A", "P-7", "in_process", 1, (
        Characteristic("bore", 12.0, 11.99, 12.01, "mm", "bore gauge"),)), QE)
    app.define_inspection_plan("IP-F", PlanRevision("A", "P-7", "final", 1, (
        Characteristic("bore", 12.0, 11.99, 12.01, "mm", "bore gauge"),)), QE)


def calibrate(app: QualityRecords, tag: str, n: int, result: str = "pass",
              as_left: float = 12.0) -> None:
    app.record_calibration(CalibrationReport(
        f"LAB-{tag}-{n}", tag, T0 + timedelta(days=n), "tech-3", f"C-{tag}-{n}",
        ReferenceStandard("REF-7", "NMI-1"), 0.0005,
        (TestPoint(12.0, 12.0, as_left, "mm"),), result))


def line_inspections(app: QualityRecords, first: int, count: int, lots: int = 5) -> None:
    reports = [InspectionReport(
        f"L1-{i:06d}", "L1", "CMM-1", f"LOT-{i % lots:03d}", "in_process", "IP-1", "op-17",
        T0 + timedelta(minutes=i), (
            Measurement("bore", 12.0 + (0.02 if i % 7 == 0 else 0.001), "mm", "G-1"),
            Measurement("bore", 12.002, "mm", "G-2" if i % 2 else None)))
        for i in range(first, first + count)]
    for k in range(0, len(reports), 200):
        app.record_inspections(reports[k:k + 200])


def build_plant(app: QualityRecords, inspections: int = 60) -> None:
    master_data(app)
    calibrate(app, "G-1", 1)
    calibrate(app, "G-2", 1)
    calibrate(app, "G-3", 1, "fail", as_left=12.01)  # as left out of tolerance: quarantined
    app.release_instrument("G-3", Provenance("qe-anna", reason="re-verified"))
    app.retire_instrument("G-3", Provenance("qe-anna", reason="worn"))
    line_inspections(app, 0, inspections)
    # An inspection by hand: results, a correction, closed, a result marked suspect.
    app.open_inspection("F-1", "LOT-000", "final", "IP-F", "qe-bob", QE)
    app.record_results("F-1", (Measurement("bore", 12.03, "mm", "G-1"),
                               Measurement("bore", 12.0, "mm", "G-2")), QE)
    app.correct_result(record_id("inspection", "F-1"), 0, 12.004,
                       Provenance("qe-bob", reason="transcription error"))
    app.close_inspection("F-1", QE)
    app.change(Inspection, record_id("inspection", "F-1"), "F-1",
               lambda i: i.mark_suspect((1,), "G-2", Provenance("qe-anna", reason="gauge drift"),
                                        app.clock()))
    # A nonconformance on LOT-001 and its corrective action.
    app.raise_nonconformance("NC-1", "inspection", "bore oversize", ("LOT-001",), QE)
    app.record_containment("NC-1", "100% sort", QE)
    app.disposition("NC-1", "rework", "qe-lead", QE)
    app.close_nonconformance("NC-1", QE)
    app.release_lot("LOT-001", QE)
    app.raise_nonconformance("NC-2", "inspection", "burr", ("LOT-002",), QE)
    app.open_corrective_action("CA-1", "NC-1", "oversize bores", QE)
    app.update_corrective_action("CA-1", lambda ca, now: ca.record_root_cause(
        "worn tool", "5 why", QE, now))
    app.update_corrective_action("CA-1", lambda ca, now: ca.plan_action(
        PlannedAction("tool life limit", "eng-1", T0 + timedelta(days=7)), QE, now))
    app.update_corrective_action("CA-1", lambda ca, now: ca.complete_action(
        0, "limit set", QE, now))
    app.update_corrective_action("CA-1", lambda ca, now: ca.check_effectiveness(
        True, "no oversize in 30 days", QE, now))
    app.update_corrective_action("CA-1", lambda ca, now: ca.close(QE, now))
    app.open_corrective_action("CA-2", None, "slow changeovers", QE)
    app.record_lot_movement(LotMovementReport("ERP-1", "LOT-001", "shipped", "ACME",
                                              T0 + timedelta(days=2)))
