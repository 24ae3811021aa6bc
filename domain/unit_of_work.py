"""A unit of work over the write model: the records a batch of decisions read and made,
cached so later decisions in the same batch see earlier ones, and saved together."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.domain import Aggregate

from domain.records import QualityError

A = TypeVar("A", bound=Aggregate)
# Reads many records at once (ids not found are left out): a port for the store's own batch
# read, so a decision over hundreds of records reads them in a few round trips, not one each.
ReadMany = Callable[[Sequence[UUID]], Mapping[UUID, Aggregate]]
# Brings records read earlier up to date, in place: applies each one's events recorded
# after its version, for all of them in a few round trips.
FastForward = Callable[[Sequence[Aggregate]], None]


class UnitOfWork:
    """``kept`` may hold records carried over from earlier batches of the same (only) writer
    of those records: they are used as they are, without reading the store again.

    ``earlier`` may hold records read by earlier batches that others also change: each is
    brought up to date by ``fast_forward`` (its newer events only) before its first use
    here, never trusted as it is. Without ``fast_forward`` they are read again in full."""

    def __init__(self, repository: Repository[UUID], clock: Callable[[], datetime],
                 kept: dict[UUID, Aggregate] | None = None,
                 read_many: ReadMany | None = None, *,
                 earlier: Mapping[UUID, Aggregate] | None = None,
                 fast_forward: FastForward | None = None) -> None:
        self.repository, self.clock = repository, clock
        self.read_many = read_many or self._read_one_by_one
        self.records: dict[UUID, Aggregate | None] = dict(kept or {})
        self.fast_forward = fast_forward
        self.earlier = dict(earlier or {}) if fast_forward is not None else {}
        self.deferred: dict[Hashable, tuple[Callable[[list[Any]], None], list[Any]]] = {}
        self.problems: list[str] = []

    def get(self, cls: type[A], record_id: UUID) -> A | None:
        if record_id not in self.records:
            self._bring_up_to_date([record_id])
        if record_id not in self.records:
            self.records[record_id] = self._read(record_id)
        found = self.records[record_id]
        return found if isinstance(found, cls) else None

    def get_many(self, cls: type[A], record_ids: Iterable[UUID]) -> dict[UUID, A | None]:
        """Like ``get`` for each id, reading the ones not yet here in one batch."""
        wanted = list(dict.fromkeys(record_ids))
        self._bring_up_to_date([i for i in wanted if i not in self.records])
        missing = [i for i in wanted if i not in self.records]
        if missing:
            found = self.read_many(missing)
            self.records.update((i, found.get(i)) for i in missing)
        return {i: self.get(cls, i) for i in wanted}

    def _bring_up_to_date(self, record_ids: Iterable[UUID]) -> None:
        """Take the earlier reads of these records, fast-forwarded, as this unit's own."""
        earlier = [self.earlier.pop(i) for i in record_ids if i in self.earlier]
        if earlier and self.fast_forward is not None:
            self.fast_forward(earlier)
            self.records.update((r.id, r) for r in earlier)

    def _read(self, record_id: UUID) -> Aggregate | None:
        try:
            return self.repository.get(record_id)
        except AggregateNotFoundError:
            return None

    def _read_one_by_one(self, record_ids: Sequence[UUID]) -> dict[UUID, Aggregate]:
        found = ((i, self._read(i)) for i in record_ids)
        return {i: record for i, record in found if record is not None}

    def add(self, record: Aggregate) -> None:
        self.records[record.id] = record

    def defer(self, key: Hashable, apply: Callable[[list[Any]], None], *items: Any) -> None:
        """Gather items for one change made once for the whole batch (one event for many
        points, say); ``apply`` runs with all of a key's items, in order, at ``flush``."""
        self.deferred.setdefault(key, (apply, []))[1].extend(items)

    def flush(self) -> None:
        """Make the deferred changes. One that a record refuses (a QualityError) is left
        out and noted in ``problems``; the others are made."""
        while self.deferred:
            deferred, self.deferred = self.deferred, {}
            for key, (apply, items) in deferred.items():
                try:
                    apply(items)
                except QualityError as e:
                    self.problems.append(f"{key}: {type(e).__name__}: {e}")

    def changed(self) -> list[Aggregate]:
        self.flush()
        return [r for r in self.records.values() if r is not None and r.pending_events]
