"""The nonconformance board: every nonconformance, its lots, containment, disposition and
status, with who raised it and when; the suspect lots a reverse trace listed, each with
where it stood and how many suspect results it holds (or which suspect lots it was made
from); and the tasks a nonconformance calls
for (notifying the customers of shipped suspect lots)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, select
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
    suspect_listing: Mapped[int | None]  # the event version of the latest suspect-lot list
    disposition: Mapped[str | None] = mapped_column(String(32))
    approver: Mapped[str | None]
    raised_by: Mapped[str]
    raised_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    position: Mapped[int]


class SuspectLotRow(ViewBase):
    """A lot one listing of suspect lots names. A later listing replaces the earlier one
    on the board (``suspect_listing``); its rows stay, as the record of what was listed."""

    __tablename__ = "nonconformance_suspect_lots"

    nonconformance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    listing: Mapped[int] = mapped_column(primary_key=True)
    lot: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # in_process, released, shipped...
    result_count: Mapped[int]
    via: Mapped[str]  # comma-separated: the suspect lots it was made from (genealogy)
    listed_at: Mapped[datetime]
    position: Mapped[int]


class TaskRow(ViewBase):
    __tablename__ = "nonconformance_tasks"

    nonconformance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idx: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str]
    assignee: Mapped[str] = mapped_column(String(64), index=True)
    lots: Mapped[str]  # comma-separated
    assigned_by: Mapped[str]
    assigned_at: Mapped[datetime]
    position: Mapped[int]


VIEW = View("nonconformances", 3, (NonconformanceRow, SuspectLotRow, TaskRow),
            "nonconformance board: lots, containment, disposition, status, suspect lots, tasks")


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
def when_suspects_listed_add_them(batch: Batch, e: Nonconformance.SuspectLotsListed,
                                  position: int) -> None:
    row = _change(batch, e, position, lambda row: {
        "suspect_lots": len(e.suspects), "suspect_listing": e.originator_version})
    if row is None:
        return
    for suspect in e.suspects:
        batch.add(SuspectLotRow, nonconformance_id=row["nonconformance_id"],
                  listing=e.originator_version, lot=suspect.lot, status=suspect.status,
                  result_count=len(suspect.results), via=",".join(suspect.via),
                  listed_at=e.timestamp, position=position)


@VIEW.handles(Nonconformance.TaskAssigned)
def when_task_assigned_add_it(batch: Batch, e: Nonconformance.TaskAssigned,
                              position: int) -> None:
    row = _change(batch, e, position, lambda row: {"tasks": row["tasks"] + 1})
    if row is not None:
        batch.add(TaskRow, nonconformance_id=row["nonconformance_id"], idx=row["tasks"] - 1,
                  task=e.task, assignee=e.assignee, lots=",".join(e.lots),
                  assigned_by=e.provenance.actor, assigned_at=e.timestamp, position=position)


@VIEW.handles(Nonconformance.Dispositioned)
def when_dispositioned_record_it(batch: Batch, e: Nonconformance.Dispositioned,
                                 position: int) -> None:
    _change(batch, e, position, lambda row: {
        "disposition": e.disposition, "approver": e.approver, "status": "dispositioned"})


@VIEW.handles(Nonconformance.Closed)
def when_closed_record_it(batch: Batch, e: Nonconformance.Closed, position: int) -> None:
    _change(batch, e, position, lambda row: {"status": "closed", "closed_at": e.timestamp})


def _change(batch: Batch, e: Any, position: int, values: Any) -> dict[str, Any] | None:
    row = batch.get(NonconformanceRow, str(e.originator_id))
    if row is not None:
        row.update(values(row), updated_at=e.timestamp, position=position)
        batch.changed(NonconformanceRow, row)
    return row


def suspect_lots(conn: Connection, nonconformance_id: str) -> list[dict[str, Any]]:
    """The suspect lots of a nonconformance's latest listing, by lot."""
    board, t = NonconformanceRow.__table__.c, SuspectLotRow.__table__.c
    latest = select(board.suspect_listing).where(
        board.nonconformance_id == nonconformance_id).scalar_subquery()
    query = select(SuspectLotRow.__table__).where(
        t.nonconformance_id == nonconformance_id, t.listing == latest).order_by(t.lot)
    return [dict(r) for r in conn.execute(query).mappings()]


def tasks_of(conn: Connection, nonconformance_id: str) -> list[dict[str, Any]]:
    t = TaskRow.__table__.c
    query = select(TaskRow.__table__).where(t.nonconformance_id == nonconformance_id)
    return [dict(r) for r in conn.execute(query.order_by(t.idx)).mappings()]
