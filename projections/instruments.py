"""The instrument register: every gauge, its calibration status, last and next calibration
and last result. "Due" and "overdue" depend on the day you ask, so they are worked out when
the register is read, from the stored next-due date. The notice the scheduled check last
recorded (due_soon or overdue, and when) is kept beside it until the next calibration."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, select
from sqlalchemy.orm import Mapped, mapped_column

from domain.calibration import Instrument
from domain.timetravel import occurred_at
from projections.base import Batch, View, ViewBase


class InstrumentRow(ViewBase):
    __tablename__ = "instrument_register"

    instrument_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str]
    unit: Mapped[str] = mapped_column(String(16))
    location: Mapped[str]
    serial_number: Mapped[str | None]
    interval_days: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))  # in_calibration, quarantined, retired
    last_calibrated: Mapped[datetime | None]
    last_result: Mapped[str | None] = mapped_column(String(16))
    last_certificate: Mapped[str | None]
    next_due: Mapped[datetime | None]
    due_notice: Mapped[str | None] = mapped_column(String(16))  # due_soon, overdue
    due_noticed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    position: Mapped[int]


VIEW = View("instruments", 2, (InstrumentRow,),
            "instrument register: calibration status, last and next calibration, due notices")


@VIEW.handles(Instrument.Registered)
def when_registered_add_to_register(batch: Batch, e: Instrument.Registered,
                                    position: int) -> None:
    batch.add(InstrumentRow, instrument_id=str(e.originator_id), tag=e.tag, kind=e.kind,
              unit=e.unit, location=e.location, serial_number=e.serial_number,
              interval_days=e.interval_days, status="in_calibration",
              updated_at=e.timestamp, position=position)


@VIEW.handles(Instrument.CalibrationRecorded)
def when_calibrated_record_dates(batch: Batch, e: Instrument.CalibrationRecorded,
                                 position: int) -> None:
    _change(batch, e, position, status="in_calibration", last_calibrated=e.performed_at,
            last_result=e.result, last_certificate=e.certificate, next_due=e.next_due,
            due_notice=None, due_noticed_at=None)


@VIEW.handles(Instrument.DueNoticed)
def when_due_noticed_record_notice(batch: Batch, e: Instrument.DueNoticed,
                                   position: int) -> None:
    _change(batch, e, position, due_notice=e.notice, due_noticed_at=occurred_at(e))


@VIEW.handles(Instrument.Quarantined)
def when_quarantined_mark(batch: Batch, e: Instrument.Quarantined, position: int) -> None:
    _change(batch, e, position, status="quarantined")


@VIEW.handles(Instrument.ReleasedFromQuarantine)
def when_released_mark(batch: Batch, e: Instrument.ReleasedFromQuarantine,
                       position: int) -> None:
    _change(batch, e, position, status="in_calibration")


@VIEW.handles(Instrument.Retired)
def when_retired_mark(batch: Batch, e: Instrument.Retired, position: int) -> None:
    _change(batch, e, position, status="retired")


def _change(batch: Batch, e: Any, position: int, **values: Any) -> None:
    row = batch.get(InstrumentRow, str(e.originator_id))
    if row is None:
        return
    row.update(values, updated_at=e.timestamp, position=position)
    batch.changed(InstrumentRow, row)


def calibration_status(row: dict[str, Any], today: datetime, due_within_days: int = 30) -> str:
    """in_calibration, due (within N days), overdue, not_calibrated, quarantined, retired."""
    if row["status"] != "in_calibration":
        return str(row["status"])
    due = row["next_due"]
    if due is None:
        return "not_calibrated"
    if due.tzinfo is None and today.tzinfo is not None:
        today = today.replace(tzinfo=None)  # SQLite keeps the UTC wall time only
    if due < today:
        return "overdue"
    if due <= today + timedelta(days=due_within_days):
        return "due"
    return "in_calibration"


def instrument_register(conn: Connection, today: datetime,
                        due_within_days: int = 30) -> list[dict[str, Any]]:
    rows = conn.execute(select(InstrumentRow.__table__).order_by(InstrumentRow.tag))
    return [{**r, "calibration_status": calibration_status(dict(r), today, due_within_days)}
            for r in rows.mappings()]
