"""Lot genealogy on the write side: a lot made from component lots, recorded on both sides
(the made lot consumed each component; each component went into the made lot), refused
when it would close a cycle. Read sides walk it in projections.genealogy."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from domain.lot import Lot
from domain.records import InvalidValue, Provenance, QualityError, RecordNotFound

# Reads lots by lot number (the ones not found are left out), many at once.
ReadLots = Callable[[Iterable[str]], Mapping[str, Lot]]


class GenealogyCycle(QualityError):
    """Recording the consumption would make a lot (indirectly) a component of itself."""

    def __init__(self, path: list[str]) -> None:
        super().__init__("genealogy cycle refused: " + " -> ".join(path)
                         + f" (each lot consumed into the next; {path[0]} cannot be made "
                         f"from {path[-2]})")
        self.path = path


@dataclass(frozen=True)
class Component:
    lot: str
    quantity: float | None = None


def check_no_cycle(made: Lot, components: Iterable[str], read: ReadLots) -> None:
    """Refuse components that ``made`` already went into, directly or not.

    A cycle needs a path from ``made`` down to a component, through the lots it was
    consumed into: a lot not yet consumed into anything (the usual case: lots are made in
    order) needs no reading at all."""
    wanted = set(components)
    if made.lot in wanted:
        raise GenealogyCycle([made.lot, made.lot])
    if not made.consumers or not wanted:
        return
    came_from: dict[str, str] = {}
    frontier = [made]
    while frontier:
        step = {c: lot.lot for lot in frontier for c in lot.consumers if c not in came_from}
        came_from.update(step)
        hit = next((c for c in step if c in wanted), None)
        if hit is not None:
            raise GenealogyCycle(_path(came_from, made.lot, hit) + [made.lot])
        frontier = [lot for lot in read(step).values() if lot.consumers]


def _path(came_from: Mapping[str, str], start: str, end: str) -> list[str]:
    path = [end]
    while path[-1] != start:
        path.append(came_from[path[-1]])
    return path[::-1]


def record_consumption(made: Lot, components: Mapping[str, Lot], consumed: list[Component],
                       prov: Provenance, now: datetime) -> None:
    """Both sides of each consumption, on lots already checked for cycles."""
    for component in consumed:
        lot = components.get(component.lot)
        if lot is None:
            raise RecordNotFound("lot", component.lot)
        if component.quantity is not None and not component.quantity > 0:
            raise InvalidValue(f"lot {made.lot}: the quantity of component {component.lot} "
                               f"must be positive, not {component.quantity}")
        made.consume(component.lot, component.quantity, prov, now)
        lot.consumed_into(made.lot, component.quantity, prov, now)
