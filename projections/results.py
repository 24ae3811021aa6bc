"""Inspection results: one row per result, indexed by lot, characteristic, gauge and time
(the basis for SPC and for tracing a gauge or a lot), and one row per inspection with its
verdict. A corrected result shows its effective value and how often it was corrected; the
original stays in the record's history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Float, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

from domain.inspection import Inspection, Result
from domain.timetravel import occurred_at
from projections.base import Batch, View, ViewBase


class InspectionRow(ViewBase):
    __tablename__ = "inspections"

    inspection_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lot: Mapped[str] = mapped_column(String(64), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str] = mapped_column(String(64))
    plan_revision: Mapped[str] = mapped_column(String(16))
    line: Mapped[str | None] = mapped_column(String(32))
    station: Mapped[str | None] = mapped_column(String(32))
    inspector: Mapped[str] = mapped_column(String(64))
    part: Mapped[str | None] = mapped_column(String(64))
    closed: Mapped[bool]
    verdict: Mapped[str | None] = mapped_column(String(8))
    result_count: Mapped[int]
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]


class ResultRow(ViewBase):
    __tablename__ = "inspection_results"
    __table_args__ = (
        Index("ix_inspection_results_characteristic_time", "characteristic", "occurred_at"),
        Index("ix_inspection_results_gauge_time", "gauge", "occurred_at"),
    )

    inspection_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idx: Mapped[int] = mapped_column(primary_key=True)
    lot: Mapped[str] = mapped_column(String(64), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str] = mapped_column(String(64))
    characteristic: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    gauge: Mapped[str | None] = mapped_column(String(64))
    lsl: Mapped[float | None] = mapped_column(Float)
    usl: Mapped[float | None] = mapped_column(Float)
    conforming: Mapped[bool]
    gauge_condition: Mapped[str] = mapped_column(String(16))
    corrections: Mapped[int]
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    recorded_at: Mapped[datetime]
    position: Mapped[int]


VIEW = View("results", 1, (InspectionRow, ResultRow),
            "inspection results: one row per result, by lot, characteristic, gauge and time")


@VIEW.handles(Inspection.Performed, Inspection.Opened)
def when_inspection_starts_add_it_and_its_results(batch: Batch, e: Any, position: int) -> None:
    h = e.header
    performed = isinstance(e, Inspection.Performed)
    inspection = batch.add(
        InspectionRow, inspection_id=str(e.originator_id), lot=h.lot, stage=h.stage,
        plan=h.plan, plan_revision=h.plan_revision, line=h.line, station=h.station,
        inspector=h.inspector, part=h.part, closed=performed,
        verdict=e.verdict if performed else None, result_count=0,
        occurred_at=occurred_at(e), recorded_at=e.timestamp)
    if performed:
        _add_results(batch, inspection, e, position)


@VIEW.handles(Inspection.ResultsRecorded)
def when_results_recorded_add_them(batch: Batch, e: Inspection.ResultsRecorded,
                                   position: int) -> None:
    inspection = batch.get(InspectionRow, str(e.originator_id))
    if inspection is not None:
        _add_results(batch, inspection, e, position)
        batch.changed(InspectionRow, inspection)


@VIEW.handles(Inspection.ResultCorrected)
def when_result_corrected_replace_its_value(batch: Batch, e: Inspection.ResultCorrected,
                                            position: int) -> None:
    row = batch.get(ResultRow, str(e.originator_id), e.index)
    if row is not None:
        row.update(_result_values(e.result), corrections=row["corrections"] + 1,
                   recorded_at=e.timestamp, position=position)
        batch.changed(ResultRow, row)
    if e.verdict is not None:
        _set_inspection(batch, e, verdict=e.verdict)


@VIEW.handles(Inspection.ResultsMarkedSuspect)
def when_results_suspect_mark_them(batch: Batch, e: Inspection.ResultsMarkedSuspect,
                                   position: int) -> None:
    for index in e.indices:
        row = batch.get(ResultRow, str(e.originator_id), index)
        if row is not None:
            row.update(gauge_condition="suspect", position=position)
            batch.changed(ResultRow, row)


@VIEW.handles(Inspection.Closed)
def when_inspection_closed_record_verdict(batch: Batch, e: Inspection.Closed,
                                          position: int) -> None:
    _set_inspection(batch, e, closed=True, verdict=e.verdict)


def _set_inspection(batch: Batch, e: Any, **values: Any) -> None:
    inspection = batch.get(InspectionRow, str(e.originator_id))
    if inspection is not None:
        inspection.update(values)
        batch.changed(InspectionRow, inspection)


def _add_results(batch: Batch, inspection: dict[str, Any], e: Any, position: int) -> None:
    first = inspection["result_count"]
    when = occurred_at(e)
    for i, r in enumerate(e.results):
        batch.add(ResultRow, inspection_id=inspection["inspection_id"], idx=first + i,
                  lot=inspection["lot"], stage=inspection["stage"], plan=inspection["plan"],
                  corrections=0, occurred_at=when, recorded_at=e.timestamp, position=position,
                  **_result_values(r))
    inspection["result_count"] = first + len(e.results)


def _result_values(r: Result) -> dict[str, Any]:
    return {"characteristic": r.characteristic, "value": r.value, "unit": r.unit,
            "gauge": r.gauge, "lsl": r.lsl, "usl": r.usl, "conforming": r.conforming,
            "gauge_condition": r.gauge_condition}


def chart_points(conn: Connection, plan: str, characteristic: str, line: str,
                 limit: int = 500) -> list[dict[str, Any]]:
    """The latest results of a characteristic measured on a line (what its control chart
    plots), oldest first."""
    r, i = ResultRow.__table__.c, InspectionRow.__table__.c
    query = (select(r.inspection_id, r.idx, r.value, r.unit, r.conforming, r.gauge,
                    r.gauge_condition, r.occurred_at, r.position)
             .join(InspectionRow.__table__, i.inspection_id == r.inspection_id)
             .where(r.plan == plan, r.characteristic == characteristic, i.line == line)
             .order_by(r.position.desc(), r.idx.desc()).limit(limit))
    return [dict(row) for row in reversed(conn.execute(query).mappings().all())]
