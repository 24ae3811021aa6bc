"""Time travel over one record's events, on two time axes.

- Recorded time (the event timestamp): what qrec *knew* at a moment. Replaying the events
  recorded up to then gives the record as anyone reading it then would have seen it.
- Occurred time (``provenance.occurred_at``, or the recorded time when the source gave
  none): what was *true* at a moment, as far as we know now. A correction is true from the
  time of what it corrects (a result corrected at 15:00 for a measurement taken at 12:00
  changes what was true at 12:00), so it counts at that time, not at its own.

Both answers are made from the events alone; nothing here reads a clock or a database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from domain.acceptance import LotAcceptance
from domain.calibration import Instrument
from domain.corrective_action import CorrectiveAction
from domain.inspection import Inspection, InspectionPlan
from domain.lot import Lot
from domain.nonconformance import Nonconformance
from domain.process import ControlPlan, ControlPlanRegister, ParameterReading
from domain.records import Record
from domain.switching import InspectionSwitching
from domain.trace import GaugeUsage


def restated(event: Record.Event) -> tuple[int, ...]:
    """The earlier results of an inspection that an event restates, by index."""
    if isinstance(event, Inspection.ResultCorrected):
        return (event.index,)
    if isinstance(event, Inspection.ResultsMarkedSuspect):
        return event.indices
    return ()


def recorded_at(event: Record.Event) -> datetime:
    return event.timestamp


def occurred_at(event: Record.Event) -> datetime:
    return event.provenance.occurred_at or event.timestamp


def apply_event(aggregate: Aggregate | None, event: Record.Event) -> Aggregate | None:
    """Apply one event, allowing gaps in the version sequence (an occurred-time replay
    leaves out the events that had not happened yet)."""
    if aggregate is not None:
        aggregate.version = event.originator_version - 1
    return cast(Aggregate | None, event.mutate(aggregate))


def replay(events: Iterable[Record.Event], start: Aggregate | None = None) -> Aggregate | None:
    aggregate = start
    for event in events:
        aggregate = apply_event(aggregate, event)
    return aggregate


def as_recorded_at(events: Iterable[Record.Event], when: datetime,
                   start: Aggregate | None = None) -> Aggregate | None:
    """The record as qrec knew it at ``when``; None if it was not yet recorded.

    ``start`` is a snapshot taken at or before ``when`` and ``events`` those after it."""
    aggregate = start
    for event in events:
        if recorded_at(event) > when:
            break
        aggregate = apply_event(aggregate, event)
    return aggregate


def valid_times(events: Sequence[Record.Event]) -> list[datetime]:
    """When each event became true: its occurred time, or for a correction or a suspect
    mark the occurred time of the (earliest) result it restates."""
    result_times: list[datetime] = []
    times: list[datetime] = []
    for event in events:
        when = occurred_at(event)
        earlier = [result_times[i] for i in restated(event) if 0 <= i < len(result_times)]
        if earlier:
            when = min(earlier)
        elif isinstance(event, Inspection.Performed | Inspection.ResultsRecorded):
            result_times.extend([when] * len(event.results))
        times.append(when)
    return times


def as_occurred_at(events: Sequence[Record.Event], when: datetime,
                   known_at: datetime | None = None) -> Aggregate | None:
    """The record as it truly was at ``when`` (occurred time), by what was recorded up to
    ``known_at`` (default: everything recorded so far). None if it did not exist yet."""
    known = [e for e in events if known_at is None or recorded_at(e) <= known_at]
    chosen = [e for e, t in zip(known, valid_times(known), strict=True) if t <= when]
    if not chosen or not isinstance(chosen[0], Record.Created):
        return None
    return replay(_marks_of_results_there(chosen))


def _marks_of_results_there(events: Iterable[Record.Event]) -> Iterator[Record.Event]:
    """A suspect mark counts from its earliest result; before its later results were
    measured it marks only the results already there."""
    count = 0
    for event in events:
        if isinstance(event, Inspection.Performed | Inspection.ResultsRecorded):
            count += len(event.results)
        elif isinstance(event, Inspection.ResultsMarkedSuspect) and \
                any(i >= count for i in event.indices):
            event = _marking_only(event, tuple(i for i in event.indices if i < count))
        yield event


def _marking_only(event: Any, indices: tuple[int, ...]) -> Record.Event:
    # Any: mypy does not see the fields an event class declares as replace() arguments.
    return cast(Record.Event, replace(event, indices=indices))


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a record's history: who, when (both times), what and why."""

    version: int
    event: str
    actor: str
    occurred_at: datetime | None
    recorded_at: datetime
    reason: str | None
    source: str
    summary: str


def event_name(event: Record.Event) -> str:
    return type(event).__qualname__


def history_entry(event: Record.Event) -> HistoryEntry:
    prov = event.provenance
    return HistoryEntry(version=event.originator_version, event=event_name(event),
                        actor=prov.actor, occurred_at=prov.occurred_at,
                        recorded_at=event.timestamp, reason=prov.reason, source=prov.source,
                        summary=summarize(event))


