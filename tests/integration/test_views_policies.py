"""The read models of what the policies record, on SQLite and PostgreSQL: process readings,
control charts and SPC alarms, the suspect lots and tasks of a reverse trace, and the
calibration-due notices, each checked against the events that made it; and the views built
page by page as the plant runs are the very rows a rebuild from scratch makes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine, inspect, select

from domain.calibration import Instrument
from domain.inspection import Characteristic, PlanRevision
from domain.nonconformance import Nonconformance
from domain.process import ParameterReading
from domain.records import Provenance
from domain.reports import LotMovementReport
from domain.spc import ChartBaseline, ControlChart, control_chart_id
from projections.base import ViewBase
from projections.instruments import InstrumentRow
from projections.nonconformances import NonconformanceRow, suspect_lots, tasks_of
from projections.readings import ReadingRow, parameter_readings, readings_of_lot
from projections.runner import ProjectionRunner
from projections.spc import ChartBaselineRow, ControlChartRow, SpcAlarmRow, spc_alarms
from services.policy_runner import PolicyRunner, TrackedQualityRecords, build_tracked_records
from services.settings import Settings
from services.views import build_projection_runner
from tests.application.fixtures import T0, calibration, inspection, reading, set_up_plant
from tests.conftest import ManualClock
from tests.integration import test_views_runner as runner_tests

fresh_engine = runner_tests.fresh_engine  # a second views database, for a rebuild

BORE_SPC = Characteristic("bore_dia", 12.0, 11.99, 12.01, "mm", "bore gauge",
                          spc_rules=("we-1",), spc_baseline=5)
QE = Provenance("qe-anna", reason="tool changed: new process centre")


def utc(when: datetime | None) -> datetime | None:
    """SQLite gives back the UTC wall time without its zone."""
    return when if when is None or when.tzinfo else when.replace(tzinfo=UTC)


class Plant:
    """The plant's records, with the policies and the views caught up after each step as
    `qrec run` would: the policies first, then the projection runner, page by page."""

    def __init__(self, records: TrackedQualityRecords, views: ProjectionRunner,
                 settings: Settings) -> None:
        self.records, self.views = records, views
        self.settings = settings.with_(due_soon_days=14, quarantine_overdue=True)

    def step(self, act: Callable[[], Any]) -> None:
        act()
        PolicyRunner(self.records).catch_up()
        self.views.catch_up()

    def check_due(self, at: datetime) -> list[str]:
        noted = PolicyRunner(self.records).check_calibrations_due(at, self.settings)
        self.views.catch_up()
        return noted

    def rows(self, model: type[ViewBase]) -> list[dict[str, Any]]:
        with self.views.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(model.__table__)).mappings()]

    def events(self, *classes: type) -> list[tuple[int, Any]]:
        found = []
        for n in self.records.recorder.select_notifications(1, 1_000_000):
            event = self.records.mapper.to_domain_event(n)
            if isinstance(event, classes):
                found.append((n.id, event))
        return found


@pytest.fixture
def plant(store_settings: Settings, clock: ManualClock) -> Iterator[Plant]:
    records = build_tracked_records(store_settings, clock=clock)
    set_up_plant(records)  # G-0042 and G-0043 calibrated 30 days before T0; IP-100; CP-7
    records.define_inspection_plan("IP-SPC", PlanRevision(
        "A", "P-7", "in_process", 1, (BORE_SPC,)), Provenance("qe-anna"))
    views = build_projection_runner(store_settings, records=records)
    views.page_size = 7  # pages that cut through the policies' reactions
    views.acquire()
    yield Plant(records, views, store_settings)
    views.release()
    views.engine.dispose()
    records.close()


def run_the_plant(plant: Plant) -> dict[str, Any]:
    """The scenario, narrated; returns what is known by construction."""
    records, known = plant.records, {}
    # Line L1 charts IP-SPC bore diameters with G-0043: five points set the limits
    # (centre 12.000, UCL 12.0073), then 12.009 lies beyond the UCL: a we-1 alarm.
    baseline = (12.000, 12.002, 11.998, 12.001, 11.999)
    spc = [inspection(100 + i, lot="LOT-S", gauge="G-0043", plan="IP-SPC", value=v)
           for i, v in enumerate((*baseline, 12.003, 12.009, 11.998))]
    plant.step(lambda: known.update(beyond_ucl=records.record_inspections(spc)[6].record_id))
    # Line L2 has only three points so far: its baseline is still being gathered.
    plant.step(lambda: records.record_inspections([
        inspection(200 + i, lot="LOT-S", gauge="G-0043", plan="IP-SPC", line="L2")
        for i in range(3)]))

    # The oven reports cure temperatures; 187.5 degC is above the 185 limit.
    earlier = replace(reading(3, 179.0, lot="LOT-B"), occurred_at=T0 - timedelta(hours=1))
    plant.step(lambda: records.record_readings([reading(1, 181.0), reading(2, 187.5), earlier]))

    # G-0042 measures lots A, B and C; A is released and shipped, B released, C in process.
    # Then G-0042 is found out of tolerance: a reverse trace lists the three lots.
    def trace() -> None:
        records.record_inspections([inspection(i, lot=lot) for i, lot in
                                    enumerate(("LOT-A", "LOT-B", "LOT-C"), start=1)])
        for lot in ("LOT-A", "LOT-B"):
            records.hold_lot(lot, Provenance("qe", reason="final check"))
            records.release_lot(lot, Provenance("qe", reason="final check passed"))
        records.record_lot_movement(LotMovementReport("ERP-1", "LOT-A", "shipped", "ACME", T0))
        records.record_calibration(calibration("G-0042", "LAB-11", T0 + timedelta(hours=6),
                                               result="fail"))
    plant.step(trace)

    # The tool is changed and the chart on L1 rebaselined around 12.005 (LCL 12.0010):
    # 11.999 now lies below the LCL.
    chart = control_chart_id("IP-SPC", "bore_dia", "L1")
    rebaseline = (12.004, 12.006, 12.005, 12.004, 12.006)
    plant.step(lambda: records.change(ControlChart, chart, "IP-SPC/bore_dia/L1", lambda c: c.
                                      rebaseline(rebaseline, QE, records.clock())))
    plant.step(lambda: known.update(below_lcl=records.record_inspections([
        inspection(120 + i, lot="LOT-S", gauge="G-0043", plan="IP-SPC", value=v)
        for i, v in enumerate((12.005, 11.999))])[1].record_id))

    # The scheduled check: G-0043 falls due (T0+150d), goes overdue and is quarantined,
    # then is calibrated again; later G-0042 (due T0+180d 6h) falls due.
    assert plant.check_due(T0 + timedelta(days=140)) == ["G-0043 due_soon"]
    assert plant.check_due(T0 + timedelta(days=151)) == ["G-0043 overdue"]
    register = {r["tag"]: r for r in plant.rows(InstrumentRow)}
    assert (register["G-0043"]["status"], register["G-0043"]["due_notice"]) == (
        "quarantined", "overdue")
    assert utc(register["G-0043"]["due_noticed_at"]) == T0 + timedelta(days=151)
    plant.step(lambda: records.record_calibration(
        calibration("G-0043", "LAB-20", T0 + timedelta(days=152))))
    assert plant.check_due(T0 + timedelta(days=170)) == ["G-0042 due_soon"]
    return known


@pytest.mark.slow
def test_the_views_of_the_policies_agree_with_the_events_that_made_them(plant: Plant) -> None:
    known = run_the_plant(plant)
    records = plant.records

    # Process readings: one row per reading, with the limits it was judged by.
    readings = {r["reading_id"]: r for r in plant.rows(ReadingRow)}
    recorded = plant.events(ParameterReading.Recorded)
    assert len(readings) == len(recorded) == 3
    for position, e in recorded:
        row = readings[str(e.originator_id)]
        assert (row["lot"], row["line"], row["station"], row["operation"], row["parameter"],
                row["value"], row["unit"], row["lsl"], row["usl"], row["within_limits"],
                row["reaction"], row["position"]) == (
            e.header.lot, e.header.line, e.header.station, e.header.operation,
            e.header.parameter, e.value, e.unit, e.lsl, e.usl, e.within_limits, e.reaction,
            position)
        assert (utc(row["occurred_at"]), utc(row["recorded_at"])) == (
            e.provenance.occurred_at, e.timestamp)
    with plant.views.engine.connect() as conn:
        lot = readings_of_lot(conn, "LOT-0001")
        trend = parameter_readings(conn, "cure", "temperature")
        indexes = {tuple(i["column_names"]) for i in inspect(conn).get_indexes("process_readings")}
    assert [(r["value"], r["within_limits"], r["reaction"]) for r in lot] == [
        (181.0, True, None), (187.5, False, "hold lot, notify quality engineer")]
    assert [r["value"] for r in trend] == [179.0, 181.0, 187.5]  # by occurred time
    assert {("lot",), ("operation", "parameter", "occurred_at")} <= indexes

    # Control charts: the limits, the counts and the baseline capability the charts say.
    charts = {r["chart_id"]: r for r in plant.rows(ControlChartRow)}
    charted = plant.events(ControlChart.PointsCharted)
    for chart_id, row in charts.items():
        chart = records.repository.get(UUID(chart_id))
        assert isinstance(chart, ControlChart)
        limits, capability = chart.limits, chart.baseline_capability()
        assert (row["plan"], row["characteristic"], row["line"], row["kind"], row["rules"]) == (
            chart.plan, chart.characteristic, chart.line, chart.kind, ",".join(chart.rules))
        assert (row["centre"], row["ucl"], row["lcl"], row["sigma"], row["range_ucl"]) == (
            limits.centre, limits.ucl, limits.lcl, limits.sigma, limits.range_ucl)
        assert (row["baseline_cp"], row["baseline_cpk"]) == (capability.cp, capability.cpk)
        assert (row["baseline_size"], row["lsl"], row["usl"]) == (
            len(chart.baseline), chart.spec.lower, chart.spec.upper)
        points = [p for _, e in charted if str(e.originator_id) == chart_id for p in e.points]
        assert row["points_charted"] == len(points)
        assert utc(row["last_point_at"]) == max(p.occurred_at for p in points)
        assert row["alarms_raised"] == chart.alarms_raised
    l1 = charts[str(control_chart_id("IP-SPC", "bore_dia", "L1"))]
    assert (l1["points_charted"], l1["alarms_raised"], l1["rebaselines"]) == (5, 2, 1)
    assert l1["centre"] == pytest.approx(12.005) and l1["baseline_cpk"] < l1["baseline_cp"]
    assert len(charts) == 1  # IP-100 and L2 are still gathering their baselines

    # SPC alarms: one row per alarm, with the completing point and the limits in force.
    alarms = {(r["chart_id"], r["version"]): r for r in plant.rows(SpcAlarmRow)}
    raised = plant.events(ControlChart.AlarmRaised)
    assert len(alarms) == len(raised)
    for position, e in raised:
        row, point = alarms[(str(e.originator_id), e.originator_version)], e.points[-1]
        assert (row["rule"], row["description"], row["point_value"], row["point_source"],
                row["centre"], row["ucl"], row["lcl"], row["position"]) == (
            e.rule, e.description, point.value,
            f"{point.points[-1].source}#{point.points[-1].index}", e.limits.centre,
            e.limits.ucl, e.limits.lcl, position)
    with plant.views.engine.connect() as conn:
        in_order = spc_alarms(conn, plan="IP-SPC", characteristic="bore_dia")
    assert [(a["rule"], a["point_value"], a["point_source"]) for a in in_order] == [
        ("we-1", 12.009, f"{known['beyond_ucl']}#0"), ("we-1", 11.999, f"{known['below_lcl']}#0")]
    assert in_order[0]["ucl"] == pytest.approx(12.0073, abs=1e-4)
    assert in_order[1]["lcl"] == pytest.approx(12.0010, abs=1e-4)

    # Baselines: what each has gathered, as its events say.
    baselines = {(r["plan"], r["line"]): r for r in plant.rows(ChartBaselineRow)}
    for _, e in plant.events(ChartBaseline.Started):
        gathered = records.repository.get(e.originator_id)
        assert isinstance(gathered, ChartBaseline)
        row = baselines[(e.plan, e.line)]
        assert (row["size"], row["points_collected"]) == (gathered.size, len(gathered.points))
    assert {k: (r["points_collected"], r["size"]) for k, r in baselines.items()} == {
        ("IP-SPC", "L1"): (5, 5), ("IP-SPC", "L2"): (3, 5), ("IP-100", "L1"): (3, 25)}

    # The reverse trace: each suspect lot with where it stood and its suspect results.
    board = {r["number"]: r for r in plant.rows(NonconformanceRow)}
    with plant.views.engine.connect() as conn:
        for _, e in plant.events(Nonconformance.Raised):
            nc = records.repository.get(e.originator_id)
            assert isinstance(nc, Nonconformance)
            listed = suspect_lots(conn, str(nc.id))
            assert [(s["lot"], s["status"], s["result_count"]) for s in listed] == sorted(
                (s.lot, s.status, len(s.results)) for s in nc.suspects)
            assert board[nc.number]["suspect_lots"] == len(nc.suspects)
            assert [t["task"] for t in tasks_of(conn, str(nc.id))] == nc.tasks
        (traced,) = [r for r in board.values() if r["source"] == "calibration"]
        by_lot = {s["lot"]: s["status"] for s in suspect_lots(conn, traced["nonconformance_id"])}
        tasks = tasks_of(conn, traced["nonconformance_id"])
    assert by_lot == {"LOT-A": "shipped", "LOT-B": "released", "LOT-C": "in_process"}
    assert [(t["task"], t["assignee"], t["lots"], t["assigned_by"]) for t in tasks] == [
        ("notify customers of suspect shipped lots", "customer-quality", "LOT-A",
         "policy:reverse-trace")]
    (assigned,) = plant.events(Nonconformance.TaskAssigned)
    assert tasks[0]["lots"] == ",".join(assigned[1].lots)

    # Due notices: the last one since each gauge's last calibration, and when it was noticed.
    register = {r["instrument_id"]: r for r in plant.rows(InstrumentRow)}
    expected: dict[str, tuple[str | None, datetime | None]] = dict.fromkeys(register, (None, None))
    for _, e in plant.events(Instrument.CalibrationRecorded, Instrument.DueNoticed):
        notice = (e.notice, e.provenance.occurred_at) \
            if isinstance(e, Instrument.DueNoticed) else (None, None)
        expected[str(e.originator_id)] = notice
    assert {i: (r["due_notice"], utc(r["due_noticed_at"])) for i, r in register.items()} == expected
    assert {r["tag"]: r["due_notice"] for r in register.values()} == {
        "G-0042": "due_soon", "G-0043": None}


@pytest.mark.slow
def test_the_views_built_as_the_plant_ran_are_the_rows_of_a_fresh_rebuild(
        plant: Plant, fresh_engine: Engine) -> None:
    run_the_plant(plant)
    assert plant.views.catch_up() == 0
    built = runner_tests.every_view_row(plant.views.engine)
    assert built == runner_tests.fresh_rebuild(plant.records, fresh_engine)
    assert all(built[t] for t in ("process_readings", "control_charts", "spc_alarms",
                                  "spc_baselines", "nonconformance_suspect_lots",
                                  "nonconformance_tasks"))
