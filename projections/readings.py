"""Process-parameter readings: one row per reading with the control-plan limits it was judged
against and the reaction plan when it fell outside them, indexed by lot and by operation,
parameter and time (a parameter's trend, a lot's process record)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Float, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

from domain.process import ParameterReading
from domain.timetravel import occurred_at
from projections.base import Batch, View, ViewBase


class ReadingRow(ViewBase):
    __tablename__ = "process_readings"
    __table_args__ = (
        Index("ix_process_readings_parameter_time", "operation", "parameter", "occurred_at"),
    )

    reading_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lot: Mapped[str] = mapped_column(String(64), index=True)
    line: Mapped[str] = mapped_column(String(32))
    station: Mapped[str] = mapped_column(String(32))
    operation: Mapped[str] = mapped_column(String(64))
    parameter: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str] = mapped_column(String(64))
    plan_revision: Mapped[str] = mapped_column(String(16))
    target: Mapped[float | None] = mapped_column(Float)
    lsl: Mapped[float | None] = mapped_column(Float)
    usl: Mapped[float | None] = mapped_column(Float)
    within_limits: Mapped[bool]
    reaction: Mapped[str | None]
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    position: Mapped[int]


VIEW = View("readings", 1, (ReadingRow,),
            "process-parameter readings: one row per reading, by lot and by parameter and time")


@VIEW.handles(ParameterReading.Recorded)
def when_reading_recorded_add_it(batch: Batch, e: ParameterReading.Recorded,
                                 position: int) -> None:
    h = e.header
    batch.add(ReadingRow, reading_id=str(e.originator_id), lot=h.lot, line=h.line,
              station=h.station, operation=h.operation, parameter=h.parameter, value=e.value,
              unit=e.unit, plan=e.plan, plan_revision=e.plan_revision, target=e.target,
              lsl=e.lsl, usl=e.usl, within_limits=e.within_limits, reaction=e.reaction,
              occurred_at=occurred_at(e), recorded_at=e.timestamp, position=position)


def readings_of_lot(conn: Connection, lot: str) -> list[dict[str, Any]]:
    t = ReadingRow.__table__.c
    query = select(ReadingRow.__table__).where(t.lot == lot).order_by(t.occurred_at, t.position)
    return [dict(r) for r in conn.execute(query).mappings()]


def parameter_readings(conn: Connection, operation: str, parameter: str,
                       since: datetime | None = None,
                       until: datetime | None = None) -> list[dict[str, Any]]:
    """One parameter's readings in time order (its trend), optionally within a window."""
    t = ReadingRow.__table__.c
    query = select(ReadingRow.__table__).where(t.operation == operation,
                                               t.parameter == parameter)
    if since is not None:
        query = query.where(t.occurred_at >= since)
    if until is not None:
        query = query.where(t.occurred_at <= until)
    return [dict(r) for r in conn.execute(query.order_by(t.occurred_at, t.position)).mappings()]
