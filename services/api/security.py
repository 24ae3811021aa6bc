"""Who is calling and what their roles allow, for every route that is not a health check.

Three ways in: `Authorization: Bearer <API key or identity-provider token>`, or the session
cookie a browser got from signing in (whose unsafe requests must carry the session's CSRF
token in `X-CSRF-Token`). Every refusal (401, 403) is written to the security log and the
`qrec.security` logger with who, what and when; never a secret."""


import hmac
import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from domain.access import PERMISSIONS
from services.api.context import ApiContext, context
from services.api.problems import ApiProblem
from services.identity.credentials import CredentialRefused
from services.identity.principals import Principal

SESSION_COOKIE = "qrec_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
log = logging.getLogger("qrec.security")


def refuse(request: Request, status: int, detail: str, who: str | None = None) -> ApiProblem:
    """Record a refusal and the problem to answer it with."""
    ctx = context(request)
    action = f"{request.method} {request.url.path}"
    remote = request.client.host if request.client else None
    log.warning("refused %s %s for %s from %s: %s", status, action, who or "anonymous",
                remote, detail)
    ctx.credentials.log(who, action, f"refused-{status}", detail, remote)
    if status == 401:
        return ApiProblem(401, "Not signed in", detail,
                          headers={"WWW-Authenticate": 'Bearer realm="qrec"'})
    return ApiProblem(403, "Forbidden", detail)


async def no_nul_characters(request: Request) -> None:
    """A NUL character is refused wherever it comes (path, query, body): PostgreSQL cannot
    keep one in text, so a record holding one would stop every view that reads it."""
    body = await request.body()
    found = ("path" if "\x00" in request.url.path else
             next((f"query.{k}" for k, v in request.query_params.multi_items()
                   if "\x00" in k or "\x00" in v), None) or
             ("body" if b"\x00" in body or b"\\u0000" in body else None))
    if found:
        raise ApiProblem(422, "Invalid input", f"{found}: a NUL character (0x00) is not "
                                               "accepted", field=found)


def current_principal(request: Request) -> Principal:
    """The authenticated caller, or a 401."""
    ctx = context(request)
    ctx.requests += 1
    header = request.headers.get("authorization")
    try:
        if header is not None:
            return _by_bearer(request, ctx, header)
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            return _by_session(request, ctx, token)
    except CredentialRefused as e:
        raise refuse(request, 401, str(e)) from None
    raise refuse(request, 401, "sign in first: send a session cookie, an API key or an "
                               "identity provider's token (Authorization: Bearer ...)")


def _by_bearer(request: Request, ctx: ApiContext, header: str) -> Principal:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise CredentialRefused("use Authorization: Bearer <API key or token>")
    principal = ctx.authenticator.by_bearer(token.strip())
    request.state.principal = principal
    return principal


def _by_session(request: Request, ctx: ApiContext, token: str) -> Principal:
    principal, csrf = ctx.authenticator.by_session(token)
    request.state.principal = principal
    if request.method not in SAFE_METHODS and \
            not _same(request.headers.get(CSRF_HEADER), csrf):
        raise refuse(request, 403, f"a signed-in browser's {request.method} needs the "
                                   f"session's CSRF token in {CSRF_HEADER}", principal.id)
    return principal


def require(action: str) -> Any:
    """A dependency: the caller, if their roles allow ``action`` (domain.access.PERMISSIONS);
    a 403 otherwise."""
    if action not in PERMISSIONS:
        raise ValueError(f"no action {action!r} in the permission table")

    async def allowed_caller(request: Request,
                             who: Annotated[Principal, Depends(current_principal)]
                             ) -> Principal:
        # on the event loop (a thread less per request); the refusal's log write is not
        if not who.may(action):
            held = ", ".join(sorted(who.roles)) or "no role"
            raise await run_in_threadpool(
                refuse, request, 403, f"{who.id} ({held}) may not do {action}: that takes "
                                      f"{' or '.join(sorted(PERMISSIONS[action]))}", who.id)
        return who

    allowed_caller.qrec_action = action  # type: ignore[attr-defined]  # read by action_of
    return Depends(allowed_caller)


def reader(action: str) -> Any:
    """A dependency for a read: the API context, for a caller allowed ``action``."""
    async def allowed_reader(request: Request,
                             who: Annotated[Principal, require(action)]) -> ApiContext:
        return context(request)
    return Depends(allowed_reader)


def action_of(dependencies: list[Any]) -> str | None:
    """The permission a route's dependencies require (searched depth first)."""
    for dependant in dependencies:
        call: Callable[..., Any] | None = dependant.call
        found = getattr(call, "qrec_action", None) or action_of(dependant.dependencies)
        if found:
            return str(found)
    return None


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
