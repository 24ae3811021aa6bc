"""Inspection plans and inspections: judging measurements against the plan revision in force,
recording, correcting and closing results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.inspection import (
    Characteristic,
    Inspection,
    InspectionClosed,
    InspectionHeader,
    InspectionPlan,
    Measurement,
    NoSuchResult,
    PlanRevision,
    Result,
    UnknownCharacteristic,
    inspection_id,
    judge,
    plan_id,
    verdict,
)
from domain.records import (
    InvalidValue,
    LimitsInverted,
    Provenance,
    ReasonRequired,
    RecordExists,
    WrongUnit,
)
from domain.timetravel import as_occurred_at

MEASURED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
RECORDED = datetime(2026, 11, 26, 12, 0, 1, tzinfo=UTC)
LATER = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
STATION = Provenance(actor="op-17", occurred_at=MEASURED, source="L1",
                     source_message_id="L1-000001")
QE = Provenance(actor="qe-1", reason="transcription error on the CMM printout")

BORE = Characteristic(id="bore_dia", nominal=12.0, lsl=11.99, usl=12.01, unit="mm",
                      gauge_kind="bore gauge")
DEPTH = Characteristic(id="depth", nominal=None, lsl=None, usl=30.0, unit="mm")
REV_A = PlanRevision(revision="A", product="P-7", stage="in_process", sample_size=5,
                     characteristics=(BORE, DEPTH))
HEADER = InspectionHeader(lot="LOT-0001", stage="in_process", plan="IP-100", plan_revision="A",
                          line="L1", station="CMM-2", inspector="op-17", part="SN-0001")
GAUGES = {"G-0042": "ok"}


def results(*values: float, gauge: str | None = "G-0042") -> tuple[Result, ...]:
    return judge("IP-100", REV_A, tuple(Measurement("bore_dia", v, "mm", gauge) for v in values),
                 GAUGES)


def opened() -> Inspection:
    inspection = Inspection.open(inspection_id("L1", "L1-000001"), HEADER, STATION, RECORDED)
    inspection.collect_events()
    return inspection


def performed(*values: float) -> Inspection:
    inspection = Inspection.perform(inspection_id("L1", "L1-000001"), HEADER, results(*values),
                                    STATION, RECORDED)
    inspection.collect_events()
    return inspection


# -- inspection plans -----------------------------------------------------------------------

def test_defining_a_plan_records_its_first_revision_under_the_plan_number() -> None:
    plan = InspectionPlan.define("IP-100", REV_A, Provenance(actor="qe-1"), RECORDED)

    assert plan.id == plan_id("IP-100")
    assert plan.current == REV_A and plan.revisions == [REV_A]
    (event,) = plan.collect_events()
    assert isinstance(event, InspectionPlan.Defined)
    assert (event.plan, event.revision, event.timestamp) == ("IP-100", REV_A, RECORDED)


def test_a_new_revision_becomes_the_one_in_force_and_the_old_one_is_kept() -> None:
    plan = InspectionPlan.define("IP-100", REV_A, Provenance(actor="qe-1"), RECORDED)
    plan.collect_events()
    rev_b = PlanRevision("B", "P-7", "in_process", 3, (BORE,))

    plan.release_revision(rev_b, Provenance(actor="qe-1"), LATER)

    assert plan.current == rev_b and plan.revisions == [REV_A, rev_b]
    (event,) = plan.collect_events()
    assert isinstance(event, InspectionPlan.RevisionReleased) and event.revision == rev_b


def test_releasing_a_revision_that_already_exists_is_refused() -> None:
    plan = InspectionPlan.define("IP-100", REV_A, Provenance(actor="qe-1"), RECORDED)
    plan.collect_events()

    with pytest.raises(RecordExists, match="inspection plan IP-100 revision A is already"):
        plan.release_revision(REV_A, Provenance(actor="qe-1"), LATER)

    assert plan.collect_events() == []


@pytest.mark.parametrize(("revision", "error", "words"), [
    (PlanRevision("A", "P-7", "packing", 5, (BORE,)), InvalidValue,
     "stage must be one of receiving, in_process, final, not 'packing'"),
    (PlanRevision("A", "P-7", "final", 0, (BORE,)), InvalidValue,
     "sample size must be at least 1"),
    (PlanRevision("A", "P-7", "final", 5, ()), InvalidValue,
     "needs at least one characteristic"),
    (PlanRevision("A", "P-7", "final", 5, (Characteristic("bore_dia", 12, 12.01, 11.99, "mm"),)),
     LimitsInverted, "characteristic bore_dia: lower limit 12.01 is above upper limit 11.99"),
    (PlanRevision("A", "P-7", "final", 5, (Characteristic("bore_dia", 12, 11.99, 12.01, ""),)),
     InvalidValue, "characteristic bore_dia: a unit is required"),
])
def test_an_unusable_plan_revision_is_refused(revision: PlanRevision, error: type[Exception],
                                              words: str) -> None:
    with pytest.raises(error, match=f"plan IP-100.*{words}"):
        InspectionPlan.define("IP-100", revision, Provenance(actor="qe-1"), RECORDED)


def test_an_unusable_new_revision_is_refused_and_nothing_is_recorded() -> None:
    plan = InspectionPlan.define("IP-100", REV_A, Provenance(actor="qe-1"), RECORDED)
    plan.collect_events()

    with pytest.raises(InvalidValue, match="sample size"):
        plan.release_revision(PlanRevision("B", "P-7", "final", 0, (BORE,)),
                              Provenance(actor="qe-1"), LATER)

    assert plan.collect_events() == [] and plan.current == REV_A


# -- judging measurements -------------------------------------------------------------------

def test_a_result_inside_the_limits_conforms_and_keeps_the_limits_it_was_judged_by() -> None:
    (result,) = results(12.003)

    assert result == Result(characteristic="bore_dia", value=12.003, unit="mm", gauge="G-0042",
                            lsl=11.99, usl=12.01, conforming=True, gauge_condition="ok")


def test_a_result_outside_the_limits_is_marked_nonconforming() -> None:
    low, high = results(11.98, 12.02)

    assert not low.conforming and not high.conforming


def test_a_result_on_a_limit_conforms() -> None:
    assert all(r.conforming for r in results(11.99, 12.01))


def test_a_one_sided_characteristic_only_checks_its_one_limit() -> None:
    shallow, deep = judge("IP-100", REV_A, (Measurement("depth", -5.0, "mm"),
                                             Measurement("depth", 30.5, "mm")), {})

    assert shallow.conforming and not deep.conforming


def test_an_integer_value_is_recorded_as_a_number() -> None:
    (result,) = judge("IP-100", REV_A, (Measurement("bore_dia", 12, "mm"),), {})

    assert result.value == 12.0 and isinstance(result.value, float)


@pytest.mark.parametrize(("gauge", "conditions", "expected"), [
    ("G-0042", {"G-0042": "ok"}, "ok"),
    ("G-0042", {"G-0042": "overdue"}, "overdue"),
    ("G-0042", {"G-0042": "quarantined"}, "quarantined"),
    ("G-0042", {"G-0042": "retired"}, "retired"),
    ("G-9999", {"G-0042": "ok"}, "unknown"),
    (None, {"G-0042": "ok"}, "none"),
])
def test_each_result_is_marked_with_the_condition_of_its_gauge(
        gauge: str | None, conditions: dict[str, str], expected: str) -> None:
    (result,) = judge("IP-100", REV_A, (Measurement("bore_dia", 12.0, "mm", gauge),),
                      conditions)

    assert result.gauge_condition == expected
    assert result.conforming, "the gauge condition marks a result; it does not judge it"


def test_a_measurement_of_a_characteristic_not_in_the_plan_is_refused() -> None:
    with pytest.raises(UnknownCharacteristic,
                       match="inspection plan IP-100 rev A has no characteristic 'thread'") as e:
        judge("IP-100", REV_A, (Measurement("bore_dia", 12.0, "mm"),
                                Measurement("thread", 1.0, "mm")), GAUGES)
    assert e.value.characteristic == "thread"


def test_a_measurement_in_the_wrong_unit_is_refused() -> None:
    with pytest.raises(WrongUnit, match="characteristic bore_dia is in mm, not 'in'"):
        judge("IP-100", REV_A, (Measurement("bore_dia", 0.4724, "in"),), GAUGES)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "12.0", None])
def test_a_value_that_is_not_a_finite_number_is_refused(value: object) -> None:
    with pytest.raises(InvalidValue, match="characteristic bore_dia: value .* is not a number"):
        judge("IP-100", REV_A, (Measurement("bore_dia", value, "mm"),), GAUGES)  # type: ignore[arg-type]


def test_an_inspection_without_any_measurement_is_refused() -> None:
    with pytest.raises(InvalidValue, match="at least one result"):
        judge("IP-100", REV_A, (), GAUGES)


def test_the_verdict_is_accept_only_when_every_result_conforms() -> None:
    assert verdict(results(12.0, 12.005)) == "accept"
    assert verdict(results(12.0, 12.05)) == "reject"


# -- inspections reported whole by a station ------------------------------------------------

def test_an_inspection_performed_at_once_is_closed_with_its_verdict() -> None:
    measured = results(12.003, 12.02)

    inspection = Inspection.perform(inspection_id("L1", "L1-000001"), HEADER, measured,
                                    STATION, RECORDED)

    assert inspection.id == inspection_id("L1", "L1-000001")
    assert inspection.closed and inspection.verdict == "reject"
    assert inspection.header == HEADER and inspection.results == list(measured)
    (event,) = inspection.collect_events()
    assert isinstance(event, Inspection.Performed)
    assert (event.header, event.results, event.verdict) == (HEADER, measured, "reject")
    assert event.provenance == STATION and event.timestamp == RECORDED


def test_the_same_station_message_names_the_same_inspection() -> None:
    assert inspection_id("L1", "L1-000001") == inspection_id("L1", "L1-000001")
    assert inspection_id("L1", "L1-000001") != inspection_id("L2", "L1-000001")


@pytest.mark.parametrize(("header", "words"), [
    (InspectionHeader("LOT-0001", "shipping", "IP-100", "A", "L1", "CMM-2", "op-17", None),
     "stage must be one of receiving, in_process, final, not 'shipping'"),
    (InspectionHeader("", "final", "IP-100", "A", "L1", "CMM-2", "op-17", None),
     "an inspection must name its lot"),
])
def test_an_inspection_with_a_bad_header_is_refused(header: InspectionHeader,
                                                    words: str) -> None:
    with pytest.raises(InvalidValue, match=words):
        Inspection.perform(inspection_id("L1", "x"), header, results(12.0), STATION, RECORDED)
    with pytest.raises(InvalidValue, match=words):
        Inspection.open(inspection_id("L1", "x"), header, STATION, RECORDED)


# -- inspections recorded step by step ------------------------------------------------------

def test_an_opened_inspection_has_no_results_and_no_verdict_yet() -> None:
    inspection = Inspection.open(inspection_id("api", "INS-1"), HEADER, STATION, RECORDED)

    assert not inspection.closed and inspection.verdict is None and inspection.results == []
    (event,) = inspection.collect_events()
    assert isinstance(event, Inspection.Opened) and event.header == HEADER


def test_results_recorded_on_an_open_inspection_are_added_in_order() -> None:
    inspection = opened()
    first, second = results(12.0), results(12.02)

    inspection.record_results(first, STATION, RECORDED)
    inspection.record_results(second, STATION, LATER)

    assert inspection.results == [*first, *second]
    assert inspection.verdict is None
    events = inspection.collect_events()
    assert [type(e) for e in events] == [Inspection.ResultsRecorded] * 2
    assert [e.results for e in events] == [first, second]  # type: ignore[attr-defined]


def test_closing_an_inspection_records_its_verdict() -> None:
    inspection = opened()
    inspection.record_results(results(12.0, 12.02), STATION, RECORDED)
    inspection.collect_events()

    inspection.close(Provenance(actor="op-17"), LATER)

    assert inspection.closed and inspection.verdict == "reject"
    (event,) = inspection.collect_events()
    assert isinstance(event, Inspection.Closed) and event.verdict == "reject"
    assert event.timestamp == LATER


def test_an_inspection_with_no_results_cannot_be_closed() -> None:
    inspection = opened()

    with pytest.raises(InvalidValue, match="no results cannot be closed"):
        inspection.close(Provenance(actor="op-17"), LATER)

    assert inspection.collect_events() == [] and not inspection.closed


def test_a_measurement_on_a_closed_inspection_is_refused_and_nothing_is_recorded() -> None:
    inspection = performed(12.0)

    with pytest.raises(InspectionClosed, match="is closed: no more results can be recorded"):
        inspection.record_results(results(12.005), STATION, LATER)

    assert inspection.collect_events() == [] and len(inspection.results) == 1


def test_a_closed_inspection_cannot_be_closed_again() -> None:
    inspection = performed(12.0)

    with pytest.raises(InspectionClosed, match="is closed"):
        inspection.close(Provenance(actor="op-17"), LATER)

    assert inspection.collect_events() == []


# -- corrections ----------------------------------------------------------------------------

def test_a_correction_replaces_the_value_and_recomputes_the_verdict() -> None:
    inspection = performed(12.0, 12.2)
    (corrected,) = results(12.002)

    inspection.correct_result(1, corrected, QE, LATER)

    assert inspection.result(1) == corrected
    assert inspection.verdict == "accept"
    (event,) = inspection.collect_events()
    assert isinstance(event, Inspection.ResultCorrected)
    assert (event.index, event.result, event.verdict) == (1, corrected, "accept")
    assert event.provenance == QE and event.timestamp == LATER


def test_a_correction_keeps_the_original_result_in_the_history() -> None:
    original = results(12.0, 12.2)
    inspection = Inspection.perform(inspection_id("L1", "L1-000001"), HEADER, original,
                                    STATION, RECORDED)
    (corrected,) = results(12.002)

    inspection.correct_result(1, corrected, QE, LATER)

    performed_event, correction = inspection.collect_events()
    assert performed_event.results[1] == original[1]  # type: ignore[attr-defined]
    assert performed_event.results[1].value == 12.2  # type: ignore[attr-defined]
    assert correction.result == corrected  # type: ignore[attr-defined]


def test_a_correction_can_turn_an_accepted_inspection_into_a_rejected_one() -> None:
    inspection = performed(12.0, 12.001)
    (corrected,) = results(11.9)

    inspection.correct_result(0, corrected, QE, LATER)

    assert inspection.verdict == "reject"


def test_a_correction_on_an_open_inspection_leaves_the_verdict_to_the_closure() -> None:
    inspection = opened()
    inspection.record_results(results(12.2), STATION, RECORDED)
    inspection.collect_events()
    (corrected,) = results(12.0)

    inspection.correct_result(0, corrected, QE, LATER)

    assert inspection.verdict is None
    (event,) = inspection.collect_events()
    assert event.verdict is None  # type: ignore[attr-defined]
    inspection.close(Provenance(actor="op-17"), LATER)
    assert inspection.verdict == "accept"


def test_a_correction_without_a_reason_is_refused_and_nothing_is_recorded() -> None:
    inspection = performed(12.2)
    (corrected,) = results(12.0)

    with pytest.raises(ReasonRequired, match="a reason is required to correct result #0"):
        inspection.correct_result(0, corrected, Provenance(actor="qe-1"), LATER)

    assert inspection.collect_events() == []
    assert inspection.result(0).value == 12.2 and inspection.verdict == "reject"


@pytest.mark.parametrize("index", [1, -1])
def test_a_correction_of_a_result_that_does_not_exist_is_refused(index: int) -> None:
    inspection = performed(12.0)
    (corrected,) = results(12.001)

    with pytest.raises(NoSuchResult, match=f"result #{index} does not exist "
                       r"\(the inspection has 1\)"):
        inspection.correct_result(index, corrected, QE, LATER)

    assert inspection.collect_events() == []


# -- suspect results ------------------------------------------------------------------------

def test_a_result_measured_with_a_failed_gauge_is_marked_suspect_without_changing_it() -> None:
    inspection = performed(12.0, 12.001)
    prov = Provenance(actor="policy", source="policy", reason="G-0042 failed calibration")

    inspection.mark_suspect((1,), "G-0042", prov, LATER)

    assert inspection.result(1).gauge_condition == "suspect"
    assert inspection.result(1).value == 12.001 and inspection.result(1).conforming
    assert inspection.result(0).gauge_condition == "ok"
    assert inspection.verdict == "accept"
    (event,) = inspection.collect_events()
    assert isinstance(event, Inspection.ResultsMarkedSuspect)
    assert (event.indices, event.gauge, event.provenance) == ((1,), "G-0042", prov)


def test_the_results_of_an_inspection_are_marked_suspect_in_one_event() -> None:
    inspection = performed(12.0, 12.001, 12.002)

    inspection.mark_suspect((0, 2), "G-0042", Provenance(actor="policy", reason="failed"),
                            LATER)

    assert [r.gauge_condition for r in inspection.results] == ["suspect", "ok", "suspect"]
    (event,) = inspection.collect_events()
    assert isinstance(event, Inspection.ResultsMarkedSuspect) and event.indices == (0, 2)


def test_results_already_suspect_are_not_marked_again() -> None:
    inspection = performed(12.0, 12.001, 12.002)
    prov = Provenance(actor="policy", reason="G-0042 failed calibration")
    inspection.mark_suspect((1,), "G-0042", prov, LATER)
    inspection.collect_events()

    inspection.mark_suspect((0, 1, 1), "G-0042", prov, LATER)
    inspection.mark_suspect((0, 1), "G-0042", prov, LATER)

    (event,) = inspection.collect_events()
    assert isinstance(event, Inspection.ResultsMarkedSuspect) and event.indices == (0,)
    assert [r.gauge_condition for r in inspection.results] == ["suspect", "suspect", "ok"]


def test_marking_a_result_suspect_without_a_reason_is_refused() -> None:
    inspection = performed(12.0, 12.001)

    with pytest.raises(ReasonRequired, match="a reason is required to mark result #0 suspect"):
        inspection.mark_suspect((0,), "G-0042", Provenance(actor="policy"), LATER)
    with pytest.raises(ReasonRequired, match="mark results #0, #1 suspect"):
        inspection.mark_suspect((0, 1), "G-0042", Provenance(actor="policy"), LATER)

    assert inspection.collect_events() == []
    assert inspection.result(0).gauge_condition == "ok"


def test_marking_a_result_that_does_not_exist_suspect_is_refused_and_marks_none() -> None:
    inspection = performed(12.0)

    with pytest.raises(NoSuchResult, match="result #3 does not exist"):
        inspection.mark_suspect((0, 3), "G-0042", Provenance(actor="policy", reason="x"), LATER)

    assert inspection.collect_events() == []
    assert inspection.result(0).gauge_condition == "ok"


def test_a_suspect_mark_is_true_from_when_each_result_it_names_was_measured() -> None:
    # Two results measured two hours apart, both found suspect the next day.
    inspection = Inspection.open(inspection_id("L1", "L1-000001"), HEADER, STATION, RECORDED)
    inspection.record_results(results(12.0), STATION, RECORDED)
    two_hours_on = Provenance(actor="op-17", occurred_at=MEASURED + timedelta(hours=2))
    inspection.record_results(results(12.001), two_hours_on, RECORDED + timedelta(hours=2))
    inspection.mark_suspect((0, 1), "G-0042", Provenance(actor="policy", reason="failed"),
                            LATER)
    events = inspection.collect_events()

    # An hour in, only the first result existed, and it was already suspect.
    then = as_occurred_at(events, MEASURED + timedelta(hours=1))
    assert isinstance(then, Inspection)
    assert [r.gauge_condition for r in then.results] == ["suspect"]
    # Once both were measured, both were suspect.
    later = as_occurred_at(events, MEASURED + timedelta(hours=3))
    assert isinstance(later, Inspection)
    assert [r.gauge_condition for r in later.results] == ["suspect", "suspect"]


def test_a_correction_cannot_change_which_characteristic_was_measured() -> None:
    inspection = performed(12.2)
    (depth,) = judge("IP-100", REV_A, (Measurement("depth", 20.0, "mm"),), {})

    with pytest.raises(InvalidValue, match="bore_dia"):
        inspection.correct_result(0, depth, QE, LATER)

    assert inspection.collect_events() == []


def test_a_result_is_marked_suspect_only_for_the_gauge_it_was_measured_with() -> None:
    inspection = performed(12.0)

    with pytest.raises(InvalidValue, match="G-0099"):
        inspection.mark_suspect((0,), "G-0099", Provenance(actor="policy", reason="failed"),
                                LATER)

    assert inspection.collect_events() == []
