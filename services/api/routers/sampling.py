"""Acceptance sampling's decisions people make (ISO 2859-1 switching): approving reduced
inspection, reporting production steady or irregular, resuming after discontinuation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.responses import Response

from services.api.commands import Command, RecordOut, command, record_out
from services.api.schemas import Why

router = APIRouter(prefix="/api/v1/sampling/{plan}/{product}/{source}", tags=["sampling"])
Decide = Annotated[Command, command("sampling.decide")]
Plan = Annotated[str, Path(min_length=1, max_length=64)]
Product = Annotated[str, Path(min_length=1, max_length=64)]
Source = Annotated[str, Path(min_length=1, max_length=64, description="supplier or line")]


class ApprovalIn(Why):
    approved: bool = True


class ProductionIn(Why):
    steady: bool


@router.post("/reduced-approval", response_model=RecordOut,
             summary="Approve reduced inspection (or withdraw the approval)")
def approve_reduced(body: ApprovalIn, plan: Plan, product: Product, source: Source,
                    cmd: Decide) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.approve_reduced_inspection(
        plan, product, source, body.approved, cmd.provenance(body.reason),
        cmd.expected_version)))


@router.post("/production", response_model=RecordOut,
             summary="Report production as steady or irregular")
def report_production(body: ProductionIn, plan: Plan, product: Product, source: Source,
                      cmd: Decide) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.report_production(
        plan, product, source, body.steady, cmd.provenance(body.reason),
        cmd.expected_version)))


@router.post("/resume", response_model=RecordOut,
             summary="Resume sampling after corrective action (on tightened inspection)")
def resume(body: Why, plan: Plan, product: Product, source: Source, cmd: Decide) -> Response:
    return cmd.run(lambda: record_out(cmd.ctx.records.resume_sampling(
        plan, product, source, cmd.provenance(body.reason), cmd.expected_version)))
