"""A record's key (`lot:LOT-0001`, `instrument:G-0042`), the `kind:key` form `qrec history`
takes, named from the record's first event.

Record ids are uuid5 of `kind:key` (domain.records.record_id), so a key is never guessed: a
candidate drawn from the first event's own values is given only when it makes the record's
id. Kinds follow the record class (`CorrectiveAction` -> `corrective-action`, or its last
word: `ParameterReading` -> `reading`); keys are `source/message id` of a line's records, one
of the event's text values, or two or three of them joined by `/` in any order (`plan/lot`
of a lot's acceptance, `plan/characteristic/line` of a chart). A record whose first event
does not carry its key (an inspection opened by hand: its number is not in the event) has
none.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterator
from itertools import permutations
from typing import Any
from uuid import UUID

from domain.records import record_id

# Event fields that are never part of a record's key.
NOT_KEYS = {"timestamp", "originator_topic"}
# Records with one fixed id, not named by any value of their events.
FIXED_KEYS = {"ControlPlanRegister": "register:control-plans"}


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def candidate_kinds(record_class: str) -> list[str]:
    kind = kebab(record_class)
    return [kind, kind.rpartition("-")[2]] if "-" in kind else [kind]


def candidate_keys(state: dict[str, Any]) -> Iterator[str]:
    provenance = state.get("provenance") or {}
    if provenance.get("source") and provenance.get("source_message_id"):
        yield f"{provenance['source']}/{provenance['source_message_id']}"
    values = [v for k, v in state.items() if isinstance(v, str) and v and k not in NOT_KEYS]
    for size in (1, 2, 3):
        for parts in permutations(values, size):
            yield "/".join(parts)


def key_of(record: UUID, record_class: str, first_state: dict[str, Any]) -> str | None:
    """`kind:key` of a record from the decoded state of its first event, or None."""
    if record_class in FIXED_KEYS:
        return FIXED_KEYS[record_class]
    for kind in candidate_kinds(record_class):
        for key in candidate_keys(first_state):
            if record_id(kind, key) == record:
                return f"{kind}:{key}"
    return None


FirstEvent = Callable[[UUID], tuple[str, dict[str, Any]] | None]


class RecordKeys:
    """Keys of the records seen lately (least recently used dropped past ``size``): the
    relay names every event's record without reading its first event per message."""

    def __init__(self, first_event: FirstEvent, size: int = 50_000) -> None:
        self.first_event, self.size = first_event, size
        self.known: OrderedDict[UUID, str | None] = OrderedDict()
        self.reads = 0  # first events read from the store (cache misses)

    def key(self, record: UUID, record_class: str, version: int,
            state: dict[str, Any]) -> str | None:
        """The key of ``record``; ``state`` is this event's decoded state, enough when it
        is the record's first event."""
        if record in self.known:
            self.known.move_to_end(record)
            return self.known[record]
        if version == 1:
            found = key_of(record, record_class, state)
        else:
            self.reads += 1
            first = self.first_event(record)
            found = None if first is None else key_of(record, first[0], first[1])
        self.known[record] = found
        if len(self.known) > self.size:
            self.known.popitem(last=False)
        return found
