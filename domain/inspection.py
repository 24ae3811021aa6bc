"""Inspection plans (what to measure, to which limits) and inspections (what was measured)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.acceptance import SamplingPlan
from domain.plans import RevisedPlan
from domain.records import (
    InvalidValue,
    Limits,
    Provenance,
    QualityError,
    Record,
    WrongUnit,
    quick_init,
    record_id,
)
from domain.spc_rules import WESTERN_ELECTRIC_RULES, rules_named

STAGES = ("receiving", "in_process", "final")
# What a nonconforming result of a characteristic does (its reaction plan): the lot is held
# (the safe default), the unit is segregated and the lot goes on, the lot is held and the
# line stopped, or the unit only counts against the lot's acceptance number (sampling).
REACTIONS = ("hold_lot", "segregate", "stop_line", "sampled")


class UnknownCharacteristic(QualityError):
    def __init__(self, plan: str, revision: str, characteristic: str) -> None:
        super().__init__(
            f"inspection plan {plan} rev {revision} has no characteristic {characteristic!r}")
        self.characteristic = characteristic


class InspectionClosed(QualityError):
    def __init__(self, inspection: UUID) -> None:
        super().__init__(f"inspection {inspection} is closed: no more results can be recorded")


class NoSuchResult(QualityError):
    def __init__(self, index: int, count: int) -> None:
        super().__init__(f"result #{index} does not exist (the inspection has {count})")


@dataclass(frozen=True)
class Characteristic:
    id: str
    nominal: float | None
    lsl: float | None
    usl: float | None
    unit: str
    gauge_kind: str | None = None
    spc_rules: tuple[str, ...] = WESTERN_ELECTRIC_RULES  # () charts nothing
    spc_baseline: int = 25  # results that set the control limits
    reaction: str = "hold_lot"  # one of REACTIONS

    def limits(self) -> Limits:
        return Limits(unit=self.unit, lower=self.lsl, upper=self.usl)


@dataclass(frozen=True)
class PlanRevision:
    revision: str
    product: str
    stage: str
    sample_size: int
    characteristics: tuple[Characteristic, ...]
    sampling: SamplingPlan | None = None  # ISO 2859-1 lot acceptance, when the plan samples

    def characteristic(self, plan: str, char_id: str) -> Characteristic:
        found = _characteristics_by_id(self).get(char_id)
        if found is None:
            raise UnknownCharacteristic(plan, self.revision, char_id)
        return found


# Intake judges every result of a batch against the same revision object: index its
# characteristics once. Keyed by identity (hashing a revision hashes all of it); the entry
# keeps the revision alive, so an id is never reused while its entry stands.
_BY_ID: dict[int, tuple[PlanRevision, dict[str, Characteristic]]] = {}


def _characteristics_by_id(revision: PlanRevision) -> dict[str, Characteristic]:
    entry = _BY_ID.get(id(revision))
    if entry is None or entry[0] is not revision:
        if len(_BY_ID) >= 256:
            _BY_ID.clear()
        entry = (revision, {c.id: c for c in revision.characteristics})
        _BY_ID[id(revision)] = entry
    return entry[1]


def checked_revision(plan: str, revision: PlanRevision) -> PlanRevision:
    if revision.stage not in STAGES:
        raise InvalidValue(f"plan {plan}: stage must be one of {', '.join(STAGES)}, "
                           f"not {revision.stage!r}")
    if revision.sample_size < 1:
        raise InvalidValue(f"plan {plan}: sample size must be at least 1")
    if not revision.characteristics:
        raise InvalidValue(f"plan {plan}: an inspection plan needs at least one characteristic")
    for c in revision.characteristics:
        Limits.checked(f"plan {plan} characteristic {c.id}", c.unit, c.lsl, c.usl)
        rules_named(c.spc_rules)
        if c.spc_rules and c.spc_baseline < 2:
            raise InvalidValue(f"plan {plan} characteristic {c.id}: an SPC baseline needs "
                               "at least 2 results")
        _check_reaction(plan, revision, c)
    if revision.sampling is not None:
        revision.sampling.checked(plan)
    return revision


def _check_reaction(plan: str, revision: PlanRevision, c: Characteristic) -> None:
    if c.reaction not in REACTIONS:
        raise InvalidValue(f"plan {plan} characteristic {c.id}: reaction must be one of "
                           f"{', '.join(REACTIONS)}, not {c.reaction!r}")
    if c.reaction == "sampled" and revision.sampling is None:
        raise InvalidValue(f"plan {plan} characteristic {c.id}: a sampled reaction needs "
                           "the plan's sampling (level and AQL)")


class InspectionPlan(RevisedPlan):
    record_kind = "inspection-plan"

    if TYPE_CHECKING:
        revisions: list[PlanRevision]

    class Defined(RevisedPlan.Defined):
        revision: PlanRevision

    class RevisionReleased(RevisedPlan.RevisionReleased):
        revision: PlanRevision

    checked = staticmethod(checked_revision)

    @property
    def current(self) -> PlanRevision:
        return self.revisions[-1]


def plan_id(plan: str) -> UUID:
    return InspectionPlan.id_of(plan)


@quick_init
@dataclass(frozen=True)
class Measurement:
    characteristic: str
    value: float
    unit: str
    gauge: str | None = None


@quick_init
@dataclass(frozen=True)
class Result:
    """A measurement judged against the plan revision in force, and its gauge's condition."""

    characteristic: str
    value: float
    unit: str
    gauge: str | None
    lsl: float | None
    usl: float | None
    conforming: bool
    gauge_condition: str


