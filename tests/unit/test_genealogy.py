"""Genealogy on the write side: a made lot and its components record the consumption on
both sides; a consumption that would close a cycle is refused, naming the cycle."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from domain.genealogy import Component, GenealogyCycle, check_no_cycle, record_consumption
from domain.lot import Lot
from domain.records import InvalidValue, Provenance, RecordNotFound

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
ERP = Provenance("erp", source="erp", source_message_id="ERP-G-1")


class Plant:
    """Lots by number, made one from another as a test says."""

    def __init__(self, *names: str) -> None:
        self.lots = {n: Lot.open(n, "P-7", ERP, NOW) for n in names}

    def make(self, made: str, *components: str) -> None:
        check_no_cycle(self.lots[made], components, self.read)
        record_consumption(self.lots[made], self.lots, [Component(c, 10.0) for c in components],
                           ERP, NOW)

    def read(self, names: Iterable[str]) -> dict[str, Lot]:
        return {n: self.lots[n] for n in names if n in self.lots}


def test_a_consumption_is_recorded_on_the_made_lot_and_on_the_component() -> None:
    plant = Plant("RAW-1", "SUB-1")
    plant.make("SUB-1", "RAW-1")
    assert plant.lots["SUB-1"].components == ["RAW-1"]
    assert plant.lots["RAW-1"].consumers == ("SUB-1",)
    into = plant.lots["RAW-1"].pending_events[-1]
    assert isinstance(into, Lot.ConsumedInto) and (into.lot, into.quantity) == ("SUB-1", 10.0)


def test_a_lot_made_from_a_lot_made_from_itself_is_refused_naming_the_cycle() -> None:
    plant = Plant("RAW-1", "SUB-1", "ASSY-1")
    plant.make("SUB-1", "RAW-1")
    plant.make("ASSY-1", "SUB-1")
    with pytest.raises(GenealogyCycle) as refused:
        plant.make("RAW-1", "ASSY-1")
    assert refused.value.path == ["RAW-1", "SUB-1", "ASSY-1", "RAW-1"]
    assert "RAW-1 -> SUB-1 -> ASSY-1 -> RAW-1" in str(refused.value)
    assert plant.lots["ASSY-1"].consumers == ()  # nothing recorded


def test_a_lot_consuming_itself_is_a_cycle() -> None:
    plant = Plant("RAW-1")
    with pytest.raises(GenealogyCycle, match="RAW-1 -> RAW-1"):
        plant.make("RAW-1", "RAW-1")


def test_shared_components_are_not_a_cycle() -> None:
    plant = Plant("RAW-1", "SUB-1", "SUB-2", "ASSY-1")
    plant.make("SUB-1", "RAW-1")
    plant.make("SUB-2", "RAW-1")
    plant.make("ASSY-1", "SUB-1", "SUB-2")  # a diamond: RAW-1 reaches ASSY-1 twice
    assert plant.lots["RAW-1"].consumers == ("SUB-1", "SUB-2")


def test_a_lot_not_yet_consumed_into_anything_reads_nothing_to_be_checked() -> None:
    plant = Plant("RAW-1", "SUB-1")
    read: list[str] = []
    check_no_cycle(plant.lots["SUB-1"], ["RAW-1"],
                   lambda names: read.extend(names) or {})  # type: ignore[func-returns-value]
    assert read == []


def test_an_unknown_component_or_a_bad_quantity_is_refused() -> None:
    plant = Plant("SUB-1")
    with pytest.raises(RecordNotFound, match="no lot record RAW-9"):
        record_consumption(plant.lots["SUB-1"], plant.lots, [Component("RAW-9")], ERP, NOW)
    plant.lots["RAW-1"] = Lot.open("RAW-1", "P-1", ERP, NOW)
    with pytest.raises(InvalidValue, match="must be positive"):
        record_consumption(plant.lots["SUB-1"], plant.lots, [Component("RAW-1", 0.0)], ERP,
                           NOW)


def test_a_lot_quantity_is_positive_with_a_unit() -> None:
    lot = Lot.open("LOT-1", "P-7", ERP, NOW)
    lot.record_quantity(500, "pcs", "SUP-1", ERP, NOW)
    assert (lot.quantity, lot.unit, lot.supplier) == (500.0, "pcs", "SUP-1")
    assert "ERP-G-1" in lot.seen_messages
    with pytest.raises(InvalidValue, match="positive number"):
        lot.record_quantity(-1, "pcs", None, ERP, NOW)
