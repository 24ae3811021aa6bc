"""Batched, idempotent intake of line reports: many messages, one transaction.

Each message becomes one record whose id is derived from its source and message id, so a
message seen twice names the same record. The batch is saved optimistically in one
transaction; if the store says a record already exists (a redelivery, or a lot opened by
another worker at the same moment), the ids that exist are looked up, and the batch is
rebuilt without them and saved again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.calibration import Instrument, instrument_id
from domain.inspection import (
    Inspection,
    InspectionHeader,
    InspectionPlan,
    inspection_id,
    judge,
    plan_id,
)
from domain.lot import Lot, lot_id
from domain.process import (
    REGISTER_ID,
    AmbiguousControlPlan,
    ControlPlan,
    ControlPlanRegister,
    ParameterReading,
    ReadingHeader,
    UnknownParameter,
    control_plan_id,
    reading_id,
)
from domain.records import InvalidValue, QualityError, RecordNotFound
from domain.reports import InspectionReport, Outcome, ReadingReport

if TYPE_CHECKING:
    from domain.application import QualityRecords

R = TypeVar("R")
MAX_ATTEMPTS = 5


class _Batch:
    """One attempt at a batch: the records it loaded (cached) and the ones it made."""

    def __init__(self, app: QualityRecords, existing: set[UUID]) -> None:
        self.app, self.existing = app, existing
        self.loaded: dict[UUID, Aggregate | None] = {}
        self.new: dict[UUID, Aggregate] = {}

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        if aggregate_id in self.new:
            return self.new[aggregate_id]
        if aggregate_id not in self.loaded:
            try:
                self.loaded[aggregate_id] = self.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                self.loaded[aggregate_id] = None
        return self.loaded[aggregate_id]

    def is_recorded(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.existing or aggregate_id in self.new

    def add(self, aggregate: Aggregate) -> None:
        self.new[aggregate.id] = aggregate

    def ensure_lot(self, lot: str, product: str | None, report: InspectionReport | ReadingReport
                   ) -> None:
        """A lot is opened by the first message that names it."""
        lid = lot_id(lot)
        if lid in self.app.known_lots or lid in self.new:
            return
        if self.lot_exists(lid):
            self.app.known_lots.add(lid)
        else:
            self.add(Lot.open(lot, product, report.provenance(), self.app.clock()))

    def lot_exists(self, lid: UUID) -> bool:
        """Whether a lot is recorded, without replaying its history just to ask."""
        if lid in self.loaded:
            return self.loaded[lid] is not None
        return self.app.exists(lid)

    def gauge_conditions(self, report: InspectionReport) -> dict[str, str]:
        conditions = {}
        for m in report.results:
            if m.gauge is not None and m.gauge not in conditions:
                gauge = self.get(instrument_id(m.gauge))
                if isinstance(gauge, Instrument):
                    conditions[m.gauge] = gauge.condition_at(report.occurred_at)
        return conditions


def record_batch(app: QualityRecords, reports: Sequence[R],
                 one: Callable[[_Batch, R], Outcome]) -> list[Outcome]:
    existing: set[UUID] = set()
    for attempt in range(MAX_ATTEMPTS):
        batch = _Batch(app, existing)
        outcomes = [_guarded(one, batch, r) for r in reports]
        try:
            if batch.new:
                app.save(*batch.new.values())
        except IntegrityError:
            if attempt == MAX_ATTEMPTS - 1:
                raise
            existing |= {i for i in batch.new if app.exists(i)}
            app.known_lots.difference_update(batch.new)
            continue
        app.known_lots.update(i for i, a in batch.new.items() if isinstance(a, Lot))
        return outcomes
    raise AssertionError("unreachable")


def _guarded(one: Callable[[_Batch, R], Outcome], batch: _Batch, report: R) -> Outcome:
    try:
        return one(batch, report)
    except QualityError as e:
        return Outcome("rejected", error=e)


def one_inspection(batch: _Batch, r: InspectionReport) -> Outcome:
    iid = inspection_id(f"line:{r.line}", r.message_id)
    if batch.is_recorded(iid):
        return Outcome("duplicate", iid)
    plan = batch.get(plan_id(r.plan))
    if not isinstance(plan, InspectionPlan):
        raise RecordNotFound("inspection plan", r.plan)
    revision = plan.current
    if revision.stage != r.stage:
        raise InvalidValue(f"plan {r.plan} is for stage {revision.stage}, not {r.stage}")
    results = judge(r.plan, revision, r.results, batch.gauge_conditions(r))
    header = InspectionHeader(lot=r.lot, stage=r.stage, plan=r.plan,
                              plan_revision=revision.revision, line=r.line, station=r.station,
                              inspector=r.inspector, part=r.part)
    inspection = Inspection.perform(iid, header, results, r.provenance(), batch.app.clock())
    batch.ensure_lot(r.lot, revision.product, r)
    batch.add(inspection)
    return Outcome("recorded", iid)


def one_reading(batch: _Batch, r: ReadingReport) -> Outcome:
    rid = reading_id(f"line:{r.line}", r.message_id)
    if batch.is_recorded(rid):
        return Outcome("duplicate", rid)
    plan = _control_plan_for(batch, r)
    header = ReadingHeader(lot=r.lot, line=r.line, station=r.station, operation=r.operation,
                           parameter=r.parameter)
    reading = ParameterReading.judge_and_record(rid, header, r.value, r.unit, plan,
                                                r.provenance(), batch.app.clock())
    batch.ensure_lot(r.lot, plan.current.product, r)
    batch.add(reading)
    return Outcome("recorded", rid)


def _control_plan_for(batch: _Batch, r: ReadingReport) -> ControlPlan:
    register = batch.get(REGISTER_ID)
    if not isinstance(register, ControlPlanRegister):
        raise UnknownParameter(r.operation, r.parameter)
    lot = batch.get(lot_id(r.lot))
    product = lot.product if isinstance(lot, Lot) else None
    plans = register.plans_for(r.operation, r.parameter, product)
    if not plans:
        raise UnknownParameter(r.operation, r.parameter)
    if len(plans) > 1:
        raise AmbiguousControlPlan(r.operation, r.parameter, plans)
    plan = batch.get(control_plan_id(plans[0]))
    assert isinstance(plan, ControlPlan)
    return plan
