"""As-of: a record as qrec knew it at a recorded time, and as it truly was at an occurred
time, read from the event store; and an event stored under an older schema read back
through its upcaster."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import StoredEvent

from domain.calibration import Instrument
from domain.inspection import Characteristic, Measurement, PlanRevision
from domain.records import Provenance, record_id
from domain.timetravel import record_as_occurred_at, record_as_recorded_at, replay
from services.composition import build_records
from services.history import render_history
from services.settings import Settings
from tests.integration.views_scenario import calibrate

PLAN = PlanRevision("A", "P-7", "final", 1, (Characteristic("bore", 12.0, 11.99, 12.01, "mm"),))


def test_an_inspection_reads_differently_as_known_then_and_as_true_then(
        sqlite_settings: Settings, clock: Any) -> None:
    app = build_records(sqlite_settings, clock=clock)
    qe = Provenance("qe-anna")
    app.define_inspection_plan("IP-F", PLAN, qe)
    before_open = clock.advance(minutes=1)
    # 08:02 the inspection is opened; the part was measured at 09:00, typed in at 09:30.
    clock.advance(minutes=1)
    app.open_inspection("F-1", "LOT-1", "final", "IP-F", "qe-bob", qe)
    measured = clock.now.replace(hour=9, minute=0)
    clock.now = measured + timedelta(minutes=30)
    app.record_results("F-1", (Measurement("bore", 12.03, "mm"),),
                       Provenance("qe-bob", occurred_at=measured))
    after_results = clock.advance(minutes=10)
    clock.now = measured + timedelta(hours=1)
    app.close_inspection("F-1", qe)
    after_close = clock.advance(minutes=10)
    # 14:00 a transcription error is found: the value was 12.003; recorded with a reason.
    clock.now = measured + timedelta(hours=5)
    app.correct_result(record_id("inspection", "F-1"), 0, 12.003,
                       Provenance("qe-bob", occurred_at=clock.now, reason="transcription"))
    after_correction = clock.advance(minutes=10)
    rid = record_id("inspection", "F-1")

    # What qrec knew: nothing before the opening; then the typed value; then the correction.
    assert record_as_recorded_at(app, rid, before_open) is None
    known = record_as_recorded_at(app, rid, after_results)
    assert known is not None and known.results[0].value == 12.03 and not known.closed
    known = record_as_recorded_at(app, rid, after_close)
    assert known is not None and (known.results[0].value, known.verdict) == (12.03, "reject")
    known = record_as_recorded_at(app, rid, after_correction)
    assert known is not None and (known.results[0].value, known.verdict) == (12.003, "accept")

    # What was true: at 09:30 the part measured 12.003 (the correction counts from 09:00),
    # though between the closing and the correction nobody knew it yet.
    half_past = measured + timedelta(minutes=30)
    true_then = record_as_occurred_at(app, rid, half_past)
    assert true_then is not None and true_then.results[0].value == 12.003
    assert not true_then.closed
    believed_then = record_as_occurred_at(app, rid, half_past, known_at=after_close)
    assert believed_then is not None and believed_then.results[0].value == 12.03
    not_measured_yet = record_as_occurred_at(app, rid, measured - timedelta(minutes=1))
    assert not_measured_yet is not None and not_measured_yet.results == []

    text = render_history(app, "inspection:F-1", after_close)
    assert "3 of 4 events count as recorded" in text and "12.03" in text
    text = render_history(app, "inspection:F-1", half_past, by_occurred=True)
    assert "transcription" in text and "value=12.003" in text


def test_as_of_reads_from_a_snapshot_give_the_same_record_as_a_full_replay(
        sqlite_settings: Settings, clock: Any) -> None:
    app = build_records(sqlite_settings, clock=clock)
    app.register_instrument("G-1", "bore gauge", "mm", (10, 15), 0.001, 0.002, 180, "L1",
                            Provenance("qe"))
    instants = []
    for n in range(130):  # snapshots at versions 50 and 100
        calibrate(app, "G-1", n + 1)
        if n % 29 == 0:
            instants.append(clock.advance(seconds=1))
    events = list(app.events.get(record_id("instrument", "G-1")))
    for when in instants:
        full = replay(e for e in events if e.timestamp <= when)
        from_snapshot = record_as_recorded_at(app, record_id("instrument", "G-1"), when)
        assert from_snapshot is not None and full is not None
        assert vars(from_snapshot) == vars(full)


@pytest.mark.parametrize("serial", ["SN-7731"])
def test_an_instrument_registered_under_schema_v1_reads_back_through_the_upcaster(
        store_settings: Settings, clock: Any, serial: str) -> None:
    app = build_records(store_settings, clock=clock)
    prov = Provenance("qe")
    new = Instrument.register("G-NEW", "caliper", "mm", (0, 150), 0.01, 0.02, 365, "L2", prov,
                              clock(), serial_number=serial)
    old = Instrument.register("G-OLD", "caliper", "mm", (0, 150), 0.01, 0.02, 365, "L2", prov,
                              clock())
    app.save(new)
    # A body as qrec wrote it before v2: no class_version, no serial number.
    stored = app.mapper.to_stored_event(old.collect_events()[0])
    body = orjson.loads(stored.state)
    assert body.pop("class_version") == 2 and "serial_number" in body
    del body["serial_number"]
    app.recorder.insert_events([StoredEvent(stored.originator_id, stored.originator_version,
                                            stored.topic, orjson.dumps(body))])

    assert app.instrument("G-OLD").serial_number is None
    assert app.instrument("G-NEW").serial_number == serial
    assert app.instrument("G-OLD").tolerance == 0.02