def judge(plan: str, revision: PlanRevision, measurements: tuple[Measurement, ...],
          gauge_conditions: Mapping[str, str]) -> tuple[Result, ...]:
    """Judge each measurement; gauge_conditions maps gauge tags to ok/overdue/quarantined/
    retired (a tag not in it is unknown). A bad unit or characteristic raises.

    The hot path of intake, written flat: limits were checked when the plan was defined."""
    if not measurements:
        raise InvalidValue("an inspection needs at least one result")
    chars = _characteristics_by_id(revision)
    results = []
    for m in measurements:
        char = chars.get(m.characteristic)
        if char is None:
            raise UnknownCharacteristic(plan, revision.revision, m.characteristic)
        if m.unit != char.unit:
            raise WrongUnit(f"characteristic {char.id}", m.unit, char.unit)
        value = m.value
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidValue(f"characteristic {char.id}: value {value!r} is not a number")
        lsl, usl = char.lsl, char.usl
        results.append(Result(
            characteristic=char.id, value=float(value), unit=m.unit, gauge=m.gauge, lsl=lsl,
            usl=usl, conforming=(lsl is None or value >= lsl) and (usl is None or value <= usl),
            gauge_condition="none" if m.gauge is None else gauge_conditions.get(m.gauge,
                                                                              "unknown")))
    return tuple(results)


def verdict(results: tuple[Result, ...]) -> str:
    return "accept" if all(r.conforming for r in results) else "reject"


def inspection_id(source: str, message_id: str) -> UUID:
    return record_id("inspection", f"{source}/{message_id}")


@dataclass(frozen=True)
class InspectionHeader:
    lot: str
    stage: str
    plan: str
    plan_revision: str
    line: str | None
    station: str | None
    inspector: str
    part: str | None


