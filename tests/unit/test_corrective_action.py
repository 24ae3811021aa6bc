"""Corrective actions: root cause, planned actions, effectiveness check, closure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.corrective_action import (
    CorrectiveAction,
    CorrectiveActionClosed,
    CorrectiveActionNotReady,
    PlannedAction,
    corrective_action_id,
)
from domain.nonconformance import nonconformance_id
from domain.records import InvalidValue, Provenance, ReasonRequired

OPENED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 15, 10, 0, tzinfo=UTC)
DUE = datetime(2026, 12, 10, 17, 0, tzinfo=UTC)
QE = Provenance(actor="qe-1")
CLOSING = Provenance(actor="qe-1", reason="no recurrence in 3 months of production")
NC = nonconformance_id("NC-0001")
REPLACE_SPINDLE = PlannedAction(description="replace worn boring spindle", owner="maint-2",
                                due=DUE)
ADD_CHECK = PlannedAction(description="add spindle runout to the PM checklist",
                          owner="maint-1", due=DUE)


def opened() -> CorrectiveAction:
    ca = CorrectiveAction.open("CA-0001", NC, "bore oversize on line 1", QE, OPENED)
    ca.collect_events()
    return ca


def with_root_cause() -> CorrectiveAction:
    ca = opened()
    ca.record_root_cause("spindle bearing wear", "5 whys", QE, OPENED)
    ca.collect_events()
    return ca


def actions_done(ca: CorrectiveAction) -> CorrectiveAction:
    index = ca.plan_action(REPLACE_SPINDLE, QE, OPENED)
    ca.complete_action(index, "work order WO-77 closed", QE, LATER)
    ca.collect_events()
    return ca


def ready_to_close() -> CorrectiveAction:
    ca = actions_done(with_root_cause())
    ca.check_effectiveness(True, "30 lots without oversize bores", QE, LATER)
    ca.collect_events()
    return ca


def test_opening_a_corrective_action_records_the_problem_and_its_nonconformance() -> None:
    ca = CorrectiveAction.open("CA-0001", NC, "bore oversize on line 1", QE, OPENED)

    assert ca.id == corrective_action_id("CA-0001")
    assert (ca.number, ca.nonconformance, ca.status) == ("CA-0001", NC, "open")
    assert ca.root_cause is None and ca.actions == [] and ca.effective is None
    (event,) = ca.collect_events()
    assert isinstance(event, CorrectiveAction.Opened)
    assert (event.problem, event.nonconformance, event.provenance) == \
        ("bore oversize on line 1", NC, QE)


def test_a_corrective_action_without_a_problem_statement_is_refused() -> None:
    with pytest.raises(InvalidValue, match="needs a problem statement"):
        CorrectiveAction.open("CA-0001", None, " ", QE, OPENED)


def test_the_root_cause_is_recorded_with_the_method_used() -> None:
    ca = opened()

    ca.record_root_cause("spindle bearing wear", "5 whys", QE, OPENED)

    assert ca.root_cause == "spindle bearing wear"
    (event,) = ca.collect_events()
    assert isinstance(event, CorrectiveAction.RootCauseRecorded)
    assert (event.cause, event.method) == ("spindle bearing wear", "5 whys")


def test_a_blank_root_cause_is_refused() -> None:
    ca = opened()

    with pytest.raises(InvalidValue, match="describe the root cause"):
        ca.record_root_cause("", None, QE, OPENED)

    assert ca.collect_events() == [] and ca.root_cause is None


def test_planned_actions_are_numbered_in_order() -> None:
    ca = opened()

    assert ca.plan_action(REPLACE_SPINDLE, QE, OPENED) == 0
    assert ca.plan_action(ADD_CHECK, QE, OPENED) == 1

    assert ca.actions == [REPLACE_SPINDLE, ADD_CHECK]
    events = ca.collect_events()
    assert [type(e) for e in events] == [CorrectiveAction.ActionPlanned] * 2
    assert [e.action for e in events] == [REPLACE_SPINDLE, ADD_CHECK]  # type: ignore[attr-defined]


@pytest.mark.parametrize("action", [
    PlannedAction(description=" ", owner="maint-2", due=DUE),
    PlannedAction(description="replace spindle", owner="", due=DUE),
])
def test_an_action_without_a_description_or_an_owner_is_refused(action: PlannedAction) -> None:
    ca = opened()

    with pytest.raises(InvalidValue, match="an action needs a description and an owner"):
        ca.plan_action(action, QE, OPENED)

    assert ca.collect_events() == [] and ca.actions == []


def test_completing_an_action_records_its_evidence() -> None:
    ca = opened()
    ca.plan_action(REPLACE_SPINDLE, QE, OPENED)
    ca.collect_events()

    ca.complete_action(0, "work order WO-77 closed", QE, LATER)

    assert ca.completed == {0}
    (event,) = ca.collect_events()
    assert isinstance(event, CorrectiveAction.ActionCompleted)
    assert (event.index, event.evidence, event.timestamp) == (0, "work order WO-77 closed", LATER)


@pytest.mark.parametrize("index", [1, -1])
def test_completing_an_action_that_was_not_planned_is_refused(index: int) -> None:
    ca = opened()
    ca.plan_action(REPLACE_SPINDLE, QE, OPENED)
    ca.collect_events()

    with pytest.raises(InvalidValue, match=f"corrective action CA-0001 has no action #{index}"):
        ca.complete_action(index, "done", QE, LATER)

    assert ca.collect_events() == [] and ca.completed == set()


# -- effectiveness --------------------------------------------------------------------------

def test_effectiveness_is_checked_once_every_action_is_complete() -> None:
    ca = actions_done(with_root_cause())

    ca.check_effectiveness(True, "30 lots without oversize bores", QE, LATER)

    assert ca.effective is True
    (event,) = ca.collect_events()
    assert isinstance(event, CorrectiveAction.EffectivenessChecked)
    assert (event.effective, event.evidence) == (True, "30 lots without oversize bores")


def test_effectiveness_cannot_be_checked_before_every_action_is_complete() -> None:
    ca = actions_done(with_root_cause())
    ca.plan_action(ADD_CHECK, QE, OPENED)
    ca.collect_events()

    with pytest.raises(CorrectiveActionNotReady, match="actions are not all complete"):
        ca.check_effectiveness(True, "looks good", QE, LATER)

    assert ca.collect_events() == [] and ca.effective is None


def test_effectiveness_cannot_be_checked_when_no_action_was_planned() -> None:
    ca = with_root_cause()

    with pytest.raises(CorrectiveActionNotReady, match="actions are not all complete"):
        ca.check_effectiveness(True, "looks good", QE, LATER)

    assert ca.collect_events() == []


def test_effectiveness_needs_evidence() -> None:
    ca = actions_done(with_root_cause())

    with pytest.raises(InvalidValue, match="effectiveness needs evidence"):
        ca.check_effectiveness(True, "  ", QE, LATER)

    assert ca.collect_events() == [] and ca.effective is None


# -- closure --------------------------------------------------------------------------------

def test_a_corrective_action_with_a_verified_fix_is_closed_with_a_reason() -> None:
    ca = ready_to_close()

    ca.close(CLOSING, LATER)

    assert ca.status == "closed"
    (event,) = ca.collect_events()
    assert isinstance(event, CorrectiveAction.Closed) and event.provenance == CLOSING


def test_closing_without_a_reason_is_refused() -> None:
    ca = ready_to_close()

    with pytest.raises(ReasonRequired, match="a reason is required to close corrective action "
                       "CA-0001"):
        ca.close(QE, LATER)

    assert ca.collect_events() == [] and ca.status == "open"


def test_closing_without_a_root_cause_is_refused() -> None:
    ca = actions_done(opened())
    ca.check_effectiveness(True, "30 lots without oversize bores", QE, LATER)
    ca.collect_events()

    with pytest.raises(CorrectiveActionNotReady,
                       match="corrective action CA-0001 cannot be closed: no root cause"):
        ca.close(CLOSING, LATER)

    assert ca.collect_events() == [] and ca.status == "open"


def test_closing_before_the_effectiveness_check_is_refused() -> None:
    ca = actions_done(with_root_cause())

    with pytest.raises(CorrectiveActionNotReady,
                       match="cannot be closed: effectiveness not verified"):
        ca.close(CLOSING, LATER)

    assert ca.collect_events() == [] and ca.status == "open"


def test_closing_after_the_fix_was_found_ineffective_is_refused() -> None:
    ca = actions_done(with_root_cause())
    ca.check_effectiveness(False, "oversize bores again on LOT-0040", QE, LATER)
    ca.collect_events()

    with pytest.raises(CorrectiveActionNotReady, match="effectiveness not verified"):
        ca.close(CLOSING, LATER)

    assert ca.collect_events() == [] and ca.status == "open"


def test_closing_with_an_action_planned_after_the_effectiveness_check_is_refused() -> None:
    ca = ready_to_close()
    ca.plan_action(ADD_CHECK, QE, LATER)
    ca.collect_events()

    with pytest.raises(CorrectiveActionNotReady, match="actions are not all complete"):
        ca.close(CLOSING, LATER)

    assert ca.collect_events() == [] and ca.status == "open"


@pytest.mark.parametrize(("command", "args"), [
    ("record_root_cause", ("another cause", None)),
    ("plan_action", (ADD_CHECK,)),
    ("complete_action", (0, "again")),
    ("check_effectiveness", (True, "again")),
    ("close", ()),
])
def test_a_closed_corrective_action_cannot_be_changed(command: str,
                                                      args: tuple[object, ...]) -> None:
    ca = ready_to_close()
    ca.close(CLOSING, LATER)
    ca.collect_events()

    with pytest.raises(CorrectiveActionClosed, match="corrective action CA-0001 is closed"):
        getattr(ca, command)(*args, CLOSING, LATER)

    assert ca.collect_events() == [] and ca.status == "closed"
