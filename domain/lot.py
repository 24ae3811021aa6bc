"""Production lots: operations, hold and release, genealogy, shipment and return."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.records import InvalidValue, Provenance, QualityError, Record, record_id

MOVEMENTS = ("shipped", "returned")


class LotOnHold(QualityError):
    def __init__(self, lot: str, action: str) -> None:
        super().__init__(f"lot {lot} is on hold: it cannot be {action}")


class LotNotOnHold(QualityError):
    def __init__(self, lot: str) -> None:
        super().__init__(f"lot {lot} is not on hold")


class LotHasOpenNonconformance(QualityError):
    def __init__(self, lot: str, count: int) -> None:
        super().__init__(f"lot {lot} has {count} open nonconformance(s): "
                         "disposition and close them before release")


class MovementOutOfOrder(QualityError):
    def __init__(self, lot: str, movement: str, location: str) -> None:
        where = "already shipped" if location == "shipped" else "in house"
        super().__init__(f"lot {lot} is {where}: it cannot be {movement}")


class OperationNotStarted(QualityError):
    def __init__(self, lot: str, operation: str) -> None:
        super().__init__(f"operation {operation!r} was not started on lot {lot}")


def lot_id(lot: str) -> UUID:
    return record_id("lot", lot)


class Lot(Record):
    if TYPE_CHECKING:
        lot: str
        product: str | None
        on_hold: bool
        released: bool
        operations: dict[str, str]
        components: list[str]
        open_nonconformances: set[UUID]
        location: str
        seen_messages: set[str]

    # Genealogy and quantity came later: class defaults stand in for them in records (and
    # snapshots) made before; the events replace them, never mutate them.
    consumers: tuple[str, ...] = ()  # the lots this lot was consumed into
    quantity: float | None = None
    unit: str | None = None
    supplier: str | None = None

    class Opened(Record.Created):
        lot: str
        product: str | None

        def apply(self, lot: Lot) -> None:
            lot.lot, lot.product, lot.on_hold, lot.location = self.lot, self.product, False, \
                "in_house"
            lot.released = False
            lot.operations, lot.components = {}, []
            lot.open_nonconformances, lot.seen_messages = set(), set()

    class OperationStarted(Record.Event):
        operation: str
        station: str | None

        def apply(self, lot: Lot) -> None:
            lot.operations[self.operation] = "started"

    class OperationCompleted(Record.Event):
        operation: str

        def apply(self, lot: Lot) -> None:
            lot.operations[self.operation] = "completed"

    class ComponentConsumed(Record.Event):
        component_lot: str
        quantity: float | None

        def apply(self, lot: Lot) -> None:
            lot.components.append(self.component_lot)

    class ConsumedInto(Record.Event):
        """This lot went into ``lot`` (the other side of that lot's ComponentConsumed)."""

        lot: str
        quantity: float | None

        def apply(self, lot: Lot) -> None:
            lot.consumers = (*lot.consumers, self.lot)

    class QuantityRecorded(Record.Event):
        """How much the lot holds, as the ERP counts it (the lot size for sampling), and who
        supplied it if it was bought in."""

        quantity: float
        unit: str
        supplier: str | None

        def apply(self, lot: Lot) -> None:
            lot.quantity, lot.unit, lot.supplier = self.quantity, self.unit, self.supplier
            if self.provenance.source_message_id:
                lot.seen_messages.add(self.provenance.source_message_id)

    class Held(Record.Event):
        def apply(self, lot: Lot) -> None:
            lot.on_hold = True

    class Released(Record.Event):
        def apply(self, lot: Lot) -> None:
            lot.on_hold, lot.released = False, True

    class NonconformanceLinked(Record.Event):
        nonconformance: UUID

        def apply(self, lot: Lot) -> None:
            lot.open_nonconformances.add(self.nonconformance)

    class NonconformanceResolved(Record.Event):
        nonconformance: UUID

        def apply(self, lot: Lot) -> None:
            lot.open_nonconformances.discard(self.nonconformance)

    class Moved(Record.Event):
        movement: str
        customer: str | None

        def apply(self, lot: Lot) -> None:
            lot.location = "shipped" if self.movement == "shipped" else "in_house"
            if self.provenance.source_message_id:
                lot.seen_messages.add(self.provenance.source_message_id)

    @property
    def status(self) -> str:
        """Where the lot stands for a trace: shipped, released (by quality) or in_process."""
        if self.location == "shipped":
            return "shipped"
        return "released" if self.released and not self.on_hold else "in_process"

    @classmethod
    def open(cls, lot: str, product: str | None, prov: Provenance, now: datetime) -> Lot:
        if not lot:
            raise InvalidValue("a lot needs a lot number")
        return cls._create(cls.Opened, id=lot_id(lot), provenance=prov, timestamp=now,
                           lot=lot, product=product)

    def start_operation(self, operation: str, station: str | None, prov: Provenance,
                        now: datetime) -> None:
        if self.on_hold:
            raise LotOnHold(self.lot, f"processed ({operation})")
        self.record(self.OperationStarted, prov, now, operation=operation, station=station)

    def complete_operation(self, operation: str, prov: Provenance, now: datetime) -> None:
        if self.operations.get(operation) != "started":
            raise OperationNotStarted(self.lot, operation)
        self.record(self.OperationCompleted, prov, now, operation=operation)

    def consume(self, component_lot: str, quantity: float | None, prov: Provenance,
                now: datetime) -> None:
        if component_lot == self.lot:
            raise InvalidValue(f"lot {self.lot} cannot consume itself")
        self.record(self.ComponentConsumed, prov, now, component_lot=component_lot,
                    quantity=quantity)

    def consumed_into(self, lot: str, quantity: float | None, prov: Provenance,
                      now: datetime) -> None:
        if lot == self.lot:
            raise InvalidValue(f"lot {self.lot} cannot consume itself")
        self.record(self.ConsumedInto, prov, now, lot=lot, quantity=quantity)

    def record_quantity(self, quantity: float, unit: str, supplier: str | None,
                        prov: Provenance, now: datetime) -> None:
        if not (isinstance(quantity, (int, float)) and 0 < quantity < float("inf")):
            raise InvalidValue(f"lot {self.lot}: a quantity must be a positive number, "
                               f"not {quantity!r}")
        if not unit:
            raise InvalidValue(f"lot {self.lot}: a quantity needs a unit")
        self.record(self.QuantityRecorded, prov, now, quantity=float(quantity), unit=unit,
                    supplier=supplier)

    def hold(self, prov: Provenance, now: datetime) -> None:
        prov.requiring_reason(f"hold lot {self.lot}")
        if not self.on_hold:
            self.record(self.Held, prov, now)

    def release(self, prov: Provenance, now: datetime) -> None:
        prov.requiring_reason(f"release lot {self.lot}")
        if not self.on_hold:
            raise LotNotOnHold(self.lot)
        if self.open_nonconformances:
            raise LotHasOpenNonconformance(self.lot, len(self.open_nonconformances))
        self.record(self.Released, prov, now)

    def link_nonconformance(self, nc: UUID, prov: Provenance, now: datetime) -> None:
        if nc not in self.open_nonconformances:
            self.record(self.NonconformanceLinked, prov, now, nonconformance=nc)

    def resolve_nonconformance(self, nc: UUID, prov: Provenance, now: datetime) -> None:
        if nc in self.open_nonconformances:
            self.record(self.NonconformanceResolved, prov, now, nonconformance=nc)

    def move(self, movement: str, customer: str | None, prov: Provenance,
             now: datetime) -> bool:
        """Record a shipment or return; False if this message was already recorded."""
        if movement not in MOVEMENTS:
            raise InvalidValue(f"movement must be shipped or returned, not {movement!r}")
        if prov.source_message_id in self.seen_messages:
            return False
        if (movement == "shipped") == (self.location == "shipped"):
            raise MovementOutOfOrder(self.lot, movement, self.location)
        if movement == "shipped" and self.on_hold:
            raise LotOnHold(self.lot, "shipped")
        self.record(self.Moved, prov, now, movement=movement, customer=customer)
        return True
