"""Health checks, without authentication: /healthz (the process answers) and /readyz (the
event store and the broker can be reached)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlparse

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import text
from starlette.responses import Response

from services.api.context import ApiContext, context

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    store: str = Field(description="ok, or why the event store cannot be used")
    credentials: str
    broker: str = Field(description="ok, none (the API alone needs none), or why not")


@router.get("/healthz", response_model=Health, summary="The process is alive")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, summary="The event store and the broker "
            "can be reached (503 when one cannot)",
            responses={503: {"model": Readiness}})
async def readyz(request: Request) -> Response:
    ctx = context(request)
    store, credentials, broker = await asyncio.gather(
        asyncio.to_thread(_store, ctx), asyncio.to_thread(_credentials, ctx),
        _broker(ctx.broker_url))
    ready = all(part in ("ok", "none") for part in (store, credentials, broker))
    body = Readiness(ready=ready, store=store, credentials=credentials, broker=broker)
    return Response(body.model_dump_json(), status_code=200 if ready else 503,
                    media_type="application/json")


def _store(ctx: ApiContext) -> str:
    try:
        ctx.records.recorder.max_notification_id()
        return "ok"
    except Exception as e:  # any failure is the answer here
        return f"unreachable: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def _credentials(ctx: ApiContext) -> str:
    try:
        with ctx.credentials.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as e:
        return f"unreachable: {type(e).__name__}"


async def _broker(url: str | None, timeout: float = 2.0) -> str:
    """A NATS server greets every connection with an INFO line."""
    if not url:
        return "none"
    parts = urlparse(url)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or 4222), timeout)
        try:
            greeting = await asyncio.wait_for(reader.readline(), timeout)
        finally:
            writer.close()
        return "ok" if greeting.startswith(b"INFO") else "not a NATS server"
    except (OSError, TimeoutError) as e:
        return f"unreachable: {type(e).__name__}"


