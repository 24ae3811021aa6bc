"""The corrective-action board: every corrective action, its nonconformance, root cause,
actions planned and done, effectiveness and status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from domain.corrective_action import CorrectiveAction
from projections.base import Batch, View, ViewBase


class CorrectiveActionRow(ViewBase):
    __tablename__ = "corrective_action_board"

    corrective_action_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(64), index=True)
    nonconformance_id: Mapped[str | None] = mapped_column(String(36))
    problem: Mapped[str]
    root_cause: Mapped[str | None]
    actions_planned: Mapped[int]
    actions_completed: Mapped[int]
    next_action_due: Mapped[datetime | None]
    effective: Mapped[bool | None]
    status: Mapped[str] = mapped_column(String(16), index=True)
    opened_by: Mapped[str]
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    position: Mapped[int]


VIEW = View("corrective_actions", 1, (CorrectiveActionRow,),
            "corrective-action board: root cause, actions, effectiveness, status")


@VIEW.handles(CorrectiveAction.Opened)
def when_opened_add_to_board(batch: Batch, e: CorrectiveAction.Opened, position: int) -> None:
    batch.add(CorrectiveActionRow, corrective_action_id=str(e.originator_id), number=e.number,
              nonconformance_id=None if e.nonconformance is None else str(e.nonconformance),
              problem=e.problem, actions_planned=0, actions_completed=0, status="open",
              opened_by=e.provenance.actor, opened_at=e.timestamp, updated_at=e.timestamp,
              position=position)


@VIEW.handles(CorrectiveAction.RootCauseRecorded)
def when_root_cause_found_record_it(batch: Batch, e: Any, position: int) -> None:
    _change(batch, e, position, lambda row: {"root_cause": e.cause})


@VIEW.handles(CorrectiveAction.ActionPlanned)
def when_action_planned_count_it(batch: Batch, e: CorrectiveAction.ActionPlanned,
                                 position: int) -> None:
    def values(row: dict[str, Any]) -> dict[str, Any]:
        return {"actions_planned": row["actions_planned"] + 1,
                "next_action_due": _earlier(row["next_action_due"], e.action.due)}
    _change(batch, e, position, values)


@VIEW.handles(CorrectiveAction.ActionCompleted)
def when_action_completed_count_it(batch: Batch, e: Any, position: int) -> None:
    _change(batch, e, position,
            lambda row: {"actions_completed": row["actions_completed"] + 1})


@VIEW.handles(CorrectiveAction.EffectivenessChecked)
def when_effectiveness_checked_record_it(batch: Batch, e: Any, position: int) -> None:
    _change(batch, e, position, lambda row: {"effective": e.effective})


@VIEW.handles(CorrectiveAction.Closed)
def when_closed_record_it(batch: Batch, e: CorrectiveAction.Closed, position: int) -> None:
    _change(batch, e, position, lambda row: {"status": "closed", "closed_at": e.timestamp})


def _earlier(stored: datetime | None, new: datetime) -> datetime:
    if stored is None:
        return new
    aware = stored if stored.tzinfo else stored.replace(tzinfo=UTC)  # SQLite drops the zone
    return new if new < aware else stored


def _change(batch: Batch, e: Any, position: int, values: Any) -> None:
    row = batch.get(CorrectiveActionRow, str(e.originator_id))
    if row is not None:
        row.update(values(row), updated_at=e.timestamp, position=position)
        batch.changed(CorrectiveActionRow, row)