def summarize(event: Record.Event) -> str:
    """A sentence a quality engineer can read for one change."""
    describe = _SUMMARIES.get(type(event))
    return describe(event) if describe else event_name(event)


def _limits(lsl: float | None, usl: float | None) -> str:
    return f"[{'-inf' if lsl is None else lsl}, {'+inf' if usl is None else usl}]"


def _result(r: Any) -> str:
    judged = "conforming" if r.conforming else "NONCONFORMING"
    gauge = f" with {r.gauge} ({r.gauge_condition})" if r.gauge else ""
    return f"{r.characteristic} = {r.value:g} {r.unit} {_limits(r.lsl, r.usl)} {judged}{gauge}"


def _results(results: Sequence[Any]) -> str:
    shown = "; ".join(_result(r) for r in results[:3])
    more = f"; +{len(results) - 3} more" if len(results) > 3 else ""
    return shown + more


_SUMMARIES: dict[type, Callable[[Any], str]] = {
    Instrument.Registered: lambda e: (
        f"registered {e.kind} {e.tag} ({e.unit}, range {e.range[0]:g}..{e.range[1]:g}, "
        f"calibration every {e.interval_days} days, at {e.location})"),
    Instrument.CalibrationRecorded: lambda e: (
        f"calibrated by {e.performed_by}: {e.result}, certificate {e.certificate}, "
        f"next due {e.next_due:%Y-%m-%d}"),
    Instrument.DueNoticed: lambda e: f"calibration {e.notice.replace('_', ' ')} "
    f"(due {e.next_due:%Y-%m-%d})",
    Instrument.Quarantined: lambda e: "quarantined",
    Instrument.ReleasedFromQuarantine: lambda e: "released from quarantine",
    Instrument.Retired: lambda e: "retired",
    InspectionPlan.Defined: lambda e: (
        f"defined plan {e.plan} rev {e.revision.revision} for {e.revision.product} "
        f"({e.revision.stage}, {len(e.revision.characteristics)} characteristics)"),
    InspectionPlan.RevisionReleased: lambda e: f"released revision {e.revision.revision}",
    Inspection.Performed: lambda e: (
        f"{e.header.stage} inspection of lot {e.header.lot} against {e.header.plan} "
        f"rev {e.header.plan_revision}: {e.verdict}; {_results(e.results)}"),
    Inspection.Opened: lambda e: (
        f"opened {e.header.stage} inspection of lot {e.header.lot} against {e.header.plan} "
        f"rev {e.header.plan_revision}"),
    Inspection.ResultsRecorded: lambda e: f"recorded {_results(e.results)}",
    Inspection.ResultCorrected: lambda e: (
        f"corrected result #{e.index} to {_result(e.result)}"
        + (f"; verdict now {e.verdict}" if e.verdict else "")),
    Inspection.ResultsMarkedSuspect: lambda e: (
        f"marked result{'s' if len(e.indices) > 1 else ''} "
        f"{', '.join(f'#{i}' for i in e.indices)} suspect (gauge {e.gauge})"),
    Inspection.Closed: lambda e: f"closed: {e.verdict}",
    ControlPlan.Defined: lambda e: (
        f"defined control plan {e.plan} rev {e.revision.revision} for {e.revision.product}"),
    ControlPlan.RevisionReleased: lambda e: f"released revision {e.revision.revision}",
    ControlPlanRegister.Started: lambda e: "started the control plan register",
    ControlPlanRegister.PlanListed: lambda e: f"listed control plan {e.plan} ({e.product})",
    ParameterReading.Recorded: lambda e: (
        f"{e.header.operation}.{e.header.parameter} = {e.value:g} {e.unit} on lot "
        f"{e.header.lot} {_limits(e.lsl, e.usl)} "
        + ("within limits" if e.within_limits else f"OUT OF LIMITS: {e.reaction}")),
    Lot.Opened: lambda e: f"opened lot {e.lot}" + (f" of {e.product}" if e.product else ""),
    Lot.OperationStarted: lambda e: f"started {e.operation}"
    + (f" at {e.station}" if e.station else ""),
    Lot.OperationCompleted: lambda e: f"completed {e.operation}",
    Lot.ComponentConsumed: lambda e: f"consumed component lot {e.component_lot}"
    + (f" ({e.quantity:g})" if e.quantity is not None else ""),
    Lot.ConsumedInto: lambda e: f"consumed into lot {e.lot}"
    + (f" ({e.quantity:g})" if e.quantity is not None else ""),
    Lot.QuantityRecorded: lambda e: f"quantity {e.quantity:g} {e.unit}"
    + (f" from supplier {e.supplier}" if e.supplier else ""),
    LotAcceptance.Planned: lambda e: (
        f"lot {e.lot} sampled under {e.plan}: {e.single.severity} inspection, lot of "
        f"{e.lot_size}, code letter {e.single.lot_letter}, plan {e.single.letter}: n "
        f"{e.single.sample_size}, Ac {e.single.acceptance}, Re {e.single.rejection}"),
    LotAcceptance.UnitsCounted: lambda e: (
        f"counted {len(e.units)} sampled unit(s), "
        f"{sum(u.nonconforming for u in e.units)} nonconforming"),
    LotAcceptance.Decided: lambda e: (
        f"{e.verdict}: {e.nonconforming} nonconforming in {e.sample_size} (Ac "
        f"{e.acceptance}, Re {e.rejection}, {e.severity} inspection)"),
    InspectionSwitching.Started: lambda e: (
        f"started switching for {e.plan}, {e.product}, {e.source}: normal inspection"),
    InspectionSwitching.LotCounted: lambda e: (
        f"lot {e.lot} {'accepted' if e.accepted else 'not accepted'}"
        + (f"; switching score {e.score}" if e.score is not None else "")),
    InspectionSwitching.Switched: lambda e: (
        f"{e.from_severity} -> {e.to_severity} by {e.rule}"
        + (f" (lots {', '.join(e.lots)})" if e.lots else "")),
    InspectionSwitching.ReducedApproval: lambda e: (
        "reduced inspection " + ("approved" if e.approved else "no longer approved")),
    InspectionSwitching.ProductionReported: lambda e: (
        "production " + ("steady" if e.steady else "irregular")),
    Lot.Held: lambda e: "put on hold",
    Lot.Released: lambda e: "released from hold",
    Lot.NonconformanceLinked: lambda e: f"linked nonconformance {e.nonconformance}",
    Lot.NonconformanceResolved: lambda e: f"resolved nonconformance {e.nonconformance}",
    Lot.Moved: lambda e: e.movement + (f" ({e.customer})" if e.customer else ""),
    Nonconformance.Raised: lambda e: (
        f"raised {e.number} ({e.source}): {e.description}; lots {', '.join(e.lots)}"),
    Nonconformance.LotAdded: lambda e: f"added lot {e.lot}",
    Nonconformance.EvidenceAdded: lambda e: f"added evidence {', '.join(e.evidence)}",
    Nonconformance.ContainmentRecorded: lambda e: f"containment: {e.action}",
    Nonconformance.SuspectLotsListed: lambda e: f"listed {len(e.suspects)} suspect lot(s)",
    Nonconformance.TaskAssigned: lambda e: f"assigned to {e.assignee}: {e.task}",
    GaugeUsage.Started: lambda e: f"started tracing uses of gauge {e.tag}",
    GaugeUsage.UsesRecorded: lambda e: f"recorded {len(e.uses)} use(s)",
    GaugeUsage.PeriodClosed: lambda e: f"closed the period at calibration {e.calibrated_at}",
    Nonconformance.Dispositioned: lambda e: (
        f"dispositioned {e.disposition}, approved by {e.approver}"),
    Nonconformance.Closed: lambda e: "closed",
    CorrectiveAction.Opened: lambda e: f"opened {e.number}: {e.problem}",
    CorrectiveAction.RootCauseRecorded: lambda e: f"root cause: {e.cause}"
    + (f" ({e.method})" if e.method else ""),
    CorrectiveAction.ActionPlanned: lambda e: (
        f"planned: {e.action.description} (owner {e.action.owner}, "
        f"due {e.action.due:%Y-%m-%d})"),
    CorrectiveAction.ActionCompleted: lambda e: f"completed action #{e.index}: {e.evidence}",
    CorrectiveAction.EffectivenessChecked: lambda e: (
        f"effectiveness {'verified' if e.effective else 'NOT verified'}: {e.evidence}"),
    CorrectiveAction.Closed: lambda e: "closed",
}


