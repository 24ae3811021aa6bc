"""Every error the API answers with, in one place: `application/problem+json` (RFC 9457)
with the domain error's own message. 401 unauthenticated, 403 forbidden, 404 unknown record,
409 a version conflict or a state that does not allow the command, 422 invalid input
naming the field, 503 a store that cannot be reached or a view not built yet."""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from domain.access import UnknownRole
from domain.inspection import NoSuchResult, UnknownCharacteristic
from domain.nonconformance import ApproverRequired
from domain.records import (
    InvalidValue,
    QualityError,
    ReasonRequired,
    RecordExists,
    RecordNotFound,
    VersionConflict,
    WrongUnit,
)
from projections.ledger.pack import NotInLedger
from services.identity.credentials import (
    CredentialConflict,
    CredentialError,
    CredentialNotFound,
    WeakPassword,
)

MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("qrec.api")

# The request field a domain error is about, where the error says so by its kind.
FIELD_OF: dict[type[Exception], str] = {
    ReasonRequired: "reason", ApproverRequired: "approver", WrongUnit: "unit",
    UnknownCharacteristic: "characteristic", NoSuchResult: "index", UnknownRole: "role",
    WeakPassword: "password",
}


class FieldError(BaseModel):
    field: str | None
    message: str


class Problem(BaseModel):
    """A problem detail (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] = []


class ApiProblem(Exception):
    """An error the API answers with as it is."""

    def __init__(self, status: int, title: str, detail: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers
        self.errors = [FieldError(field=field, message=detail)] if field else []


def problem_type(name: str) -> str:
    return "urn:qrec:problem:" + re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def status_of(error: Exception) -> int:
    if isinstance(error, (RecordNotFound, CredentialNotFound)):
        return 404
    if isinstance(error, (VersionConflict, RecordExists, NotInLedger, CredentialConflict)):
        return 409
    if isinstance(error, (InvalidValue, ReasonRequired, WrongUnit, ApproverRequired,
                          UnknownCharacteristic, NoSuchResult, CredentialError)):
        return 422
    return 409  # the record's state does not allow the command (a closed NC, a held lot)


def problem_of(error: Exception, instance: str | None = None) -> Problem:
    """The problem document for a domain (or credential) error."""
    status = status_of(error)
    field = next((f for cls, f in FIELD_OF.items() if isinstance(error, cls)), None)
    errors = [FieldError(field=field, message=str(error))] if status == 422 else []
    return Problem(type=problem_type(type(error).__name__), title=_TITLES[status],
                   status=status, detail=str(error), instance=instance, errors=errors)


_TITLES = {401: "Not signed in", 403: "Forbidden", 404: "No such record",
           409: "Conflict", 422: "Invalid input", 503: "Unavailable"}


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(problem.model_dump()), status_code=problem.status,
                    media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    """Map every error to a problem, in one place."""

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, e: ApiProblem) -> Response:
        return problem_response(Problem(
            type=problem_type(e.title.title().replace(" ", "")), title=e.title,
            status=e.status, detail=e.detail, instance=request.url.path, errors=e.errors),
            e.headers)

    @app.exception_handler(QualityError)
    async def quality_error(request: Request, e: QualityError) -> Response:
        return problem_response(problem_of(e, request.url.path))

    @app.exception_handler(CredentialError)
    async def credential_error(request: Request, e: CredentialError) -> Response:
        return problem_response(problem_of(e, request.url.path))

    @app.exception_handler(NotInLedger)
    async def not_in_ledger(request: Request, e: NotInLedger) -> Response:
        return problem_response(problem_of(e, request.url.path))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, e: RequestValidationError) -> Response:
        errors = [FieldError(field=_field_name(err.get("loc", ())), message=err["msg"])
                  for err in e.errors()]
        detail = "; ".join(f"{x.field}: {x.message}" for x in errors)
        return problem_response(Problem(
            type=problem_type("InvalidInput"), title="Invalid input", status=422,
            detail=detail, instance=request.url.path, errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        return problem_response(Problem(
            type="about:blank", title=str(e.detail), status=e.status_code,
            detail=str(e.detail), instance=request.url.path), getattr(e, "headers", None))

    @app.exception_handler(OperationalError)
    @app.exception_handler(ProgrammingError)
    async def views_unavailable(request: Request, e: DBAPIError) -> Response:
        missing = _missing_table(e)
        detail = (f"the view table {missing} is not built yet: run `qrec run` or "
                  "`qrec views run`" if missing else
                  f"the store cannot be used now: {_first_line(e)}")
        log.warning("%s %s: %s", request.method, request.url.path, detail)
        return problem_response(Problem(
            type=problem_type("StoreUnavailable"), title="Unavailable", status=503,
            detail=detail, instance=request.url.path), {"Retry-After": "5"})

    @app.exception_handler(PersistenceError)
    async def store_unavailable(request: Request, e: PersistenceError) -> Response:
        log.warning("%s %s: event store: %s", request.method, request.url.path, e)
        return problem_response(Problem(
            type=problem_type("StoreUnavailable"), title="Unavailable", status=503,
            detail=f"the event store cannot be used now: {_first_line(e)}",
            instance=request.url.path), {"Retry-After": "5"})


def _field_name(loc: Any) -> str:
    """`body.reason`, `query.limit`, `header.Idempotency-Key`."""
    return ".".join(str(part) for part in loc)


def _missing_table(error: DBAPIError) -> str | None:
    text = str(error.orig)
    found = re.search(r'no such table: (\w+)|relation "([\w.]+)" does not exist', text)
    return (found.group(1) or found.group(2)) if found else None


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
