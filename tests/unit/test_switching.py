"""The switching rules of ISO 2859-1 clause 9, one by one, on a switching record: act, then
the inspection in force and the events raised (each switch with its rule and its lots)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.records import Provenance, ReasonRequired
from domain.sampling_tables import NORMAL, REDUCED, TIGHTENED, SinglePlan, single_plan
from domain.switching import (
    DISCONTINUED,
    InspectionSwitching,
    NotDiscontinued,
    SamplingDiscontinued,
    switching_id,
)

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
POLICY = Provenance("policy:acceptance", source="policy")
QE = Provenance("qe-anna", reason="supplier's process capability reviewed")
# Code letter J at AQL 1.0: normal 2/3 (n 80), tightened 1/2, reduced 1/3 (n 32).
PLANS = {severity: single_plan("J", 1.0, severity) for severity in (NORMAL, TIGHTENED, REDUCED)}
# J at AQL 0.15 on normal inspection is 0/1 (Ac 0: the score counts +2 per acceptance).
ZERO_ACCEPTANCE = single_plan("J", 0.15, NORMAL)


def record() -> InspectionSwitching:
    r = InspectionSwitching.start("IP-100", "P-7", "SUP-1", POLICY, NOW)
    r.collect_events()
    return r


def lots(r: InspectionSwitching, *counts: int, plan: SinglePlan | None = None) -> None:
    """Count lots under the inspection in force, by their nonconforming units."""
    for count in counts:
        in_force = PLANS.get(r.severity, PLANS[TIGHTENED])
        r.count_lot(f"LOT-{len(r.recent) + 1:03d}-{count}", plan or in_force, count, False,
                    POLICY, NOW)


def switches(r: InspectionSwitching) -> list[tuple[str, str, str]]:
    return [(e.from_severity, e.to_severity, e.rule.split(":")[0])
            for e in r.collect_events() if isinstance(e, InspectionSwitching.Switched)]


def test_a_switching_record_starts_on_normal_inspection_with_a_score_of_zero() -> None:
    r = InspectionSwitching.start("IP-100", "P-7", "SUP-1", POLICY, NOW)
    assert r.id == switching_id("IP-100", "P-7", "SUP-1")
    assert (r.severity, r.score, r.reduced_approved, r.steady) == (NORMAL, 0, False, True)


@pytest.mark.parametrize("between", [0, 1, 2, 3])
def test_two_lots_rejected_within_five_consecutive_switch_to_tightened(between: int) -> None:
    r = record()
    lots(r, 3, *([0] * between))
    assert r.severity == NORMAL
    lots(r, 3)
    assert r.severity == TIGHTENED
    (switch,) = [e for e in r.collect_events() if isinstance(e, InspectionSwitching.Switched)]
    assert switch.rule.startswith("9.3.1")


def test_two_rejections_five_lots_apart_do_not_switch() -> None:
    r = record()
    lots(r, 3, 0, 0, 0, 0, 3)  # the second rejection is the 6th lot
    assert r.severity == NORMAL and switches(r) == []


def test_the_lots_that_caused_the_switch_are_named() -> None:
    r = record()
    lots(r, 3, 0, 4)
    (switch,) = [e for e in r.collect_events() if isinstance(e, InspectionSwitching.Switched)]
    assert switch.lots == ("LOT-001-3", "LOT-003-4")
    assert (switch.from_severity, switch.to_severity) == (NORMAL, TIGHTENED)


def tightened() -> InspectionSwitching:
    r = record()
    lots(r, 3, 3)
    r.collect_events()
    return r


def test_five_consecutive_acceptances_on_tightened_switch_back_to_normal() -> None:
    r = tightened()
    lots(r, 0, 0, 0, 0)
    assert r.severity == TIGHTENED
    lots(r, 1)  # tightened J/1.0 is 1/2: one nonconforming unit is still accepted
    assert r.severity == NORMAL and r.score == 0
    assert switches(r) == [(TIGHTENED, NORMAL, "9.3.2")]


def test_a_rejection_on_tightened_starts_the_run_of_five_again() -> None:
    r = tightened()
    lots(r, 0, 0, 0, 0, 2, 0, 0, 0, 0)
    assert r.severity == TIGHTENED
    lots(r, 0)
    assert r.severity == NORMAL


def test_five_lots_not_accepted_on_tightened_discontinue_sampling() -> None:
    r = tightened()
    lots(r, 2, 0, 2, 0, 0, 0, 2, 2)  # 4 rejected, accepted runs too short to return
    assert r.severity == TIGHTENED
    lots(r, 5)
    assert r.severity == DISCONTINUED
    (switch,) = [e for e in r.collect_events() if isinstance(e, InspectionSwitching.Switched)]
    assert switch.rule.startswith("9.4") and len(switch.lots) == 5
    with pytest.raises(SamplingDiscontinued, match="discontinued"):
        lots(r, 0)


def test_sampling_resumes_on_tightened_only_after_corrective_action() -> None:
    r = tightened()
    lots(r, 2, 2, 2, 2, 2)
    with pytest.raises(ReasonRequired):
        r.resume(Provenance("qe-anna"), NOW)
    r.resume(Provenance("qe-anna", reason="CA-0007 verified effective"), NOW)
    assert r.severity == TIGHTENED and r.recent == []
    with pytest.raises(NotDiscontinued):
        r.resume(QE, NOW)


# -- normal to reduced: the switching score of ISO 2859-1:1999 9.3.3 ----------------------

def test_with_ac_2_or_more_a_lot_adds_3_if_accepted_at_the_aql_one_step_tighter() -> None:
    r = record()
    # J/1.0 is 2/3; one step tighter, J/0.65, is 1/2: 0 or 1 nonconforming add 3
    lots(r, 0, 1)
    assert r.score == 6
    lots(r, 2)  # accepted at 1.0 (2 <= Ac 2) but not at 0.65: back to 0
    assert r.score == 0


def test_with_ac_0_or_1_an_accepted_lot_adds_2_and_a_rejected_one_resets() -> None:
    r = record()
    lots(r, 0, 0, 0, plan=ZERO_ACCEPTANCE)
    assert r.score == 6
    lots(r, 1, plan=ZERO_ACCEPTANCE)
    assert r.score == 0


def scored(score: int) -> InspectionSwitching:
    r = record()
    lots(r, *([0] * (score // 3)))
    assert r.score == score
    return r


def test_a_score_of_30_with_approval_and_steady_production_switches_to_reduced() -> None:
    r = scored(27)
    r.approve_reduced(True, QE, NOW)
    assert r.severity == NORMAL  # score 27: not yet
    lots(r, 0)
    assert r.severity == REDUCED
    assert switches(r) == [(NORMAL, REDUCED, "9.3.3")]


def test_without_approval_a_score_of_30_does_not_reduce_until_approval_comes() -> None:
    r = scored(33)
    assert r.severity == NORMAL
    r.approve_reduced(True, QE, NOW)  # the authority's decision switches at once
    assert r.severity == REDUCED
    approval = [e for e in r.collect_events()
                if isinstance(e, InspectionSwitching.ReducedApproval)]
    assert approval[0].provenance == QE and approval[0].approved is True


def test_irregular_production_keeps_normal_inspection_despite_the_score() -> None:
    r = scored(27)
    r.approve_reduced(True, QE, NOW)
    r.report_production(False, Provenance("planner", reason="line down for tooling"), NOW)
    lots(r, 0, 0)
    assert r.severity == NORMAL and r.score == 33
    r.report_production(True, Provenance("planner", reason="back to rate"), NOW)
    assert r.severity == REDUCED


def test_approval_needs_a_reason_from_the_responsible_authority() -> None:
    with pytest.raises(ReasonRequired):
        record().approve_reduced(True, Provenance("qe-anna"), NOW)


def reduced() -> InspectionSwitching:
    r = scored(30)
    r.approve_reduced(True, QE, NOW)
    assert r.severity == REDUCED
    r.collect_events()
    return r


def test_a_lot_not_accepted_on_reduced_reinstates_normal() -> None:
    r = reduced()
    lots(r, 0, 3)  # reduced J/1.0 is 1/3: 3 nonconforming rejects
    assert r.severity == NORMAL and r.score == 0
    assert switches(r) == [(REDUCED, NORMAL, "9.3.4 a")]


def test_a_lot_accepted_between_ac_and_re_on_reduced_reinstates_normal() -> None:
    r = reduced()
    r.count_lot("LOT-GAP", PLANS[REDUCED], 2, True, POLICY, NOW)  # 1 < 2 < 3
    assert r.severity == NORMAL
    counted, switch = r.collect_events()
    assert isinstance(counted, InspectionSwitching.LotCounted) and counted.accepted is True
    assert isinstance(switch, InspectionSwitching.Switched) and switch.rule.startswith("MIL-STD")


def test_irregular_production_reinstates_normal_from_reduced() -> None:
    r = reduced()
    r.report_production(False, Provenance("planner", reason="supplier changed site"), NOW)
    assert r.severity == NORMAL
    assert switches(r) == [(REDUCED, NORMAL, "9.3.4 b")]


def test_lots_accepted_on_reduced_keep_reduced_inspection() -> None:
    r = reduced()
    lots(r, 0, 1, 0, 1)
    assert r.severity == REDUCED and switches(r) == []
