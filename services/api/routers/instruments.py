"""Instruments (gauges): register, quarantine, release, retire; calibrations entered by
hand; a gauge's reverse trace."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from starlette.responses import Response

from domain.calibration import CALIBRATION_RESULTS, ReferenceStandard, TestPoint
from domain.records import RecordNotFound
from domain.reports import CalibrationReport
from domain.trace import FailedCalibration
from services.api.commands import Command, RecordOut, command, record_out
from services.api.context import ApiContext
from services.api.schemas import Body, Why
from services.api.security import reader

router = APIRouter(prefix="/api/v1/instruments", tags=["instruments"])
Tag = Path(min_length=1, max_length=64, description="the instrument's tag")


class InstrumentIn(Why):
    tag: str = Field(min_length=1, max_length=64)
    kind: str = Field(max_length=64)
    unit: str = Field(min_length=1, max_length=16)
    range: tuple[float, float]
    resolution: float
    tolerance: float
    interval_days: int = Field(ge=-100_000, le=100_000)
    location: str = Field("", max_length=200)
    serial_number: str | None = Field(None, max_length=64)


class PointIn(Body):
    nominal: float
    as_found: float | None = None
    as_left: float | None = None
    unit: str = Field(min_length=1, max_length=16)


class StandardIn(Body):
    tag: str = Field(max_length=64)
    certificate: str = Field(max_length=64)


class CalibrationIn(Why):
    performed_at: datetime
    performed_by: str | None = Field(None, max_length=64,
                                     description="who calibrated (default: you)")
    certificate: str = Field(max_length=64)
    standard: StandardIn | None = None
    uncertainty: float | None = None
    points: list[PointIn] = Field(default=[], max_length=100)
    result: str = Field(description=f"one of {', '.join(CALIBRATION_RESULTS)}", max_length=16)


class TracedLot(BaseModel):
    lot: str
    status: str
    results: int


class TracedFailure(BaseModel):
    calibration_version: int
    performed_at: datetime
    certificate: str
    nonconformance: str
    listed: bool = Field(description="false until the reverse-trace policy has run")
    nonconformance_status: str | None
    suspect_lots: list[TracedLot] = Field(description="shipped lots first")
    tasks: list[str]


class GaugeTraceOut(BaseModel):
    tag: str
    status: str
    period_start: datetime | None = Field(description="last left in tolerance")
    results_since: int = Field(description="results measured with it since then")
    lots_since: list[TracedLot]
    failures: list[TracedFailure]


@router.post("", status_code=201, response_model=RecordOut, summary="Register an instrument")
def register(body: InstrumentIn,
             cmd: Annotated[Command, command("instruments.manage")]) -> Response:
    records = cmd.ctx.records

    def do() -> RecordOut:
        records.register_instrument(body.tag, body.kind, body.unit, body.range,
                                    body.resolution, body.tolerance, body.interval_days,
                                    body.location, cmd.provenance(body.reason),
                                    body.serial_number)
        return record_out(records.instrument(body.tag))
    return cmd.run(do, 201)


@router.post("/{tag}/quarantine", response_model=RecordOut, summary="Quarantine an instrument")
def quarantine(body: Why, tag: Annotated[str, Tag],
               cmd: Annotated[Command, command("instruments.manage")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.quarantine_instrument(
        tag, cmd.provenance(body.reason), cmd.expected_version)))


@router.post("/{tag}/release", response_model=RecordOut,
             summary="Release an instrument from quarantine")
def release(body: Why,
            tag: Annotated[str, Tag], cmd: Annotated[Command,
            command("instruments.manage")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.release_instrument(
        tag, cmd.provenance(body.reason), cmd.expected_version)))


@router.post("/{tag}/retire", response_model=RecordOut, summary="Retire an instrument")
def retire(body: Why,
           tag: Annotated[str, Tag], cmd: Annotated[Command,
           command("instruments.manage")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.retire_instrument(
        tag, cmd.provenance(body.reason), cmd.expected_version)))


@router.post("/{tag}/calibrations", response_model=RecordOut,
             summary="Record a calibration entered by hand")
def calibrate(body: CalibrationIn, tag: Annotated[str, Tag],
              cmd: Annotated[Command, command("calibrations.record")]) -> Response:
    records, prov = cmd.ctx.records, cmd.provenance(body.reason, body.performed_at)
    report = CalibrationReport(
        message_id=prov.source_message_id or cmd.key, instrument=tag,
        performed_at=body.performed_at, performed_by=body.performed_by or cmd.who.id,
        certificate=body.certificate,
        standard=ReferenceStandard(body.standard.tag, body.standard.certificate)
        if body.standard else None, uncertainty=body.uncertainty,
        points=tuple(TestPoint(p.nominal, p.as_found, p.as_left, p.unit) for p in body.points),
        result=body.result, source="api")

    def do() -> RecordOut:
        records.record_calibration(report, prov, cmd.expected_version)
        return record_out(records.instrument(tag))
    return cmd.run(do)


@router.get("/{tag}/trace", response_model=GaugeTraceOut,
            summary="A gauge's reverse trace: its failed calibrations with their suspect "
                    "lots, and what it measured since it was last left in tolerance")
def trace(tag: Annotated[str,
          Tag], ctx: Annotated[ApiContext, reader("records.read")]) -> GaugeTraceOut:
    found = ctx.records.reverse_trace(tag)
    by_lot: dict[str, int] = {}
    for use in found.uses:
        by_lot[use.lot] = by_lot.get(use.lot, 0) + 1
    statuses = {lot: _lot_status(ctx, lot) for lot in by_lot}
    return GaugeTraceOut(
        tag=found.tag, status=found.status, period_start=found.period_start,
        results_since=len(found.uses),
        lots_since=[TracedLot(lot=k, status=statuses[k], results=n) for k, n in by_lot.items()],
        failures=[_failure(ctx, f) for f in found.failures])


def _lot_status(ctx: ApiContext, lot: str) -> str:
    try:
        return ctx.records.lot(lot).status
    except RecordNotFound:
        return "unknown"


def _failure(ctx: ApiContext, failure: FailedCalibration) -> TracedFailure:
    nc = ctx.records.nonconformance(failure.nonconformance) if failure.listed else None
    suspects = sorted(nc.suspects if nc else [], key=lambda s: (s.status != "shipped", s.lot))
    return TracedFailure(
        calibration_version=failure.version, performed_at=failure.performed_at,
        certificate=failure.certificate, nonconformance=failure.nonconformance,
        listed=failure.listed, nonconformance_status=nc.status if nc else None,
        suspect_lots=[TracedLot(lot=s.lot, status=s.status, results=len(s.results))
                      for s in suspects], tasks=list(nc.tasks) if nc else [])
