"""Control plans, the register that finds them, and process-parameter readings judged
against them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.process import (
    REGISTER_ID,
    ControlPlan,
    ControlPlanRegister,
    ControlPlanRevision,
    Operation,
    ParameterReading,
    ProcessParameter,
    ReadingHeader,
    UnknownParameter,
    control_plan_id,
    reading_id,
)
from domain.records import InvalidValue, LimitsInverted, Provenance, RecordExists, WrongUnit

MEASURED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
RECORDED = datetime(2026, 11, 26, 12, 0, 1, tzinfo=UTC)
QE = Provenance(actor="qe-1", source="import")
OVEN = Provenance(actor="OVEN-1", occurred_at=MEASURED, source="L1",
                  source_message_id="L1-P-000001")

TEMPERATURE = ProcessParameter(name="temperature", unit="degC", target=180, lsl=175, usl=185,
                               reaction="hold lot, notify quality engineer")
PRESSURE = ProcessParameter(name="pressure", unit="bar", target=None, lsl=None, usl=6.0,
                            reaction="stop the press")
CP7_A = ControlPlanRevision(revision="A", product="P-7", operations=(
    Operation(id="cure", parameters=(TEMPERATURE,)),
    Operation(id="press", parameters=(PRESSURE,))))
CURE_HEADER = ReadingHeader(lot="LOT-0001", line="L1", station="OVEN-1", operation="cure",
                            parameter="temperature")


def control_plan(plan: str = "CP-7", revision: ControlPlanRevision = CP7_A) -> ControlPlan:
    cp = ControlPlan.define(plan, revision, QE, RECORDED)
    cp.collect_events()
    return cp


def read(value: float, unit: str = "degC", header: ReadingHeader = CURE_HEADER,
         cp: ControlPlan | None = None) -> ParameterReading:
    return ParameterReading.judge_and_record(reading_id("L1", "L1-P-000001"), header, value,
                                             unit, cp or control_plan(), OVEN, RECORDED)


def register_of(*plans: ControlPlan) -> ControlPlanRegister:
    register = ControlPlanRegister.start(QE, RECORDED)
    for cp in plans:
        register.list_plan(cp, QE, RECORDED)
    register.collect_events()
    return register


# -- control plans --------------------------------------------------------------------------

def test_defining_a_control_plan_records_its_first_revision() -> None:
    cp = ControlPlan.define("CP-7", CP7_A, QE, RECORDED)

    assert cp.id == control_plan_id("CP-7")
    assert cp.plan == "CP-7" and cp.current == CP7_A
    (event,) = cp.collect_events()
    assert isinstance(event, ControlPlan.Defined)
    assert (event.plan, event.revision, event.provenance) == ("CP-7", CP7_A, QE)


def test_a_new_control_plan_revision_is_the_one_in_force() -> None:
    cp = control_plan()
    rev_b = ControlPlanRevision("B", "P-7", (Operation("cure", (TEMPERATURE,)),))

    cp.release_revision(rev_b, QE, RECORDED)

    assert cp.current == rev_b and cp.revisions == [CP7_A, rev_b]
    (event,) = cp.collect_events()
    assert isinstance(event, ControlPlan.RevisionReleased) and event.revision == rev_b


def test_releasing_an_existing_control_plan_revision_is_refused() -> None:
    cp = control_plan()

    with pytest.raises(RecordExists, match="control plan CP-7 revision A is already recorded"):
        cp.release_revision(CP7_A, QE, RECORDED)

    assert cp.collect_events() == []


@pytest.mark.parametrize(("revision", "error", "words"), [
    (ControlPlanRevision("A", "P-7", ()), InvalidValue, "CP-7: needs at least one operation"),
    (ControlPlanRevision("A", "P-7", (Operation("cure", (
        ProcessParameter("temperature", "degC", 180, 185, 175, "hold"),)),)),
     LimitsInverted, "CP-7 cure.temperature: lower limit 185 is above upper limit 175"),
    (ControlPlanRevision("A", "P-7", (Operation("cure", (
        ProcessParameter("temperature", "", 180, 175, 185, "hold"),)),)),
     InvalidValue, "CP-7 cure.temperature: a unit is required"),
    (ControlPlanRevision("A", "P-7", (Operation("cure", (
        ProcessParameter("temperature", "degC", 180, 175, 185, ""),)),)),
     InvalidValue, "CP-7 cure.temperature: a reaction plan is required"),
])
def test_an_unusable_control_plan_revision_is_refused(revision: ControlPlanRevision,
                                                      error: type[Exception],
                                                      words: str) -> None:
    with pytest.raises(error, match=words):
        ControlPlan.define("CP-7", revision, QE, RECORDED)


def test_an_unusable_new_control_plan_revision_is_refused_and_nothing_is_recorded() -> None:
    cp = control_plan()

    with pytest.raises(InvalidValue, match="at least one operation"):
        cp.release_revision(ControlPlanRevision("B", "P-7", ()), QE, RECORDED)

    assert cp.collect_events() == [] and cp.current == CP7_A


# -- the register of control plans ----------------------------------------------------------

def test_listing_a_plan_records_its_product_and_its_parameters() -> None:
    register = ControlPlanRegister.start(QE, RECORDED)

    register.list_plan(control_plan(), QE, RECORDED)

    assert register.id == REGISTER_ID
    assert register.products == {"CP-7": "P-7"}
    started, listed = register.collect_events()
    assert isinstance(started, ControlPlanRegister.Started)
    assert isinstance(listed, ControlPlanRegister.PlanListed)
    assert (listed.plan, listed.product) == ("CP-7", "P-7")
    assert listed.keys == ("cure\x1ftemperature", "press\x1fpressure")


def test_the_register_finds_the_plan_by_operation_and_parameter() -> None:
    register = register_of(control_plan())

    assert register.plans_for("cure", "temperature", None) == ["CP-7"]
    assert register.plans_for("press", "pressure", "P-7") == ["CP-7"]


def test_the_register_does_not_confuse_a_parameter_of_another_operation() -> None:
    register = register_of(control_plan())

    assert register.plans_for("press", "temperature", None) == []
    assert register.plans_for("cure", "humidity", "P-7") == []


def test_the_register_prefers_the_plan_for_the_lots_product() -> None:
    cp9 = control_plan("CP-9", ControlPlanRevision("A", "P-9", (
        Operation("cure", (TEMPERATURE,)),)))
    register = register_of(control_plan(), cp9)

    assert register.plans_for("cure", "temperature", "P-9") == ["CP-9"]
    assert register.plans_for("cure", "temperature", "P-7") == ["CP-7"]


def test_without_the_lots_product_every_plan_with_the_parameter_is_a_candidate() -> None:
    cp9 = control_plan("CP-9", ControlPlanRevision("A", "P-9", (
        Operation("cure", (TEMPERATURE,)),)))
    register = register_of(control_plan(), cp9)

    assert sorted(register.plans_for("cure", "temperature", None)) == ["CP-7", "CP-9"]


def test_a_lot_of_a_product_without_a_control_plan_is_not_judged_by_another_products() -> None:
    cp9 = control_plan("CP-9", ControlPlanRevision("A", "P-9", (
        Operation("cure", (TEMPERATURE,)),)))
    register = register_of(control_plan(), cp9)

    assert register.plans_for("cure", "temperature", "P-1") == []


def test_listing_a_plan_again_replaces_its_parameters_with_the_current_revision() -> None:
    cp = control_plan()
    register = register_of(cp)
    cp.release_revision(ControlPlanRevision("B", "P-7", (Operation("cure", (TEMPERATURE,)),)),
                        QE, RECORDED)

    register.list_plan(cp, QE, RECORDED)

    assert register.plans_for("press", "pressure", "P-7") == []
    assert register.plans_for("cure", "temperature", "P-7") == ["CP-7"]


# -- readings -------------------------------------------------------------------------------

def test_a_reading_within_the_limits_is_recorded_with_the_limits_it_was_judged_by() -> None:
    reading = read(181.5)

    assert reading.id == reading_id("L1", "L1-P-000001")
    assert reading.within_limits and reading.value == 181.5 and reading.header == CURE_HEADER
    (event,) = reading.collect_events()
    assert isinstance(event, ParameterReading.Recorded)
    assert (event.plan, event.plan_revision) == ("CP-7", "A")
    assert (event.unit, event.target, event.lsl, event.usl) == ("degC", 180, 175, 185)
    assert event.within_limits and event.reaction is None
    assert event.provenance == OVEN and event.timestamp == RECORDED


def test_a_reading_outside_the_limits_carries_the_reaction_plan() -> None:
    reading = read(190.0)

    assert not reading.within_limits
    (event,) = reading.collect_events()
    assert not event.within_limits  # type: ignore[attr-defined]
    assert event.reaction == "hold lot, notify quality engineer"  # type: ignore[attr-defined]


def test_a_reading_on_a_limit_is_within_the_limits() -> None:
    assert read(175).within_limits and read(185).within_limits
    assert isinstance(read(175).value, float)


def test_a_reading_is_judged_against_the_revision_in_force() -> None:
    cp = control_plan()
    cp.release_revision(ControlPlanRevision("B", "P-7", (Operation("cure", (
        ProcessParameter("temperature", "degC", 190, 185, 195, "hold lot"),)),)), QE, RECORDED)

    reading = read(190.0, cp=cp)

    assert reading.within_limits
    (event,) = reading.collect_events()
    assert event.plan_revision == "B"  # type: ignore[attr-defined]


def test_a_reading_of_a_parameter_not_in_the_control_plan_is_refused() -> None:
    header = ReadingHeader("LOT-0001", "L1", "OVEN-1", "cure", "humidity")

    with pytest.raises(UnknownParameter,
                       match="no control plan has parameter 'humidity' in operation 'cure'"):
        read(40.0, unit="%RH", header=header)


def test_a_reading_in_the_wrong_unit_is_refused() -> None:
    with pytest.raises(WrongUnit, match="cure.temperature is in degC, not 'degF'"):
        read(356.0, unit="degF")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "181.5"])
def test_a_reading_that_is_not_a_finite_number_is_refused(value: object) -> None:
    with pytest.raises(InvalidValue, match="temperature: value .* is not a number"):
        read(value)  # type: ignore[arg-type]
