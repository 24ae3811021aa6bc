"""Nonconformances: raise, add lots and evidence, containment, disposition, close."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field
from starlette.responses import Response

from domain.nonconformance import DISPOSITIONS, SOURCES
from services.api.commands import Command, RecordOut, command, record_out
from services.api.schemas import Why

router = APIRouter(prefix="/api/v1/nonconformances", tags=["nonconformances"])
Number = Path(min_length=1, max_length=64, description="the nonconformance number")
Name = Field(min_length=1, max_length=64)


class NonconformanceIn(Why):
    number: str = Name
    source: str = Field(description=f"one of {', '.join(SOURCES)}", max_length=16)
    description: str = Field(max_length=4000)
    lots: list[str] = Field(default=[], max_length=500)
    characteristic: str | None = Field(None, max_length=64)
    evidence: list[str] = Field(default=[], max_length=100)
    hold: bool = Field(True, description="hold the lots named (a reason is then required)")


class LotIn(Why):
    lot: str = Name
    hold: bool = True


class EvidenceIn(Why):
    evidence: list[str] = Field(min_length=1, max_length=100)


class ContainmentIn(Why):
    action: str = Field(max_length=4000)


class DispositionIn(Why):
    disposition: str = Field(description=f"one of {', '.join(DISPOSITIONS)}", max_length=32)


@router.post("", status_code=201, response_model=RecordOut,
             summary="Raise a nonconformance on lots (held with it by default)")
def raise_nonconformance(body: NonconformanceIn,
                         cmd: Annotated[Command, command("nonconformances.raise")]) -> Response:
    records = cmd.ctx.records

    def do() -> RecordOut:
        records.raise_nonconformance(
            body.number, body.source, body.description, tuple(body.lots),
            cmd.provenance(body.reason), body.characteristic, tuple(body.evidence), body.hold)
        return record_out(records.nonconformance(body.number))
    return cmd.run(do, 201)


@router.post("/{number}/lots", response_model=RecordOut,
             summary="Name one more lot (held with it by default)")
def add_lot(body: LotIn, number: Annotated[str, Number],
            cmd: Annotated[Command, command("nonconformances.manage")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.add_lot_to_nonconformance(
        number, body.lot, cmd.provenance(body.reason), body.hold, cmd.expected_version)))


@router.post("/{number}/evidence", response_model=RecordOut, summary="Add evidence")
def add_evidence(body: EvidenceIn, number: Annotated[str, Number],
                 cmd: Annotated[Command, command("nonconformances.manage")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.add_evidence(
        number, tuple(body.evidence), cmd.provenance(body.reason), cmd.expected_version)))


@router.post("/{number}/containment", response_model=RecordOut,
             summary="Record a containment action")
def record_containment(body: ContainmentIn, number: Annotated[str, Number],
                       cmd: Annotated[Command, command("nonconformances.manage")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.record_containment(
        number, body.action, cmd.provenance(body.reason), cmd.expected_version)))


@router.post("/{number}/disposition", response_model=RecordOut,
             summary="Disposition a nonconformance; you are recorded as its approver")
def disposition(body: DispositionIn, number: Annotated[str, Number],
                cmd: Annotated[Command, command("nonconformances.disposition")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.disposition(
        number, body.disposition, cmd.who.id, cmd.provenance(body.reason),
        cmd.expected_version)))


@router.post("/{number}/close", response_model=RecordOut,
             summary="Close a dispositioned nonconformance (its lots' links are resolved)")
def close(body: Why, number: Annotated[str, Number],
          cmd: Annotated[Command, command("nonconformances.disposition")]) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.close_nonconformance(
        number, cmd.provenance(body.reason), cmd.expected_version)))
