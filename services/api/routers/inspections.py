"""Inspections entered by hand: open, record results, close; and corrections of any result
(a line's or a hand-entered one), with the reason they need."""

from __future__ import annotations

import math
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path
from pydantic import Field, field_validator
from starlette.responses import Response

from domain.inspection import STAGES, Measurement
from domain.records import record_id
from services.api.commands import Command, RecordOut, command, record_out
from services.api.schemas import Body, Occurred, Why

router = APIRouter(prefix="/api/v1/inspections", tags=["inspections"])
Number = Path(min_length=1, max_length=64, description="the number of a hand-entered "
                                                       "inspection")


class InspectionIn(Body):
    number: str = Field(min_length=1, max_length=64)
    lot: str = Field(min_length=1, max_length=64)
    stage: str = Field(description=f"one of {', '.join(STAGES)}", max_length=16)
    plan: str = Field(min_length=1, max_length=64)
    part: str | None = Field(None, max_length=64)
    inspector: str | None = Field(None, max_length=64,
                                  description="who inspects (default: you)")


class MeasurementIn(Body):
    characteristic: str = Field(min_length=1, max_length=64)
    value: float
    unit: str = Field(min_length=1, max_length=16)
    gauge: str | None = Field(None, max_length=64)

    @field_validator("value")
    @classmethod
    def finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("a measured value is a finite number")
        return value


class ResultsIn(Occurred):
    results: list[MeasurementIn] = Field(min_length=1, max_length=1000)


class CorrectionIn(Why):
    value: float

    @field_validator("value")
    @classmethod
    def finite(cls, value: float) -> float:
        return MeasurementIn.finite(value)


def inspection_ref(ref: str) -> UUID:
    """A line inspection by its record id, a hand-entered one by its number too."""
    try:
        return UUID(ref)
    except ValueError:
        return record_id("inspection", ref)


@router.post("", status_code=201, response_model=RecordOut,
             summary="Open an inspection of a lot against the plan in force")
def open_inspection(body: InspectionIn, cmd: Annotated[Command, command("inspections.record")]
                    ) -> Response:
    records = cmd.ctx.records

    def do() -> RecordOut:
        records.open_inspection(body.number, body.lot, body.stage, body.plan,
                                body.inspector or cmd.who.id, cmd.provenance(), body.part)
        return record_out(records.inspection(body.number))
    return cmd.run(do, 201)


@router.post("/{number}/results", response_model=RecordOut,
             summary="Record measured results, judged against the inspection's plan")
def record_results(body: ResultsIn, number: Annotated[str, Number],
                   cmd: Annotated[Command, command("inspections.record")]) -> Response:
    measured = tuple(Measurement(m.characteristic, m.value, m.unit, m.gauge)
                     for m in body.results)
    return cmd.run(lambda: record_out(cmd.ctx.records.record_results(
        number, measured, cmd.provenance(body.reason, body.occurred_at),
        cmd.expected_version)))


@router.post("/{number}/close", response_model=RecordOut,
             summary="Close an inspection: its verdict is recorded")
def close_inspection(body: Why, number: Annotated[str, Number],
                     cmd: Annotated[Command, command("inspections.record")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.close_inspection(
        number, cmd.provenance(body.reason), cmd.expected_version)))


@router.post("/{inspection}/results/{index}/correction", response_model=RecordOut,
             summary="Correct a result (the original stays in the history); a reason is "
                     "required")
def correct_result(body: CorrectionIn,
                   inspection: Annotated[str, Path(min_length=1, max_length=64,
                                          description="record id, or a hand-entered "
                                                      "inspection's number")],
                   index: Annotated[int, Path(ge=0, le=100_000)],
                   cmd: Annotated[Command, command("inspections.correct")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.correct_result(
        inspection_ref(inspection), index, body.value, cmd.provenance(body.reason),
        cmd.expected_version)))
