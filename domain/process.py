"""Product-realization processes: control plans and the process-parameter readings
judged against them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.plans import RevisedPlan
from domain.records import (
    InvalidValue,
    Limits,
    Provenance,
    QualityError,
    Record,
    record_id,
)


class UnknownParameter(QualityError):
    def __init__(self, operation: str, parameter: str) -> None:
        super().__init__(f"no control plan has parameter {parameter!r} in operation {operation!r}")


class AmbiguousControlPlan(QualityError):
    def __init__(self, operation: str, parameter: str, plans: list[str]) -> None:
        super().__init__(f"parameter {parameter!r} of operation {operation!r} is in several "
                         f"control plans ({', '.join(plans)}) and the lot's product is unknown")


@dataclass(frozen=True)
class ProcessParameter:
    name: str
    unit: str
    target: float | None
    lsl: float | None
    usl: float | None
    reaction: str

    def limits(self) -> Limits:
        return Limits(unit=self.unit, lower=self.lsl, upper=self.usl)


@dataclass(frozen=True)
class Operation:
    id: str
    parameters: tuple[ProcessParameter, ...]


@dataclass(frozen=True)
class ControlPlanRevision:
    revision: str
    product: str
    operations: tuple[Operation, ...]

    def parameter(self, operation: str, name: str) -> ProcessParameter | None:
        for op in self.operations:
            if op.id == operation:
                for p in op.parameters:
                    if p.name == name:
                        return p
        return None

    def parameter_keys(self) -> set[tuple[str, str]]:
        return {(op.id, p.name) for op in self.operations for p in op.parameters}


def checked_control_revision(plan: str, revision: ControlPlanRevision) -> ControlPlanRevision:
    if not revision.operations:
        raise InvalidValue(f"control plan {plan}: needs at least one operation")
    for op in revision.operations:
        for p in op.parameters:
            Limits.checked(f"control plan {plan} {op.id}.{p.name}", p.unit, p.lsl, p.usl)
            if not p.reaction:
                raise InvalidValue(f"control plan {plan} {op.id}.{p.name}: a reaction plan "
                                   "is required")
    return revision


class ControlPlan(RevisedPlan):
    record_kind = "control-plan"

    if TYPE_CHECKING:
        revisions: list[ControlPlanRevision]

    class Defined(RevisedPlan.Defined):
        revision: ControlPlanRevision

    class RevisionReleased(RevisedPlan.RevisionReleased):
        revision: ControlPlanRevision

    checked = staticmethod(checked_control_revision)

    @property
    def current(self) -> ControlPlanRevision:
        return self.revisions[-1]


def control_plan_id(plan: str) -> UUID:
    return ControlPlan.id_of(plan)


REGISTER_ID = record_id("register", "control-plans")


class ControlPlanRegister(Record):
    """Which control plans define which (operation, parameter), and which product each is
    for: lets a reading that names only a lot and a parameter find its limits."""

    if TYPE_CHECKING:
        products: dict[str, str]
        keys_by_plan: dict[str, set[str]]

    class Started(Record.Created):
        def apply(self, r: ControlPlanRegister) -> None:
            r.products, r.keys_by_plan = {}, {}

    class PlanListed(Record.Event):
        plan: str
        product: str
        keys: tuple[str, ...]

        def apply(self, r: ControlPlanRegister) -> None:
            r.products[self.plan] = self.product
            r.keys_by_plan[self.plan] = set(self.keys)

    @classmethod
    def start(cls, prov: Provenance, now: datetime) -> ControlPlanRegister:
        return cls._create(cls.Started, id=REGISTER_ID, provenance=prov, timestamp=now)

    def list_plan(self, cp: ControlPlan, prov: Provenance, now: datetime) -> None:
        keys = tuple(sorted(f"{op}\x1f{name}" for op, name in cp.current.parameter_keys()))
        self.record(self.PlanListed, prov, now, plan=cp.plan, product=cp.current.product,
                    keys=keys)

    def plans_for(self, operation: str, parameter: str, product: str | None) -> list[str]:
        """Plans defining (operation, parameter); only the product's own when it is known."""
        key = f"{operation}\x1f{parameter}"
        found = [p for p, keys in self.keys_by_plan.items() if key in keys]
        if product is not None:
            return [p for p in found if self.products[p] == product]
        return found


@dataclass(frozen=True)
class ReadingHeader:
    lot: str
    line: str
    station: str
    operation: str
    parameter: str


def reading_id(source: str, message_id: str) -> UUID:
    return record_id("reading", f"{source}/{message_id}")


class ParameterReading(Record):
    """One process-parameter reading, judged against the control plan in force."""

    if TYPE_CHECKING:
        header: ReadingHeader
        value: float
        within_limits: bool

    class Recorded(Record.Created):
        header: ReadingHeader
        value: float
        unit: str
        plan: str
        plan_revision: str
        target: float | None
        lsl: float | None
        usl: float | None
        within_limits: bool
        reaction: str | None

        def apply(self, r: ParameterReading) -> None:
            r.header, r.value, r.within_limits = self.header, self.value, self.within_limits

    @classmethod
    def judge_and_record(cls, id: UUID, header: ReadingHeader, value: float, unit: str,
                         cp: ControlPlan, prov: Provenance, now: datetime) -> ParameterReading:
        param = cp.current.parameter(header.operation, header.parameter)
        if param is None:
            raise UnknownParameter(header.operation, header.parameter)
        limits = param.limits()
        limits.check_unit(f"{header.operation}.{header.parameter}", unit)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidValue(f"{header.parameter}: value {value!r} is not a number")
        within = limits.conforms(value)
        return cls._create(
            cls.Recorded, id=id, provenance=prov, timestamp=now, header=header,
            value=float(value), unit=unit, plan=cp.plan, plan_revision=cp.current.revision,
            target=param.target, lsl=param.lsl, usl=param.usl, within_limits=within,
            reaction=None if within else param.reaction)
