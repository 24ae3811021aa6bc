"""Instruments (gauges) and their calibration records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.records import (
    InvalidValue,
    Provenance,
    QualityError,
    Record,
    WrongUnit,
    record_id,
)

CALIBRATION_RESULTS = ("pass", "fail", "adjusted")


class InstrumentRetired(QualityError):
    def __init__(self, tag: str) -> None:
        super().__init__(f"instrument {tag} is retired")


class InstrumentNotQuarantined(QualityError):
    def __init__(self, tag: str) -> None:
        super().__init__(f"instrument {tag} is not quarantined")


@dataclass(frozen=True)
class TestPoint:
    nominal: float
    as_found: float | None
    as_left: float | None
    unit: str


@dataclass(frozen=True)
class ReferenceStandard:
    tag: str
    certificate: str


def instrument_id(tag: str) -> Any:
    return record_id("instrument", tag)


class Instrument(Record):
    """A gauge or other measuring instrument under calibration control."""

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        tag: str
        kind: str
        unit: str
        range: tuple[float, float]
        resolution: float
        tolerance: float
        interval_days: int
        location: str
        serial_number: str | None
        status: str
        next_due: datetime | None
        last_result: str | None
        last_calibrated: datetime | None
        last_passing_calibration: datetime | None
        calibration_messages: set[str]
        notices: set[str]

    class Registered(Record.Created):
        """v2 added the maker's serial number (ISO 9001 7.1.5.2: identify the instrument);
        gauges registered under v1 read back with none."""

        class_version = 2

        tag: str
        kind: str
        unit: str
        range: tuple[float, float]
        resolution: float
        tolerance: float
        interval_days: int
        location: str
        serial_number: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["serial_number"] = None

        def apply(self, gauge: Instrument) -> None:
            gauge.tag, gauge.kind, gauge.unit = self.tag, self.kind, self.unit
            gauge.serial_number = self.serial_number
            gauge.range, gauge.resolution = self.range, self.resolution
            gauge.tolerance, gauge.interval_days = self.tolerance, self.interval_days
            gauge.location = self.location
            gauge.status, gauge.next_due, gauge.last_result = "in_calibration", None, None
            gauge.last_calibrated, gauge.last_passing_calibration = None, None
            gauge.calibration_messages, gauge.notices = set(), set()

    class CalibrationRecorded(Record.Event):
        performed_at: datetime
        performed_by: str
        certificate: str
        standard: ReferenceStandard | None
        uncertainty: float | None
        points: tuple[TestPoint, ...]
        result: str
        next_due: datetime

        def apply(self, gauge: Instrument) -> None:
            gauge.last_calibrated, gauge.last_result = self.performed_at, self.result
            gauge.next_due = self.next_due
            gauge.status = "in_calibration"
            if self.result != "fail":
                gauge.last_passing_calibration = self.performed_at
            if self.provenance.source_message_id:
                gauge.calibration_messages.add(self.provenance.source_message_id)

    class DueNoticed(Record.Event):
        """A calibration falling due (due_soon) or past due (overdue): once per period."""

        notice: str
        next_due: datetime

        def apply(self, gauge: Instrument) -> None:
            gauge.notices.add(f"{self.notice}@{self.next_due.isoformat()}")

    class Quarantined(Record.Event):
        def apply(self, gauge: Instrument) -> None:
            gauge.status = "quarantined"

    class ReleasedFromQuarantine(Record.Event):
        def apply(self, gauge: Instrument) -> None:
            gauge.status = "in_calibration"

    class Retired(Record.Event):
        def apply(self, gauge: Instrument) -> None:
            gauge.status = "retired"

    @classmethod
    def register(cls, tag: str, kind: str, unit: str, range: tuple[float, float],
                 resolution: float, tolerance: float, interval_days: int, location: str,
                 prov: Provenance, now: datetime,
                 serial_number: str | None = None) -> Instrument:
        low, high = range
        if not tag:
            raise InvalidValue("an instrument needs a tag")
        if low >= high:
            raise InvalidValue(f"instrument {tag}: range {low}..{high} is empty or inverted")
        if resolution <= 0 or tolerance <= 0:
            raise InvalidValue(f"instrument {tag}: resolution and tolerance must be positive")
        if interval_days <= 0:
            raise InvalidValue(f"instrument {tag}: calibration interval must be positive")
        return cls._create(
            cls.Registered, id=instrument_id(tag), provenance=prov, timestamp=now, tag=tag,
            kind=kind, unit=unit, range=(float(low), float(high)), resolution=resolution,
            tolerance=tolerance, interval_days=interval_days, location=location,
            serial_number=serial_number,
        )

    def record_calibration(self, performed_at: datetime, performed_by: str, certificate: str,
                           standard: ReferenceStandard | None, uncertainty: float | None,
                           points: tuple[TestPoint, ...], result: str,
                           prov: Provenance, now: datetime) -> bool:
        """Record a calibration; False if this lab message was already recorded."""
        if prov.source_message_id and prov.source_message_id in self.calibration_messages:
            return False
        self._check_not_retired()
        self._check_calibration(points, result, uncertainty)
        next_due = performed_at + timedelta(days=self.interval_days)
        self.record(self.CalibrationRecorded, prov, now, performed_at=performed_at,
                    performed_by=performed_by, certificate=certificate, standard=standard,
                    uncertainty=uncertainty, points=points, result=result, next_due=next_due)
        if not self.as_left_within_tolerance(points):
            self.record(self.Quarantined, Provenance(
                actor=prov.actor, source=prov.source, reason="as-left out of tolerance",
                correlation_id=prov.correlation_id, causation_id=prov.causation_id,
            ), now)
        return True

    def notice_due(self, at: datetime, due_soon_days: int, prov: Provenance,
                   now: datetime) -> str | None:
        """Record that the calibration is due soon or overdue at ``at``, once per period;
        returns the notice recorded, if any."""
        if self.status == "retired" or self.next_due is None:
            return None
        if at > self.next_due:
            notice = "overdue"
        elif at > self.next_due - timedelta(days=due_soon_days):
            notice = "due_soon"
        else:
            return None
        if f"{notice}@{self.next_due.isoformat()}" in self.notices:
            return None
        self.record(self.DueNoticed, prov, now, notice=notice, next_due=self.next_due)
        return notice

    def quarantine(self, prov: Provenance, now: datetime) -> None:
        prov.requiring_reason(f"quarantine instrument {self.tag}")
        self._check_not_retired()
        self.record(self.Quarantined, prov, now)

    def release(self, prov: Provenance, now: datetime) -> None:
        prov.requiring_reason(f"release instrument {self.tag}")
        if self.status != "quarantined":
            raise InstrumentNotQuarantined(self.tag)
        self.record(self.ReleasedFromQuarantine, prov, now)

    def retire(self, prov: Provenance, now: datetime) -> None:
        prov.requiring_reason(f"retire instrument {self.tag}")
        self._check_not_retired()
        self.record(self.Retired, prov, now)

    def condition_at(self, when: datetime) -> str:
        """How a result measured with this gauge at ``when`` is marked."""
        if self.status != "in_calibration":
            return self.status
        if self.next_due is None or when > self.next_due:  # never calibrated: not fit either
            return "overdue"
        return "ok"

    def as_left_within_tolerance(self, points: tuple[TestPoint, ...]) -> bool:
        return all(p.as_left is None or abs(p.as_left - p.nominal) <= self.tolerance
                   for p in points)

    def _check_not_retired(self) -> None:
        if self.status == "retired":
            raise InstrumentRetired(self.tag)

    def _check_calibration(self, points: tuple[TestPoint, ...], result: str,
                           uncertainty: float | None) -> None:
        if result not in CALIBRATION_RESULTS:
            raise InvalidValue(
                f"calibration result must be one of {', '.join(CALIBRATION_RESULTS)}, "
                f"not {result!r}")
        if uncertainty is not None and uncertainty < 0:
            raise InvalidValue(f"uncertainty cannot be negative ({uncertainty})")
        for point in points:
            if point.unit != self.unit:
                raise WrongUnit(f"instrument {self.tag} test point", point.unit, self.unit)
