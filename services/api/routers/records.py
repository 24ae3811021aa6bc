"""Any record by reference (a UUID or kind:key): its state and its history, now or at a time
(as recorded then, or as it truly was then by what is known now), read from the event store
itself as `qrec history` reads it; and its audit pack."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from domain.records import InvalidValue, Record, RecordNotFound
from domain.timetravel import summarize
from projections.ledger.pack import export_pack
from projections.ledger.store import Ledger, LedgerConflict
from services.api.context import ApiContext
from services.api.security import reader
from services.history import RecordHistory, read_history, resolve_record

router = APIRouter(prefix="/api/v1/records", tags=["records"])
Ref = Path(min_length=1, max_length=200,
           description="a record id (UUID) or kind:key, e.g. lot:LOT-0001, instrument:G-0042")
AsOf = Query(description="the time to read the record at (default: now)")
ByOccurred = Query(description="read as_of as occurred time: what was true then, "
                               "corrections included")


class EventOut(BaseModel):
    version: int
    event: str
    actor: str
    actor_name: str | None = Field(description="the actor's printed name, if enrolled")
    occurred_at: datetime | None
    recorded_at: datetime
    reason: str | None
    source: str
    source_message_id: str | None
    correlation_id: str | None
    causation_id: str | None
    summary: str
    data: dict[str, Any] = Field(description="the event's own fields")


class StateOut(BaseModel):
    record_id: str
    kind: str
    at: str = Field(description="now, or the time the state was read at")
    version: int | None = Field(description="None: the record did not exist yet then")
    state: dict[str, Any] | None


class HistoryOut(StateOut):
    events_total: int
    events: list[EventOut] = Field(description="the events that count at that time, a page "
                                               "of them (after_version, limit)")
    next_after_version: int | None


@router.get("/{ref}", response_model=StateOut, summary="A record's state, now or at a time")
def record_state(ref: Annotated[str, Ref], ctx: Annotated[ApiContext, reader("records.read")],
                 as_of: Annotated[datetime | None, AsOf] = None,
                 occurred: Annotated[bool, ByOccurred] = False) -> Response:
    h = _history(ctx, ref, as_of, occurred)
    body = _state(h)
    headers = {"ETag": f'"{body["version"]}"'} if as_of is None else {}
    return Response(dumps(body), media_type="application/json", headers=headers)


@router.get("/{ref}/history", response_model=HistoryOut,
            summary="A record's events (who, when it occurred, when it was recorded, what, "
                    "why) and its state, now or at a time")
def record_history(ref: Annotated[str, Ref],
                   ctx: Annotated[ApiContext, reader("records.read")],
                   as_of: Annotated[datetime | None, AsOf] = None,
                   occurred: Annotated[bool, ByOccurred] = False,
                   after_version: Annotated[int, Query(ge=0)] = 0,
                   limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> Response:
    h = _history(ctx, ref, as_of, occurred)
    page = [e for e in h.shown if e.originator_version > after_version][:limit]
    names = _printed_names(ctx, {e.provenance.actor for e in page})
    last = page[-1].originator_version if page else None
    body = {**_state(h), "events_total": len(h.shown),
            "events": [_event(e, names) for e in page],
            "next_after_version": last if last is not None and
            last < h.shown[-1].originator_version else None}
    return Response(dumps(body), media_type="application/json")


@router.get("/{ref}/audit-pack", summary="The record's events with their inclusion proofs in "
                                         "a signed checkpoint, for the offline verifier")
def audit_pack(ref: Annotated[str, Ref],
               ctx: Annotated[ApiContext, reader("audit.read")]) -> Response:
    record = _resolve(ref)
    if not ctx.records.exists(record):
        raise RecordNotFound("such", ref)
    ledger = ctx.ledger
    _caught_up(ledger)  # as `qrec audit export`: every stored event, sealed, a key made
    return Response(dumps(export_pack(ledger, ctx.records.recorder, record,
                                      ledger.keyring.public_keys())),
                    media_type="application/json")


def _caught_up(ledger: Ledger, attempts: int = 5) -> None:
    """The ledger component may be appending at the same moment: take turns."""
    for attempt in range(attempts):
        try:
            ledger.catch_up(seal=True)
            return
        except LedgerConflict:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)


def _resolve(ref: str) -> UUID:
    try:
        return resolve_record(ref)
    except InvalidValue:
        raise RecordNotFound("such", ref) from None


def _history(ctx: ApiContext, ref: str, as_of: datetime | None,
             occurred: bool) -> RecordHistory:
    if as_of is not None and as_of.tzinfo is None:
        raise InvalidValue(f"as_of {as_of.isoformat()} needs a time zone (Z or +01:00)")
    _resolve(ref)
    return read_history(ctx.records, ref, as_of, occurred)


def _state(h: RecordHistory) -> dict[str, Any]:
    state = h.state
    return {"record_id": str(h.record_id), "kind": h.kind, "at": h.heading,
            "version": state.version if state is not None else None,
            "state": None if state is None else
            {k: v for k, v in vars(state).items() if not k.startswith("_")}}


def _event(e: Record.Event, names: dict[str, str | None]) -> dict[str, Any]:
    p = e.provenance
    data = {k: v for k, v in vars(e).items()
            if k not in ("provenance", "originator_id", "originator_version", "timestamp",
                         "originator_topic")}
    return {"version": e.originator_version, "event": type(e).__qualname__,
            "actor": p.actor, "actor_name": names.get(p.actor), "occurred_at": p.occurred_at,
            "recorded_at": e.timestamp, "reason": p.reason, "source": p.source,
            "source_message_id": p.source_message_id, "correlation_id": p.correlation_id,
            "causation_id": p.causation_id, "summary": summarize(e), "data": data}


def _printed_names(ctx: ApiContext, actors: set[str]) -> dict[str, str | None]:
    names: dict[str, str | None] = {}
    for actor in actors:
        try:
            names[actor] = ctx.records.access(actor).printed_name
        except RecordNotFound:
            names[actor] = None
    return names


def dumps(body: Any) -> bytes:
    return orjson.dumps(body, default=_jsonable, option=orjson.OPT_NON_STR_KEYS)


def _jsonable(value: Any) -> Any:
    """What orjson does not write by itself: sets (sorted) and tuples of dataclasses."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
