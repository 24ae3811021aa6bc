"""Event bodies stored as orjson and read back as typed events: the types survive the round
trip, snapshots keep the aggregate's state, old schema versions are upcast on read, and a body
that cannot be read is reported naming the record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson
import pytest
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic

from domain.calibration import Instrument, ReferenceStandard
from domain.calibration import TestPoint as Point
from domain.corrective_action import CorrectiveAction, PlannedAction
from domain.encoding import TypedMapper
from domain.inspection import (
    Characteristic,
    Inspection,
    InspectionHeader,
    Measurement,
    PlanRevision,
    Result,
    inspection_id,
    judge,
)
from domain.lot import Lot
from domain.nonconformance import Nonconformance, nonconformance_id
from domain.records import Provenance, Record, record_id

MEASURED = datetime(2026, 11, 26, 12, 0, 0, 123000, tzinfo=UTC)
RECORDED = datetime(2026, 11, 26, 12, 0, 1, tzinfo=UTC)
LATER = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
STATION = Provenance(actor="op-17", occurred_at=MEASURED, source="L1",
                     source_message_id="L1-000001", correlation_id="c-1", causation_id="c-0")
QE = Provenance(actor="qe-1", reason="routine", signature_meaning="approved")
REV_A = PlanRevision("A", "P-7", "in_process", 5,
                     (Characteristic("bore_dia", 12.0, 11.99, 12.01, "mm", "bore gauge"),))
HEADER = InspectionHeader("LOT-0001", "in_process", "IP-100", "A", "L1", "CMM-2", "op-17",
                          "SN-0001")


class Fixture(Record):
    """A record kind that exists only in these tests, to exercise schema versions."""

    class Started(Record.Created):
        name: str

        def apply(self, f: Fixture) -> None:
            f.name, f.site, f.room = self.name, None, None

    class Relocated(Record.Event):
        """v1 had only ``location``; v2 added ``site``; v3 added ``room``."""

        class_version = 3
        location: str
        site: str
        room: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["site"] = "plant-1"

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["room"] = None

        def apply(self, f: Fixture) -> None:
            f.site, f.room = self.site, self.room

    if TYPE_CHECKING:  # state set by the events
        name: str
        site: str | None
        room: str | None

    @classmethod
    def start(cls, name: str, now: datetime) -> Fixture:
        return cls._create(cls.Started, id=FIXTURE_ID, provenance=QE, timestamp=now, name=name)


FIXTURE_ID = record_id("fixture", "F-1")


def round_trip(mapper: TypedMapper, event: Any) -> Any:
    return mapper.to_domain_event(mapper.to_stored_event(event))


def instrument_events() -> list[Any]:
    gauge = Instrument.register("G-0042", "bore gauge", "mm", (10, 15), 0.001, 0.002, 180,
                                "Line 1", Provenance(actor="qe-1", source="import"), RECORDED)
    gauge.record_calibration(
        MEASURED, "tech-3", "C-124", ReferenceStandard("REF-7", "NMI-2026-77"), 0.0005,
        (Point(12.0, 12.004, 12.003, "mm"), Point(14.0, 14.0, None, "mm")), "fail",
        STATION, RECORDED)
    return list(gauge.collect_events())


def inspection() -> Inspection:
    results = judge("IP-100", REV_A, (Measurement("bore_dia", 12.003, "mm", "G-0042"),
                                      Measurement("bore_dia", 12.2, "mm", None)),
                    {"G-0042": "ok"})
    return Inspection.perform(inspection_id("L1", "L1-000001"), HEADER, results, STATION,
                              RECORDED)


# -- typed round trip -----------------------------------------------------------------------

def test_an_inspection_event_reads_back_equal_with_its_nested_value_objects() -> None:
    event = inspection().collect_events()[0]

    decoded = round_trip(TypedMapper(), event)

    assert type(decoded) is Inspection.Performed
    assert decoded == event
    assert isinstance(decoded.header, InspectionHeader)
    assert isinstance(decoded.results, tuple)
    assert all(isinstance(r, Result) for r in decoded.results)
    assert decoded.results[1].gauge is None and decoded.results[1].conforming is False


def test_datetimes_read_back_as_timezone_aware_datetimes() -> None:
    event = inspection().collect_events()[0]

    decoded = round_trip(TypedMapper(), event)

    assert isinstance(decoded.timestamp, datetime) and decoded.timestamp == RECORDED
    assert decoded.timestamp.utcoffset() == timedelta(0)
    assert isinstance(decoded.provenance, Provenance)
    assert decoded.provenance.occurred_at == MEASURED
    assert decoded.provenance == STATION


def test_ids_read_back_as_uuids() -> None:
    lot = Lot.open("LOT-0001", None, STATION, RECORDED)
    lot.link_nonconformance(nonconformance_id("NC-0001"), QE, LATER)
    opened, linked = lot.collect_events()
    mapper = TypedMapper()

    decoded = round_trip(mapper, linked)

    assert decoded == linked
    assert isinstance(decoded.originator_id, UUID) and decoded.originator_id == lot.id
    assert isinstance(decoded.nonconformance, UUID)
    assert round_trip(mapper, opened).product is None


def test_tuples_and_nested_dataclasses_with_datetimes_read_back_typed() -> None:
    registered, calibrated, quarantined = instrument_events()
    ca = CorrectiveAction.open("CA-1", None, "bore oversize", QE, RECORDED)
    ca.plan_action(PlannedAction("replace spindle", "maint-2", LATER), QE, RECORDED)
    mapper = TypedMapper()

    decoded = [round_trip(mapper, e) for e in (registered, calibrated, quarantined,
                                               *ca.collect_events())]

    assert decoded[0].range == (10.0, 15.0) and isinstance(decoded[0].range, tuple)
    assert decoded[1] == calibrated
    assert isinstance(decoded[1].standard, ReferenceStandard)
    assert all(isinstance(p, Point) for p in decoded[1].points)
    assert decoded[1].points[1].as_left is None
    assert decoded[1].next_due == MEASURED + timedelta(days=180)
    assert decoded[2] == quarantined
    assert isinstance(decoded[4].action, PlannedAction)
    assert decoded[4].action.due == LATER


def test_a_record_rebuilt_from_read_back_events_has_the_same_state() -> None:
    mapper = TypedMapper()
    original = instrument_events()

    rebuilt: Any = None
    for event in (round_trip(mapper, e) for e in original):
        rebuilt = event.mutate(rebuilt)

    expected: Any = None
    for event in original:
        expected = event.mutate(expected)
    assert rebuilt == expected
    assert rebuilt.status == "quarantined" and rebuilt.calibration_messages == {"L1-000001"}


def test_the_stored_body_is_plain_json_an_auditor_can_read() -> None:
    event = Nonconformance.raise_("NC-0001", "inspection", "bore oversize", ("LOT-0001",),
                                  "bore_dia", (), QE, RECORDED).collect_events()[0]

    stored = TypedMapper().to_stored_event(event)

    body = orjson.loads(stored.state)
    assert stored.topic == get_topic(Nonconformance.Raised)
    assert stored.originator_id == nonconformance_id("NC-0001")
    assert stored.originator_version == 1
    assert body["provenance"]["reason"] == "routine" and body["lots"] == ["LOT-0001"]
    assert "class_version" not in body and "originator_id" not in body


def test_a_compressed_body_reads_back_the_same() -> None:
    event = inspection().collect_events()[0]
    mapper = TypedMapper(compressor=ZlibCompressor())

    stored = mapper.to_stored_event(event)

    assert stored.state[:1] != b"{"
    assert mapper.to_domain_event(stored) == event


# -- snapshots ------------------------------------------------------------------------------

def test_a_snapshot_of_an_instrument_restores_its_sets_tuples_and_dates() -> None:
    gauge: Any = None
    for event in instrument_events():
        gauge = event.mutate(gauge)
    snapshot = Snapshot.take(gauge)

    decoded = round_trip(TypedMapper(), snapshot)

    assert type(decoded) is Snapshot
    restored = decoded.mutate(None)
    assert type(restored) is Instrument
    assert restored == gauge
    assert restored.calibration_messages == {"L1-000001"}
    assert restored.range == (10.0, 15.0) and isinstance(restored.range, tuple)
    assert restored.next_due == MEASURED + timedelta(days=180)


def test_a_snapshot_of_an_inspection_restores_its_results_as_value_objects() -> None:
    record = inspection()
    record.collect_events()
    snapshot = Snapshot.take(record)

    restored = round_trip(TypedMapper(), snapshot).mutate(None)

    assert restored == record
    assert isinstance(restored.header, InspectionHeader)
    assert isinstance(restored.results, list)
    assert all(isinstance(r, Result) for r in restored.results)


def test_a_snapshot_of_a_lot_restores_its_open_nonconformances_as_uuids() -> None:
    lot = Lot.open("LOT-0001", "P-7", STATION, RECORDED)
    lot.link_nonconformance(nonconformance_id("NC-1"), QE, LATER)
    lot.link_nonconformance(nonconformance_id("NC-2"), QE, LATER)
    lot.start_operation("cure", None, QE, LATER)
    lot.collect_events()

    restored = round_trip(TypedMapper(), Snapshot.take(lot)).mutate(None)

    assert restored == lot
    assert restored.open_nonconformances == {nonconformance_id("NC-1"),
                                             nonconformance_id("NC-2")}
    assert restored.operations == {"cure": "started"}


def test_a_snapshot_stores_its_state_tagged_with_types() -> None:
    lot = Lot.open("LOT-0001", "P-7", STATION, RECORDED)
    lot.collect_events()

    body = orjson.loads(TypedMapper().to_stored_event(Snapshot.take(lot)).state)

    state = dict(body["state"]["__dict"])
    assert state["_created_on"] == {"__dt": RECORDED.isoformat()}
    assert state["seen_messages"] == {"__set": []}


# -- schema versions ------------------------------------------------------------------------

def stored_relocation(body: dict[str, Any], version: int = 2) -> StoredEvent:
    body = {"timestamp": LATER.isoformat(), "provenance": {"actor": "qe-1"}, **body}
    return StoredEvent(FIXTURE_ID, version, get_topic(Fixture.Relocated), orjson.dumps(body))


def test_an_event_of_the_current_version_stores_its_version_and_reads_back_as_is() -> None:
    fixture = Fixture.start("F-1", RECORDED)
    fixture.record(Fixture.Relocated, QE, LATER, location="Line 2", site="plant-2", room="B3")
    _, relocated = fixture.collect_events()
    mapper = TypedMapper()

    stored = mapper.to_stored_event(relocated)

    assert orjson.loads(stored.state)["class_version"] == 3
    decoded = mapper.to_domain_event(stored)
    assert decoded == relocated
    assert "class_version" not in vars(decoded)


def test_a_version_1_event_is_upcast_on_read_through_every_version() -> None:
    decoded = TypedMapper().to_domain_event(stored_relocation({"location": "Line 2"}))

    assert type(decoded) is Fixture.Relocated
    assert (decoded.location, decoded.site, decoded.room) == ("Line 2", "plant-1", None)
    assert decoded.timestamp == LATER and decoded.provenance == Provenance(actor="qe-1")
    assert decoded.originator_id == FIXTURE_ID and decoded.originator_version == 2


def test_a_version_2_event_is_upcast_only_from_version_2() -> None:
    stored = stored_relocation({"location": "Line 2", "site": "plant-2", "class_version": 2})

    decoded = TypedMapper().to_domain_event(stored)

    assert (decoded.site, decoded.room) == ("plant-2", None)


def test_an_upcast_event_applies_to_the_record_like_a_current_one() -> None:
    fixture = Fixture.start("F-1", RECORDED)
    fixture.collect_events()

    TypedMapper().to_domain_event(stored_relocation({"location": "Line 2"})).mutate(fixture)

    assert fixture.site == "plant-1" and fixture.version == 2


# -- unreadable bodies ----------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b"{not json",
    orjson.dumps({"timestamp": "yesterday", "provenance": {"actor": "qe-1"}, "lot": "L",
                  "product": None}),
    orjson.dumps({"timestamp": RECORDED.isoformat(), "provenance": "not a provenance",
                  "lot": "L", "product": None}),
])
def test_an_unreadable_body_is_reported_naming_the_record_version_and_kind(body: bytes) -> None:
    lot = record_id("lot", "LOT-0001")
    stored = StoredEvent(lot, 7, get_topic(Lot.Opened), body)

    with pytest.raises(MapperDeserialisationError) as e:
        TypedMapper().to_domain_event(stored)

    message = str(e.value)
    assert f"cannot read stored event {lot} v7" in message
    assert get_topic(Lot.Opened) in message
