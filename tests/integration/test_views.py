"""The read models, built by the runner on SQLite and on PostgreSQL, say what the events
that made them say."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

from domain.calibration import Instrument
from domain.corrective_action import CorrectiveAction
from domain.inspection import Inspection
from domain.lot import Lot
from domain.nonconformance import Nonconformance
from domain.records import Record
from domain.timetravel import summarize
from projections.base import ViewBase
from projections.corrective_actions import CorrectiveActionRow
from projections.gauge_usage import GaugeUseRow
from projections.history import HistoryRow
from projections.instruments import InstrumentRow, instrument_register
from projections.lots import LotRow, lot_status
from projections.nonconformances import NonconformanceRow
from projections.results import InspectionRow, ResultRow
from services.composition import build_records
from services.settings import Settings
from services.views import build_projection_runner
from tests.integration.views_scenario import T0, build_plant


def rows(engine: Engine, model: type[ViewBase], key: str) -> dict[Any, dict[str, Any]]:
    table = model.__table__
    with engine.connect() as conn:
        return {r[key] if isinstance(key, str) else None: dict(r)
                for r in conn.execute(select(table)).mappings()}


def records_by_type(app: Any) -> dict[type, list[Any]]:
    ids = {n.originator_id for n in app.recorder.select_notifications(1, 100_000)}
    found: dict[type, list[Any]] = {}
    for rid in ids:
        aggregate = app.repository.get(rid)
        found.setdefault(type(aggregate), []).append(aggregate)
    return found


@pytest.mark.slow
def test_every_view_agrees_with_the_records_its_events_make(store_settings: Settings,
                                                           clock: Any) -> None:
    app = build_records(store_settings, clock=clock)
    build_plant(app)
    runner = build_projection_runner(store_settings, records=app)
    runner.page_size = 37  # pages that cut through records
    runner.acquire()
    read = runner.catch_up()
    assert read == app.recorder.max_notification_id()
    engine, records = runner.engine, records_by_type(app)

    # The instrument register: status, last and next calibration as the gauge records say.
    register = rows(engine, InstrumentRow, "tag")
    for gauge in records[Instrument]:
        row = register[gauge.tag]
        assert (row["status"], row["last_result"]) == (gauge.status, gauge.last_result)
        assert (row["next_due"] is None) == (gauge.next_due is None)
    with engine.connect() as conn:
        statuses = {r["tag"]: r["calibration_status"]
                    for r in instrument_register(conn, T0, due_within_days=30)}
    assert statuses == {"G-1": "in_calibration", "G-2": "in_calibration", "G-3": "retired"}

    # Lot status: hold, location, open nonconformances; stage status from the verdicts.
    lots = rows(engine, LotRow, "lot")
    for lot in records[Lot]:
        row = lots[lot.lot]
        assert (row["on_hold"], row["location"], row["open_nonconformances"]) == (
            lot.on_hold, lot.location, len(lot.open_nonconformances))
    with engine.connect() as conn:
        lot0, lot2 = lot_status(conn, "LOT-000"), lot_status(conn, "LOT-002")
    assert lot0 is not None and lot2 is not None
    assert lot0["stages"] == {"receiving": "not_inspected", "in_process": "rejected",
                              "final": "accepted"}
    assert lot2["on_hold"] and lot2["open_nonconformances"] == 1

    # Inspection results: one row per effective result, and each inspection's verdict.
    with engine.connect() as conn:
        result_rows = conn.execute(select(ResultRow.__table__)).mappings().all()
    by_key = {(r["inspection_id"], r["idx"]): r for r in result_rows}
    inspections = rows(engine, InspectionRow, "inspection_id")
    expected_uses = 0
    for inspection in records[Inspection]:
        assert inspections[str(inspection.id)]["verdict"] == inspection.verdict
        for i, result in enumerate(inspection.results):
            row = by_key[(str(inspection.id), i)]
            assert (row["value"], row["conforming"], row["gauge_condition"], row["gauge"]) == (
                result.value, result.conforming, result.gauge_condition, result.gauge)
            expected_uses += result.gauge is not None
    assert len(result_rows) == sum(len(i.results) for i in records[Inspection])

    # Gauge usage: every result measured with a gauge, with its condition.
    with engine.connect() as conn:
        uses = conn.execute(select(GaugeUseRow.__table__)).mappings().all()
    assert len(uses) == expected_uses
    for use in uses:
        assert use["gauge"] == by_key[(use["inspection_id"], use["idx"])]["gauge"]
        assert use["gauge_condition"] == by_key[(use["inspection_id"], use["idx"])][
            "gauge_condition"]

    # The boards.
    ncs = rows(engine, NonconformanceRow, "number")
    for nc in records[Nonconformance]:
        assert (ncs[nc.number]["status"], ncs[nc.number]["disposition"]) == (
            nc.status, nc.disposition)
    cas = rows(engine, CorrectiveActionRow, "number")
    for ca in records[CorrectiveAction]:
        row = cas[ca.number]
        assert (row["status"], row["root_cause"], row["effective"]) == (
            ca.status, ca.root_cause, ca.effective)
        assert (row["actions_planned"], row["actions_completed"]) == (
            len(ca.actions), len(ca.completed))

    # Record history: every event of every record, in order, with its summary.
    history = rows(engine, HistoryRow, "position")
    assert len(history) == read
    for notification in app.recorder.select_notifications(1, 100_000):
        event: Record.Event = app.mapper.to_domain_event(notification)
        line = history[notification.id]
        assert (line["record_id"], line["version"], line["actor"], line["reason"],
                line["summary"]) == (str(event.originator_id), event.originator_version,
                                     event.provenance.actor, event.provenance.reason,
                                     summarize(event))
    runner.release()
