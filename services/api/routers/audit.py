"""The ledger, for auditors: is the whole history intact, the latest signed checkpoint, and
the public keys that verify checkpoints (audit packs: routers.records)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from projections.ledger.audit import verify_store
from services.api.context import ApiContext
from services.api.problems import ApiProblem
from services.api.security import reader

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class VerifyOut(BaseModel):
    intact: bool
    checked: int = Field(description="events checked against the ledger")
    checkpoints: int = Field(description="signed checkpoints verified")
    pending: int = Field(description="newer events not in the ledger yet")
    finding: str | None = Field(description="the first position that fails, and why")


class CheckpointOut(BaseModel):
    tree_size: int
    root_hash: str
    timestamp: str
    key_id: str
    signature: str


@router.get("/verify", response_model=VerifyOut,
            summary="Check every stored event against the ledger (as `qrec audit verify`)")
def verify(ctx: Annotated[ApiContext, reader("audit.read")]) -> VerifyOut:
    ledger = ctx.ledger
    report = verify_store(ledger, ctx.records.recorder, ledger.keyring.public_keys())
    return VerifyOut(intact=report.ok, checked=report.checked, checkpoints=report.checkpoints,
                     pending=report.pending,
                     finding=str(report.finding) if report.finding else None)


@router.get("/checkpoint", response_model=CheckpointOut,
            summary="The latest signed checkpoint (keep it: later histories must extend it)")
def checkpoint(ctx: Annotated[ApiContext, reader("audit.read")]) -> dict[str, Any]:
    cp = ctx.ledger.latest_checkpoint()
    if cp is None:
        raise ApiProblem(404, "No such record", "no checkpoint yet: the ledger has not "
                                                "signed one (qrec run, qrec audit catch-up)")
    return cp.to_json()


@router.get("/public-key", summary="The ledger's public key (PEM), the current one or an older "
                                   "one by id", response_class=Response,
            responses={200: {"content": {"application/x-pem-file": {
                "schema": {"type": "string"}}}}})
def public_key(ctx: Annotated[ApiContext, reader("audit.read")],
               key_id: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    ring = ctx.ledger.keyring
    if key_id is not None and key_id not in ring.public_keys():
        raise ApiProblem(404, "No such record", f"no ledger key {key_id!r}")
    return Response(ring.public_pem(key_id), media_type="application/x-pem-file")
