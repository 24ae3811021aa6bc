"""Production lots: open, operations, components, hold and release, shipment and return."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field
from starlette.responses import Response

from domain.lot import MOVEMENTS
from domain.reports import LotMovementReport
from services.api.commands import Command, RecordOut, command, record_out
from services.api.schemas import Body, Occurred, Why

router = APIRouter(prefix="/api/v1/lots", tags=["lots"])
LotNo = Path(min_length=1, max_length=64, description="the lot number")


class LotIn(Body):
    lot: str = Field(min_length=1, max_length=64)
    product: str | None = Field(None, max_length=64)


class StationIn(Occurred):
    station: str | None = Field(None, max_length=32)


class ComponentIn(Occurred):
    component_lot: str = Field(min_length=1, max_length=64)
    quantity: float | None = None


class MovementIn(Why):
    movement: str = Field(description=f"one of {', '.join(MOVEMENTS)}", max_length=16)
    customer: str | None = Field(None, max_length=64)
    occurred_at: datetime | None = None


@router.post("", status_code=201, response_model=RecordOut, summary="Open a lot")
def open_lot(body: LotIn, cmd: Annotated[Command, command("lots.operate")]) -> Response:
    records = cmd.ctx.records

    def do() -> RecordOut:
        records.open_lot(body.lot, body.product, cmd.provenance())
        return record_out(records.lot(body.lot))
    return cmd.run(do, 201)


@router.post("/{lot}/operations/{operation}/start", response_model=RecordOut,
             summary="Start an operation on a lot")
def start_operation(body: StationIn, lot: Annotated[str, LotNo],
                    operation: Annotated[str, Path(min_length=1, max_length=64)],
                    cmd: Annotated[Command, command("lots.operate")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.start_operation(
        lot, operation, body.station, cmd.provenance(body.reason, body.occurred_at),
        cmd.expected_version)))


@router.post("/{lot}/operations/{operation}/complete", response_model=RecordOut,
             summary="Complete an operation on a lot")
def complete_operation(body: Occurred, lot: Annotated[str, LotNo],
                       operation: Annotated[str, Path(min_length=1, max_length=64)],
                       cmd: Annotated[Command, command("lots.operate")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.complete_operation(
        lot, operation, cmd.provenance(body.reason, body.occurred_at), cmd.expected_version)))


@router.post("/{lot}/components", response_model=RecordOut,
             summary="Record a component lot consumed into this lot")
def consume_component(body: ComponentIn, lot: Annotated[str, LotNo],
                      cmd: Annotated[Command, command("lots.operate")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.consume_component(
        lot, body.component_lot, body.quantity, cmd.provenance(body.reason, body.occurred_at),
        cmd.expected_version)))


@router.post("/{lot}/hold", response_model=RecordOut, summary="Put a lot on hold")
def hold_lot(body: Why,
             lot: Annotated[str, LotNo], cmd: Annotated[Command, command("lots.hold")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.hold_lot(
        lot, cmd.provenance(body.reason), cmd.expected_version)))


@router.post("/{lot}/release", response_model=RecordOut, summary="Release a lot from hold")
def release_lot(body: Why, lot: Annotated[str, LotNo],
                cmd: Annotated[Command, command("lots.release")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.release_lot(
        lot, cmd.provenance(body.reason), cmd.expected_version)))


@router.post("/{lot}/movements", response_model=RecordOut,
             summary="Record a shipment or a return of a lot")
def move_lot(body: MovementIn, lot: Annotated[str, LotNo],
             cmd: Annotated[Command, command("lots.move")]) -> Response:
    records, prov = cmd.ctx.records, cmd.provenance(body.reason, body.occurred_at)
    report = LotMovementReport(prov.source_message_id or cmd.key, lot, body.movement,
                               body.customer, body.occurred_at or records.clock(), "api")

    def do() -> RecordOut:
        records.record_lot_movement(report, prov, cmd.expected_version)
        return record_out(records.lot(lot))
    return cmd.run(do)
