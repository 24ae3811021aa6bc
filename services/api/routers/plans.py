"""Master data: a whole import (as `qrec import` does) and plan revisions released one at a
time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.responses import Response

from domain.inspection import InspectionPlan, plan_id
from domain.process import ControlPlan, control_plan_id
from domain.records import RecordExists
from services.api.commands import Command, RecordOut, command, record_out
from services.masterdata import (
    ControlPlanIn,
    InspectionPlanIn,
    MasterDataIn,
    control_revision,
    import_master_data,
    plan_revision,
)

router = APIRouter(prefix="/api/v1", tags=["master data"])


class ImportOut(BaseModel):
    created: dict[str, int]
    unchanged: dict[str, int]


@router.post("/master-data", response_model=ImportOut,
             summary="Import master data: checked whole before anything is written; items "
                     "recorded already are left as they are")
def import_all(body: MasterDataIn,
               cmd: Annotated[Command, command("master_data.release")]) -> Response:
    def do() -> ImportOut:
        summary = import_master_data(cmd.ctx.records, body, cmd.who.id, source="api")
        return ImportOut(created=summary.created, unchanged=summary.unchanged)
    return cmd.run(do)


@router.post("/inspection-plans", status_code=201, response_model=RecordOut,
             summary="Define an inspection plan or release its next revision (If-Match: the "
                     "plan's version)")
def release_inspection_plan(body: InspectionPlanIn,
                            cmd: Annotated[Command, command("master_data.release")]) -> Response:
    records = cmd.ctx.records

    def do() -> RecordOut:
        revision = plan_revision(body)
        if not records.define_inspection_plan(body.id, revision, cmd.provenance(
                f"release of revision {revision.revision}"), cmd.expected_version):
            raise RecordExists(f"inspection plan {body.id} revision", revision.revision)
        return record_out(records.load(InspectionPlan, plan_id(body.id), body.id))
    return cmd.run(do, 201)


@router.post("/control-plans", status_code=201, response_model=RecordOut,
             summary="Define a control plan or release its next revision (If-Match: the "
                     "plan's version)")
def release_control_plan(body: ControlPlanIn,
                         cmd: Annotated[Command, command("master_data.release")]) -> Response:
    records = cmd.ctx.records

    def do() -> RecordOut:
        revision = control_revision(body)
        if not records.define_control_plan(body.id, revision, cmd.provenance(
                f"release of revision {revision.revision}"), cmd.expected_version):
            raise RecordExists(f"control plan {body.id} revision", revision.revision)
        return record_out(records.load(ControlPlan, control_plan_id(body.id), body.id))
    return cmd.run(do, 201)
