"""QualityRecords: the use cases of qrec's write model, as one eventsourcing Application."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import IntegrityError

from domain.calibration import Instrument, ReferenceStandard, TestPoint, instrument_id
from domain.records import Provenance, Record, RecordExists, RecordNotFound

A = TypeVar("A", bound=Aggregate)
Clock = Callable[[], datetime]

MAX_CONFLICT_RETRIES = 5


def _library_clock() -> datetime:
    return DomainEvent.create_timestamp()


class QualityRecords(Application[UUID]):
    name = "qrec"
    env = {"MAPPER_TOPIC": "domain.encoding:TypedMapper"}
    snapshotting_intervals = {Instrument: 50}

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = _library_clock) -> None:
        super().__init__(env)
        self.clock = clock

    # -- loading and saving -------------------------------------------------------------

    def load(self, cls: type[A], aggregate_id: UUID, key: object,
             version: int | None = None) -> A:
        try:
            aggregate = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise RecordNotFound(cls.__name__.lower(), key) from None
        if not isinstance(aggregate, cls):
            raise RecordNotFound(cls.__name__.lower(), key)
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def create(self, aggregate: Record, key: object) -> UUID:
        """Save a new record; a record of that id already there is a RecordExists."""
        try:
            self.save(aggregate)
        except IntegrityError:
            raise RecordExists(type(aggregate).__name__.lower(), key) from None
        return aggregate.id

    def change(self, cls: type[A], aggregate_id: UUID, key: object,
               command: Callable[[A], Iterable[Aggregate] | None]) -> A:
        """Load a record, run a command on it, save; retried on a concurrent write.

        The command may return other records it changed: they commit together."""
        for attempt in range(MAX_CONFLICT_RETRIES):
            aggregate = self.load(cls, aggregate_id, key)
            also = command(aggregate) or ()
            try:
                self.save(aggregate, *also)
                return aggregate
            except IntegrityError:
                if attempt == MAX_CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    # -- instruments --------------------------------------------------------------------

    def register_instrument(self, tag: str, kind: str, unit: str, range: tuple[float, float],
                            resolution: float, tolerance: float, interval_days: int,
                            location: str, prov: Provenance) -> UUID:
        gauge = Instrument.register(tag, kind, unit, range, resolution, tolerance,
                                    interval_days, location, prov, self.clock())
        return self.create(gauge, tag)

    def instrument(self, tag: str, version: int | None = None) -> Instrument:
        return self.load(Instrument, instrument_id(tag), tag, version)

    def record_calibration(self, tag: str, performed_at: datetime, performed_by: str,
                           certificate: str, standard: ReferenceStandard | None,
                           uncertainty: float | None, points: tuple[TestPoint, ...],
                           result: str, prov: Provenance) -> Instrument:
        return self.change(Instrument, instrument_id(tag), tag, lambda g: g.record_calibration(
            performed_at, performed_by, certificate, standard, uncertainty, points, result,
            prov, self.clock()))

    def quarantine_instrument(self, tag: str, prov: Provenance) -> Instrument:
        return self.change(Instrument, instrument_id(tag), tag,
                           lambda g: g.quarantine(prov, self.clock()))

    def release_instrument(self, tag: str, prov: Provenance) -> Instrument:
        return self.change(Instrument, instrument_id(tag), tag,
                           lambda g: g.release(prov, self.clock()))

    def retire_instrument(self, tag: str, prov: Provenance) -> Instrument:
        return self.change(Instrument, instrument_id(tag), tag,
                           lambda g: g.retire(prov, self.clock()))

    # -- history --------------------------------------------------------------------------

    def history(self, aggregate_id: UUID) -> Iterator[Any]:
        """Every event of a record, oldest first."""
        return iter(self.events.get(aggregate_id))
