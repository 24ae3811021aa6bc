"""A record's history as an auditor reads it: every event (who, when it occurred, when it
was recorded, what changed, why) and the record's state at a time, read from the event
store itself (not from a view that may lag)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.application import QualityRecords
from domain.records import InvalidValue, QualityError, Record, RecordNotFound, record_id
from domain.timetravel import as_occurred_at, history_entry, replay, valid_times

T = TypeVar("T")
MAX_LISTED = 12  # items of a list shown in a state, before "... N more"


def as_argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` as an argparse type: a value it refuses is a usage error with its reason."""
    def parse_argument(text: str) -> T:
        try:
            return parse(text)
        except QualityError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse_argument.__name__ = parse.__name__
    return parse_argument


def resolve_record(ref: str) -> UUID:
    """A record id from a UUID or ``kind:key`` (lot:LOT-0001, instrument:G-0042,
    inspection-plan:IP-100, nonconformance:NC-1, inspection:line:L1/L1-000001...)."""
    try:
        return UUID(ref)
    except ValueError:
        pass
    kind, sep, key = ref.partition(":")
    if not sep or not kind or not key:
        raise InvalidValue(f"a record is a UUID or kind:key (lot:LOT-0001), not {ref!r}")
    return record_id(kind, key)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is UTC; a bare date means the end of that day."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.max, tzinfo=UTC)
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidValue(f"not a time: {text!r} (use 2026-11-26 or "
                           "2026-11-26T12:00:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RecordHistory:
    """A record's events, those that count at the time asked for, and its state then."""

    record_id: UUID
    kind: str
    events: list[Record.Event]
    shown: list[Record.Event]
    state: Aggregate | None
    heading: str


def read_history(app: QualityRecords, record_ref: str, as_of: datetime | None = None,
                 by_occurred: bool = False) -> RecordHistory:
    """The history of a record and its state: now, as recorded at ``as_of`` (what qrec
    knew then) or, with ``by_occurred``, as it truly was at ``as_of`` by what we know now
    (corrections count from the time of what they correct)."""
    rid = resolve_record(record_ref)
    events: list[Record.Event] = list(app.events.get(rid))  # type: ignore[arg-type]
    if not events:
        kind, _, key = record_ref.partition(":")
        raise RecordNotFound(kind if key else "such", key or record_ref)
    kind = type(events[0]).__qualname__.split(".")[0]
    if as_of is None:
        return RecordHistory(rid, kind, events, events, replay(events), "now")
    if by_occurred:
        times = valid_times(events)
        shown = [e for e, t in zip(events, times, strict=True) if t <= as_of]
        return RecordHistory(rid, kind, events, shown, as_occurred_at(events, as_of),
                             f"as it was at {as_of.isoformat()} (occurred time, as known now)")
    shown = [e for e in events if e.timestamp <= as_of]
    return RecordHistory(rid, kind, events, shown, replay(shown),
                         f"as recorded at {as_of.isoformat()}")


def render_history(app: QualityRecords, record_ref: str, as_of: datetime | None = None,
                   by_occurred: bool = False) -> str:
    """``read_history`` as the text `qrec history` prints."""
    h = read_history(app, record_ref, as_of, by_occurred)
    lines = [f"{h.kind} {record_ref} ({h.record_id}): {len(h.events)} events"]
    if as_of is not None:
        lines.append(f"{len(h.shown)} of {len(h.events)} events count {h.heading}")
    lines += ["", _event_table(h.shown), "", f"State {h.heading}:"]
    lines += _state_lines(h.state) if h.state is not None else ["  (no such record yet)"]
    return "\n".join(lines)


def _event_table(events: list[Record.Event]) -> str:
    rows = [("v", "recorded", "occurred", "actor", "event", "what (why)")]
    for e in events:
        h = history_entry(e)
        why = f" (reason: {h.reason})" if h.reason else ""
        rows.append((str(h.version), _time(h.recorded_at), _time(h.occurred_at), h.actor,
                     h.event.split(".")[-1], h.summary + why))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True))
                     + "  " + r[5] for r in rows)


def _time(when: datetime | None) -> str:
    return "-" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _state_lines(state: Aggregate) -> list[str]:
    lines = [f"  version: {state.version}",
             f"  last recorded change: {_time(state.modified_on)}"]
    for name, value in sorted(vars(state).items()):
        if not name.startswith("_"):
            lines += _field_lines(name, value)
    return lines


def _field_lines(name: str, value: Any) -> list[str]:
    if isinstance(value, (list, tuple, set, frozenset)) and value and not isinstance(
            value, str):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        shown = [f"    [{i}] {_value(v)}" for i, v in enumerate(items[:MAX_LISTED])]
        more = [f"    ... {len(items) - MAX_LISTED} more"] if len(items) > MAX_LISTED else []
        return [f"  {name}: {len(items)}", *shown, *more]
    return [f"  {name}: {_value(value)}"]


def _value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return ", ".join(f"{f.name}={_value(getattr(value, f.name))}"
                         for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    return str(value)
