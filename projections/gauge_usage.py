"""Gauge usage: which results each gauge measured, and when. When a gauge fails its
calibration, this is the list of results (and so of lots) to re-examine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Index, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from domain.inspection import Inspection
from domain.timetravel import occurred_at
from projections.base import Batch, View, ViewBase


class GaugeUseRow(ViewBase):
    __tablename__ = "gauge_usage"
    __table_args__ = (Index("ix_gauge_usage_gauge_time", "gauge", "measured_at"),)

    inspection_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idx: Mapped[int] = mapped_column(primary_key=True)
    gauge: Mapped[str] = mapped_column(String(64))
    lot: Mapped[str] = mapped_column(String(64))
    characteristic: Mapped[str] = mapped_column(String(64))
    measured_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    gauge_condition: Mapped[str] = mapped_column(String(16))
    conforming: Mapped[bool]


class OpenInspectionRow(ViewBase):
    """Inspections opened by hand, whose results come later: their lot and result count."""

    __tablename__ = "gauge_usage_open_inspections"

    inspection_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lot: Mapped[str] = mapped_column(String(64))
    result_count: Mapped[int]


VIEW = View("gauge_usage", 1, (GaugeUseRow, OpenInspectionRow),
            "gauge usage: every result each gauge measured, and when")


@VIEW.handles(Inspection.Performed)
def when_performed_record_gauges_used(batch: Batch, e: Inspection.Performed,
                                      position: int) -> None:
    _add_uses(batch, str(e.originator_id), e.header.lot, 0, e)


@VIEW.handles(Inspection.Opened)
def when_opened_remember_lot(batch: Batch, e: Inspection.Opened, position: int) -> None:
    batch.add(OpenInspectionRow, inspection_id=str(e.originator_id), lot=e.header.lot,
              result_count=0)


@VIEW.handles(Inspection.ResultsRecorded)
def when_results_recorded_record_gauges_used(batch: Batch, e: Inspection.ResultsRecorded,
                                             position: int) -> None:
    opened = batch.get(OpenInspectionRow, str(e.originator_id))
    if opened is not None:
        _add_uses(batch, opened["inspection_id"], opened["lot"], opened["result_count"], e)
        opened["result_count"] += len(e.results)
        batch.changed(OpenInspectionRow, opened)


@VIEW.handles(Inspection.ResultCorrected)
def when_result_corrected_update_use(batch: Batch, e: Inspection.ResultCorrected,
                                     position: int) -> None:
    use = batch.get(GaugeUseRow, str(e.originator_id), e.index)
    if use is not None:
        use.update(conforming=e.result.conforming, gauge_condition=e.result.gauge_condition)
        batch.changed(GaugeUseRow, use)


@VIEW.handles(Inspection.ResultsMarkedSuspect)
def when_results_suspect_mark_uses(batch: Batch, e: Inspection.ResultsMarkedSuspect,
                                   position: int) -> None:
    for index in e.indices:
        use = batch.get(GaugeUseRow, str(e.originator_id), index)
        if use is not None:
            use["gauge_condition"] = "suspect"
            batch.changed(GaugeUseRow, use)


def _add_uses(batch: Batch, inspection: str, lot: str, first: int, e: Any) -> None:
    when = occurred_at(e)
    for i, r in enumerate(e.results):
        if r.gauge is not None:
            batch.add(GaugeUseRow, inspection_id=inspection, idx=first + i, gauge=r.gauge,
                      lot=lot, characteristic=r.characteristic, measured_at=when,
                      recorded_at=e.timestamp, gauge_condition=r.gauge_condition,
                      conforming=r.conforming)


def results_measured_with(conn: Connection, gauge: str, since: datetime | None = None,
                          until: datetime | None = None) -> list[dict[str, Any]]:
    t = GaugeUseRow.__table__.c
    query = select(GaugeUseRow.__table__).where(t.gauge == gauge)
    if since is not None:
        query = query.where(t.measured_at >= since)
    if until is not None:
        query = query.where(t.measured_at <= until)
    return [dict(r) for r in conn.execute(query.order_by(t.measured_at)).mappings()]


def lots_measured_with(conn: Connection, gauge: str) -> dict[str, int]:
    t = GaugeUseRow.__table__.c
    rows = conn.execute(select(t.lot, func.count()).where(t.gauge == gauge).group_by(t.lot))
    return {lot: count for lot, count in rows}
