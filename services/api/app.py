"""The API application: built by `create_app` from the settings (the composition root's
builders), served by `qrec serve` and by the `api` component of `qrec run`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from domain.access import PERMISSIONS
from domain.application import QualityRecords
from services.api import problems
from services.api.context import ApiContext
from services.api.idempotency import IdempotencyStore
from services.api.problems import Problem
from services.api.routers import (
    audit,
    corrective_actions,
    health,
    inspections,
    instruments,
    lots,
    nonconformances,
    people,
    plans,
    records,
    sampling,
    views,
)
from services.api.security import action_of, no_nul_characters
from services.composition import build_credentials, build_records, taking_turns, utc_now
from services.identity.oidc import OidcVerifier
from services.identity.people import People
from services.identity.principals import Authenticator
from services.settings import Settings
from services.views import build_views_reader

ROUTERS = (health, people, lots, inspections, nonconformances, corrective_actions,
           instruments, plans, sampling, records, views, audit)
TITLE = "qrec"
DESCRIPTION = """Event-sourced quality records: every command people make, every view, every
record's history and its proof. Sign in with a session cookie (`POST /api/v1/session`), an
API key or an identity provider's token (`Authorization: Bearer ...`). Every POST but the
sign-in needs an `Idempotency-Key`; commands take `If-Match: <version>`. Errors are
`application/problem+json` (RFC 9457)."""
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/api/v1/session")}


def create_app(settings: Settings, *, records: QualityRecords | None = None,
               broker_url: str | None = None,
               clock: Callable[[], datetime] = utc_now) -> FastAPI:
    """The API on the settings' stores. ``records``: an application built already (the
    caller closes it); otherwise one is built, creating the store's tables if need be."""
    records = records if records is not None else build_records(settings, clock=clock)
    credentials = build_credentials(settings, clock=clock)
    idempotency = IdempotencyStore(credentials.engine, clock)
    with taking_turns(settings):
        idempotency.create_tables()
    oidc = OidcVerifier(settings.oidc) if settings.oidc.enabled else None
    app = routes()
    app.state.qrec = ApiContext(
        settings=settings, records=records, credentials=credentials,
        authenticator=Authenticator(records, credentials, oidc),
        people=People(records, credentials), views=build_views_reader(settings),
        idempotency=idempotency, broker_url=broker_url)
    return app


def routes() -> FastAPI:
    """The application's routes and error handling, without its stores."""
    app = FastAPI(title=TITLE, version="1", description=DESCRIPTION, docs_url="/docs",
                  redoc_url=None, dependencies=[Depends(no_nul_characters)])
    problems.install(app)
    for module in ROUTERS:
        app.include_router(module.router)
    app.openapi = lambda: openapi(app)  # type: ignore[method-assign]
    return app


def openapi_document() -> dict[str, Any]:
    """What /openapi.json serves (docs/openapi.json keeps a copy)."""
    return routes().openapi()


def api_routes() -> list[APIRoute]:
    """Every route of the API (the routers are included as they are, without a prefix)."""
    return [r for module in ROUTERS for r in module.router.routes if isinstance(r, APIRoute)]


def openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with each route's permission and roles, its security, and
    problem+json as every error's body (FastAPI's default 422 shape is not ours)."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version,
                           description=app.description, routes=app.routes)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schemas["Problem"].pop("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    document["components"]["responses"] = _problem_responses()
    document["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "an API key (qrec_...) or an identity provider's JWT"},
        "session": {"type": "apiKey", "in": "cookie", "name": "qrec_session",
                    "description": "from POST /api/v1/session; POSTs also need X-CSRF-Token"}}
    for route in api_routes():
        for method in route.methods or ():
            _describe(document["paths"][route.path_format][method.lower()], route, method)
    app.openapi_schema = document
    return document


PROBLEMS = {"400": ("NotJson", "The body is not JSON"),
            "401": ("NotSignedIn", "Not signed in, or the credentials were refused"),
            "403": ("Forbidden", "Your roles do not allow this"),
            "404": ("NotFound", "No such record"),
            "409": ("Conflict", "A version changed since you read it, or the record's state "
                                "does not allow this"),
            "422": ("InvalidInput", "Invalid input (the field is named)"),
            "503": ("Unavailable", "A store cannot be used now, or a view is not built yet")}


def _problem_responses() -> dict[str, Any]:
    return {name: {"description": what, "content": {problems.MEDIA_TYPE: {
        "schema": {"$ref": "#/components/schemas/Problem"}}}}
        for name, what in PROBLEMS.values()}


def _describe(operation: dict[str, Any], route: APIRoute, method: str) -> None:
    if not route.path_format.startswith("/api/"):
        return  # health checks answer for themselves
    action = action_of(route.dependant.dependencies)
    if action is not None:
        roles = sorted(PERMISSIONS[action])
        operation["x-qrec-permission"], operation["x-qrec-roles"] = action, roles
        operation["description"] = (operation.get("description", "") +
                                    f"\n\nAllowed to: {', '.join(roles)} ({action}).").strip()
    codes = ["401", "422", "503"]
    if (method, route.path_format) not in PUBLIC:
        operation["security"] = [{"bearer": []}, {"session": []}]
        codes += ["403", "404", "409"]
    if "requestBody" in operation:
        codes.append("400")
    responses = operation.setdefault("responses", {})
    for code in codes:
        responses[code] = {"$ref": f"#/components/responses/{PROBLEMS[code][0]}"}
