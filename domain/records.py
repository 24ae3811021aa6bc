"""What every quality record shares: the record model carried by every event,
deterministic record ids, and the errors a quality engineer can act on."""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from functools import lru_cache
from hashlib import sha1
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

QREC_NAMESPACE = UUID("6f1c2a1e-8a4e-5b7e-9d3a-51e0c0a7d001")
_NAMESPACE_BYTES = QREC_NAMESPACE.bytes


@lru_cache(maxsize=1 << 16)
def record_id(kind: str, key: str) -> UUID:
    """The id of a record, from its natural key: repeating a command names the same record.

    uuid5(QREC_NAMESPACE, "kind:key"), spelled out so it costs less; cached because the
    write path names the same plans, gauges and lots over and over."""
    digest = sha1(_NAMESPACE_BYTES + f"{kind}:{key}".encode()).digest()
    return UUID(bytes=digest[:16], version=5)


T = TypeVar("T")


def quick_init(cls: type[T]) -> type[T]:
    """Give a frozen dataclass an ``__init__`` that fills the instance's dict directly.

    The one ``dataclass`` writes sets each field through ``object.__setattr__``, twice as
    slow (eight fields: ~2.9 us against ~1.4 us); intake builds some twenty such value
    objects per inspection message. Same parameters and defaults, and as frozen as before:
    only construction changes. Plain dataclasses only (no __post_init__, factories, slots,
    keyword-only or non-init fields)."""
    own = fields(cls)  # type: ignore[arg-type]
    if (hasattr(cls, "__post_init__") or hasattr(cls, "__slots__")
            or any(f.default_factory is not MISSING or not f.init or f.kw_only for f in own)):
        raise TypeError(f"quick_init: {cls.__name__} is not a plain dataclass")
    defaults = {f"_default_{f.name}": f.default for f in own if f.default is not MISSING}
    params = ", ".join(f.name if f.default is MISSING else f"{f.name}=_default_{f.name}"
                       for f in own)
    assignments = "".join(f"\n    d[{f.name!r}] = {f.name}" for f in own)
    namespace = dict(defaults)
    exec(f"def __init__(self, {params}):\n    d = self.__dict__{assignments}", namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", init)  # noqa: B010 (mypy: assigning to a method)
    return cls


@quick_init
@dataclass(frozen=True)
class Provenance:
    """Who did it, when at the source, where from, why, and what it follows from."""

    actor: str
    occurred_at: datetime | None = None
    source: str = "api"
    source_message_id: str | None = None
    reason: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    signature_meaning: str | None = None

    def requiring_reason(self, action: str) -> Provenance:
        if not (self.reason and self.reason.strip()):
            raise ReasonRequired(action)
        return self


class Record(Aggregate):
    """Base of every quality record: each event carries its provenance and the
    recorded time (the event timestamp) is passed in, never read from a clock here."""

    class Event(Aggregate.Event):
        provenance: Provenance

    class Created(Event, Aggregate.Created):
        pass

    def record(self, event_class: type[Record.Event], prov: Provenance, now: datetime,
               **fields: Any) -> None:
        self.trigger_event(event_class, provenance=prov, timestamp=now, **fields)


class QualityError(Exception):
    """A command that cannot be carried out, with a message for a quality engineer."""


class ReasonRequired(QualityError):
    def __init__(self, action: str) -> None:
        super().__init__(f"a reason is required to {action}")
        self.action = action


class RecordNotFound(QualityError):
    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"no {kind} record {key}")
        self.kind, self.key = kind, key


class RecordExists(QualityError):
    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key} is already recorded")
        self.kind, self.key = kind, key


class VersionConflict(QualityError):
    """The record changed since the version the caller saw: acting now would overwrite a
    change nobody read."""

    def __init__(self, kind: str, key: object, expected: int, actual: int) -> None:
        super().__init__(f"{kind} {key} is at version {actual}, not {expected}: "
                         "read it again before changing it")
        self.kind, self.key, self.expected, self.actual = kind, key, expected, actual


class WrongUnit(QualityError):
    def __init__(self, what: str, given: str, expected: str) -> None:
        super().__init__(f"{what} is in {expected}, not {given!r}")
        self.what, self.given, self.expected = what, given, expected


class LimitsInverted(QualityError):
    def __init__(self, what: str, lower: float, upper: float) -> None:
        super().__init__(f"{what}: lower limit {lower} is above upper limit {upper}")


class InvalidValue(QualityError):
    """A value out of its allowed range or of the wrong kind."""


@dataclass(frozen=True)
class Limits:
    """Specification limits with a unit; either side may be open."""

    unit: str
    lower: float | None = None
    upper: float | None = None

    @classmethod
    def checked(cls, what: str, unit: str, lower: float | None,
                upper: float | None) -> Limits:
        if not unit:
            raise InvalidValue(f"{what}: a unit is required")
        for limit in (lower, upper):
            if limit is not None and not math.isfinite(limit):
                raise InvalidValue(f"{what}: limit {limit} is not a finite number")
        if lower is not None and upper is not None and lower > upper:
            raise LimitsInverted(what, lower, upper)
        return cls(unit=unit, lower=lower, upper=upper)

    def check_unit(self, what: str, unit: str) -> None:
        if unit != self.unit:
            raise WrongUnit(what, unit, self.unit)

    def conforms(self, value: float) -> bool:
        if self.lower is not None and value < self.lower:
            return False
        return not (self.upper is not None and value > self.upper)