# -- reading a record from the application's stores -----------------------------------------

def latest_snapshot_at(snapshots: Iterable[Any], when: datetime) -> Aggregate | None:
    """From snapshots newest first, the record as of the newest one whose last event was
    recorded at or before ``when``."""
    for snapshot in snapshots:
        aggregate = cast(Aggregate, snapshot.mutate(None))
        if aggregate.modified_on <= when:
            return aggregate
    return None


def record_as_recorded_at(app: Application[UUID], record: UUID,
                          when: datetime) -> Aggregate | None:
    """What qrec knew of a record at ``when``: from the newest snapshot before then (if
    the application takes snapshots) and the events recorded after it, up to ``when``."""
    start = None
    if app.snapshots is not None:
        start = latest_snapshot_at(app.snapshots.get(record, desc=True), when)
    events = app.events.get(record, gt=None if start is None else start.version)
    return as_recorded_at(cast(Iterable[Record.Event], events), when, start)


def record_as_occurred_at(app: Application[UUID], record: UUID, when: datetime,
                          known_at: datetime | None = None) -> Aggregate | None:
    """What was true of a record at ``when`` (occurred time), as recorded by ``known_at``.
    Reads every event: a correction recorded late may change any earlier moment."""
    events = cast(list[Record.Event], list(app.events.get(record)))
    return as_occurred_at(events, when, known_at)
