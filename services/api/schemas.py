"""Request bodies the routes share."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Why(Body):
    """A command that changes a record's status: the reason is recorded with it."""

    reason: str | None = Field(None, description="why; required where the record needs one")


class Occurred(Why):
    occurred_at: datetime | None = Field(
        None, description="when it happened, if not now (the recorded time is kept too)")


class Text(Body):
    text: str = Field(max_length=4000)
