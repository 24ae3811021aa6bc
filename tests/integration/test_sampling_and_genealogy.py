"""Lot acceptance by sampling, reaction plans and genealogy on SQLite and PostgreSQL: the
policy runner decides lots by their acceptance numbers and switches inspection by the
rules; genealogy is walked forward and backward in the views, a cycle is refused; and a
failed gauge's reverse trace follows the genealogy down to shipped assemblies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from domain.acceptance import LotAcceptance, SamplingPlan
from domain.genealogy import Component, GenealogyCycle
from domain.inspection import Characteristic, PlanRevision
from domain.lot import Lot
from domain.records import Provenance
from domain.reports import GenealogyReport, LotMovementReport
from domain.switching import InspectionSwitching
from domain.timetravel import summarize
from projections.acceptance import LotAcceptanceRow, SwitchingStateRow, acceptance_of_lot
from projections.genealogy import trace
from projections.runner import ProjectionRunner
from services.policy_runner import PolicyRunner, TrackedQualityRecords, build_tracked_records
from services.settings import Settings
from services.views import build_projection_runner
from tests.application.fixtures import QE, T0, calibration, inspection, set_up_plant
from tests.conftest import ManualClock


@pytest.fixture
def records(store_settings: Settings, clock: ManualClock) -> Iterator[TrackedQualityRecords]:
    app = build_tracked_records(store_settings, clock=clock)
    set_up_plant(app)  # G-0042, G-0043 calibrated 30 days before T0; IP-100 (hold on reject)
    # IP-S samples: level II, AQL 1.0; lots of 1000 unless the ERP says otherwise (J: n 80,
    # Ac 2, Re 3 on normal inspection); its bore diameter only counts against Ac.
    sampled = Characteristic("bore_dia", 12.0, 11.99, 12.01, "mm", "bore gauge", spc_rules=(),
                             reaction="sampled")
    app.define_inspection_plan("IP-S", PlanRevision(
        "A", "P-7", "in_process", 1, (sampled,), sampling=SamplingPlan("II", 1.0, 1000)), QE)
    yield app
    app.close()


@pytest.fixture
def views(store_settings: Settings, records: TrackedQualityRecords) -> Iterator[ProjectionRunner]:
    runner = build_projection_runner(store_settings, ["acceptance", "genealogy",
                                                      "nonconformances"], records=records)
    runner.acquire()
    yield runner
    runner.release()
    runner.engine.dispose()


def sample(records: TrackedQualityRecords, lot: str, good: int, bad: int, start: int = 0,
           line: str = "L1") -> list[Any]:
    """``good`` conforming then ``bad`` nonconforming units of ``lot`` inspected on IP-S."""
    values = [12.001] * good + [12.03] * bad
    return records.record_inspections([
        inspection(start + i, lot=lot, plan="IP-S", value=v, line=line)
        for i, v in enumerate(values)])


def decision(records: TrackedQualityRecords, lot: str) -> Any:
    events = records.history(records.lot_acceptance("IP-S", lot).id)
    return next(e for e in events if isinstance(e, LotAcceptance.Decided))


# -- acceptance decisions ------------------------------------------------------------------

def test_a_sampled_lot_with_ac_or_fewer_nonconforming_is_accepted_and_not_held(
        records: TrackedQualityRecords, views: ProjectionRunner) -> None:
    sample(records, "LOT-A", 78, 2)
    PolicyRunner(records).catch_up()
    decided = decision(records, "LOT-A")
    assert (decided.verdict, decided.nonconforming, decided.sample_size, decided.acceptance,
            decided.rejection, decided.severity) == ("accepted", 2, 80, 2, 3, "normal")
    assert records.lot("LOT-A").on_hold is False  # two out-of-spec units, no hold
    assert records.lot("LOT-A").open_nonconformances == set()
    views.catch_up()
    with views.engine.connect() as conn:
        (row,) = acceptance_of_lot(conn, "LOT-A")
    assert (row["verdict"], row["letter"], row["units"], row["nonconforming"]) == \
        ("accepted", "J", 80, 2)


def test_a_sampled_lot_with_re_or_more_is_rejected_held_and_given_a_nonconformance(
        records: TrackedQualityRecords) -> None:
    outcomes = sample(records, "LOT-R", 77, 3)
    PolicyRunner(records).catch_up()
    decided = decision(records, "LOT-R")
    assert (decided.verdict, decided.nonconforming) == ("rejected", 3)
    # the 80th unit completed the sample: the decision names it as its cause
    assert decided.provenance.causation_id == f"{outcomes[-1].record_id}:1"
    lot = records.lot("LOT-R")
    assert lot.on_hold
    (nc_id,) = lot.open_nonconformances
    nc = records.repository.get(nc_id)
    assert nc.characteristic == "sampling:IP-S" and nc.source == "inspection"
    assert "3 nonconforming in 80 (Ac 2, Re 3, normal inspection, code letter J" in \
        nc.description
    assert records.history(nc_id)[0].provenance.actor == "policy:acceptance"


def test_units_after_the_sample_is_complete_do_not_change_the_decision(
        records: TrackedQualityRecords) -> None:
    runner = PolicyRunner(records)
    sample(records, "LOT-A", 80, 0)
    runner.catch_up()
    sample(records, "LOT-A", 0, 5, start=80)
    runner.catch_up()
    assert decision(records, "LOT-A").verdict == "accepted"
    assert len(records.lot_acceptance("IP-S", "LOT-A").units) == 80
    assert records.lot("LOT-A").on_hold is False


def test_two_rejected_lots_tighten_inspection_for_the_next_and_the_views_show_it(
        records: TrackedQualityRecords, views: ProjectionRunner) -> None:
    runner = PolicyRunner(records)
    sample(records, "LOT-1", 77, 3)
    sample(records, "LOT-2", 80, 0, start=100)
    sample(records, "LOT-3", 76, 4, start=200)
    runner.catch_up()
    switching = records.switching("IP-S", "P-7", "L1")
    assert switching.severity == "tightened"
    switch = next(e for e in records.history(switching.id)
                  if isinstance(e, InspectionSwitching.Switched))
    assert switch.rule.startswith("9.3.1") and switch.lots == ("LOT-1", "LOT-3")
    # the next lot is planned on tightened inspection: J/1.0 tightened is 1/2
    sample(records, "LOT-4", 79, 1, start=300)
    runner.catch_up()
    assert (decision(records, "LOT-4").severity, decision(records, "LOT-4").rejection) == \
        ("tightened", 2)
    views.catch_up()
    with views.engine.connect() as conn:
        (state,) = [dict(r) for r in conn.execute(select(SwitchingStateRow.__table__))
                    .mappings()]
        planned = {r.lot: r.severity for r in conn.execute(select(LotAcceptanceRow.__table__))}
    assert (state["product"], state["source"], state["severity"], state["lots"]) == \
        ("P-7", "L1", "tightened", 1)
    assert planned == {"LOT-1": "normal", "LOT-2": "normal", "LOT-3": "normal",
                       "LOT-4": "tightened"}


def test_the_lot_size_the_erp_reports_chooses_the_code_letter(
        records: TrackedQualityRecords) -> None:
    records.record_genealogy(GenealogyReport("ERP-G-1", "LOT-500", "P-7", 500, "pcs", (), T0))
    sample(records, "LOT-500", 49, 1)
    PolicyRunner(records).catch_up()
    decided = decision(records, "LOT-500")  # 500 at level II: H, n 50, 1/2 at AQL 1.0
    assert (decided.sample_size, decided.acceptance, decided.verdict) == (50, 1, "accepted")


# -- reaction plans --------------------------------------------------------------------------

@pytest.mark.parametrize(("reaction", "held", "tasks"), [
    ("hold_lot", True, []),
    ("segregate", False, []),
    ("stop_line", True, ["stop line L1"]),
])
def test_an_out_of_spec_result_does_what_its_reaction_plan_says(
        records: TrackedQualityRecords, reaction: str, held: bool, tasks: list[str]) -> None:
    char = Characteristic("bore_dia", 12.0, 11.99, 12.01, "mm", reaction=reaction,
                          spc_rules=())
    records.define_inspection_plan("IP-R", PlanRevision("A", "P-7", "in_process", 1,
                                                        (char,)), QE)
    records.record_inspections([replace(inspection(1, plan="IP-R", value=12.02),
                                        part="SN-77")])
    PolicyRunner(records).catch_up()
    lot = records.lot("LOT-0001")
    (nc_id,) = lot.open_nonconformances
    nc = records.repository.get(nc_id)
    assert (lot.on_hold, nc.tasks) == (held, tasks)
    if reaction == "segregate":
        assert nc.description.startswith("unit SN-77 segregated: bore_dia = 12.02 mm")


# -- genealogy ---------------------------------------------------------------------------------

def made(records: TrackedQualityRecords, message: str, lot: str, *parts: tuple[str, float],
         quantity: float = 100.0, supplier: str | None = None) -> Any:
    return records.record_genealogy(GenealogyReport(
        message, lot, "P-7", quantity, "pcs", tuple(Component(n, q) for n, q in parts),
        T0 + timedelta(hours=1), supplier=supplier))


def build_tree(records: TrackedQualityRecords) -> None:
    """RAW-1 and RAW-2 bought in; SUB-1 from both; SUB-2 from RAW-2; ASSY-1 from SUB-1 and
    SUB-2; ASSY-2 from SUB-1: three levels, with RAW-2 reaching ASSY-1 two ways."""
    made(records, "G-1", "RAW-1", supplier="SUP-1")
    made(records, "G-2", "RAW-2", supplier="SUP-2")
    made(records, "G-3", "SUB-1", ("RAW-1", 40), ("RAW-2", 60))
    made(records, "G-4", "SUB-2", ("RAW-2", 25))
    made(records, "G-5", "ASSY-1", ("SUB-1", 10), ("SUB-2", 20))
    made(records, "G-6", "ASSY-2", ("SUB-1", 5))


def test_a_multi_level_genealogy_is_walked_forward_and_backward_with_depths_and_quantities(
        records: TrackedQualityRecords, views: ProjectionRunner) -> None:
    build_tree(records)
    views.catch_up()
    with views.engine.connect() as conn:
        forward = [(s.depth, s.via, s.lot, s.quantity) for s in trace(conn, "RAW-2")]
        backward = [(s.depth, s.via, s.lot, s.quantity)
                    for s in trace(conn, "ASSY-1", forward=False)]
    assert forward == [(1, "RAW-2", "SUB-1", 60.0), (1, "RAW-2", "SUB-2", 25.0),
                       (2, "SUB-1", "ASSY-1", 10.0), (2, "SUB-1", "ASSY-2", 5.0),
                       (2, "SUB-2", "ASSY-1", 20.0)]
    assert backward == [(1, "ASSY-1", "SUB-1", 10.0), (1, "ASSY-1", "SUB-2", 20.0),
                        (2, "SUB-1", "RAW-1", 40.0), (2, "SUB-1", "RAW-2", 60.0),
                        (2, "SUB-2", "RAW-2", 25.0)]


def test_a_genealogy_cycle_is_refused_with_its_path_and_nothing_is_recorded(
        records: TrackedQualityRecords) -> None:
    build_tree(records)
    before = len(records.history(records.lot("RAW-2").id))
    with pytest.raises(GenealogyCycle, match="RAW-2 -> SUB-2 -> ASSY-1 -> RAW-2"):
        made(records, "G-7", "RAW-2", ("ASSY-1", 1))
    assert len(records.history(records.lot("RAW-2").id)) == before
    assert records.lot("ASSY-1").consumers == ()
    assert made(records, "G-6", "ASSY-2", ("SUB-1", 5)).status == "duplicate"


# -- the reverse trace follows the genealogy ---------------------------------------------------

def test_a_failed_gauge_makes_the_lots_made_from_its_lots_suspect_split_by_status(
        records: TrackedQualityRecords) -> None:
    runner = PolicyRunner(records)
    # G-0042 measured RAW-1 (receiving) before the genealogy below was recorded; G-0043
    # measured RAW-2, which stays out of it.
    records.record_inspections([inspection(1, lot="RAW-1"),
                                inspection(2, lot="RAW-2", gauge="G-0043")])
    build_tree(records)
    # SUB-1 released; ASSY-2 released and shipped; ASSY-1 in process.
    for lot in ("SUB-1", "ASSY-2"):
        records.hold_lot(lot, Provenance("qe", reason="final check"))
        records.release_lot(lot, Provenance("qe", reason="final check passed"))
    records.record_lot_movement(LotMovementReport("ERP-S-1", "ASSY-2", "shipped", "ACME", T0))
    runner.catch_up()
    records.record_calibration(calibration("G-0042", "LAB-11", T0 + timedelta(hours=6),
                                           result="fail"))
    runner.catch_up()

    nc = records.nonconformance("NC-CAL-G-0042-3")
    # RAW-1 directly; SUB-1 from it; ASSY-1 and ASSY-2 from SUB-1. Not RAW-2 or SUB-2.
    assert {(s.lot, s.status, len(s.results), s.via) for s in nc.suspects} == {
        ("RAW-1", "in_process", 1, ()),
        ("SUB-1", "released", 0, ("RAW-1",)),
        ("ASSY-1", "in_process", 0, ("SUB-1",)),
        ("ASSY-2", "shipped", 0, ("SUB-1",))}
    assert "3 lots made from them are suspect too" in nc.description
    task = next(e for e in records.history(nc.id) if type(e).__name__ == "TaskAssigned")
    assert task.lots == ("ASSY-2",)
    for lot in ("RAW-1", "SUB-1", "ASSY-1", "ASSY-2"):
        assert nc.id in records.lot(lot).open_nonconformances
    assert nc.id not in records.lot("SUB-2").open_nonconformances


def test_lots_are_recorded_with_quantity_and_supplier_for_sampling(
        records: TrackedQualityRecords) -> None:
    build_tree(records)
    raw = records.lot("RAW-1")
    assert (raw.quantity, raw.unit, raw.supplier, raw.consumers) == \
        (100.0, "pcs", "SUP-1", ("SUB-1",))
    assert isinstance(records.history(raw.id)[-1], Lot.ConsumedInto)


def test_a_single_consumption_by_hand_is_recorded_on_both_lots_and_a_cycle_refused(
        records: TrackedQualityRecords) -> None:
    build_tree(records)
    records.consume_component("ASSY-2", "SUB-2", 3.0, Provenance("op-12"))
    assert "ASSY-2" in records.lot("SUB-2").consumers
    with pytest.raises(GenealogyCycle, match="SUB-1 -> ASSY-2 -> SUB-1"):
        records.consume_component("SUB-1", "ASSY-2", 1.0, Provenance("op-12"))
    history = records.history(records.lot("SUB-2").id)
    assert summarize(history[-1]) == "consumed into lot ASSY-2 (3)"
