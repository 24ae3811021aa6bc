"""Record history: every event of every record, with who, when it occurred, when it was
recorded, why, and a sentence saying what changed. The auditor's first stop; the event
store remains the source (``qrec history`` reads it directly)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Index, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from domain.timetravel import summarize
from projections.base import Batch, View, ViewBase


class HistoryRow(ViewBase):
    __tablename__ = "record_history"
    __table_args__ = (Index("ix_record_history_record", "record_id", "version"),)

    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    record_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int]
    record_kind: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime | None]
    recorded_at: Mapped[datetime] = mapped_column(index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    source_message_id: Mapped[str | None] = mapped_column(String(128))
    correlation_id: Mapped[str | None] = mapped_column(String(128))
    causation_id: Mapped[str | None] = mapped_column(String(128))
    summary: Mapped[str] = mapped_column(Text)


VIEW = View("history", 1, (HistoryRow,),
            "record history: every event with actor, occurred/recorded time, reason, summary")


@VIEW.handles_every_event
def when_anything_happens_add_a_line(batch: Batch, e: Any, position: int) -> None:
    prov = getattr(e, "provenance", None)
    if prov is None:  # not a quality record event
        return
    kind, _, name = type(e).__qualname__.partition(".")
    batch.add(HistoryRow, position=position, record_id=str(e.originator_id),
              version=e.originator_version, record_kind=kind, event=name, actor=prov.actor,
              occurred_at=prov.occurred_at, recorded_at=e.timestamp, reason=prov.reason,
              source=prov.source, source_message_id=prov.source_message_id,
              correlation_id=prov.correlation_id, causation_id=prov.causation_id,
              summary=summarize(e))


def record_history(conn: Connection, record: UUID) -> list[dict[str, Any]]:
    t = HistoryRow.__table__.c
    rows = conn.execute(select(HistoryRow.__table__).where(t.record_id == str(record))
                        .order_by(t.version))
    return [dict(r) for r in rows.mappings()]
