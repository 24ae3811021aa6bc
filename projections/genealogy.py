"""Lot genealogy: which lots went into which, with the quantities consumed, and each lot's
own quantity; and the traces that walk it, forward (where did this lot go) and backward
(what went into it), the whole tree with depth and quantities, a level at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Float, String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from domain.lot import Lot
from projections.base import Batch, View, ViewBase

CHUNK = 500  # lots named in one IN (...) of a trace query on SQLite


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

class TraceStep(NamedTuple):
    """``lot`` at ``depth`` from the start, reached from ``via`` (``quantity`` of ``via``
    went into ``lot`` going forward; of ``lot`` into ``via`` going backward)."""

    depth: int
    lot: str
    via: str
    quantity: float | None


def trace(conn: Connection, lot: str, forward: bool = True) -> list[TraceStep]:
    """Every link of the genealogy below (forward) or above (backward) ``lot``, breadth
    first: one query per depth, each lot expanded once, at its first depth."""
    t = GenealogyEdgeRow.__table__.c
    near, far = (t.parent_lot, t.child_lot) if forward else (t.child_lot, t.parent_lot)
    steps: list[TraceStep] = []
    seen, frontier, depth = {lot}, [lot], 0
    while frontier:
        depth += 1
        found = _linked(conn, near, far, t.quantity, frontier)
        frontier = []
        for via, reached, quantity in found:
            steps.append(TraceStep(depth, reached, via, quantity))
            if reached not in seen:
                seen.add(reached)
                frontier.append(reached)
    return steps


def _linked(conn: Connection, near: Any, far: Any, quantity: Any,
            lots: list[str]) -> Iterator[Any]:
    """The links of a level: on PostgreSQL in one query (the lots as one array), on SQLite
    in chunks of IN (...)."""
    if conn.dialect.name == "postgresql":
        level = bindparam("lots", lots, type_=ARRAY(String))
        query = select(near, far, quantity).where(near == any_(level)).order_by(near, far)
        yield from conn.execute(query).all()
        return
    for chunk in _chunks(lots):
        query = select(near, far, quantity).where(near.in_(chunk)).order_by(near, far)
        yield from conn.execute(query).all()


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
