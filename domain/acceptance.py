"""Lot acceptance by sampling: the sampling plan an inspection plan names (master data),
and per lot the plan chosen for it, the sampled units counted, and the decision.

Each inspection of a lot under a plan with sampling is one sampled unit; a unit is
nonconforming when its inspection is rejected. Once the sample holds n units, the lot is
accepted with Ac or fewer nonconforming and rejected with Re or more (ISO 2859-1 11.1.1);
under reduced inspection a count between them accepts the lot and reinstates normal
inspection (MIL-STD-105E 4.10.1.4). Units beyond the sample do not change the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.records import InvalidValue, Provenance, QualityError, Record, record_id
from domain.sampling_tables import (
    LEVELS,
    MAX_PERCENT_AQL,
    SinglePlan,
    UnknownInspectionLevel,
    aql_column,
)


@dataclass(frozen=True)
class SamplingPlan:
    """ISO 2859-1 single sampling by attributes for an inspection plan: the inspection
    level and AQL (percent nonconforming). ``lot_size`` stands in for a lot whose quantity
    the ERP has not reported."""

    level: str = "II"
    aql: float = 1.0
    lot_size: int | None = None

    def checked(self, plan: str) -> SamplingPlan:
        if self.level not in LEVELS:
            raise UnknownInspectionLevel(self.level)
        aql_column(self.aql)
        if self.aql > MAX_PERCENT_AQL:
            raise InvalidValue(f"plan {plan}: an AQL above {MAX_PERCENT_AQL:g} is in "
                               "nonconformities per 100 units; lots are decided by "
                               "nonconforming units, so at most 10")
        if self.lot_size is not None and self.lot_size < 2:
            raise InvalidValue(f"plan {plan}: a lot size for sampling is at least 2")
        return self


class LotSizeUnknown(QualityError):
    def __init__(self, lot: str, plan: str) -> None:
        super().__init__(f"lot {lot} cannot be sampled under {plan}: its quantity is not "
                         "recorded and the sampling plan names no lot size")


class AlreadyDecided(QualityError):
    def __init__(self, lot: str, verdict: str) -> None:
        super().__init__(f"lot {lot} was already {verdict} by sampling")


class SampleIncomplete(QualityError):
    def __init__(self, lot: str, counted: int, needed: int) -> None:
        super().__init__(f"lot {lot}: {counted} of {needed} sampled units inspected, "
                         "too few to decide")


@dataclass(frozen=True)
class SampledUnit:
    inspection: UUID
    nonconforming: bool


def lot_acceptance_id(plan: str, lot: str) -> UUID:
    return record_id("lot-acceptance", f"{plan}/{lot}")


class LotAcceptance(Record):
    """One lot's acceptance under one inspection plan's sampling."""

    if TYPE_CHECKING:
        lot: str
        plan: str
        switching: UUID
        single: SinglePlan
        units: dict[UUID, bool]
        verdict: str | None

    class Planned(Record.Created):
        """The single sampling plan for this lot, chosen from its size and the switching
        state (``single.severity``) when its first unit came."""

        lot: str
        plan: str
        switching: UUID
        lot_size: int
        single: SinglePlan

        def apply(self, a: LotAcceptance) -> None:
            a.lot, a.plan, a.switching, a.single = self.lot, self.plan, self.switching, \
                self.single
            a.units, a.verdict = {}, None

    class UnitsCounted(Record.Event):
        units: tuple[SampledUnit, ...]

        def apply(self, a: LotAcceptance) -> None:
            a.units.update((u.inspection, u.nonconforming) for u in self.units)

    class Decided(Record.Event):
        """accepted or rejected: ``nonconforming`` of ``sample_size`` against Ac/Re under
        ``severity`` inspection; ``between`` when the count fell between Ac and Re."""

        verdict: str
        nonconforming: int
        sample_size: int
        acceptance: int
        rejection: int
        severity: str
        between: bool

        def apply(self, a: LotAcceptance) -> None:
            a.verdict = self.verdict

    @classmethod
    def plan_lot(cls, lot: str, plan: str, switching: UUID, lot_size: int, single: SinglePlan,
                 prov: Provenance, now: datetime) -> LotAcceptance:
        return cls._create(cls.Planned, id=lot_acceptance_id(plan, lot), provenance=prov,
                           timestamp=now, lot=lot, plan=plan, switching=switching,
                           lot_size=lot_size, single=single)

    @property
    def complete(self) -> bool:
        return len(self.units) >= self.single.sample_size

    def count_units(self, units: tuple[SampledUnit, ...], prov: Provenance,
                    now: datetime) -> None:
        """Count units not counted before, up to the sample size; the rest are left out."""
        room = self.single.sample_size - len(self.units)
        new = tuple(u for u in dict((u.inspection, u) for u in units).values()
                    if u.inspection not in self.units)[:max(room, 0)]
        if new:
            self.record(self.UnitsCounted, prov, now, units=new)

    def decide(self, prov: Provenance, now: datetime) -> Decided:
        self._check_undecided()
        self._check_sample_complete()
        found, plan = sum(self.units.values()), self.single
        verdict = "accepted" if found < plan.rejection else "rejected"
        self.record(self.Decided, prov, now, verdict=verdict, nonconforming=found,
                    sample_size=plan.sample_size, acceptance=plan.acceptance,
                    rejection=plan.rejection, severity=plan.severity,
                    between=plan.acceptance < found < plan.rejection)
        decided = self.pending_events[-1]
        assert isinstance(decided, LotAcceptance.Decided)
        return decided

    def _check_undecided(self) -> None:
        if self.verdict is not None:
            raise AlreadyDecided(self.lot, self.verdict)

    def _check_sample_complete(self) -> None:
        if not self.complete:
            raise SampleIncomplete(self.lot, len(self.units), self.single.sample_size)
