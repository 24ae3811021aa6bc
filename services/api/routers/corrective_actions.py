"""Corrective actions: open, root cause, plan and complete actions, effectiveness, close."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field
from starlette.responses import Response

from domain.corrective_action import PlannedAction
from services.api.commands import Command, RecordOut, command, record_out
from services.api.schemas import Why

router = APIRouter(prefix="/api/v1/corrective-actions", tags=["corrective actions"])
Manage = Annotated[Command, command("corrective_actions.manage")]
Number = Path(min_length=1, max_length=64, description="the corrective action's number")


class CorrectiveActionIn(Why):
    number: str = Field(min_length=1, max_length=64)
    nonconformance: str | None = Field(None, max_length=64,
                                       description="the nonconformance it answers")
    problem: str = Field(max_length=4000)


class RootCauseIn(Why):
    cause: str = Field(max_length=4000)
    method: str | None = Field(None, max_length=64, description="5 whys, Ishikawa...")


class ActionIn(Why):
    description: str = Field(max_length=4000)
    owner: str = Field(max_length=64)
    due: datetime


class EvidenceIn(Why):
    evidence: str = Field(max_length=4000)


class EffectivenessIn(EvidenceIn):
    effective: bool


@router.post("", status_code=201, response_model=RecordOut, summary="Open a corrective action")
def open_corrective_action(body: CorrectiveActionIn,
                           cmd: Manage) -> Response:
    records = cmd.ctx.records

    def do() -> RecordOut:
        records.open_corrective_action(body.number, body.nonconformance, body.problem,
                                       cmd.provenance(body.reason))
        return record_out(records.corrective_action(body.number))
    return cmd.run(do, 201)


@router.post("/{number}/root-cause", response_model=RecordOut, summary="Record the root cause")
def record_root_cause(body: RootCauseIn, number: Annotated[str, Number],
                      cmd: Manage) -> Response:
    prov = cmd.provenance(body.reason)
    return cmd.run(lambda: record_out(cmd.ctx.records.update_corrective_action(
        number, lambda ca, now: ca.record_root_cause(body.cause, body.method, prov, now),
        cmd.expected_version)))


@router.post("/{number}/actions", response_model=RecordOut, summary="Plan an action")
def plan_action(body: ActionIn, number: Annotated[str, Number],
                cmd: Manage) -> Response:
    prov, action = cmd.provenance(body.reason), PlannedAction(body.description, body.owner,
                                                              body.due)
    return cmd.run(lambda: record_out(cmd.ctx.records.update_corrective_action(
        number, lambda ca, now: ca.plan_action(action, prov, now), cmd.expected_version)))


@router.post("/{number}/actions/{index}/complete", response_model=RecordOut,
             summary="Complete a planned action, with its evidence")
def complete_action(body: EvidenceIn, number: Annotated[str, Number],
                    index: Annotated[int, Path(ge=0, le=10_000)],
                    cmd: Manage) -> Response:
    prov = cmd.provenance(body.reason)
    return cmd.run(lambda: record_out(cmd.ctx.records.update_corrective_action(
        number, lambda ca, now: ca.complete_action(index, body.evidence, prov, now),
        cmd.expected_version)))


@router.post("/{number}/effectiveness", response_model=RecordOut,
             summary="Record the effectiveness check")
def check_effectiveness(body: EffectivenessIn, number: Annotated[str, Number],
                        cmd: Manage) -> Response:
    prov = cmd.provenance(body.reason)
    return cmd.run(lambda: record_out(cmd.ctx.records.update_corrective_action(
        number, lambda ca, now: ca.check_effectiveness(body.effective, body.evidence, prov,
                                                       now), cmd.expected_version)))


@router.post("/{number}/close", response_model=RecordOut, summary="Close a corrective action")
def close(body: Why, number: Annotated[str, Number],
          cmd: Manage) -> Response:
    prov = cmd.provenance(body.reason)
    return cmd.run(lambda: record_out(cmd.ctx.records.update_corrective_action(
        number, lambda ca, now: ca.close(prov, now), cmd.expected_version)))
