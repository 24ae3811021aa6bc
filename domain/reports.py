"""What lines, labs and the ERP report, as commands to the write model (already parsed
from their messages), and what became of each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.calibration import ReferenceStandard, TestPoint
from domain.genealogy import Component
from domain.inspection import Measurement
from domain.records import Provenance, QualityError


def from_source(actor: str, occurred_at: datetime, source: str,
                message_id: str) -> Provenance:
    """The provenance of a message: its source and id also correlate what follows from it."""
    return Provenance(actor=actor, occurred_at=occurred_at, source=source,
                      source_message_id=message_id, correlation_id=f"{source}/{message_id}")


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
        return from_source(self.inspector, self.occurred_at, f"line:{self.line}",
                           self.message_id)


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
        return from_source(self.station, self.occurred_at, f"line:{self.line}",
                           self.message_id)


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
        return from_source(self.performed_by, self.performed_at, self.source, self.message_id)


@dataclass(frozen=True)
class LotMovementReport:
    message_id: str
    lot: str
    movement: str
    customer: str | None
    occurred_at: datetime
    source: str = "erp"

    def provenance(self) -> Provenance:
        return from_source(self.source, self.occurred_at, self.source, self.message_id)


@dataclass(frozen=True)
class GenealogyReport:
    """A lot made (or received) with its quantity, and the component lots it consumed."""

    message_id: str
    lot: str
    product: str | None
    quantity: float
    unit: str
    consumed: tuple[Component, ...]
    occurred_at: datetime
    supplier: str | None = None
    source: str = "erp"

    def provenance(self) -> Provenance:
        return from_source(self.source, self.occurred_at, self.source, self.message_id)


@dataclass(frozen=True)
class Outcome:
    """recorded, duplicate (already recorded: nothing new) or rejected (with the error)."""

    status: str
    record_id: UUID | None = None
    error: QualityError | None = None

    @property
    def reason(self) -> str | None:
        return None if self.error is None else f"{type(self.error).__name__}: {self.error}"
