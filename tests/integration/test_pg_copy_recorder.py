"""The COPY recorder against the real PostgreSQL: the library's guarantees, kept.

Insert order must be commit order (a reader tailing the notification log never passes over
a row that commits later), a batch is all or nothing, and what is read back is what was
written.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from domain.application import QualityRecords
from domain.calibration import Instrument
from domain.lot import Lot
from domain.records import Provenance
from services.composition import build_records
from services.pg_recorder import CopyApplicationRecorder
from services.settings import Settings
from tests.conftest import ManualClock

pytestmark = pytest.mark.postgres

BATCHES_PER_WRITER = 40
EVENTS_PER_BATCH = 25


@pytest.fixture
def app(pg_settings: Settings, clock: ManualClock) -> Iterator[QualityRecords]:
    app = build_records(pg_settings, clock=clock)
    assert isinstance(app.recorder, CopyApplicationRecorder)
    yield app
    app.close()


def stored_batch(size: int) -> list[StoredEvent]:
    return [StoredEvent(uuid.uuid4(), 1, "tests:Event", f'{{"n":{n}}}'.encode())
            for n in range(size)]


def test_two_concurrent_writers_get_contiguous_ids_in_commit_order(app: QualityRecords
                                                                  ) -> None:
    recorder = app.recorder
    issued: list[list[int]] = []
    errors: list[BaseException] = []
    writers_done = threading.Event()

    def write() -> None:
        try:
            for _ in range(BATCHES_PER_WRITER):
                ids = recorder.insert_events(stored_batch(EVENTS_PER_BATCH))
                assert ids is not None
                issued.append(list(ids))
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    seen: list[int] = []

    def tail() -> None:
        # A reader following the log: if ids were handed out in another order than commits,
        # it would at some point see a later id before an earlier one had committed.
        try:
            while not (writers_done.is_set() and len(seen) == 2 * BATCHES_PER_WRITER
                       * EVENTS_PER_BATCH):
                start = seen[-1] + 1 if seen else 1
                for n in recorder.select_notifications(start, limit=500):
                    assert n.id == (seen[-1] + 1 if seen else 1), (
                        f"reader at {seen[-1] if seen else 0} saw {n.id}: a gap")
                    seen.append(n.id)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write) for _ in range(2)]
    reader = threading.Thread(target=tail)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writers_done.set()
    reader.join(timeout=60)

    assert not errors, errors
    total = 2 * BATCHES_PER_WRITER * EVENTS_PER_BATCH
    assert seen == list(range(1, total + 1))
    # Each batch got a run of ids of its own, not interleaved with the other writer's.
    for ids in issued:
        assert ids == list(range(ids[0], ids[0] + EVENTS_PER_BATCH))
    assert sorted(i for ids in issued for i in ids) == seen


def test_a_duplicate_event_raises_integrity_error_and_writes_nothing_of_its_batch(
        app: QualityRecords) -> None:
    recorder = app.recorder
    first = stored_batch(3)
    recorder.insert_events(first)
    before = recorder.max_notification_id()

    fresh = stored_batch(2)
    with pytest.raises(IntegrityError):
        recorder.insert_events([fresh[0], first[1], fresh[1]])

    assert recorder.max_notification_id() == before
    for e in fresh:
        assert recorder.select_events(e.originator_id) == []
    # The recorder goes on writing after the failure; the rolled-back batch leaves only a
    # gap in the sequence, as with the library's own recorder.
    ids = recorder.insert_events(fresh)
    assert ids is not None and ids[0] > before and ids[1] == ids[0] + 1
    assert recorder.max_notification_id() == ids[1]


def test_events_read_back_equal_what_was_written(app: QualityRecords,
                                                 clock: ManualClock) -> None:
    prov = Provenance(actor="qe-1", reason="first article pending")
    gauge = Instrument.register("G-0042", "bore gauge", "mm", (10, 15), 0.001, 0.002, 180,
                                "Line 1", prov, clock())
    lot = Lot.open("LOT-0001", "P-7", prov, clock())
    lot.start_operation("cure", "OVEN-1", prov, clock())
    lot.hold(prov, clock())
    gauge.quarantine(prov, clock())
    written = [*gauge.pending_events, *lot.pending_events]

    recordings = app.save(gauge, lot)

    assert [r.domain_event for r in recordings] == written
    read_back = [*app.events.get(gauge.id), *app.events.get(lot.id)]
    assert read_back == written
    notifications = app.recorder.select_notifications(recordings[0].notification.id,
                                                      limit=10)
    assert [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in notifications] == [
        (r.notification.id, r.notification.originator_id, r.notification.originator_version,
         r.notification.topic, r.notification.state) for r in recordings]
