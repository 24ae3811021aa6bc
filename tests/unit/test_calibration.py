"""Instruments under calibration control: calibrations, quarantine, release, retirement, and
the condition a result measured with the gauge is marked with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.calibration import (
    Instrument,
    InstrumentNotQuarantined,
    InstrumentRetired,
    ReferenceStandard,
    instrument_id,
)
from domain.calibration import TestPoint as Point
from domain.records import InvalidValue, Provenance, ReasonRequired, WrongUnit

REGISTERED = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
CALIBRATED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
RECORDED = datetime(2026, 11, 26, 9, 5, tzinfo=UTC)
QE = Provenance(actor="qe-1", reason="routine")
LAB = Provenance(actor="lab", source="qrec.lab.calibration", source_message_id="LAB-2026-0042",
                 occurred_at=CALIBRATED, correlation_id="corr-1", causation_id="cause-1")
REF = ReferenceStandard(tag="REF-7", certificate="NMI-2026-77")
IN_TOLERANCE = (Point(nominal=12.0, as_found=12.001, as_left=12.001, unit="mm"),)
FOUND_OUT_LEFT_IN = (Point(nominal=12.0, as_found=12.004, as_left=12.0005, unit="mm"),)
LEFT_OUT = (Point(nominal=12.0, as_found=12.004, as_left=12.003, unit="mm"),)


def registered(tag: str = "G-0042") -> Instrument:
    gauge = Instrument.register(
        tag=tag, kind="bore gauge", unit="mm", range=(10, 15), resolution=0.001,
        tolerance=0.002, interval_days=180, location="Line 1",
        prov=Provenance(actor="qe-1"), now=REGISTERED)
    gauge.collect_events()
    return gauge


def calibrate(gauge: Instrument, points: tuple[Point, ...] = IN_TOLERANCE,
              result: str = "pass", prov: Provenance = LAB,
              performed_at: datetime = CALIBRATED) -> bool:
    return gauge.record_calibration(
        performed_at=performed_at, performed_by="tech-3", certificate="C-124", standard=REF,
        uncertainty=0.0005, points=points, result=result, prov=prov, now=RECORDED)


def quarantined() -> Instrument:
    gauge = registered()
    gauge.quarantine(Provenance(actor="qe-1", reason="dropped"), RECORDED)
    gauge.collect_events()
    return gauge


# -- registration ---------------------------------------------------------------------------

def test_registering_an_instrument_records_its_specification_under_its_tag() -> None:
    gauge = Instrument.register(
        tag="G-0042", kind="bore gauge", unit="mm", range=(10, 15), resolution=0.001,
        tolerance=0.002, interval_days=180, location="Line 1",
        prov=Provenance(actor="qe-1", source="import"), now=REGISTERED)

    assert gauge.id == instrument_id("G-0042")
    assert (gauge.tag, gauge.unit, gauge.range, gauge.status) == \
        ("G-0042", "mm", (10.0, 15.0), "in_calibration")
    assert gauge.next_due is None and gauge.last_result is None
    (event,) = gauge.collect_events()
    assert isinstance(event, Instrument.Registered)
    assert event.timestamp == REGISTERED
    assert event.provenance == Provenance(actor="qe-1", source="import")
    assert (event.tolerance, event.interval_days, event.location) == (0.002, 180, "Line 1")


@pytest.mark.parametrize(("changes", "words"), [
    ({"tag": ""}, "needs a tag"),
    ({"range": (15, 10)}, "range 15..10 is empty or inverted"),
    ({"range": (10, 10)}, "range 10..10 is empty or inverted"),
    ({"resolution": 0}, "resolution and tolerance must be positive"),
    ({"tolerance": -0.002}, "resolution and tolerance must be positive"),
    ({"interval_days": 0}, "calibration interval must be positive"),
])
def test_an_instrument_with_an_impossible_specification_is_refused(
        changes: dict[str, object], words: str) -> None:
    spec: dict[str, object] = dict(
        tag="G-0042", kind="bore gauge", unit="mm", range=(10, 15), resolution=0.001,
        tolerance=0.002, interval_days=180, location="Line 1")
    spec.update(changes)

    with pytest.raises(InvalidValue, match=words):
        Instrument.register(**spec, prov=Provenance(actor="qe-1"), now=REGISTERED)  # type: ignore[arg-type]


# -- calibration ----------------------------------------------------------------------------

def test_a_passing_calibration_sets_the_next_due_date_one_interval_later() -> None:
    gauge = registered()

    assert calibrate(gauge) is True

    assert gauge.status == "in_calibration"
    assert gauge.last_result == "pass"
    assert gauge.last_calibrated == CALIBRATED == gauge.last_passing_calibration
    assert gauge.next_due == CALIBRATED + timedelta(days=180)
    (event,) = gauge.collect_events()
    assert isinstance(event, Instrument.CalibrationRecorded)
    assert event.provenance == LAB and event.timestamp == RECORDED
    assert (event.certificate, event.standard, event.points) == ("C-124", REF, IN_TOLERANCE)
    assert event.next_due == CALIBRATED + timedelta(days=180)


def test_a_failed_calibration_adjusted_back_into_tolerance_keeps_the_gauge_in_use() -> None:
    gauge = registered()

    calibrate(gauge, points=FOUND_OUT_LEFT_IN, result="fail")

    assert gauge.status == "in_calibration"
    assert gauge.last_result == "fail"
    assert gauge.last_passing_calibration is None
    assert [type(e) for e in gauge.collect_events()] == [Instrument.CalibrationRecorded]


def test_a_calibration_with_as_left_out_of_tolerance_quarantines_the_gauge() -> None:
    gauge = registered()

    calibrate(gauge, points=LEFT_OUT, result="fail")

    assert gauge.status == "quarantined"
    assert gauge.condition_at(CALIBRATED) == "quarantined"
    recorded, quarantined = gauge.collect_events()
    assert isinstance(recorded, Instrument.CalibrationRecorded)
    assert isinstance(quarantined, Instrument.Quarantined)
    assert quarantined.timestamp == RECORDED
    assert quarantined.provenance.reason == "as-left out of tolerance"
    assert quarantined.provenance.actor == "lab"
    assert quarantined.provenance.source == "qrec.lab.calibration"
    assert (quarantined.provenance.correlation_id, quarantined.provenance.causation_id) == \
        ("corr-1", "cause-1")


def test_the_same_lab_message_recorded_twice_is_recorded_once() -> None:
    gauge = registered()
    calibrate(gauge)
    gauge.collect_events()

    assert calibrate(gauge, result="adjusted") is False

    assert gauge.collect_events() == []
    assert gauge.last_result == "pass"


def test_calibrations_entered_by_hand_without_a_message_id_are_all_recorded() -> None:
    gauge = registered()
    by_hand = Provenance(actor="tech-3")

    assert calibrate(gauge, prov=by_hand) is True
    assert calibrate(gauge, prov=by_hand) is True

    assert len(gauge.collect_events()) == 2


def test_a_calibration_brings_a_quarantined_gauge_back_into_use() -> None:
    gauge = quarantined()

    calibrate(gauge)

    assert gauge.status == "in_calibration"


@pytest.mark.parametrize(("result", "uncertainty", "points", "error", "words"), [
    ("maybe", 0.0005, IN_TOLERANCE, InvalidValue,
     "calibration result must be one of pass, fail, adjusted, not 'maybe'"),
    ("pass", -0.1, IN_TOLERANCE, InvalidValue, r"uncertainty cannot be negative \(-0.1\)"),
    ("pass", 0.0005, (Point(12.0, 12.0, 12.0, "in"),), WrongUnit,
     "instrument G-0042 test point is in mm, not 'in'"),
])
def test_an_uninterpretable_calibration_is_refused_and_nothing_is_recorded(
        result: str, uncertainty: float, points: tuple[Point, ...],
        error: type[Exception], words: str) -> None:
    gauge = registered()

    with pytest.raises(error, match=words):
        gauge.record_calibration(
            performed_at=CALIBRATED, performed_by="tech-3", certificate="C-124", standard=REF,
            uncertainty=uncertainty, points=points, result=result, prov=LAB, now=RECORDED)

    assert gauge.collect_events() == []
    assert gauge.next_due is None and gauge.calibration_messages == set()


def test_a_retired_gauge_cannot_be_calibrated() -> None:
    gauge = registered()
    gauge.retire(Provenance(actor="qe-1", reason="worn out"), RECORDED)
    gauge.collect_events()

    with pytest.raises(InstrumentRetired, match="instrument G-0042 is retired"):
        calibrate(gauge)

    assert gauge.collect_events() == []


# -- quarantine, release, retirement --------------------------------------------------------

def test_quarantining_a_gauge_records_who_and_why() -> None:
    gauge = registered()
    prov = Provenance(actor="qe-1", reason="dropped on the floor")

    gauge.quarantine(prov, RECORDED)

    assert gauge.status == "quarantined"
    (event,) = gauge.collect_events()
    assert isinstance(event, Instrument.Quarantined)
    assert event.provenance == prov and event.timestamp == RECORDED


def test_releasing_a_quarantined_gauge_puts_it_back_in_use() -> None:
    gauge = quarantined()
    prov = Provenance(actor="qe-1", reason="verified against REF-7")

    gauge.release(prov, RECORDED)

    assert gauge.status == "in_calibration"
    (event,) = gauge.collect_events()
    assert isinstance(event, Instrument.ReleasedFromQuarantine)
    assert event.provenance == prov


def test_retiring_a_gauge_takes_it_out_of_use_for_good() -> None:
    gauge = registered()

    gauge.retire(Provenance(actor="qe-1", reason="worn out"), RECORDED)

    assert gauge.status == "retired"
    assert [type(e) for e in gauge.collect_events()] == [Instrument.Retired]


@pytest.mark.parametrize(("command", "words"), [
    ("quarantine", "a reason is required to quarantine instrument G-0042"),
    ("release", "a reason is required to release instrument G-0042"),
    ("retire", "a reason is required to retire instrument G-0042"),
])
def test_a_status_change_without_a_reason_is_refused_and_nothing_is_recorded(
        command: str, words: str) -> None:
    gauge = quarantined()

    with pytest.raises(ReasonRequired, match=words):
        getattr(gauge, command)(Provenance(actor="qe-1", reason=" "), RECORDED)

    assert gauge.collect_events() == []
    assert gauge.status == "quarantined"


def test_a_gauge_that_is_not_quarantined_cannot_be_released() -> None:
    gauge = registered()

    with pytest.raises(InstrumentNotQuarantined, match="instrument G-0042 is not quarantined"):
        gauge.release(Provenance(actor="qe-1", reason="looks fine"), RECORDED)

    assert gauge.collect_events() == []


@pytest.mark.parametrize("command", ["quarantine", "retire"])
def test_a_retired_gauge_cannot_be_quarantined_or_retired_again(command: str) -> None:
    gauge = registered()
    gauge.retire(Provenance(actor="qe-1", reason="worn out"), RECORDED)
    gauge.collect_events()

    with pytest.raises(InstrumentRetired, match="instrument G-0042 is retired"):
        getattr(gauge, command)(Provenance(actor="qe-1", reason="again"), RECORDED)

    assert gauge.collect_events() == []
    assert gauge.status == "retired"


# -- the condition of a result measured with the gauge --------------------------------------

def test_a_gauge_within_its_calibration_interval_is_ok() -> None:
    gauge = registered()
    calibrate(gauge)

    assert gauge.condition_at(CALIBRATED + timedelta(days=1)) == "ok"
    assert gauge.condition_at(CALIBRATED + timedelta(days=180)) == "ok"


def test_a_result_measured_after_the_due_date_is_overdue() -> None:
    gauge = registered()
    calibrate(gauge)

    assert gauge.condition_at(CALIBRATED + timedelta(days=180, seconds=1)) == "overdue"


def test_a_quarantined_or_retired_gauge_marks_its_results_so() -> None:
    gauge = quarantined()
    assert gauge.condition_at(CALIBRATED) == "quarantined"

    gauge.retire(Provenance(actor="qe-1", reason="beyond repair"), RECORDED)
    assert gauge.condition_at(CALIBRATED) == "retired"


def test_as_left_readings_are_judged_against_the_gauge_tolerance() -> None:
    gauge = registered()

    assert gauge.as_left_within_tolerance(IN_TOLERANCE)
    assert gauge.as_left_within_tolerance((Point(12.0, 12.004, None, "mm"),))
    assert not gauge.as_left_within_tolerance(LEFT_OUT)


def test_a_gauge_never_calibrated_does_not_mark_its_results_ok() -> None:
    gauge = registered()

    assert gauge.condition_at(CALIBRATED) != "ok"
