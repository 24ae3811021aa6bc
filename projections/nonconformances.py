"""The nonconformance board: every nonconformance, its lots, containment, disposition and
status, with who raised it and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from domain.nonconformance import Nonconformance
from projections.base import Batch, View, ViewBase


class NonconformanceRow(ViewBase):
    __tablename__ = "nonconformance_board"

    nonconformance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(16))
    description: Mapped[str]
    lots: Mapped[str]  # comma-separated, in the order they were named
    characteristic: Mapped[str | None]
    status: Mapped[str] = mapped_column(String(16), index=True)
    containment_actions: Mapped[int]
    evidence_items: Mapped[int]
    suspect_lots: Mapped[int]
    tasks: Mapped[int]
    disposition: Mapped[str | None] = mapped_column(String(32))
    approver: Mapped[str | None]
    raised_by: Mapped[str]
    raised_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    position: Mapped[int]


VIEW = View("nonconformances", 1, (NonconformanceRow,),
            "nonconformance board: lots, containment, disposition, status")


@VIEW.handles(Nonconformance.Raised)
def when_raised_add_to_board(batch: Batch, e: Nonconformance.Raised, position: int) -> None:
    batch.add(NonconformanceRow, nonconformance_id=str(e.originator_id), number=e.number,
              source=e.source, description=e.description, lots=",".join(e.lots),
              characteristic=e.characteristic, status="open", containment_actions=0,
              evidence_items=len(e.evidence), suspect_lots=0, tasks=0,
              raised_by=e.provenance.actor,
              raised_at=e.timestamp, updated_at=e.timestamp, position=position)


@VIEW.handles(Nonconformance.LotAdded)
def when_lot_added_list_it(batch: Batch, e: Nonconformance.LotAdded, position: int) -> None:
    _change(batch, e, position, lambda row: {"lots": ",".join(
        [*filter(None, row["lots"].split(",")), e.lot])})


@VIEW.handles(Nonconformance.EvidenceAdded)
def when_evidence_added_count_it(batch: Batch, e: Nonconformance.EvidenceAdded,
                                 position: int) -> None:
    _change(batch, e, position,
            lambda row: {"evidence_items": row["evidence_items"] + len(e.evidence)})


@VIEW.handles(Nonconformance.ContainmentRecorded)
def when_contained_count_it(batch: Batch, e: Any, position: int) -> None:
    _change(batch, e, position,
            lambda row: {"containment_actions": row["containment_actions"] + 1})


@VIEW.handles(Nonconformance.SuspectLotsListed)
def when_suspects_listed_count_them(batch: Batch, e: Any, position: int) -> None:
    _change(batch, e, position, lambda row: {"suspect_lots": len(e.suspects)})


@VIEW.handles(Nonconformance.TaskAssigned)
def when_task_assigned_count_it(batch: Batch, e: Any, position: int) -> None:
    _change(batch, e, position, lambda row: {"tasks": row["tasks"] + 1})


@VIEW.handles(Nonconformance.Dispositioned)
def when_dispositioned_record_it(batch: Batch, e: Nonconformance.Dispositioned,
                                 position: int) -> None:
    _change(batch, e, position, lambda row: {
        "disposition": e.disposition, "approver": e.approver, "status": "dispositioned"})


@VIEW.handles(Nonconformance.Closed)
def when_closed_record_it(batch: Batch, e: Nonconformance.Closed, position: int) -> None:
    _change(batch, e, position, lambda row: {"status": "closed", "closed_at": e.timestamp})


def _change(batch: Batch, e: Any, position: int, values: Any) -> None:
    row = batch.get(NonconformanceRow, str(e.originator_id))
    if row is not None:
        row.update(values(row), updated_at=e.timestamp, position=position)
        batch.changed(NonconformanceRow, row)
