"""Which results each gauge measured, kept by the write side for reverse traces: when a
gauge fails calibration, every result it measured since its last good calibration is
suspect, and so is every lot those results touched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.records import Provenance, Record, record_id


@dataclass(frozen=True, slots=True)
class GaugeUse:
    """One result measured with the gauge (without a __dict__: a gauge usage holds a
    million of them at scale, and each dict was one more object for the collector)."""

    inspection: UUID
    index: int
    lot: str
    characteristic: str
    stage: str
    occurred_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.inspection}#{self.index}"


def gauge_usage_id(tag: str) -> UUID:
    return record_id("gauge-usage", tag)


def reverse_trace_number(tag: str, calibration_version: int) -> str:
    """The nonconformance that lists the suspect lots of a gauge's failed calibration (the
    instrument event at ``calibration_version``)."""
    return f"NC-CAL-{tag}-{calibration_version}"


@dataclass(frozen=True)
class FailedCalibration:
    """A calibration that found the gauge out of tolerance, and the number of the
    nonconformance its reverse trace raises (None in ``listed`` until the policy ran)."""

    version: int
    performed_at: datetime
    certificate: str
    nonconformance: str
    listed: bool


@dataclass(frozen=True)
class GaugeTrace:
    """A gauge's reverse trace: its failed calibrations, and what it measured since it was
    last left in tolerance (what a failure now would put in doubt)."""

    tag: str
    status: str
    period_start: datetime | None
    uses: tuple[GaugeUse, ...]
    failures: tuple[FailedCalibration, ...]


class GaugeUsage(Record):
    """The uses of one gauge in its current calibration period. A passing calibration
    closes the period: older uses leave the state (never the history)."""

    if TYPE_CHECKING:
        tag: str
        period_start: datetime | None
        uses: dict[str, GaugeUse]

    class Started(Record.Created):
        tag: str

        def apply(self, usage: GaugeUsage) -> None:
            usage.tag, usage.period_start, usage.uses = self.tag, None, {}

    class UsesRecorded(Record.Event):
        uses: tuple[GaugeUse, ...]

        def apply(self, usage: GaugeUsage) -> None:
            usage.uses.update((u.ref, u) for u in self.uses)

    class PeriodClosed(Record.Event):
        """Uses at or before this passing calibration are no longer suspect."""

        calibrated_at: datetime

        def apply(self, usage: GaugeUsage) -> None:
            usage.period_start = self.calibrated_at
            usage.uses = {k: u for k, u in usage.uses.items()
                          if u.occurred_at > self.calibrated_at}

    @classmethod
    def start(cls, tag: str, prov: Provenance, now: datetime) -> GaugeUsage:
        return cls._create(cls.Started, id=gauge_usage_id(tag), provenance=prov, timestamp=now,
                           tag=tag)

    def record_uses(self, uses: tuple[GaugeUse, ...], prov: Provenance, now: datetime) -> None:
        """Record uses not seen before and inside the current period (so replaying the
        log from the start records nothing new)."""
        new = tuple(u for u in uses if u.ref not in self.uses and self._in_period(u))
        if new:
            self.record(self.UsesRecorded, prov, now, uses=new)

    def close_period(self, calibrated_at: datetime, prov: Provenance, now: datetime) -> None:
        if self.period_start is None or calibrated_at > self.period_start:
            self.record(self.PeriodClosed, prov, now, calibrated_at=calibrated_at)

    def suspects(self, since: datetime | None, until: datetime) -> list[GaugeUse]:
        """Uses after `since` (the last passing calibration) up to `until`, oldest first."""
        found = [u for u in self.uses.values()
                 if (since is None or u.occurred_at > since) and u.occurred_at <= until]
        return sorted(found, key=lambda u: (u.occurred_at, u.ref))

    def _in_period(self, use: GaugeUse) -> bool:
        return self.period_start is None or use.occurred_at > self.period_start
