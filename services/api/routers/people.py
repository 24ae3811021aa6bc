"""Signing in and out (a browser session), who you are, and the administration of people and
machine clients: accounts, roles, locks, API keys, and the security log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from domain.access import ROLES, access_id
from domain.records import Record
from services.api.commands import Command, RecordOut, command, record_out
from services.api.context import ApiContext, context
from services.api.problems import ApiProblem
from services.api.schemas import Body, Why
from services.api.security import (
    CSRF_HEADER,
    SESSION_COOKIE,
    current_principal,
    reader,
    refuse,
)
from services.identity.credentials import CredentialRefused
from services.identity.principals import Principal

router = APIRouter(prefix="/api/v1", tags=["people"])
Who = Path(min_length=1, max_length=64, description="a user id, or key:NAME for an API key")
Manage = Annotated[Command, command("access.manage")]


class SignIn(Body):
    user: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class MeOut(BaseModel):
    principal: str
    name: str
    kind: str
    roles: list[str]
    method: str
    authenticated_at: datetime
    csrf_token: str | None = Field(None, description=f"send it as {CSRF_HEADER} with every "
                                                     "POST of this session")


class UserIn(Why):
    user: str = Field(min_length=1, max_length=64)
    name: str = Field(max_length=200, description="the printed name")
    roles: list[str] = Field(default=[], max_length=len(ROLES),
                             description=f"of {', '.join(ROLES)}")
    password: str = Field(max_length=1024)


class RoleIn(Why):
    role: str = Field(max_length=32, description=f"one of {', '.join(ROLES)}")


class KeyIn(Why):
    name: str = Field(min_length=1, max_length=59)
    role: str = Field(max_length=32, description=f"one of {', '.join(ROLES)}")


class KeyOut(RecordOut):
    principal: str
    key: str = Field(description="the key: shown this once, never again")


class PersonOut(BaseModel):
    principal: str
    name: str
    kind: str
    roles: list[str]
    locked: bool
    failed_sign_ins: int
    key_revoked: bool


class AccessEventOut(BaseModel):
    version: int
    event: str
    role: str | None
    actor: str
    recorded_at: datetime
    reason: str | None


class LogLineOut(BaseModel):
    id: int
    at: datetime
    principal: str | None
    action: str
    outcome: str
    detail: str
    remote: str | None


def _me(who: Principal, csrf: str | None = None) -> MeOut:
    return MeOut(principal=who.id, name=who.name, kind=who.kind, roles=sorted(who.roles),
                 method=who.method, authenticated_at=who.authenticated_at, csrf_token=csrf)


@router.post("/session", response_model=MeOut, summary="Sign in: sets the session cookie "
             "(HttpOnly, SameSite=Strict, Secure over TLS) and returns its CSRF token")
def sign_in(body: SignIn, request: Request, response: Response) -> MeOut:
    ctx = context(request)
    try:
        who = ctx.authenticator.by_password(body.user, body.password)
    except CredentialRefused as e:
        raise refuse(request, 401, str(e), body.user) from None
    token, session = ctx.credentials.open_session(who.id)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/",
                        max_age=ctx.settings.session_hours * 3600)
    ctx.credentials.log(who.id, "sign in", "signed-in", "session opened",
                        request.client.host if request.client else None)
    return _me(who, session.csrf_token)


@router.delete("/session", status_code=204, summary="Sign out: the session ends")
def sign_out(request: Request, who: Annotated[Principal, Depends(current_principal)]) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        context(request).credentials.close_session(token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=MeOut, summary="Who you are signed in as, and your roles")
def me(request: Request, who: Annotated[Principal, Depends(current_principal)]) -> MeOut:
    csrf = None
    token = request.cookies.get(SESSION_COOKIE)
    if who.method == "session" and token:
        csrf = context(request).credentials.session(token).csrf_token
    return _me(who, csrf)


@router.get("/people", response_model=list[PersonOut],
            summary="Every local account and API key, with roles and lock state")
def people(ctx: Annotated[ApiContext, reader("access.read")]) -> list[PersonOut]:
    return [PersonOut(principal=p.principal, name=p.name, kind=p.kind, roles=list(p.roles),
                      locked=p.locked, failed_sign_ins=p.failed_sign_ins,
                      key_revoked=p.key_revoked) for p in ctx.people.everyone()]


@router.get("/people/{principal}/access", response_model=list[AccessEventOut],
            summary="Every change to who this is and which roles they hold: who, when, why")
def access_history(principal: Annotated[str, Who],
                   ctx: Annotated[ApiContext, reader("access.read")]) -> list[AccessEventOut]:
    events: list[Record.Event] = list(ctx.records.events.get(access_id(principal)))  # type: ignore[arg-type]
    if not events:
        raise ApiProblem(404, "No such record", f"{principal} was never enrolled")
    return [AccessEventOut(version=e.originator_version, event=type(e).__name__,
                           role=getattr(e, "role", None), actor=e.provenance.actor,
                           recorded_at=e.timestamp, reason=e.provenance.reason)
            for e in events]


@router.post("/people", status_code=201, response_model=RecordOut,
             summary="Add a local account with its roles (the password is stored hashed)")
def add_user(body: UserIn, cmd: Manage) -> Response:
    ctx = cmd.ctx

    def do() -> RecordOut:
        ctx.people.add_user(body.user, body.name, body.roles, body.password,
                            cmd.provenance(body.reason))
        return record_out(ctx.records.access(body.user))
    return cmd.run(do, 201)


@router.post("/people/{principal}/roles", response_model=RecordOut, summary="Grant a role")
def grant(body: RoleIn, principal: Annotated[str, Who], cmd: Manage) -> Response:
    def do() -> RecordOut:
        cmd.ctx.people.grant(principal, body.role, cmd.provenance(body.reason))
        return record_out(cmd.ctx.records.access(principal))
    return cmd.run(do)


@router.post("/people/{principal}/roles/{role}/revoke", response_model=RecordOut,
             summary="Revoke a role")
def revoke(body: Why, principal: Annotated[str, Who],
           role: Annotated[str, Path(max_length=32)], cmd: Manage) -> Response:
    def do() -> RecordOut:
        cmd.ctx.people.revoke(principal, role, cmd.provenance(body.reason))
        return record_out(cmd.ctx.records.access(principal))
    return cmd.run(do)


@router.post("/people/{principal}/lock", response_model=PersonOut,
             summary="Lock an account: no sign-in, its sessions end")
def lock(body: Why, principal: Annotated[str, Who], cmd: Manage) -> Response:
    return cmd.run(lambda: _after(cmd, principal, cmd.ctx.people.lock, body.reason))


@router.post("/people/{principal}/unlock", response_model=PersonOut,
             summary="Unlock an account (after failed sign-ins, or a lock)")
def unlock(body: Why, principal: Annotated[str, Who], cmd: Manage) -> Response:
    return cmd.run(lambda: _after(cmd, principal, cmd.ctx.people.unlock, body.reason))


def _after(cmd: Command, principal: str, change: Callable[[str, str, str], None],
           reason: str | None) -> PersonOut:
    change(principal, reason or "", cmd.who.id)
    found = next(p for p in cmd.ctx.people.everyone() if p.principal == principal)
    return PersonOut(principal=found.principal, name=found.name, kind=found.kind,
                     roles=list(found.roles), locked=found.locked,
                     failed_sign_ins=found.failed_sign_ins, key_revoked=found.key_revoked)


@router.post("/api-keys", status_code=201, response_model=KeyOut,
             summary="Create an API key for a machine client, scoped to one role; the key is "
                     "in this answer only")
def create_key(body: KeyIn, cmd: Manage) -> Response:
    def do() -> KeyOut:
        key = cmd.ctx.people.create_api_key(body.name, body.role, cmd.provenance(body.reason))
        access = cmd.ctx.records.access(f"key:{body.name}")
        return KeyOut(**record_out(access).model_dump(), principal=access.principal, key=key)
    return cmd.run(do, 201)


@router.post("/api-keys/{name}/revoke", response_model=RecordOut, summary="Revoke an API key")
def revoke_key(body: Why, name: Annotated[str, Path(min_length=1, max_length=59)],
               cmd: Manage) -> Response:
    def do() -> RecordOut:
        cmd.ctx.people.revoke_api_key(name, cmd.provenance(body.reason))
        return record_out(cmd.ctx.records.access(f"key:{name}"))
    return cmd.run(do)


@router.get("/security-log", response_model=list[LogLineOut],
            summary="Refused requests, sign-ins, locks and credential changes (never a "
                    "secret), oldest first")
def security_log(ctx: Annotated[ApiContext, reader("access.read")],
                 after: Annotated[int, Query(ge=0, description="the last id you have")] = 0,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 principal: Annotated[str | None, Query(max_length=64)] = None,
                 outcome: Annotated[str | None, Query(max_length=32)] = None
                 ) -> list[LogLineOut]:
    return [LogLineOut(**row) for row in ctx.credentials.security_log(
        after, limit, principal, outcome)]
