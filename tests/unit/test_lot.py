"""Production lots: operations, holds and releases, genealogy, shipments and returns."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from domain.lot import (
    Lot,
    LotHasOpenNonconformance,
    LotNotOnHold,
    LotOnHold,
    OperationNotStarted,
    lot_id,
)
from domain.nonconformance import nonconformance_id
from domain.records import InvalidValue, Provenance, ReasonRequired

OPENED = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SHIPPED = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
OP = Provenance(actor="op-17", source="L1")
QE_HOLD = Provenance(actor="qe-1", reason="cure temperature out of limits")
QE_RELEASE = Provenance(actor="qe-1", reason="parts re-inspected, all conforming")
NC: UUID = nonconformance_id("NC-0001")


def erp(message_id: str = "ERP-000981") -> Provenance:
    return Provenance(actor="erp", source="qrec.erp.lot", source_message_id=message_id,
                      occurred_at=SHIPPED)


def opened() -> Lot:
    lot = Lot.open("LOT-0001", "P-7", OP, OPENED)
    lot.collect_events()
    return lot


def held() -> Lot:
    lot = opened()
    lot.hold(QE_HOLD, LATER)
    lot.collect_events()
    return lot


def test_opening_a_lot_puts_it_in_house_and_not_on_hold() -> None:
    lot = Lot.open("LOT-0001", "P-7", OP, OPENED)

    assert lot.id == lot_id("LOT-0001")
    assert (lot.lot, lot.product, lot.location, lot.on_hold) == \
        ("LOT-0001", "P-7", "in_house", False)
    (event,) = lot.collect_events()
    assert isinstance(event, Lot.Opened)
    assert (event.lot, event.product, event.provenance, event.timestamp) == \
        ("LOT-0001", "P-7", OP, OPENED)


def test_a_lot_without_a_lot_number_is_refused() -> None:
    with pytest.raises(InvalidValue, match="a lot needs a lot number"):
        Lot.open("", "P-7", OP, OPENED)


# -- operations and genealogy ---------------------------------------------------------------

def test_an_operation_is_started_then_completed() -> None:
    lot = opened()

    lot.start_operation("cure", "OVEN-1", OP, LATER)
    assert lot.operations == {"cure": "started"}
    lot.complete_operation("cure", OP, LATER)

    assert lot.operations == {"cure": "completed"}
    started, completed = lot.collect_events()
    assert isinstance(started, Lot.OperationStarted)
    assert (started.operation, started.station) == ("cure", "OVEN-1")
    assert isinstance(completed, Lot.OperationCompleted) and completed.operation == "cure"


def test_an_operation_that_was_not_started_cannot_be_completed() -> None:
    lot = opened()

    with pytest.raises(OperationNotStarted,
                       match="operation 'cure' was not started on lot LOT-0001"):
        lot.complete_operation("cure", OP, LATER)

    assert lot.collect_events() == []


def test_an_operation_cannot_be_completed_twice() -> None:
    lot = opened()
    lot.start_operation("cure", "OVEN-1", OP, LATER)
    lot.complete_operation("cure", OP, LATER)
    lot.collect_events()

    with pytest.raises(OperationNotStarted):
        lot.complete_operation("cure", OP, LATER)

    assert lot.collect_events() == []


def test_a_held_lot_cannot_be_processed() -> None:
    lot = held()

    with pytest.raises(LotOnHold,
                       match=r"lot LOT-0001 is on hold: it cannot be processed \(cure\)"):
        lot.start_operation("cure", "OVEN-1", OP, LATER)

    assert lot.collect_events() == [] and lot.operations == {}


def test_consuming_a_component_lot_records_the_genealogy() -> None:
    lot = opened()

    lot.consume("LOT-C-17", 250.0, OP, LATER)

    assert lot.components == ["LOT-C-17"]
    (event,) = lot.collect_events()
    assert isinstance(event, Lot.ComponentConsumed)
    assert (event.component_lot, event.quantity) == ("LOT-C-17", 250.0)


def test_a_lot_cannot_consume_itself() -> None:
    lot = opened()

    with pytest.raises(InvalidValue, match="lot LOT-0001 cannot consume itself"):
        lot.consume("LOT-0001", None, OP, LATER)

    assert lot.collect_events() == [] and lot.components == []


# -- hold and release -----------------------------------------------------------------------

def test_holding_a_lot_records_who_and_why() -> None:
    lot = opened()

    lot.hold(QE_HOLD, LATER)

    assert lot.on_hold
    (event,) = lot.collect_events()
    assert isinstance(event, Lot.Held)
    assert event.provenance == QE_HOLD and event.timestamp == LATER


def test_holding_a_lot_already_on_hold_records_nothing_more() -> None:
    lot = held()

    lot.hold(Provenance(actor="qe-2", reason="second alarm"), LATER)

    assert lot.on_hold and lot.collect_events() == []


@pytest.mark.parametrize(("command", "words"), [
    ("hold", "a reason is required to hold lot LOT-0001"),
    ("release", "a reason is required to release lot LOT-0001"),
])
def test_a_hold_or_release_without_a_reason_is_refused(command: str, words: str) -> None:
    lot = held()

    with pytest.raises(ReasonRequired, match=words):
        getattr(lot, command)(Provenance(actor="qe-1"), LATER)

    assert lot.collect_events() == [] and lot.on_hold


def test_releasing_a_held_lot_records_who_and_why() -> None:
    lot = held()

    lot.release(QE_RELEASE, LATER)

    assert not lot.on_hold
    (event,) = lot.collect_events()
    assert isinstance(event, Lot.Released) and event.provenance == QE_RELEASE


def test_a_lot_that_is_not_on_hold_cannot_be_released() -> None:
    lot = opened()

    with pytest.raises(LotNotOnHold, match="lot LOT-0001 is not on hold"):
        lot.release(QE_RELEASE, LATER)

    assert lot.collect_events() == []


def test_a_lot_with_an_open_nonconformance_cannot_be_released() -> None:
    lot = held()
    lot.link_nonconformance(NC, QE_HOLD, LATER)
    lot.collect_events()

    with pytest.raises(LotHasOpenNonconformance,
                       match="lot LOT-0001 has 1 open nonconformance.*disposition and close"):
        lot.release(QE_RELEASE, LATER)

    assert lot.collect_events() == [] and lot.on_hold


def test_a_lot_can_be_released_once_its_nonconformance_is_resolved() -> None:
    lot = held()
    lot.link_nonconformance(NC, QE_HOLD, LATER)
    lot.resolve_nonconformance(NC, QE_RELEASE, LATER)
    lot.collect_events()

    lot.release(QE_RELEASE, LATER)

    assert not lot.on_hold


def test_linking_the_same_nonconformance_twice_records_it_once() -> None:
    lot = opened()

    lot.link_nonconformance(NC, QE_HOLD, LATER)
    lot.link_nonconformance(NC, QE_HOLD, LATER)

    assert lot.open_nonconformances == {NC}
    (event,) = lot.collect_events()
    assert isinstance(event, Lot.NonconformanceLinked) and event.nonconformance == NC


def test_resolving_a_nonconformance_that_is_not_open_records_nothing() -> None:
    lot = opened()
    lot.link_nonconformance(NC, QE_HOLD, LATER)
    lot.resolve_nonconformance(NC, QE_RELEASE, LATER)
    lot.collect_events()

    lot.resolve_nonconformance(NC, QE_RELEASE, LATER)
    lot.resolve_nonconformance(nonconformance_id("NC-0404"), QE_RELEASE, LATER)

    assert lot.collect_events() == [] and lot.open_nonconformances == set()


# -- shipment and return --------------------------------------------------------------------

def test_shipping_a_lot_records_the_customer_and_the_erp_message() -> None:
    lot = opened()

    assert lot.move("shipped", "ACME", erp(), SHIPPED) is True

    assert lot.location == "shipped"
    assert lot.seen_messages == {"ERP-000981"}
    (event,) = lot.collect_events()
    assert isinstance(event, Lot.Moved)
    assert (event.movement, event.customer, event.provenance) == ("shipped", "ACME", erp())


def test_a_returned_lot_is_back_in_house() -> None:
    lot = opened()
    lot.move("shipped", "ACME", erp("ERP-1"), SHIPPED)

    lot.move("returned", "ACME", erp("ERP-2"), SHIPPED)

    assert lot.location == "in_house"
    assert [e.movement for e in lot.collect_events()] == ["shipped", "returned"]  # type: ignore[attr-defined]


def test_the_same_erp_message_received_twice_is_recorded_once() -> None:
    lot = opened()
    lot.move("shipped", "ACME", erp(), SHIPPED)
    lot.collect_events()

    assert lot.move("shipped", "ACME", erp(), SHIPPED) is False

    assert lot.collect_events() == []


def test_a_held_lot_cannot_be_shipped() -> None:
    lot = held()

    with pytest.raises(LotOnHold, match="lot LOT-0001 is on hold: it cannot be shipped"):
        lot.move("shipped", "ACME", erp(), SHIPPED)

    assert lot.collect_events() == [] and lot.location == "in_house"


def test_a_held_lot_can_still_be_returned_by_the_customer() -> None:
    lot = opened()
    lot.move("shipped", "ACME", erp("ERP-1"), SHIPPED)
    lot.hold(Provenance(actor="qe-1", reason="customer complaint"), SHIPPED)
    lot.collect_events()

    assert lot.move("returned", "ACME", erp("ERP-2"), SHIPPED) is True

    assert lot.location == "in_house" and lot.on_hold


def test_an_unknown_movement_is_refused() -> None:
    lot = opened()

    with pytest.raises(InvalidValue, match="movement must be shipped or returned, not 'scrapped'"):
        lot.move("scrapped", None, erp(), SHIPPED)

    assert lot.collect_events() == []


def test_a_lot_already_shipped_cannot_be_shipped_again() -> None:
    from domain.lot import MovementOutOfOrder

    lot = opened()
    lot.move("shipped", "ACME", erp("ERP-1"), SHIPPED)
    lot.collect_events()
    with pytest.raises(MovementOutOfOrder, match="already shipped: it cannot be shipped"):
        lot.move("shipped", "ACME", erp("ERP-2"), SHIPPED)
    assert lot.collect_events() == []


def test_a_lot_in_house_cannot_be_returned() -> None:
    from domain.lot import MovementOutOfOrder

    lot = opened()
    with pytest.raises(MovementOutOfOrder, match="in house: it cannot be returned"):
        lot.move("returned", "ACME", erp("ERP-1"), SHIPPED)
    assert lot.collect_events() == []
