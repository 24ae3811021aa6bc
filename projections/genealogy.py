"""Lot genealogy: which lots went into which, with the quantities consumed, and each lot's
own quantity; and the traces that walk it, forward (where did this lot go) and backward
(what went into it), the whole tree with depth and quantities, a level at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Float, String, select
from sqlalchemy.orm import Mapped, mapped_column

from domain.lot import Lot
from projections.base import Batch, View, ViewBase

CHUNK = 500  # lots named in one IN (...) of a trace query


class GenealogyEdgeRow(ViewBase):
    """``parent_lot`` was consumed into ``child_lot``; quantities of repeated consumptions
    add up."""

    __tablename__ = "lot_genealogy"

    child_lot: Mapped[str] = mapped_column(String(64), primary_key=True)
    parent_lot: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    quantity: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[datetime]
    position: Mapped[int]


class GenealogyLotRow(ViewBase):
    __tablename__ = "genealogy_lots"

    lot_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lot: Mapped[str] = mapped_column(String(64), index=True)
    product: Mapped[str | None]
    quantity: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(16))
    supplier: Mapped[str | None]
    position: Mapped[int]


VIEW = View("genealogy", 1, (GenealogyEdgeRow, GenealogyLotRow),
            "lot genealogy: lots consumed into lots, with quantities")


@VIEW.handles(Lot.Opened)
def when_lot_opened_list_it(batch: Batch, e: Lot.Opened, position: int) -> None:
    batch.add(GenealogyLotRow, lot_id=str(e.originator_id), lot=e.lot, product=e.product,
              position=position)


@VIEW.handles(Lot.QuantityRecorded)
def when_quantity_recorded_note_it(batch: Batch, e: Lot.QuantityRecorded,
                                   position: int) -> None:
    row = batch.get(GenealogyLotRow, str(e.originator_id))
    if row is not None:
        row.update(quantity=e.quantity, unit=e.unit, supplier=e.supplier, position=position)
        batch.changed(GenealogyLotRow, row)


@VIEW.handles(Lot.ComponentConsumed)
def when_component_consumed_add_the_link(batch: Batch, e: Lot.ComponentConsumed,
                                         position: int) -> None:
    lot = batch.get(GenealogyLotRow, str(e.originator_id))
    if lot is None:
        return
    row = batch.get(GenealogyEdgeRow, lot["lot"], e.component_lot)
    if row is None:
        batch.add(GenealogyEdgeRow, child_lot=lot["lot"], parent_lot=e.component_lot,
                  quantity=e.quantity, recorded_at=e.timestamp, position=position)
        return
    if e.quantity is not None:
        row["quantity"] = (row["quantity"] or 0.0) + e.quantity
    row["position"] = position
    batch.changed(GenealogyEdgeRow, row)


# -- traces -------------------------------------------------------------------------------

@dataclass(frozen=True)
class TraceStep:
    """``lot`` at ``depth`` from the start, reached from ``via`` (``quantity`` of ``via``
    went into ``lot`` going forward; of ``lot`` into ``via`` going backward)."""

    depth: int
    lot: str
    via: str
    quantity: float | None


def trace(conn: Connection, lot: str, forward: bool = True) -> list[TraceStep]:
    """Every link of the genealogy below (forward) or above (backward) ``lot``, breadth
    first: one query per depth (in chunks), each lot expanded once, at its first depth."""
    t = GenealogyEdgeRow.__table__.c
    near, far = (t.parent_lot, t.child_lot) if forward else (t.child_lot, t.parent_lot)
    steps: list[TraceStep] = []
    seen, frontier, depth = {lot}, [lot], 0
    while frontier:
        depth += 1
        found = [(str(a), str(b), q) for a, b, q in _linked(conn, near, far, t.quantity,
                                                             frontier)]
        steps.extend(TraceStep(depth, b, a, q) for a, b, q in found)
        frontier = [b for _a, b, _q in found if b not in seen]
        seen.update(frontier)
        frontier = list(dict.fromkeys(frontier))
    return steps


def _linked(conn: Connection, near: Any, far: Any, quantity: Any,
            lots: list[str]) -> Iterator[tuple[Any, Any, Any]]:
    for chunk in _chunks(lots):
        query = select(near, far, quantity).where(near.in_(chunk)).order_by(near, far)
        yield from (tuple(row) for row in conn.execute(query))


def _chunks(lots: list[str]) -> Iterable[list[str]]:
    for k in range(0, len(lots), CHUNK):
        yield lots[k:k + CHUNK]


def lot_quantities(conn: Connection, lots: Iterable[str]) -> dict[str, tuple[float, str]]:
    t = GenealogyLotRow.__table__.c
    found: dict[str, tuple[float, str]] = {}
    for chunk in _chunks(list(lots)):
        rows = conn.execute(select(t.lot, t.quantity, t.unit).where(
            t.lot.in_(chunk), t.quantity.is_not(None)))
        found.update((lot, (quantity, unit)) for lot, quantity, unit in rows)
    return found


def known(conn: Connection, lot: str) -> bool:
    t = GenealogyLotRow.__table__.c
    return conn.execute(select(t.lot).where(t.lot == lot)).first() is not None
