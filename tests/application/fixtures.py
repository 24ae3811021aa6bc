"""Master data and reports the application tests share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.application import QualityRecords
from domain.inspection import Characteristic, Measurement, PlanRevision
from domain.process import ControlPlanRevision, Operation, ProcessParameter
from domain.records import Provenance
from domain.reports import CalibrationReport, InspectionReport, ReadingReport

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
QE = Provenance(actor="qe-anna")

BORE = Characteristic("bore_dia", 12.0, 11.99, 12.01, "mm", "bore gauge")
IP_100_A = PlanRevision("A", "P-7", "in_process", 5, (BORE,))
CURE = Operation("cure", (ProcessParameter("temperature", "degC", 180, 175, 185,
                                            "hold lot, notify quality engineer"),))
CP_7_A = ControlPlanRevision("A", "P-7", (CURE,))


def set_up_plant(app: QualityRecords) -> None:
    for tag in ("G-0042", "G-0043"):
        app.register_instrument(tag, "bore gauge", "mm", (10, 15), 0.001, 0.002, 180,
                                "Line 1", QE)
        app.record_calibration(calibration(tag, f"LAB-{tag}-1", T0 - timedelta(days=30)))
    app.define_inspection_plan("IP-100", IP_100_A, QE)
    app.define_control_plan("CP-7", CP_7_A, QE)


def calibration(tag: str, message_id: str, at: datetime, result: str = "pass",
                as_left: float = 12.0005) -> CalibrationReport:
    from domain.calibration import ReferenceStandard, TestPoint

    return CalibrationReport(
        message_id=message_id, instrument=tag, performed_at=at, performed_by="tech-3",
        certificate=f"C-{message_id}", standard=ReferenceStandard("REF-7", "NMI-2026-77"),
        uncertainty=0.0005, points=(TestPoint(12.0, 12.004 if result == "fail" else 12.0001,
                                              as_left, "mm"),), result=result)


def inspection(n: int, lot: str = "LOT-0001", value: float = 12.003, unit: str = "mm",
               gauge: str | None = "G-0042", line: str = "L1", plan: str = "IP-100",
               at: datetime = T0) -> InspectionReport:
    return InspectionReport(
        message_id=f"{line}-{n:06d}", line=line, station="CMM-2", lot=lot, stage="in_process",
        plan=plan, inspector="op-17", occurred_at=at,
        results=(Measurement("bore_dia", value, unit, gauge),))


def reading(n: int, value: float, lot: str = "LOT-0001", parameter: str = "temperature",
            unit: str = "degC") -> ReadingReport:
    return ReadingReport(message_id=f"L1-P-{n:06d}", line="L1", station="OVEN-1", lot=lot,
                         operation="cure", parameter=parameter, value=value, unit=unit,
                         occurred_at=T0)
