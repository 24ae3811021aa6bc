"""Lot acceptance by sampling: each lot's plan (n, Ac, Re, code letter, the inspection it
was sampled under), its count and its decision; and the switching state per inspection
plan, product and supplier (or line), with every switch and its rule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Float, String, select
from sqlalchemy.orm import Mapped, mapped_column

from domain.acceptance import LotAcceptance
from domain.switching import InspectionSwitching
from projections.base import Batch, View, ViewBase


class LotAcceptanceRow(ViewBase):
    __tablename__ = "lot_acceptance"

    acceptance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lot: Mapped[str] = mapped_column(String(64), index=True)
    plan: Mapped[str] = mapped_column(String(64))
    switching_id: Mapped[str] = mapped_column(String(36), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    lot_size: Mapped[int]
    lot_letter: Mapped[str] = mapped_column(String(1))
    letter: Mapped[str] = mapped_column(String(1))
    aql: Mapped[float] = mapped_column(Float)
    sample_size: Mapped[int]
    acceptance: Mapped[int]
    rejection: Mapped[int]
    units: Mapped[int]
    nonconforming: Mapped[int]
    verdict: Mapped[str | None] = mapped_column(String(16), index=True)
    between: Mapped[bool | None]
    planned_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    position: Mapped[int]


class SwitchingStateRow(ViewBase):
    __tablename__ = "switching_state"

    switching_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan: Mapped[str] = mapped_column(String(64))
    product: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(64), index=True)  # supplier or line
    severity: Mapped[str] = mapped_column(String(16))
    score: Mapped[int]
    lots: Mapped[int]  # decided under the inspection in force
    rejected: Mapped[int]  # of them, not accepted
    reduced_approved: Mapped[bool]
    steady: Mapped[bool]
    last_rule: Mapped[str | None]
    switched_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    position: Mapped[int]


class SwitchRow(ViewBase):
    __tablename__ = "sampling_switches"

    switching_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    from_severity: Mapped[str] = mapped_column(String(16))
    to_severity: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str]
    lots: Mapped[str]  # comma-separated: the lots that caused it
    actor: Mapped[str]
    switched_at: Mapped[datetime]
    position: Mapped[int]


VIEW = View("acceptance", 1, (LotAcceptanceRow, SwitchingStateRow, SwitchRow),
            "lot acceptance by sampling: plan, count, decision; switching state and switches")


@VIEW.handles(LotAcceptance.Planned)
def when_lot_planned_add_it(batch: Batch, e: LotAcceptance.Planned, position: int) -> None:
    p = e.single
    batch.add(LotAcceptanceRow, acceptance_id=str(e.originator_id), lot=e.lot, plan=e.plan,
              switching_id=str(e.switching), severity=p.severity, lot_size=e.lot_size,
              lot_letter=p.lot_letter, letter=p.letter, aql=p.aql,
              sample_size=p.sample_size, acceptance=p.acceptance, rejection=p.rejection,
              units=0, nonconforming=0, planned_at=e.timestamp, position=position)


@VIEW.handles(LotAcceptance.UnitsCounted)
def when_units_counted_add_them(batch: Batch, e: LotAcceptance.UnitsCounted,
                                position: int) -> None:
    _change(batch, LotAcceptanceRow, e, position, lambda row: {
        "units": row["units"] + len(e.units),
        "nonconforming": row["nonconforming"] + sum(u.nonconforming for u in e.units)})


@VIEW.handles(LotAcceptance.Decided)
def when_decided_record_it(batch: Batch, e: LotAcceptance.Decided, position: int) -> None:
    _change(batch, LotAcceptanceRow, e, position, lambda row: {
        "verdict": e.verdict, "between": e.between, "nonconforming": e.nonconforming,
        "decided_at": e.timestamp})


@VIEW.handles(InspectionSwitching.Started)
def when_switching_started_add_it(batch: Batch, e: InspectionSwitching.Started,
                                  position: int) -> None:
    batch.add(SwitchingStateRow, switching_id=str(e.originator_id), plan=e.plan,
              product=e.product, source=e.source, severity="normal", score=0, lots=0,
              rejected=0, reduced_approved=False, steady=True, updated_at=e.timestamp,
              position=position)


@VIEW.handles(InspectionSwitching.LotCounted)
def when_lot_counted_count_it(batch: Batch, e: InspectionSwitching.LotCounted,
                              position: int) -> None:
    _change(batch, SwitchingStateRow, e, position, lambda row: {
        "lots": row["lots"] + 1, "rejected": row["rejected"] + (not e.accepted),
        "score": row["score"] if e.score is None else e.score})


@VIEW.handles(InspectionSwitching.Switched)
def when_switched_record_it(batch: Batch, e: InspectionSwitching.Switched, position: int) -> None:
    row = _change(batch, SwitchingStateRow, e, position, lambda row: {
        "severity": e.to_severity, "lots": 0, "rejected": 0, "last_rule": e.rule,
        "switched_at": e.timestamp,
        "score": 0 if e.to_severity == "normal" else row["score"]})
    if row is not None:
        batch.add(SwitchRow, switching_id=row["switching_id"], version=e.originator_version,
                  from_severity=e.from_severity, to_severity=e.to_severity, rule=e.rule,
                  lots=",".join(e.lots), actor=e.provenance.actor, switched_at=e.timestamp,
                  position=position)


@VIEW.handles(InspectionSwitching.ReducedApproval)
def when_reduced_approval_changes_note_it(batch: Batch, e: InspectionSwitching.ReducedApproval,
                                          position: int) -> None:
    _change(batch, SwitchingStateRow, e, position, lambda row: {
        "reduced_approved": e.approved})


@VIEW.handles(InspectionSwitching.ProductionReported)
def when_production_reported_note_it(batch: Batch, e: InspectionSwitching.ProductionReported,
                                     position: int) -> None:
    _change(batch, SwitchingStateRow, e, position, lambda row: {"steady": e.steady})


def _change(batch: Batch, model: type[ViewBase], e: Any, position: int,
            values: Any) -> dict[str, Any] | None:
    row = batch.get(model, str(e.originator_id))
    if row is not None:
        row.update(values(row), position=position)
        if "updated_at" in row:
            row["updated_at"] = e.timestamp
        batch.changed(model, row)
    return row


def acceptance_of_lot(conn: Connection, lot: str) -> list[dict[str, Any]]:
    t = LotAcceptanceRow.__table__.c
    query = select(LotAcceptanceRow.__table__).where(t.lot == lot).order_by(t.plan)
    return [dict(r) for r in conn.execute(query).mappings()]


def switching_states(conn: Connection) -> list[dict[str, Any]]:
    t = SwitchingStateRow.__table__.c
    query = select(SwitchingStateRow.__table__).order_by(t.product, t.source, t.plan)
    return [dict(r) for r in conn.execute(query).mappings()]


def switches_of(conn: Connection, switching_id: str) -> list[dict[str, Any]]:
    t = SwitchRow.__table__.c
    query = select(SwitchRow.__table__).where(t.switching_id == switching_id)
    return [dict(r) for r in conn.execute(query.order_by(t.version)).mappings()]
