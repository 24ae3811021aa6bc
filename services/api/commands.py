"""What every command (POST) shares: the caller allowed to do it, the `Idempotency-Key` that
makes a retry record nothing twice, the `If-Match` version that makes a stale write a 409,
and the provenance every event it records carries: the authenticated principal as actor,
never a field of the request."""


import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import orjson
from eventsourcing.domain import Aggregate
from fastapi import Depends, Header, Request
from pydantic import BaseModel
from starlette.responses import Response

from domain.records import Provenance, QualityError
from projections.ledger.pack import NotInLedger
from services.api.context import ApiContext, context
from services.api.idempotency import KeyInProgress, KeyReused, Stored, fingerprint
from services.api.problems import ApiProblem, problem_of
from services.api.security import require
from services.identity.credentials import CredentialError
from services.identity.principals import Principal

_VERSION = re.compile(r'^(?:W/)?"?(\d{1,18})"?$')
REPLAYED_HEADER = "Idempotent-Replayed"


class RecordOut(BaseModel):
    """The record a command changed or made, at its new version (also the ETag)."""

    record_id: str
    kind: str
    version: int


def record_out(record: Aggregate) -> RecordOut:
    return RecordOut(record_id=str(record.id), kind=type(record).__name__,
                     version=record.version)


@dataclass
class Command:
    ctx: ApiContext
    who: Principal
    key: str
    fingerprint: str
    expected_version: int | None
    path: str

    def provenance(self, reason: str | None = None,
                   occurred_at: datetime | None = None) -> Provenance:
        """Who (the principal), when at the source, where from (the API and this request's
        key, which also correlates what follows from it), why."""
        message = f"{self.who.id}/{self.key}"
        return Provenance(actor=self.who.id, occurred_at=occurred_at, source="api",
                          source_message_id=message, reason=reason,
                          correlation_id=f"api:{message}")

    def run(self, do: Callable[[], BaseModel], status: int = 200) -> Response:
        """Run the command once for this key: a repeat gets the first answer back."""
        store = self.ctx.idempotency
        try:
            stored = store.claim(self.who.id, self.key, self.fingerprint)
        except KeyReused as e:
            raise ApiProblem(422, "Invalid input", str(e), field="header.Idempotency-Key") \
                from None
        except KeyInProgress as e:
            raise ApiProblem(409, "Conflict", str(e)) from None
        headers = {REPLAYED_HEADER: "true"} if stored is not None else {}
        if stored is None:
            stored = self._first_run(do, status)
        if stored.etag:
            headers["ETag"] = stored.etag
        return Response(stored.body, status_code=stored.status, media_type=stored.media_type,
                        headers=headers)

    def _first_run(self, do: Callable[[], BaseModel], status: int) -> Stored:
        try:
            result = do()
        except (QualityError, CredentialError, NotInLedger) as e:
            problem = problem_of(e, self.path)
            stored = Stored(problem.status, orjson.dumps(problem.model_dump()),
                            "application/problem+json", None)
        except BaseException:
            self.ctx.idempotency.release(self.who.id, self.key)
            raise
        else:
            version = getattr(result, "version", None)
            stored = Stored(status, orjson.dumps(result.model_dump(mode="json")),
                            "application/json", f'"{version}"' if version is not None else None)
        self.ctx.idempotency.complete(self.who.id, self.key, stored)
        return stored


def command(action: str) -> Any:
    """A dependency giving a route its Command, for a caller allowed ``action``."""
    async def a_command(
            request: Request,
            idempotency_key: Annotated[str, Header(
                alias="Idempotency-Key", min_length=1, max_length=128,
                description="unique per intended change: a retry with the same key records "
                            "nothing twice and gets the first answer back")],
            who: Annotated[Principal, require(action)],
            if_match: Annotated[str | None, Header(
                alias="If-Match", description="the record version you read (its ETag): "
                                              "a record changed since is a 409")] = None,
    ) -> Command:
        body = await request.body()
        print_ = fingerprint(request.method, request.url.path, request.url.query, body)
        return Command(context(request), who, idempotency_key, print_,
                       expected_version(if_match), request.url.path)

    return Depends(a_command)


def expected_version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    found = _VERSION.match(if_match.strip())
    if found is None:
        raise ApiProblem(422, "Invalid input", f"If-Match must be a record version such as "
                                              f'"3", not {if_match!r}', field="header.If-Match")
    return int(found.group(1))