class Inspection(Record):
    """An inspection of a lot (or part) at a stage against one plan revision."""

    if TYPE_CHECKING:
        header: InspectionHeader
        results: list[Result]
        closed: bool
        verdict: str | None

    class Performed(Record.Created):
        """A complete inspection reported at once (by a line station)."""

        header: InspectionHeader
        results: tuple[Result, ...]
        verdict: str

        def apply(self, i: Inspection) -> None:
            i.header, i.results, i.closed, i.verdict = self.header, list(self.results), True, \
                self.verdict

    class Opened(Record.Created):
        header: InspectionHeader

        def apply(self, i: Inspection) -> None:
            i.header, i.results, i.closed, i.verdict = self.header, [], False, None

    class ResultsRecorded(Record.Event):
        results: tuple[Result, ...]

        def apply(self, i: Inspection) -> None:
            i.results.extend(self.results)

    class ResultCorrected(Record.Event):
        """Replaces the effective value of result #index; the original stays in history."""

        index: int
        result: Result
        verdict: str | None

        def apply(self, i: Inspection) -> None:
            i.results[self.index] = self.result
            if i.closed:
                i.verdict = self.verdict

    class ResultsMarkedSuspect(Record.Event):
        """The results #indices, measured with ``gauge``, are suspect: their values stand."""

        indices: tuple[int, ...]
        gauge: str

        def apply(self, i: Inspection) -> None:
            for index in self.indices:
                i.results[index] = replace(i.results[index], gauge_condition="suspect")

    class Closed(Record.Event):
        verdict: str

        def apply(self, i: Inspection) -> None:
            i.closed, i.verdict = True, self.verdict

    @classmethod
    def perform(cls, id: UUID, header: InspectionHeader, results: tuple[Result, ...],
                prov: Provenance, now: datetime) -> Inspection:
        return cls._create(cls.Performed, id=id, provenance=prov, timestamp=now,
                           header=_checked_header(header), results=results,
                           verdict=verdict(results))

    @classmethod
    def open(cls, id: UUID, header: InspectionHeader, prov: Provenance,
             now: datetime) -> Inspection:
        return cls._create(cls.Opened, id=id, provenance=prov, timestamp=now,
                           header=_checked_header(header))

    def record_results(self, results: tuple[Result, ...], prov: Provenance,
                       now: datetime) -> None:
        self._check_open()
        self.record(self.ResultsRecorded, prov, now, results=results)

    def correct_result(self, index: int, result: Result, prov: Provenance,
                       now: datetime) -> None:
        prov.requiring_reason(f"correct result #{index}")
        self._check_index(index)
        original = self.results[index]
        if result.characteristic != original.characteristic:
            raise InvalidValue(f"result #{index} is a measurement of {original.characteristic}"
                               f"; a correction cannot make it {result.characteristic}")
        corrected = [*self.results]
        corrected[index] = result
        self.record(self.ResultCorrected, prov, now, index=index, result=result,
                    verdict=verdict(tuple(corrected)) if self.closed else None)

    def mark_suspect(self, indices: Sequence[int], gauge: str, prov: Provenance,
                     now: datetime) -> None:
        """Mark results measured with ``gauge`` suspect, in one event; those already
        suspect are left out, so marking them again records nothing."""
        named = ", ".join(f"#{index}" for index in indices)
        prov.requiring_reason(f"mark result{'s' if len(indices) > 1 else ''} {named} suspect")
        for index in indices:
            self._check_index(index)
            if self.results[index].gauge != gauge:
                raise InvalidValue(f"result #{index} was not measured with {gauge}")
        new = tuple(i for i in dict.fromkeys(indices)
                    if self.results[i].gauge_condition != "suspect")
        if new:
            self.record(self.ResultsMarkedSuspect, prov, now, indices=new, gauge=gauge)

    def close(self, prov: Provenance, now: datetime) -> None:
        self._check_open()
        if not self.results:
            raise InvalidValue("an inspection with no results cannot be closed")
        self.record(self.Closed, prov, now, verdict=verdict(tuple(self.results)))

    def _check_open(self) -> None:
        if self.closed:
            raise InspectionClosed(self.id)

    def result(self, index: int) -> Result:
        self._check_index(index)
        return self.results[index]

    def _check_index(self, index: int) -> None:
        if not 0 <= index < len(self.results):
            raise NoSuchResult(index, len(self.results))


def _checked_header(header: InspectionHeader) -> InspectionHeader:
    if header.stage not in STAGES:
        raise InvalidValue(f"stage must be one of {', '.join(STAGES)}, not {header.stage!r}")
    if not header.lot:
        raise InvalidValue("an inspection must name its lot")
    return header
