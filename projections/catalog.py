"""Every view qrec keeps, by name."""

from __future__ import annotations

from projections import (
    acceptance,
    corrective_actions,
    gauge_usage,
    genealogy,
    history,
    instruments,
    lots,
    nonconformances,
    readings,
    results,
    spc,
)
from projections.base import View

VIEWS: dict[str, View] = {v.name: v for v in (
    instruments.VIEW, lots.VIEW, results.VIEW, readings.VIEW, gauge_usage.VIEW, spc.VIEW,
    nonconformances.VIEW, corrective_actions.VIEW, history.VIEW, acceptance.VIEW,
    genealogy.VIEW)}


class UnknownView(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no view {name!r}; views are {', '.join(VIEWS)}")


def views_named(names: list[str] | tuple[str, ...] | None) -> list[View]:
    """The views with these names (all of them for none)."""
    if not names:
        return list(VIEWS.values())
    unknown = [n for n in names if n not in VIEWS]
    if unknown:
        raise UnknownView(unknown[0])
    return [VIEWS[n] for n in names]
