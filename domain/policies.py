"""Quality policies: how qrec reacts to what it records. Each reaction is itself a record
whose provenance names the event that caused it (causation id).

Every policy is idempotent: run again over events it has seen, it records nothing new
(new records have ids derived from the causing event; additions skip what is there).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from domain.acceptance import (
    LotAcceptance,
    LotSizeUnknown,
    SampledUnit,
    lot_acceptance_id,
)
from domain.calibration import Instrument
from domain.inspection import (
    Characteristic,
    Inspection,
    InspectionHeader,
    InspectionPlan,
    PlanRevision,
    plan_id,
)
from domain.lot import Lot, lot_id
from domain.nonconformance import Nonconformance, SuspectLot, nonconformance_id
from domain.process import ParameterReading
from domain.records import Provenance, QualityError, Record
from domain.sampling_tables import plan_for_lot
from domain.spc import (
    INDIVIDUALS,
    ChartBaseline,
    ChartPoint,
    ControlChart,
    chart_baseline_id,
    control_chart_id,
)
from domain.switching import DISCONTINUED, InspectionSwitching, switching_id
from domain.trace import GaugeUsage, GaugeUse, gauge_usage_id
from domain.unit_of_work import UnitOfWork

Policy = Callable[[UnitOfWork, Any, int], None]


def event_ref(event: Record.Event) -> str:
    return f"{event.originator_id}:{event.originator_version}"


def _reaction(policy: str, cause: Record.Event, reason: str) -> Provenance:
    return Provenance(actor=f"policy:{policy}", source="policy", reason=reason,
                      occurred_at=cause.provenance.occurred_at,
                      correlation_id=cause.provenance.correlation_id or event_ref(cause),
                      causation_id=event_ref(cause))


def _number(prefix: str, cause: Record.Event) -> str:
    return f"{prefix}-{hashlib.sha256(event_ref(cause).encode()).hexdigest()[:10].upper()}"


# -- out of spec ------------------------------------------------------------------------------

def when_result_out_of_spec_open_nonconformance(uow: UnitOfWork, event: Any,
                                                 position: int) -> None:
    """A nonconforming result does what its characteristic's reaction plan says: hold the
    lot (the default), segregate the unit, hold the lot and stop the line, or nothing yet
    for a sampled characteristic (the lot's acceptance number decides). A repeat on the
    same lot and characteristic joins the open nonconformance."""
    if all(result.conforming for result in event.results):
        return
    header = event.header if not isinstance(event, Inspection.ResultsRecorded) else \
        _inspection_header(uow, event)
    revision = _revision(uow, header)
    for index, result in enumerate(event.results):
        if not result.conforming:
            reaction = _reaction_of(revision, result.characteristic)
            if reaction == "sampled":
                continue
            evidence = f"{event.originator_id}#{index}"
            finding = (f"{result.characteristic} = {result.value} {result.unit} outside "
                       f"{result.lsl}..{result.usl}")
            if reaction == "segregate":
                finding = f"unit {header.part or evidence} segregated: {finding}"
            task = (f"stop line {header.line or 'manual'}", "production") \
                if reaction == "stop_line" else None
            _open_or_join(uow, event, header.lot, result.characteristic, "inspection",
                          finding, evidence, hold=reaction != "segregate", task=task)


def _revision(uow: UnitOfWork, header: InspectionHeader) -> PlanRevision | None:
    plan = uow.get(InspectionPlan, plan_id(header.plan))
    if plan is None:
        return None
    return next((r for r in plan.revisions if r.revision == header.plan_revision), None)


def _reaction_of(revision: PlanRevision | None, characteristic: str) -> str:
    if revision is None:
        return "hold_lot"
    found = next((c for c in revision.characteristics if c.id == characteristic), None)
    return "hold_lot" if found is None else found.reaction


def when_reading_out_of_limits_open_nonconformance(uow: UnitOfWork, event: Any,
                                                   position: int) -> None:
    if event.within_limits:
        return
    h = event.header
    _open_or_join(uow, event, h.lot, f"{h.operation}.{h.parameter}", "process",
                  f"{h.parameter} = {event.value} {event.unit} outside {event.lsl}..{event.usl}"
                  f" (reaction: {event.reaction})", str(event.originator_id))


def _inspection_header(uow: UnitOfWork, event: Any) -> Any:
    inspection = uow.get(Inspection, event.originator_id)
    assert inspection is not None
    return inspection.header


def _open_or_join(uow: UnitOfWork, cause: Any, lot_no: str, characteristic: str, source: str,
                  finding: str, evidence: str, *, hold: bool = True,
                  task: tuple[str, str] | None = None, policy: str = "out-of-spec") -> None:
    lot = uow.get(Lot, lot_id(lot_no))
    if lot is None:
        return
    prov = _reaction(policy, cause, finding)
    for nc_id in sorted(lot.open_nonconformances):
        nc = uow.get(Nonconformance, nc_id)
        if nc is not None and nc.status != "closed" and nc.characteristic == characteristic:
            nc.add_evidence((evidence,), prov, uow.clock())
            return
    number = _number("NC", cause) + f"-{characteristic}"
    if uow.get(Nonconformance, nonconformance_id(number)) is not None:
        return  # raised when this event was first seen
    nc = Nonconformance.raise_(number, source, finding, (lot_no,), characteristic,
                               (evidence,), prov, uow.clock())
    if task is not None:
        nc.assign_task(task[0], task[1], (lot_no,), prov, uow.clock())
    uow.add(nc)
    lot.link_nonconformance(nc.id, prov, uow.clock())
    if hold:
        lot.hold(prov, uow.clock())


# -- gauge use and reverse trace -------------------------------------------------------------

def when_results_recorded_note_gauge_uses(uow: UnitOfWork, event: Any, position: int) -> None:
    header = event.header if not isinstance(event, Inspection.ResultsRecorded) else \
        _inspection_header(uow, event)
    at = event.provenance.occurred_at or event.timestamp
    by_gauge: dict[str, list[GaugeUse]] = defaultdict(list)
    for index, r in enumerate(event.results):
        if r.gauge is not None:
            by_gauge[r.gauge].append(GaugeUse(event.originator_id, index, header.lot,
                                              r.characteristic, header.stage, at))
    prov = _reaction("gauge-usage", event, "results measured with the gauge")
    for tag, uses in by_gauge.items():
        uow.defer(("gauge-usage", tag), partial(_record_uses, uow, tag, prov), *uses)


def _record_uses(uow: UnitOfWork, tag: str, prov: Provenance, uses: list[GaugeUse]) -> None:
    _usage(uow, tag, prov).record_uses(tuple(uses), prov, uow.clock())


def _usage(uow: UnitOfWork, tag: str, prov: Provenance) -> GaugeUsage:
    usage = uow.get(GaugeUsage, gauge_usage_id(tag))
    if usage is None:
        usage = GaugeUsage.start(tag, prov, uow.clock())
        uow.add(usage)
    return usage


def when_gauge_fails_calibration_trace_suspect_lots(uow: UnitOfWork, event: Any,
                                                    position: int) -> None:
    """As found out of tolerance: every result the gauge measured since it was last left
    in tolerance is suspect, and so is every lot those results touched."""
    uow.flush()  # the uses noted earlier in this batch count
    gauge = uow.get(Instrument, event.originator_id)
    assert gauge is not None
    prov = _reaction("reverse-trace", event,
                     f"{gauge.tag} found out of tolerance at calibration {event.certificate}")
    usage = _usage(uow, gauge.tag, prov)
    if event.result == "fail":
        _trace(uow, event, gauge, usage, prov)
    if gauge.as_left_within_tolerance(event.points):
        usage.close_period(event.performed_at, prov, uow.clock())


def _trace(uow: UnitOfWork, event: Any, gauge: Instrument, usage: GaugeUsage,
           prov: Provenance) -> None:
    number = f"NC-CAL-{gauge.tag}-{event.originator_version}"
    if uow.get(Nonconformance, nonconformance_id(number)) is not None:
        return
    suspects = usage.suspects(usage.period_start, event.performed_at)
    by_lot: dict[str, list[GaugeUse]] = defaultdict(list)
    for use in suspects:
        by_lot[use.lot].append(use)
    found = uow.get_many(Lot, [lot_id(no) for no in by_lot])
    lots = {no: found[lot_id(no)] for no in by_lot}
    made = _lots_made_from(uow, lots)
    listed = tuple(SuspectLot(no, lot.status if lot else "unknown",
                              tuple(u.ref for u in by_lot[no])) for no, lot in lots.items())
    listed += tuple(SuspectLot(no, lot.status, (), tuple(via))
                    for no, (lot, via) in made.items())
    downstream = f"; {len(made)} lots made from them are suspect too" if made else ""
    nc = Nonconformance.raise_(
        number, "calibration", f"{gauge.tag} found out of tolerance ({event.certificate}): "
        f"{len(suspects)} results in {len(by_lot)} lots since "
        f"{usage.period_start or 'registration'} are suspect{downstream}",
        tuple(by_lot) + tuple(made), None, (event_ref(event),), prov, uow.clock())
    nc.list_suspect_lots(listed, prov, uow.clock())
    shipped = tuple(s.lot for s in listed if s.status == "shipped")
    if shipped:
        nc.assign_task("notify customers of suspect shipped lots", "customer-quality",
                       shipped, prov, uow.clock())
    uow.add(nc)
    for lot in [*lots.values(), *(lot for lot, _ in made.values())]:
        if lot is not None:
            lot.link_nonconformance(nc.id, prov, uow.clock())
    _mark_suspect(uow, suspects, gauge.tag, prov)


def _lots_made_from(uow: UnitOfWork, suspects: dict[str, Lot | None]
                    ) -> dict[str, tuple[Lot, list[str]]]:
    """Every lot made from a suspect lot, however many steps down the genealogy, with the
    suspect lots it was made from; read a level at a time."""
    made: dict[str, tuple[Lot, list[str]]] = {}
    frontier = [lot for lot in suspects.values() if lot is not None]
    while frontier:
        via: dict[str, list[str]] = defaultdict(list)
        for lot in frontier:
            for child in lot.consumers:
                if child not in suspects and child not in made:
                    via[child].append(lot.lot)
        found = uow.get_many(Lot, [lot_id(child) for child in via])
        frontier = []
        for child, parents in via.items():
            child_lot = found[lot_id(child)]
            if child_lot is not None:
                made[child] = (child_lot, parents)
                frontier.append(child_lot)
    return made


def _mark_suspect(uow: UnitOfWork, suspects: list[GaugeUse], tag: str,
                  prov: Provenance) -> None:
    """One event per inspection, for all its suspect results (those already suspect are
    left out by the inspection itself)."""
    by_inspection: dict[UUID, list[int]] = defaultdict(list)
    for use in suspects:
        by_inspection[use.inspection].append(use.index)
    inspections = uow.get_many(Inspection, by_inspection)
    for inspection_id, indices in by_inspection.items():
        inspection = inspections[inspection_id]
        if inspection is not None:
            inspection.mark_suspect(indices, tag, prov, uow.clock())


# -- calibration due ---------------------------------------------------------------------------

def check_calibrations_due(uow: UnitOfWork, gauges: list[Instrument], at: datetime,
                           due_soon_days: int, quarantine_overdue: bool) -> list[str]:
    """The scheduled check: note each calibration due soon or overdue once per period, and
    quarantine overdue gauges if the plant says so. Returns what it noted."""
    noted = []
    for gauge in gauges:
        prov = Provenance(actor="policy:calibration-due", source="policy", occurred_at=at,
                          reason=f"calibration due {gauge.next_due:%Y-%m-%d}"
                          if gauge.next_due else None)
        notice = gauge.notice_due(at, due_soon_days, prov, uow.clock())
        if notice is None:
            continue
        noted.append(f"{gauge.tag} {notice}")
        if notice == "overdue" and quarantine_overdue and gauge.status == "in_calibration":
            gauge.quarantine(prov, uow.clock())
        uow.add(gauge)
    return noted


# -- lot acceptance by sampling -------------------------------------------------------------

def when_unit_inspected_count_it_for_acceptance(uow: UnitOfWork, event: Any,
                                                position: int) -> None:
    """Each complete inspection under a plan that samples is one unit of its lot's sample
    (nonconforming when the inspection is rejected); once the sample is complete the lot
    is accepted or rejected by its acceptance number, the switching record counts it, and
    a rejected lot is held with a nonconformance."""
    if isinstance(event, Inspection.Closed):
        inspection = uow.get(Inspection, event.originator_id)
        assert inspection is not None
        header = inspection.header
    else:
        header = event.header
    revision = _revision(uow, header)
    if revision is None or revision.sampling is None:
        return
    unit = SampledUnit(event.originator_id, event.verdict == "reject")
    uow.defer(("acceptance", header.plan, header.lot),
              partial(_count_for_acceptance, uow, header, revision), (unit, event))


def _count_for_acceptance(uow: UnitOfWork, header: InspectionHeader, revision: PlanRevision,
                          items: list[tuple[SampledUnit, Any]]) -> None:
    lot = uow.get(Lot, lot_id(header.lot))
    if lot is None:
        return
    acceptance = uow.get(LotAcceptance, lot_acceptance_id(header.plan, header.lot))
    if acceptance is None:
        acceptance = _plan_lot(uow, header, revision, lot, items[0][1])
    if acceptance is None or acceptance.verdict is not None:
        return
    room = max(acceptance.single.sample_size - len(acceptance.units), 1)
    fresh = [(u, e) for u, e in items if u.inspection not in acceptance.units]
    cause = fresh[min(room, len(fresh)) - 1][1] if fresh else items[-1][1]
    prov = _reaction("acceptance", cause, f"sampled units of lot {lot.lot}")
    acceptance.count_units(tuple(u for u, _ in fresh), prov, uow.clock())
    if acceptance.complete:
        _decide(uow, acceptance, lot, cause)


def _plan_lot(uow: UnitOfWork, header: InspectionHeader, revision: PlanRevision, lot: Lot,
              cause: Any) -> LotAcceptance | None:
    """The lot's single sampling plan, from its size and the inspection in force; none
    while sampling is discontinued (the lot is held instead)."""
    sampling = revision.sampling
    assert sampling is not None
    source = lot.supplier or header.line or "manual"
    prov = _reaction("acceptance", cause, f"sampling plan for lot {lot.lot}")
    switching = uow.get(InspectionSwitching, switching_id(header.plan, revision.product, source))
    if switching is None:
        switching = InspectionSwitching.start(header.plan, revision.product, source, prov,
                                          uow.clock())
        uow.add(switching)
    if switching.severity == DISCONTINUED:
        _open_or_join(uow, cause, lot.lot, f"sampling:{header.plan}", "inspection",
                      f"acceptance sampling of {switching.key} is discontinued: lot held "
                      "until corrective action", f"switching {switching.key}",
                      policy="acceptance")
        return None
    lot_size = int(lot.quantity) if lot.quantity else sampling.lot_size
    if lot_size is None:
        raise LotSizeUnknown(lot.lot, header.plan)
    single = plan_for_lot(lot_size, sampling.level, sampling.aql, switching.severity)
    acceptance = LotAcceptance.plan_lot(lot.lot, header.plan, switching.id, lot_size, single,
                                        prov, uow.clock())
    uow.add(acceptance)
    return acceptance


def _decide(uow: UnitOfWork, acceptance: LotAcceptance, lot: Lot, cause: Any) -> None:
    plan = acceptance.single
    prov = _reaction("acceptance", cause, f"sample of lot {lot.lot} complete")
    decided = acceptance.decide(prov, uow.clock())
    switching = uow.get(InspectionSwitching, acceptance.switching)
    assert switching is not None
    switching.count_lot(lot.lot, plan, decided.nonconforming, decided.between, prov,
                        uow.clock())
    if decided.verdict == "rejected":
        _open_or_join(uow, cause, lot.lot, f"sampling:{acceptance.plan}", "inspection",
                      f"lot rejected by sampling: {decided.nonconforming} nonconforming in "
                      f"{plan.sample_size} (Ac {plan.acceptance}, Re {plan.rejection}, "
                      f"{plan.severity} inspection, code letter {plan.letter}, AQL "
                      f"{plan.aql:g})", str(acceptance.id), policy="acceptance")


# -- SPC -----------------------------------------------------------------------------------------

def when_results_recorded_chart_them(uow: UnitOfWork, event: Any, position: int) -> None:
    """Chart each characteristic's results per line; its first results set the limits; a
    rule violation records an alarm with the rule, the points and the limits."""
    header = event.header if not isinstance(event, Inspection.ResultsRecorded) else \
        _inspection_header(uow, event)
    plan = uow.get(InspectionPlan, plan_id(header.plan))
    if plan is None:
        return
    revision = next(r for r in plan.revisions if r.revision == header.plan_revision)
    at = event.provenance.occurred_at or event.timestamp
    points: dict[str, list[ChartPoint]] = defaultdict(list)
    for index, r in enumerate(event.results):
        points[r.characteristic].append(
            ChartPoint(r.value, event.originator_id, index, at, position))
    prov = _reaction("spc", event, "results charted")
    for char_id, new in points.items():
        char = revision.characteristic(header.plan, char_id)
        if char.spc_rules:
            line = header.line or "manual"
            uow.defer(("chart", header.plan, char.id, line),
                      partial(_chart, uow, header.plan, char, line, prov), *new)


def _chart(uow: UnitOfWork, plan: str, char: Characteristic, line: str, prov: Provenance,
           batch: list[ChartPoint]) -> None:
    points = tuple(batch)
    chart = uow.get(ControlChart, control_chart_id(plan, char.id, line))
    if chart is None:
        baseline = uow.get(ChartBaseline, chart_baseline_id(plan, char.id, line))
        if baseline is None:
            baseline = ChartBaseline.start(plan, char.id, line, char.spc_baseline, prov,
                                           uow.clock())
            uow.add(baseline)
        points = baseline.collect(points, prov, uow.clock())
        if not baseline.complete:
            return
        chart = ControlChart.establish(
            plan, char.id, line, INDIVIDUALS, [p.value for p in baseline.points],
            char.limits(), prov, uow.clock(), rules=char.spc_rules)
        uow.add(chart)
    chart.chart(points, prov, uow.clock())


POLICIES: dict[type, tuple[Policy, ...]] = {
    Inspection.Performed: (when_results_recorded_note_gauge_uses,
                           when_result_out_of_spec_open_nonconformance,
                           when_results_recorded_chart_them,
                           when_unit_inspected_count_it_for_acceptance),
    Inspection.Closed: (when_unit_inspected_count_it_for_acceptance,),
    Inspection.ResultsRecorded: (when_results_recorded_note_gauge_uses,
                                 when_result_out_of_spec_open_nonconformance,
                                 when_results_recorded_chart_them),
    ParameterReading.Recorded: (when_reading_out_of_limits_open_nonconformance,),
    Instrument.CalibrationRecorded: (when_gauge_fails_calibration_trace_suspect_lots,),
}


def react(uow: UnitOfWork, event: Any, position: int) -> list[str]:
    """Run the policies for an event at ``position`` in the log. A policy that cannot act on
    it (a QualityError) records nothing for it and says why; the others still run."""
    problems = []
    for policy in POLICIES.get(type(event), ()):
        try:
            policy(uow, event, position)
        except QualityError as e:
            problems.append(f"{policy.__name__} at {position}: {type(e).__name__}: {e}")
    return problems
