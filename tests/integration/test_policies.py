"""Quality policies on SQLite and PostgreSQL: each reaction is a record with its cause, and
running a policy over events it has seen records nothing new."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.inspection import Inspection, Measurement
from domain.lot import lot_id
from domain.nonconformance import nonconformance_id
from domain.records import Provenance
from domain.reports import LotMovementReport
from services.policy_runner import PolicyRunner, TrackedQualityRecords, build_tracked_records
from services.record_batches import batch_fast_forward, batch_reader
from services.settings import Settings
from tests.application.fixtures import T0, calibration, inspection, reading, set_up_plant
from tests.conftest import ManualClock


@pytest.fixture
def records(store_settings: Settings, clock: ManualClock) -> Iterator[TrackedQualityRecords]:
    app = build_tracked_records(store_settings, clock=clock)
    set_up_plant(app)
    yield app
    app.close()


def count_events(app: TrackedQualityRecords) -> int:
    return len(app.recorder.select_notifications(start=None, limit=10_000_000))


def nonconformances_of(app: TrackedQualityRecords, lot: str) -> list:
    return [app.repository.get(i) for i in sorted(app.lot(lot).open_nonconformances)]


def test_an_out_of_spec_result_opens_a_nonconformance_and_holds_the_lot(
        records: TrackedQualityRecords) -> None:
    (bad,) = records.record_inspections([inspection(1, value=12.02)])
    PolicyRunner(records).catch_up()
    (nc,) = nonconformances_of(records, "LOT-0001")
    assert records.lot("LOT-0001").on_hold
    assert nc.source == "inspection" and nc.characteristic == "bore_dia"
    assert nc.evidence == [f"{bad.record_id}#0"]
    raised = records.history(nc.id)[0]
    assert raised.provenance.actor == "policy:out-of-spec"
    assert raised.provenance.causation_id == f"{bad.record_id}:1"
    assert raised.provenance.correlation_id == "line:L1/L1-000001"


def test_a_repeat_on_the_same_lot_and_characteristic_joins_the_open_nonconformance(
        records: TrackedQualityRecords) -> None:
    runner = PolicyRunner(records)
    first, ok, second = records.record_inspections(
        [inspection(1, value=12.02), inspection(2), inspection(3, value=11.97)])
    runner.catch_up()
    (third,) = records.record_inspections([inspection(4, value=12.03)])
    runner.catch_up()
    (nc,) = nonconformances_of(records, "LOT-0001")
    assert nc.evidence == [f"{r.record_id}#0" for r in (first, second, third)]
    assert ok.record_id is not None


def test_a_process_reading_out_of_limits_opens_a_nonconformance(
        records: TrackedQualityRecords) -> None:
    records.record_readings([reading(1, 181.0), reading(2, 187.5)])
    PolicyRunner(records).catch_up()
    (nc,) = nonconformances_of(records, "LOT-0001")
    assert nc.source == "process" and nc.characteristic == "cure.temperature"
    assert "187.5 degC" in nc.description and "hold lot" in nc.description


def test_a_failed_calibration_traces_every_suspect_result_and_lot_since_the_last_good_one(
        records: TrackedQualityRecords, clock: ManualClock) -> None:
    runner = PolicyRunner(records)
    # G-0042 and G-0043 were calibrated (passing) 30 days before T0 by set_up_plant.
    # Before the next calibration, G-0042 measures lots A, B, C; G-0043 measures lot D.
    records.record_inspections([
        inspection(1, lot="LOT-A", at=T0), inspection(2, lot="LOT-A", at=T0),
        inspection(3, lot="LOT-B", at=T0 + timedelta(hours=1)),
        inspection(4, lot="LOT-C", at=T0 + timedelta(hours=2)),
        inspection(5, lot="LOT-D", gauge="G-0043", at=T0 + timedelta(hours=2))])
    # LOT-A is released and shipped; LOT-B released; LOT-C still in process.
    for lot in ("LOT-A", "LOT-B"):
        records.hold_lot(lot, Provenance("qe", reason="final check"))
        records.release_lot(lot, Provenance("qe", reason="final check passed"))
    records.record_lot_movement(LotMovementReport("ERP-1", "LOT-A", "shipped", "ACME", T0))
    runner.catch_up()
    # G-0042 passes a calibration at T0+3h: what it measured before is no longer suspect.
    records.record_calibration(calibration("G-0042", "LAB-10", T0 + timedelta(hours=3)))
    runner.catch_up()
    later = records.record_inspections([
        inspection(6, lot="LOT-C", at=T0 + timedelta(hours=4)),
        inspection(7, lot="LOT-E", at=T0 + timedelta(hours=5))])
    # Then it is found out of tolerance at T0+6h.
    records.record_calibration(calibration("G-0042", "LAB-11", T0 + timedelta(hours=6),
                                           result="fail"))
    runner.catch_up()

    nc = records.nonconformance("NC-CAL-G-0042-4")
    assert nc.source == "calibration"
    assert sorted(nc.lots) == ["LOT-C", "LOT-E"]
    assert {(s.lot, s.status, s.results) for s in nc.suspects} == {
        ("LOT-C", "in_process", (f"{later[0].record_id}#0",)),
        ("LOT-E", "in_process", (f"{later[1].record_id}#0",))}
    assert nc.tasks == []  # nothing suspect was shipped
    for outcome in later:
        marked = records.repository.get(outcome.record_id)
        assert isinstance(marked, Inspection)
        assert marked.results[0].gauge_condition == "suspect"
    assert nonconformance_id("NC-CAL-G-0042-4") in records.lot("LOT-E").open_nonconformances


def test_a_trace_splits_suspect_lots_by_status_and_asks_to_notify_customers_of_shipped_ones(
        records: TrackedQualityRecords) -> None:
    runner = PolicyRunner(records)
    outcomes = records.record_inspections([
        inspection(1, lot="LOT-A"), inspection(2, lot="LOT-B"), inspection(3, lot="LOT-C"),
        inspection(4, lot="LOT-D", gauge="G-0043")])
    for lot in ("LOT-A", "LOT-B"):
        records.hold_lot(lot, Provenance("qe", reason="final check"))
        records.release_lot(lot, Provenance("qe", reason="final check passed"))
    records.record_lot_movement(LotMovementReport("ERP-1", "LOT-A", "shipped", "ACME", T0))
    records.record_calibration(calibration("G-0042", "LAB-11", T0 + timedelta(hours=6),
                                           result="fail"))
    runner.catch_up()
    nc = records.nonconformance("NC-CAL-G-0042-3")
    assert {s.lot: s.status for s in nc.suspects} == {
        "LOT-A": "shipped", "LOT-B": "released", "LOT-C": "in_process"}
    assert nc.tasks == ["notify customers of suspect shipped lots"]
    task = next(e for e in records.history(nc.id) if type(e).__name__ == "TaskAssigned")
    assert task.lots == ("LOT-A",)
    untouched = records.repository.get(outcomes[3].record_id)
    assert untouched.results[0].gauge_condition == "ok"


def test_a_trace_marks_the_suspect_results_of_each_inspection_in_one_event(
        records: TrackedQualityRecords) -> None:
    runner = PolicyRunner(records)
    # One inspection measured with both gauges, one with G-0042 only.
    both = replace(inspection(1, lot="LOT-A"), results=(
        Measurement("bore_dia", 12.0, "mm", "G-0042"),
        Measurement("bore_dia", 12.001, "mm", "G-0043"),
        Measurement("bore_dia", 12.002, "mm", "G-0042")))
    mixed, single = records.record_inspections([both, inspection(2, lot="LOT-B")])
    records.record_calibration(calibration("G-0042", "LAB-11", T0 + timedelta(hours=6),
                                           result="fail"))
    runner.catch_up()

    (mark,) = [e for e in records.history(mixed.record_id)
               if isinstance(e, Inspection.ResultsMarkedSuspect)]
    assert (mark.indices, mark.gauge) == ((0, 2), "G-0042")
    marked = records.repository.get(mixed.record_id)
    assert [r.gauge_condition for r in marked.results] == ["suspect", "ok", "suspect"]
    assert records.repository.get(single.record_id).results[0].gauge_condition == "suspect"


def test_a_lot_the_runner_read_earlier_is_seen_as_it_stands_now_by_the_next_trace(
        records: TrackedQualityRecords) -> None:
    runner = PolicyRunner(records)
    # LOT-A was measured with both gauges while in process.
    records.record_inspections([inspection(1, lot="LOT-A"),
                                inspection(2, lot="LOT-A", gauge="G-0043")])
    # G-0043 fails first: its trace reads LOT-A, in process, and the runner keeps it.
    records.record_calibration(calibration("G-0043", "LAB-20", T0 + timedelta(hours=1),
                                           result="fail"))
    runner.catch_up()
    first = records.nonconformance("NC-CAL-G-0043-3")
    assert {s.lot: s.status for s in first.suspects} == {"LOT-A": "in_process"}
    # Then the ERP ships LOT-A: a change the runner did not make.
    records.record_lot_movement(LotMovementReport("ERP-1", "LOT-A", "shipped", "ACME", T0))
    # G-0042 fails next: its trace sees LOT-A shipped, on its first decision.
    records.record_calibration(calibration("G-0042", "LAB-21", T0 + timedelta(hours=2),
                                           result="fail"))
    runner.catch_up()
    second = records.nonconformance("NC-CAL-G-0042-3")
    assert {s.lot: s.status for s in second.suspects} == {"LOT-A": "shipped"}
    assert second.tasks == ["notify customers of suspect shipped lots"]
    assert runner.stats.conflicts == 0  # brought up to date, not caught by a failed commit
    assert set(records.lot("LOT-A").open_nonconformances) == {first.id, second.id}


def test_records_read_in_one_batch_are_those_the_repository_gives(
        records: TrackedQualityRecords) -> None:
    # LOT-A has a long history (snapshots are taken every 50 events), LOT-B a short one.
    outcomes = records.record_inspections([inspection(1, lot="LOT-A"),
                                           inspection(2, lot="LOT-B")])
    for _ in range(30):
        records.hold_lot("LOT-A", Provenance("qe", reason="check"))
        records.release_lot("LOT-A", Provenance("qe", reason="checked"))
    assert records.snapshots is not None and list(records.snapshots.get(lot_id("LOT-A")))
    ids = [lot_id("LOT-A"), lot_id("LOT-B"), outcomes[0].record_id, lot_id("LOT-NONE")]

    read_many = batch_reader(records)
    assert read_many is not None
    found = read_many(ids)

    assert set(found) == set(ids[:3])
    for record_id, record in found.items():
        assert vars(record) == vars(records.repository.get(record_id))


def test_records_fast_forwarded_in_one_batch_are_those_the_repository_gives(
        records: TrackedQualityRecords) -> None:
    outcomes = records.record_inspections([inspection(1, lot="LOT-A"),
                                           inspection(2, lot="LOT-B")])
    read_many, fast_forward = batch_reader(records), batch_fast_forward(records)
    assert read_many is not None and fast_forward is not None
    earlier = read_many([lot_id("LOT-A"), lot_id("LOT-B"), outcomes[0].record_id])
    # Since: LOT-A goes past a snapshot (every 50 events), LOT-B ships, the inspection
    # stays as it was.
    for _ in range(30):
        records.hold_lot("LOT-A", Provenance("qe", reason="check"))
        records.release_lot("LOT-A", Provenance("qe", reason="checked"))
    records.record_lot_movement(LotMovementReport("ERP-1", "LOT-B", "shipped", "ACME", T0))

    fast_forward(list(earlier.values()))

    for record_id, record in earlier.items():
        assert vars(record) == vars(records.repository.get(record_id))


def test_running_the_policies_again_from_the_start_records_nothing_new(
        records: TrackedQualityRecords) -> None:
    records.record_inspections([inspection(1, value=12.02), inspection(2, lot="LOT-B")])
    records.record_readings([reading(1, 190.0, lot="LOT-B")])
    records.record_calibration(calibration("G-0042", "LAB-11", T0 + timedelta(hours=6),
                                           result="fail"))
    PolicyRunner(records).catch_up()
    before = count_events(records)
    rerun = PolicyRunner(records)
    rerun.name = "qrec-policies-rerun"
    assert rerun.catch_up() > 0
    assert count_events(records) == before


def test_two_runners_at_once_react_once(records: TrackedQualityRecords,
                                        store_settings: Settings) -> None:
    records.record_inspections([inspection(i, lot=f"LOT-{i % 5}", value=12.02)
                                for i in range(40)])
    runners = [PolicyRunner(build_tracked_records(store_settings, create_tables=False),
                            page_size=7) for _ in range(2)]
    failures: list[BaseException] = []

    def catch_up(runner: PolicyRunner) -> None:
        try:
            runner.catch_up()
        except BaseException as e:  # the test reports it below
            failures.append(e)

    threads = [threading.Thread(target=catch_up, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failures == []
    for k in range(5):
        (nc,) = nonconformances_of(records, f"LOT-{k}")
        assert len(nc.evidence) == 8


def test_calibrations_due_soon_and_overdue_are_noted_once_and_overdue_gauges_quarantined(
        records: TrackedQualityRecords, store_settings: Settings) -> None:
    runner = PolicyRunner(records)
    # set_up_plant calibrated both gauges 30 days before T0, on a 180-day interval
    due = T0 + timedelta(days=150)
    settings = store_settings.with_(due_soon_days=14, quarantine_overdue=True)
    assert runner.check_calibrations_due(due - timedelta(days=20), settings) == []
    assert runner.check_calibrations_due(due - timedelta(days=10), settings) == [
        "G-0042 due_soon", "G-0043 due_soon"]
    assert runner.check_calibrations_due(due - timedelta(days=9), settings) == []
    records.record_calibration(calibration("G-0043", "LAB-20", due - timedelta(days=5)))
    overdue = runner.check_calibrations_due(due + timedelta(days=1), settings)
    assert overdue == ["G-0042 overdue"]
    assert records.instrument("G-0042").status == "quarantined"
    assert records.instrument("G-0043").status == "in_calibration"
    assert runner.check_calibrations_due(due + timedelta(days=2), settings) == []
    notices = [e for e in records.history(records.instrument("G-0042").id)
               if type(e).__name__ == "DueNoticed"]
    assert [n.notice for n in notices] == ["due_soon", "overdue"]
    assert notices[1].provenance.actor == "policy:calibration-due"


def test_spc_sets_limits_from_a_baseline_and_records_an_alarm_with_rule_points_and_limits(
        records: TrackedQualityRecords) -> None:
    from domain.inspection import Characteristic, PlanRevision
    from domain.spc import ControlChart, control_chart_id

    bore = Characteristic("bore_dia", 12.0, 11.99, 12.01, "mm", "bore gauge",
                          spc_rules=("we-1",), spc_baseline=5)
    records.define_inspection_plan("IP-SPC", PlanRevision("A", "P-7", "in_process", 1, (bore,)),
                                   Provenance("qe-anna"))
    # Baseline: mean 12.000, average moving range 0.00275, sigma 0.00275/1.128 = 0.002438,
    # so UCL = 12.0073 and LCL = 11.9927.
    baseline = (12.000, 12.002, 11.998, 12.001, 11.999)
    then = (12.003, 12.009, 11.998)  # 12.009 is beyond UCL, though inside the spec
    records.record_inspections([inspection(i + 1, plan="IP-SPC", value=v)
                                for i, v in enumerate(baseline + then)])
    PolicyRunner(records).catch_up()
    chart = records.repository.get(control_chart_id("IP-SPC", "bore_dia", "L1"))
    assert isinstance(chart, ControlChart)
    assert chart.limits.centre == pytest.approx(12.0)
    assert chart.limits.ucl == pytest.approx(12.0073, abs=1e-4)
    (alarm,) = [e for e in records.history(chart.id) if type(e).__name__ == "AlarmRaised"]
    assert alarm.rule == "we-1"
    assert [p.value for p in alarm.points] == [12.009]
    assert alarm.limits == chart.limits
    assert alarm.provenance.actor == "policy:spc"
    assert records.lot("LOT-0001").on_hold is False  # in spec: an alarm, not a nonconformance


def test_the_runner_reacts_to_what_another_process_of_qrec_records(
        store_settings: Settings, clock: ManualClock) -> None:
    # ingest writes with the plain application; the policies follow the same log
    from services.composition import build_records

    writer = build_records(store_settings, clock=clock)
    set_up_plant(writer)
    writer.record_inspections([inspection(1, value=12.02)])
    runner = PolicyRunner(build_tracked_records(store_settings, clock=clock))
    assert runner.catch_up() > 0
    assert writer.lot("LOT-0001").on_hold
    writer.close()
