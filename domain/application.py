"""QualityRecords: the use cases of qrec's write model, as one eventsourcing Application."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import IntegrityError, Recording

from domain import intake
from domain.acceptance import LotAcceptance, lot_acceptance_id
from domain.calibration import Instrument, instrument_id
from domain.corrective_action import CorrectiveAction, corrective_action_id
from domain.genealogy import Component, check_no_cycle, record_consumption
from domain.inspection import (
    Inspection,
    InspectionHeader,
    InspectionPlan,
    Measurement,
    PlanRevision,
    judge,
    plan_id,
)
from domain.lot import Lot, lot_id
from domain.nonconformance import Nonconformance, nonconformance_id
from domain.process import (
    REGISTER_ID,
    ControlPlan,
    ControlPlanRegister,
    ControlPlanRevision,
    control_plan_id,
)
from domain.records import Provenance, Record, RecordExists, RecordNotFound, record_id
from domain.reports import (
    CalibrationReport,
    GenealogyReport,
    InspectionReport,
    LotMovementReport,
    Outcome,
    ReadingReport,
)
from domain.switching import InspectionSwitching, switching_id
from domain.timetravel import record_as_recorded_at

A = TypeVar("A", bound=Aggregate)
Clock = Callable[[], datetime]
MAX_CONFLICT_RETRIES = 5


def _library_clock() -> datetime:
    return DomainEvent.create_timestamp()


class QualityRecords(Application[UUID]):
    name = "qrec"
    env = {"MAPPER_TOPIC": "domain.encoding:TypedMapper"}
    snapshotting_intervals = {Instrument: 50, Lot: 50, Nonconformance: 50, Inspection: 50,
                              ControlPlanRegister: 50}

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = _library_clock) -> None:
        super().__init__(env)
        self.clock = clock
        self.known_lots: set[UUID] = set()

    # -- loading and saving -------------------------------------------------------------

    def save(  # type: ignore[override]  # qrec saves aggregates, never loose events
            self, *records: Aggregate | None, **kwargs: Any) -> list[Recording[UUID]]:
        """Save the records' new events in one transaction (with a tracking position, if
        given as tracking=...). Our records are plain aggregates, so their events are
        collected directly: the library's generic path checks runtime protocols on every
        object, which costs more than encoding the event."""
        processing = ProcessingEvent[UUID](kwargs.pop("tracking", None))
        for record in records:
            if record is not None:
                processing.events.extend(record.collect_events())
                processing.aggregates[record.id] = record
        processing.saved_kwargs.update(kwargs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        return recordings

    def load(self, cls: type[A], aggregate_id: UUID, key: object,
             version: int | None = None) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise RecordNotFound(_kind(cls), key) from None
        if not isinstance(aggregate, cls):
            raise RecordNotFound(_kind(cls), key)
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def create(self, *records: Record, key: object) -> UUID:
        """Save new records together; a record of that id already there is RecordExists."""
        try:
            self.save(*records)
        except IntegrityError:
            raise RecordExists(_kind(type(records[0])), key) from None
        return records[0].id

    def change(self, cls: type[A], aggregate_id: UUID, key: object,
               command: Callable[[A], Iterable[Aggregate] | Any]) -> A:
        """Load a record, run a command on it, save; retried on a concurrent write.

        A command may return other records it changed: they commit in the same transaction."""
        for attempt in range(MAX_CONFLICT_RETRIES):
            aggregate = self.load(cls, aggregate_id, key)
            also = command(aggregate)
            others = also if isinstance(also, (list, tuple)) else ()
            try:
                self.save(aggregate, *others)
                return aggregate
            except IntegrityError:
                if attempt == MAX_CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    # -- master data ----------------------------------------------------------------------

    def register_instrument(self, tag: str, kind: str, unit: str, range: tuple[float, float],
                            resolution: float, tolerance: float, interval_days: int,
                            location: str, prov: Provenance) -> UUID:
        gauge = Instrument.register(tag, kind, unit, range, resolution, tolerance,
                                    interval_days, location, prov, self.clock())
        return self.create(gauge, key=tag)

    def define_inspection_plan(self, plan: str, revision: PlanRevision,
                               prov: Provenance) -> bool:
        """Define a plan or release a new revision of it; False if that revision is known."""
        try:
            existing = self.load(InspectionPlan, plan_id(plan), plan)
        except RecordNotFound:
            self.create(InspectionPlan.define(plan, revision, prov, self.clock()), key=plan)
            return True
        if any(r.revision == revision.revision for r in existing.revisions):
            return False
        existing.release_revision(revision, prov, self.clock())
        self.save(existing)
        return True

    def define_control_plan(self, plan: str, revision: ControlPlanRevision,
                            prov: Provenance) -> bool:
        """Define a control plan or release a new revision; False if that revision is known."""
        for attempt in range(MAX_CONFLICT_RETRIES):
            register = self._control_plan_register(prov)
            try:
                cp = self.load(ControlPlan, control_plan_id(plan), plan)
                if any(r.revision == revision.revision for r in cp.revisions):
                    return False
                cp.release_revision(revision, prov, self.clock())
            except RecordNotFound:
                cp = ControlPlan.define(plan, revision, prov, self.clock())
            register.list_plan(cp, prov, self.clock())
            try:
                self.save(cp, register)
                return True
            except IntegrityError:
                if attempt == MAX_CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _control_plan_register(self, prov: Provenance) -> ControlPlanRegister:
        try:
            return self.load(ControlPlanRegister, REGISTER_ID, "control plans")
        except RecordNotFound:
            return ControlPlanRegister.start(prov, self.clock())

    # -- calibration ------------------------------------------------------------------------

    def instrument(self, tag: str, version: int | None = None) -> Instrument:
        return self.load(Instrument, instrument_id(tag), tag, version)

    def record_calibration(self, report: CalibrationReport) -> Outcome:
        changed: list[bool] = []
        gauge = self.change(Instrument, instrument_id(report.instrument), report.instrument,
                            lambda g: changed.append(g.record_calibration(
                                report.performed_at, report.performed_by, report.certificate,
                                report.standard, report.uncertainty, report.points,
                                report.result, report.provenance(), self.clock())))
        return Outcome("recorded" if changed[-1] else "duplicate", gauge.id)

    def quarantine_instrument(self, tag: str, prov: Provenance) -> Instrument:
        return self.change(Instrument, instrument_id(tag), tag,
                           lambda g: g.quarantine(prov, self.clock()))

    def release_instrument(self, tag: str, prov: Provenance) -> Instrument:
        return self.change(Instrument, instrument_id(tag), tag,
                           lambda g: g.release(prov, self.clock()))

    def retire_instrument(self, tag: str, prov: Provenance) -> Instrument:
        return self.change(Instrument, instrument_id(tag), tag,
                           lambda g: g.retire(prov, self.clock()))

    # -- intake from lines --------------------------------------------------------------------

    def record_inspections(self, reports: Sequence[InspectionReport]) -> list[Outcome]:
        """Record a batch of line inspection reports in one transaction, idempotently."""
        return intake.record_batch(self, reports, intake.one_inspection)

    def record_readings(self, reports: Sequence[ReadingReport]) -> list[Outcome]:
        return intake.record_batch(self, reports, intake.one_reading)

    def record_lot_movement(self, report: LotMovementReport) -> Outcome:
        moved: list[bool] = []
        lot = self.change(Lot, lot_id(report.lot), report.lot, lambda x: moved.append(
            x.move(report.movement, report.customer, report.provenance(), self.clock())))
        return Outcome("recorded" if moved[-1] else "duplicate", lot.id)

    # -- inspections by hand ----------------------------------------------------------------

    def open_inspection(self, number: str, lot: str, stage: str, plan: str, inspector: str,
                        prov: Provenance, part: str | None = None) -> UUID:
        p = self.load(InspectionPlan, plan_id(plan), plan)
        header = InspectionHeader(lot=lot, stage=stage, plan=plan,
                                  plan_revision=p.current.revision, line=None, station=None,
                                  inspector=inspector, part=part)
        inspection = Inspection.open(record_id("inspection", number), header, prov,
                                     self.clock())
        records: list[Record] = [inspection]
        if not self.exists(lot_id(lot)):
            records.append(Lot.open(lot, p.current.product, prov, self.clock()))
        return self.create(*records, key=number)

    def inspection(self, number: str) -> Inspection:
        return self.load(Inspection, record_id("inspection", number), number)

    def record_results(self, number: str, measurements: tuple[Measurement, ...],
                       prov: Provenance) -> Inspection:
        def command(i: Inspection) -> None:
            plan = self.load(InspectionPlan, plan_id(i.header.plan), i.header.plan)
            rev = next(r for r in plan.revisions if r.revision == i.header.plan_revision)
            at = prov.occurred_at or self.clock()
            results = judge(i.header.plan, rev, measurements, self._gauge_conditions(
                measurements, at))
            i.record_results(results, prov, self.clock())
        return self.change(Inspection, record_id("inspection", number), number, command)

    def correct_result(self, inspection: UUID, index: int, value: float,
                       prov: Provenance) -> Inspection:
        def command(i: Inspection) -> None:
            plan = self.load(InspectionPlan, plan_id(i.header.plan), i.header.plan)
            rev = next(r for r in plan.revisions if r.revision == i.header.plan_revision)
            old = i.result(index)
            m = Measurement(old.characteristic, value, old.unit, old.gauge)
            at = prov.occurred_at or self.clock()
            (result,) = judge(i.header.plan, rev, (m,), self._gauge_conditions((m,), at))
            i.correct_result(index, result, prov, self.clock())
        return self.change(Inspection, inspection, inspection, command)

    def close_inspection(self, number: str, prov: Provenance) -> Inspection:
        return self.change(Inspection, record_id("inspection", number), number,
                           lambda i: i.close(prov, self.clock()))

    def _gauge_conditions(self, measurements: tuple[Measurement, ...],
                          at: datetime) -> dict[str, str]:
        conditions = {}
        for tag in {m.gauge for m in measurements if m.gauge}:
            with suppress(RecordNotFound):
                conditions[tag] = self.instrument(tag).condition_at(at)
        return conditions

    # -- lots -----------------------------------------------------------------------------------

    def lot(self, lot: str) -> Lot:
        return self.load(Lot, lot_id(lot), lot)

    def open_lot(self, lot: str, product: str | None, prov: Provenance) -> UUID:
        return self.create(Lot.open(lot, product, prov, self.clock()), key=lot)

    def start_operation(self, lot: str, operation: str, station: str | None,
                        prov: Provenance) -> Lot:
        return self.change(Lot, lot_id(lot), lot,
                           lambda x: x.start_operation(operation, station, prov, self.clock()))

    def complete_operation(self, lot: str, operation: str, prov: Provenance) -> Lot:
        return self.change(Lot, lot_id(lot), lot,
                           lambda x: x.complete_operation(operation, prov, self.clock()))

    def consume_component(self, lot: str, component_lot: str, quantity: float | None,
                          prov: Provenance) -> Lot:
        """One consumption, recorded on both lots (genealogy names only lots we know);
        one that would close a cycle is refused."""
        def command(made: Lot) -> list[Lot]:
            check_no_cycle(made, [component_lot], self._lots_recorded)
            component = self.lot(component_lot)
            record_consumption(made, {component_lot: component},
                               [Component(component_lot, quantity)], prov, self.clock())
            return [component]
        return self.change(Lot, lot_id(lot), lot, command)

    def record_genealogy(self, report: GenealogyReport) -> Outcome:
        """A lot made (opened if new) with its quantity and the component lots it consumed,
        recorded on both sides in one transaction. A message already recorded is a
        duplicate; an unknown component or a cycle is refused."""
        prov = report.provenance()
        for attempt in range(MAX_CONFLICT_RETRIES):
            made = self._lot_if_recorded(report.lot)
            if made is not None and report.message_id in made.seen_messages:
                return Outcome("duplicate", made.id)
            if made is None:
                made = Lot.open(report.lot, report.product, prov, self.clock())
            names = [c.lot for c in report.consumed]
            components = {name: self.lot(name) for name in dict.fromkeys(names)
                          if name != report.lot}
            check_no_cycle(made, names, self._lots_recorded)
            made.record_quantity(report.quantity, report.unit, report.supplier, prov,
                                 self.clock())
            record_consumption(made, components, list(report.consumed), prov, self.clock())
            try:
                self.save(made, *components.values())
                return Outcome("recorded", made.id)
            except IntegrityError:
                if attempt == MAX_CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _lot_if_recorded(self, lot: str) -> Lot | None:
        try:
            return self.lot(lot)
        except RecordNotFound:
            return None

    def _lots_recorded(self, lots: Iterable[str]) -> dict[str, Lot]:
        found = {name: self._lot_if_recorded(name) for name in lots}
        return {name: lot for name, lot in found.items() if lot is not None}

    def hold_lot(self, lot: str, prov: Provenance) -> Lot:
        return self.change(Lot, lot_id(lot), lot, lambda x: x.hold(prov, self.clock()))

    def release_lot(self, lot: str, prov: Provenance) -> Lot:
        return self.change(Lot, lot_id(lot), lot, lambda x: x.release(prov, self.clock()))

    # -- lot acceptance by sampling ----------------------------------------------------------

    def lot_acceptance(self, plan: str, lot: str) -> LotAcceptance:
        return self.load(LotAcceptance, lot_acceptance_id(plan, lot), f"{plan}/{lot}")

    def switching(self, plan: str, product: str, source: str) -> InspectionSwitching:
        return self.load(InspectionSwitching, switching_id(plan, product, source),
                         f"{plan}/{product}/{source}")

    def approve_reduced_inspection(self, plan: str, product: str, source: str,
                                   approved: bool, prov: Provenance) -> InspectionSwitching:
        """The responsible authority's approval (or its withdrawal) of reduced inspection."""
        return self.change(InspectionSwitching, switching_id(plan, product, source),
                           f"{plan}/{product}/{source}",
                           lambda r: r.approve_reduced(approved, prov, self.clock()))

    def report_production(self, plan: str, product: str, source: str, steady: bool,
                          prov: Provenance) -> InspectionSwitching:
        return self.change(InspectionSwitching, switching_id(plan, product, source),
                           f"{plan}/{product}/{source}",
                           lambda r: r.report_production(steady, prov, self.clock()))

    def resume_sampling(self, plan: str, product: str, source: str,
                        prov: Provenance) -> InspectionSwitching:
        return self.change(InspectionSwitching, switching_id(plan, product, source),
                           f"{plan}/{product}/{source}",
                           lambda r: r.resume(prov, self.clock()))

    # -- nonconformances and corrective actions ---------------------------------------------

    def raise_nonconformance(self, number: str, source: str, description: str,
                             lots: tuple[str, ...], prov: Provenance,
                             characteristic: str | None = None,
                             evidence: tuple[str, ...] = (), hold: bool = True) -> UUID:
        """Open a nonconformance and link it to (and by default hold) its lots, together."""
        nc = Nonconformance.raise_(number, source, description, lots, characteristic,
                                   evidence, prov, self.clock())
        affected = [self.lot(lot) for lot in lots]
        for lot in affected:
            lot.link_nonconformance(nc.id, prov, self.clock())
            if hold:
                lot.hold(prov.requiring_reason(f"hold lot {lot.lot}"), self.clock())
        return self.create(nc, *affected, key=number)

    def nonconformance(self, number: str) -> Nonconformance:
        return self.load(Nonconformance, nonconformance_id(number), number)

    def record_containment(self, number: str, action: str, prov: Provenance) -> Nonconformance:
        return self.change(Nonconformance, nonconformance_id(number), number,
                           lambda nc: nc.record_containment(action, prov, self.clock()))

    def disposition(self, number: str, disposition: str, approver: str,
                    prov: Provenance) -> Nonconformance:
        return self.change(Nonconformance, nonconformance_id(number), number,
                           lambda nc: nc.disposition_as(disposition, approver, prov,
                                                        self.clock()))

    def close_nonconformance(self, number: str, prov: Provenance) -> Nonconformance:
        def command(nc: Nonconformance) -> list[Lot]:
            nc.close(prov, self.clock())
            lots = [self.lot(lot) for lot in nc.lots]
            for lot in lots:
                lot.resolve_nonconformance(nc.id, prov, self.clock())
            return lots
        return self.change(Nonconformance, nonconformance_id(number), number, command)

    def open_corrective_action(self, number: str, nonconformance: str | None, problem: str,
                               prov: Provenance) -> UUID:
        nc_id = None
        if nonconformance is not None:
            nc_id = self.nonconformance(nonconformance).id
        return self.create(CorrectiveAction.open(number, nc_id, problem, prov, self.clock()),
                           key=number)

    def corrective_action(self, number: str) -> CorrectiveAction:
        return self.load(CorrectiveAction, corrective_action_id(number), number)

    def update_corrective_action(self, number: str,
                                 command: Callable[[CorrectiveAction, datetime], Any]
                                 ) -> CorrectiveAction:
        """Run one of CorrectiveAction's commands (root cause, plan/complete an action,
        effectiveness, close) with the recorded time."""
        return self.change(CorrectiveAction, corrective_action_id(number), number,
                           lambda ca: command(ca, self.clock()))

    # -- history --------------------------------------------------------------------------------

    def history(self, aggregate_id: UUID) -> list[Any]:
        """Every event of a record, oldest first."""
        return list(self.events.get(aggregate_id))

    def as_recorded_at(self, aggregate_id: UUID, when: datetime) -> Aggregate | None:
        """The record as qrec knew it at ``when`` (recorded time); None if not yet recorded."""
        return record_as_recorded_at(self, aggregate_id, when)


def _kind(cls: type) -> str:
    return "".join(f" {c.lower()}" if c.isupper() else c for c in cls.__name__).strip()


