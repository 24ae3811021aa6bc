"""A unit of work over the write model: the records a batch of decisions read and made,
cached so later decisions in the same batch see earlier ones, and saved together."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.domain import Aggregate

A = TypeVar("A", bound=Aggregate)


class UnitOfWork:
    def __init__(self, repository: Repository[UUID], clock: Callable[[], datetime]) -> None:
        self.repository, self.clock = repository, clock
        self.records: dict[UUID, Aggregate | None] = {}

    def get(self, cls: type[A], record_id: UUID) -> A | None:
        if record_id not in self.records:
            try:
                self.records[record_id] = self.repository.get(record_id)
            except AggregateNotFoundError:
                self.records[record_id] = None
        found = self.records[record_id]
        return found if isinstance(found, cls) else None

    def add(self, record: Aggregate) -> None:
        self.records[record.id] = record

    def changed(self) -> list[Aggregate]:
        return [r for r in self.records.values() if r is not None and r.pending_events]
