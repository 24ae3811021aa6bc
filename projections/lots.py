"""Lot status: hold and release, where the lot is, open nonconformances, and the
inspection status of each stage (receiving, in process, final)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, case, func, select
from sqlalchemy.orm import Mapped, mapped_column

from domain.inspection import STAGES, Inspection
from domain.lot import Lot, lot_id
from projections.base import Batch, View, ViewBase


class LotRow(ViewBase):
    __tablename__ = "lot_status"

    lot_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lot: Mapped[str] = mapped_column(String(64), index=True)
    product: Mapped[str | None]
    on_hold: Mapped[bool]
    location: Mapped[str] = mapped_column(String(16))
    open_nonconformances: Mapped[int]
    last_operation: Mapped[str | None]
    last_operation_status: Mapped[str | None] = mapped_column(String(16))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    position: Mapped[int]


class LotInspectionRow(ViewBase):
    """Each inspection of a lot and its verdict (None while it is open)."""

    __tablename__ = "lot_inspections"

    inspection_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lot: Mapped[str] = mapped_column(String(64), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str | None] = mapped_column(String(8))
    recorded_at: Mapped[datetime]


VIEW = View("lots", 1, (LotRow, LotInspectionRow),
            "lot status: hold/release, location, open nonconformances, stage inspection status")


@VIEW.handles(Lot.Opened)
def when_lot_opened_add_it(batch: Batch, e: Lot.Opened, position: int) -> None:
    batch.add(LotRow, lot_id=str(e.originator_id), lot=e.lot, product=e.product,
              on_hold=False, location="in_house", open_nonconformances=0,
              opened_at=e.timestamp, updated_at=e.timestamp, position=position)


@VIEW.handles(Lot.Held, Lot.Released)
def when_held_or_released_mark(batch: Batch, e: Lot.Held | Lot.Released, position: int) -> None:
    _change(batch, e, position, on_hold=isinstance(e, Lot.Held))


@VIEW.handles(Lot.Moved)
def when_moved_record_location(batch: Batch, e: Lot.Moved, position: int) -> None:
    _change(batch, e, position, location="shipped" if e.movement == "shipped" else "in_house")


@VIEW.handles(Lot.OperationStarted, Lot.OperationCompleted)
def when_operation_changes_record_it(batch: Batch, e: Any, position: int) -> None:
    status = "started" if isinstance(e, Lot.OperationStarted) else "completed"
    _change(batch, e, position, last_operation=e.operation, last_operation_status=status)


@VIEW.handles(Lot.NonconformanceLinked, Lot.NonconformanceResolved)
def when_nonconformance_linked_or_resolved_count_it(batch: Batch, e: Any, position: int) -> None:
    row = batch.get(LotRow, str(e.originator_id))
    if row is not None:
        step = 1 if isinstance(e, Lot.NonconformanceLinked) else -1
        _change(batch, e, position, open_nonconformances=row["open_nonconformances"] + step)


@VIEW.handles(Inspection.Performed, Inspection.Opened)
def when_inspected_add_inspection(batch: Batch, e: Any, position: int) -> None:
    verdict = e.verdict if isinstance(e, Inspection.Performed) else None
    batch.add(LotInspectionRow, inspection_id=str(e.originator_id), lot=e.header.lot,
              stage=e.header.stage, verdict=verdict, recorded_at=e.timestamp)


@VIEW.handles(Inspection.Closed, Inspection.ResultCorrected)
def when_verdict_changes_record_it(batch: Batch, e: Any, position: int) -> None:
    row = batch.get(LotInspectionRow, str(e.originator_id))
    if row is not None and e.verdict is not None:
        row["verdict"] = e.verdict
        batch.changed(LotInspectionRow, row)


def _change(batch: Batch, e: Any, position: int, **values: Any) -> None:
    row = batch.get(LotRow, str(e.originator_id))
    if row is None:
        return
    row.update(values, updated_at=e.timestamp, position=position)
    batch.changed(LotRow, row)


def stage_statuses(conn: Connection, lot: str) -> dict[str, str]:
    """not_inspected, in_progress, accepted or rejected, for each stage."""
    t = LotInspectionRow.__table__.c
    rows = conn.execute(select(
        t.stage, func.count(),
        func.sum(case((t.verdict == "reject", 1), else_=0)),
        func.sum(case((t.verdict.is_(None), 1), else_=0)),
    ).where(t.lot == lot).group_by(t.stage)).all()
    statuses = dict.fromkeys(STAGES, "not_inspected")
    for stage, _count, rejected, open_ in rows:
        statuses[stage] = "rejected" if rejected else "in_progress" if open_ else "accepted"
    return statuses


def lot_status(conn: Connection, lot: str) -> dict[str, Any] | None:
    found = conn.execute(select(LotRow.__table__).where(
        LotRow.lot_id == str(lot_id(lot)))).mappings().first()
    if found is None:
        return None
    return {**found, "stages": stage_statuses(conn, lot)}
