"""Serving the API: `qrec serve` on its own, or the `api` component of `qrec run`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any

import uvicorn

from services.settings import Settings


class ServeError(OSError):
    pass


def listening_socket(settings: Settings) -> socket.socket:
    """Bind QREC_API_ADDR first, so that an address in use is said plainly."""
    host, port = settings.api_host_port()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ServeError(f"cannot listen on {settings.api_addr}: {e.strerror} "
                         "(set QREC_API_ADDR)") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def url_of(settings: Settings) -> str:
    host, port = settings.api_host_port()
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{shown}:{port}"


def serve(settings: Settings) -> None:
    """`qrec serve`: the API until interrupted."""
    from services.api.app import create_app

    sock = listening_socket(settings)
    app = create_app(settings, broker_url=settings.broker_url or None)
    print(f"qrec serve: {url_of(settings)} (OpenAPI at /openapi.json, docs at /docs); "
          "Ctrl-C stops", flush=True)
    config = uvicorn.Config(app, log_level="info", proxy_headers=True, access_log=False)
    _Serving(config).run(sockets=[sock])


class _Serving(uvicorn.Server):
    """Ctrl-C and SIGTERM stop `qrec serve` gracefully, and that is a clean exit (uvicorn
    would raise the signal again once stopped)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _build_app(settings: Settings, records: Any, broker_url: str) -> Any:
    from services.api.app import create_app

    return create_app(settings, records=records, broker_url=broker_url)


class _InsideRunner(uvicorn.Server):
    """`qrec run` handles Ctrl-C and SIGTERM for all its components."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run(ctx: Any) -> None:
    """`qrec run` component (services.runner COMPONENTS): the API on QREC_API_ADDR until
    ``ctx.stop`` is set."""
    sock = listening_socket(ctx.settings)
    records = ctx.build_records()
    # FastAPI and the routes take seconds to import and build: not on the event loop the
    # other components share.
    app = await asyncio.to_thread(_build_app, ctx.settings, records, ctx.broker_url)
    state = app.state.qrec
    server = _InsideRunner(uvicorn.Config(app, log_level="warning", proxy_headers=True,
                                          access_log=False, lifespan="off"))
    ctx.status = lambda: f"api {url_of(ctx.settings)} {state.requests} requests"
    print(f"qrec run: API at {url_of(ctx.settings)}", file=sys.stdout, flush=True)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.wait({serving, asyncio.create_task(ctx.stop.wait())},
                           return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            serving.result()
            raise RuntimeError("the API server stopped by itself")
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await serving
        records.close()
