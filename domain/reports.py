"""What lines, labs and the ERP report, as commands to the write model (already parsed
from their messages), and what became of each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.calibration import ReferenceStandard, TestPoint
from domain.inspection import Measurement
from domain.records import Provenance, QualityError


@dataclass(frozen=True)
class InspectionReport:
    message_id: str
    line: str
    station: str
    lot: str
    stage: str
    plan: str
    inspector: str
    occurred_at: datetime
    results: tuple[Measurement, ...]
    part: str | None = None

    def provenance(self) -> Provenance:
        return Provenance(actor=self.inspector, occurred_at=self.occurred_at,
                          source=f"line:{self.line}", source_message_id=self.message_id,
                          correlation_id=f"{self.line}/{self.message_id}")


@dataclass(frozen=True)
class ReadingReport:
    message_id: str
    line: str
    station: str
    lot: str
    operation: str
    parameter: str
    value: float
    unit: str
    occurred_at: datetime

    def provenance(self) -> Provenance:
        return Provenance(actor=self.station, occurred_at=self.occurred_at,
                          source=f"line:{self.line}", source_message_id=self.message_id,
                          correlation_id=f"{self.line}/{self.message_id}")


@dataclass(frozen=True)
class CalibrationReport:
    message_id: str
    instrument: str
    performed_at: datetime
    performed_by: str
    certificate: str
    standard: ReferenceStandard | None
    uncertainty: float | None
    points: tuple[TestPoint, ...]
    result: str
    source: str = "lab"

    def provenance(self) -> Provenance:
        return Provenance(actor=self.performed_by, occurred_at=self.performed_at,
                          source=self.source, source_message_id=self.message_id,
                          correlation_id=f"{self.source}/{self.message_id}")


@dataclass(frozen=True)
class LotMovementReport:
    message_id: str
    lot: str
    movement: str
    customer: str | None
    occurred_at: datetime
    source: str = "erp"

    def provenance(self) -> Provenance:
        return Provenance(actor=self.source, occurred_at=self.occurred_at, source=self.source,
                          source_message_id=self.message_id,
                          correlation_id=f"{self.source}/{self.message_id}")


@dataclass(frozen=True)
class Outcome:
    """recorded, duplicate (already recorded: nothing new) or rejected (with the error)."""

    status: str
    record_id: UUID | None = None
    error: QualityError | None = None

    @property
    def reason(self) -> str | None:
        return None if self.error is None else f"{type(self.error).__name__}: {self.error}"
