"""A lot's acceptance by sampling: its plan, the units counted, the decision by Ac and Re;
and the sampling plan and reaction plan an inspection plan names (master data)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.acceptance import (
    AlreadyDecided,
    LotAcceptance,
    SampledUnit,
    SampleIncomplete,
    SamplingPlan,
    lot_acceptance_id,
)
from domain.inspection import Characteristic, PlanRevision, checked_revision
from domain.records import InvalidValue, Provenance
from domain.sampling_tables import NORMAL, REDUCED, plan_for_lot, single_plan
from domain.switching import switching_id

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
POLICY = Provenance("policy:acceptance", source="policy")


def planned(severity: str = NORMAL, lot_size: int = 1000) -> LotAcceptance:
    # lot of 1000 at level II: code letter J; AQL 1.0 normal is n 80, Ac 2, Re 3
    plan = plan_for_lot(lot_size, "II", 1.0, severity)
    a = LotAcceptance.plan_lot("LOT-1", "IP-100", switching_id("IP-100", "P-7", "L1"),
                               lot_size, plan, POLICY, NOW)
    a.collect_events()
    return a


def units(good: int, bad: int) -> tuple[SampledUnit, ...]:
    return tuple(SampledUnit(uuid4(), False) for _ in range(good)) + \
        tuple(SampledUnit(uuid4(), True) for _ in range(bad))


def test_a_lot_is_planned_with_the_single_plan_of_its_size_and_the_inspection_in_force() -> None:
    a = planned()
    assert a.id == lot_acceptance_id("IP-100", "LOT-1")
    assert (a.single.letter, a.single.sample_size, a.single.acceptance,
            a.single.rejection) == ("J", 80, 2, 3)
    assert (a.complete, a.verdict) == (False, None)


def test_a_lot_with_ac_or_fewer_nonconforming_units_in_the_sample_is_accepted() -> None:
    a = planned()
    a.count_units(units(78, 2), POLICY, NOW)
    decided = a.decide(POLICY, NOW)
    assert (decided.verdict, decided.nonconforming, decided.sample_size, decided.acceptance,
            decided.rejection, decided.severity, decided.between) == \
        ("accepted", 2, 80, 2, 3, NORMAL, False)


def test_a_lot_with_re_or_more_nonconforming_units_is_rejected() -> None:
    a = planned()
    a.count_units(units(77, 3), POLICY, NOW)
    assert a.decide(POLICY, NOW).verdict == "rejected"


def test_units_beyond_the_sample_and_units_counted_twice_are_left_out() -> None:
    a = planned()
    first = units(79, 0)
    a.count_units(first, POLICY, NOW)
    a.count_units(first[:5] + units(0, 3), POLICY, NOW)  # repeats, then 3 bad: room for 1
    assert len(a.units) == 80 and sum(a.units.values()) == 1
    assert a.decide(POLICY, NOW).verdict == "accepted"


def test_a_lot_cannot_be_decided_before_its_sample_is_complete_or_twice() -> None:
    a = planned()
    a.count_units(units(10, 0), POLICY, NOW)
    with pytest.raises(SampleIncomplete, match="10 of 80"):
        a.decide(POLICY, NOW)
    a.count_units(units(70, 0), POLICY, NOW)
    a.decide(POLICY, NOW)
    with pytest.raises(AlreadyDecided):
        a.decide(POLICY, NOW)


def test_on_reduced_inspection_a_count_between_ac_and_re_accepts_the_lot() -> None:
    a = planned(REDUCED)  # J/1.0 reduced: n 32, Ac 1, Re 3
    a.count_units(units(30, 2), POLICY, NOW)
    decided = a.decide(POLICY, NOW)
    assert (decided.verdict, decided.between) == ("accepted", True)


# -- master data ----------------------------------------------------------------------------

BORE = Characteristic("bore_dia", 12.0, 11.99, 12.01, "mm", "bore gauge")


def revision(sampling: SamplingPlan | None, reaction: str = "hold_lot") -> PlanRevision:
    char = Characteristic("bore_dia", 12.0, 11.99, 12.01, "mm", reaction=reaction)
    return PlanRevision("A", "P-7", "in_process", 5, (char,), sampling=sampling)


def test_a_plan_without_sampling_and_with_the_default_reaction_holds_as_before() -> None:
    assert BORE.reaction == "hold_lot"
    assert checked_revision("IP-1", revision(None)).sampling is None


@pytest.mark.parametrize(("sampling", "message"), [
    (SamplingPlan("IV", 1.0), "inspection level must be one of"),
    (SamplingPlan("II", 2.0), "not one of the preferred values"),
    (SamplingPlan("II", 15.0), "at most 10"),
    (SamplingPlan("II", 1.0, lot_size=1), "at least 2"),
])
def test_a_sampling_plan_off_the_tables_is_refused(sampling: SamplingPlan,
                                                   message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        checked_revision("IP-1", revision(sampling))


def test_a_reaction_must_be_known_and_a_sampled_one_needs_the_plan_to_sample() -> None:
    with pytest.raises(InvalidValue, match="reaction must be one of"):
        checked_revision("IP-1", revision(None, "ignore"))
    with pytest.raises(InvalidValue, match="needs the plan's sampling"):
        checked_revision("IP-1", revision(None, "sampled"))
    sampled = checked_revision("IP-1", revision(SamplingPlan("II", 1.0), "sampled"))
    assert sampled.characteristics[0].reaction == "sampled"


def test_the_plan_a_lot_gets_is_the_tables_plan() -> None:
    assert plan_for_lot(1000, "II", 1.0, NORMAL) == single_plan("J", 1.0, NORMAL)
