"""Runs the quality policies: follows the event log from its own tracked position and
commits each page's reactions together with the new position, so a crash anywhere
resumes without a reaction lost or repeated. Also runs the scheduled calibration-due check.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Notification, ProcessRecorder, Tracking
from eventsourcing.utils import get_topic

from domain.application import QualityRecords
from domain.calibration import Instrument
from domain.policies import POLICIES, check_calibrations_due, react
from domain.spc import ChartBaseline, ControlChart
from domain.trace import GaugeUsage
from domain.unit_of_work import UnitOfWork
from services.composition import Clock, construct, event_store_env, utc_now
from services.record_batches import batch_fast_forward, batch_reader
from services.settings import Settings

POLICY_TOPICS = sorted(get_topic(cls) for cls in POLICIES)
POLICY_OWNED = (GaugeUsage, ControlChart, ChartBaseline)
MAX_ATTEMPTS = 5
# Records others also change (lots, inspections, nonconformances, gauges) kept between
# pages, most recently used first: a trace reads the same hundreds of lots every time.
EARLIER_READS = 5_000


class TrackedQualityRecords(QualityRecords):
    """The write model with a recorder that commits a tracking position with events."""

    # The same application, so the same events table: eventsourcing names a subclass after
    # itself (its own tables on PostgreSQL) unless told otherwise.
    name = QualityRecords.name

    def construct_recorder(self) -> Any:
        return self.factory.process_recorder()


def build_tracked_records(settings: Settings, *, create_tables: bool = True,
                          clock: Clock = utc_now) -> TrackedQualityRecords:
    env = event_store_env(settings, create_tables=create_tables)
    if settings.uses_postgres:
        env["PROCESS_RECORDER_TOPIC"] = "services.pg_recorder:CopyProcessRecorder"
    return construct(settings, TrackedQualityRecords, env, clock=clock)


@dataclass
class PolicyStats:
    position: int = 0
    events: int = 0
    reactions: int = 0
    problems: int = 0
    conflicts: int = 0  # pages decided again because a record changed under them


class PolicyRunner:
    name = "qrec-policies"
    frozen = False  # gc.freeze() was called in this process

    def __init__(self, records: TrackedQualityRecords, page_size: int = 500) -> None:
        self.records, self.page_size = records, page_size
        self.stats = PolicyStats(position=self.position())
        # The policies are the only writers of these: keep them from page to page rather
        # than read them again. Dropped whenever a commit fails.
        self.kept: dict[UUID, Aggregate] = {}
        # Records others change too, as the last page left them: the next page applies only
        # what happened to them since (fast-forward) instead of reading them in full.
        self.earlier: dict[UUID, Aggregate] = {}
        self.read_many = batch_reader(records)
        self.fast_forward = batch_fast_forward(records)
        self.unsettled = False

    @property
    def recorder(self) -> ProcessRecorder:
        recorder = self.records.recorder
        assert isinstance(recorder, ProcessRecorder)
        return recorder

    def position(self) -> int:
        return self.recorder.max_tracking_id(self.name) or 0

    def run_page(self) -> int:
        """React to the next page of events; returns how many events it read."""
        conflicts = 0
        while True:
            start = self.position()
            notifications = self.recorder.select_notifications(
                start=start, limit=self.page_size, topics=POLICY_TOPICS,
                inclusive_of_start=False)
            if not notifications:
                return 0
            try:
                with self._forgetting_on_failure():
                    uow = self._decide(notifications)
                    self._commit(uow, notifications[-1].id)
            except IntegrityError:
                if self.position() != start:
                    continue  # another runner committed this page first: read on
                conflicts += 1  # a record changed under us: decide again on fresh state
                self.stats.conflicts += 1
                if conflicts == MAX_ATTEMPTS:
                    raise
                continue
            problems = uow.problems
            self.keep(uow)
            self.unsettled = True
            self.stats.position = notifications[-1].id
            self.stats.events += len(notifications)
            self.report(problems)
            return len(notifications)

    def _decide(self, notifications: Sequence[Notification]) -> UnitOfWork:
        uow = UnitOfWork(self.records.repository, self.records.clock, self.kept,
                         self.read_many, earlier=self.earlier, fast_forward=self.fast_forward)
        uow.problems.extend(p for n in notifications
                            for p in react(uow, self.records.mapper.to_domain_event(n), n.id))
        uow.flush()
        return uow

    @contextmanager
    def _forgetting_on_failure(self) -> Iterator[None]:
        """A failed page may have left kept records changed but unsaved: read them afresh."""
        try:
            yield
        except BaseException:
            self.kept.clear()
            self.earlier.clear()
            raise

    def keep(self, uow: UnitOfWork) -> None:
        for record_id, record in uow.records.items():
            if isinstance(record, POLICY_OWNED):
                self.kept[record_id] = record
            elif record is not None:
                self.earlier.pop(record_id, None)  # to the most recent end
                self.earlier[record_id] = record
        while len(self.earlier) > EARLIER_READS:
            del self.earlier[next(iter(self.earlier))]

    def report(self, problems: list[str]) -> None:
        self.stats.problems += len(problems)
        for problem in problems:
            print(f"qrec policies: {problem}", file=sys.stderr, flush=True)

    def _commit(self, uow: UnitOfWork, position: int) -> None:
        recordings = self.records.save(*uow.changed(), tracking=Tracking(self.name, position))
        self.stats.reactions += len(recordings)

    def catch_up(self) -> int:
        read = 0
        while n := self.run_page():
            read += n
        self.settle()
        return read

    def settle(self) -> None:
        """Once first caught up after reacting to something: what the runner holds then is
        mostly long-lived (at 1M results, 1M gauge uses, ~2M objects). Collect once, then
        freeze it, so the full collections Python starts on its own stop walking it: each
        took ~0.65 s in the middle of a trace. Only once per process: a frozen object that
        later becomes part of a reference cycle nobody holds is never freed, and freezing
        again and again in a long `qrec run` would keep adding to that (the other
        components' transient objects included)."""
        if self.unsettled and not PolicyRunner.frozen:
            gc.collect()
            gc.freeze()
            PolicyRunner.frozen = True
        self.unsettled = False

    def check_calibrations_due(self, at: datetime, settings: Settings) -> list[str]:
        uow = UnitOfWork(self.records.repository, self.records.clock)
        gauges = [g for g in (uow.get(Instrument, i) for i in self.instrument_ids())
                  if g is not None]
        noted = check_calibrations_due(uow, gauges, at, settings.due_soon_days,
                                       settings.quarantine_overdue)
        if uow.changed():
            self.records.save(*uow.changed())
        return noted

    def instrument_ids(self) -> list[UUID]:
        topic = get_topic(Instrument.Registered)
        ids: list[UUID] = []
        start = 0
        while page := self.recorder.select_notifications(
                start=start, limit=1000, topics=[topic], inclusive_of_start=False):
            ids.extend(UUID(str(n.originator_id)) for n in page)
            start = page[-1].id
        return ids


def run(ctx: Any, poll: float = 0.2, due_check_every: float = 3600.0) -> None:
    """`qrec run` component (a thread): follow the log until ctx.stop_flag is set."""
    runner = PolicyRunner(build_tracked_records(ctx.settings, create_tables=False))
    s = runner.stats
    ctx.status = lambda: f"policies at {s.position} ({s.reactions} reactions)"
    next_due_check = 0.0
    while not ctx.stop_flag.is_set():
        if time.monotonic() >= next_due_check:
            runner.check_calibrations_due(utc_now(), ctx.settings)
            next_due_check = time.monotonic() + due_check_every
        if not runner.run_page():
            runner.settle()
            ctx.stop_flag.wait(poll)
