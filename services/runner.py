"""`qrec run`: the long-running components in one process until interrupted.

Adding a component is one line in COMPONENTS: a name and a "module:function" target. The
target is either `async def run(ctx: ComponentContext) -> None` (an asyncio task) or a plain
`def run(ctx: ComponentContext) -> None` (run in its own thread). Either runs until
`ctx.stop` is set (asyncio.Event; threads poll or wait on `ctx.stop_flag`), then cleans up
and returns. It may set `ctx.status` to a function returning a short line for the live
summary. Components start in list order and stop in reverse order, so put a component that
reads the event store before `ingest` and one that feeds the broker after it.

    COMPONENTS.append(Component("projections", "projections.runner:run"))  # for example
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client as NATS

from domain.application import QualityRecords
from services.composition import build_ledger, build_records
from services.contracts import Topology
from services.embedded_nats import EmbeddedNats
from services.ingest import IngestOptions, IngestService
from services.ledger_outside import publish_outside
from services.ledger_publish import CheckpointPublisher
from services.log_identity import log_id
from services.policy_runner import build_tracked_records
from services.relay import Relay
from services.settings import Settings, shown_url
from services.simulator import SAMPLE_MASTER_DATA, LineSimulator, load_master_data
from services.streams import declare_streams
from services.witness_client import REFUSED, UNREACHABLE


@dataclass(frozen=True)
class Component:
    name: str
    target: str  # "module:function"
    only_when_simulating: bool = False


# Started in this order, stopped in reverse: writers (simulator, ingest, policies) stop
# before the readers that must see all they wrote (the ledger seals, the relay catches up).
COMPONENTS: list[Component] = [
    Component("relay", "services.runner:run_relay"),
    Component("ledger", "services.runner:run_ledger"),
    Component("projections", "services.views:run_projections"),
    Component("policies", "services.policy_runner:run"),
    Component("ingest", "services.runner:run_ingest"),
    Component("api", "services.api.server:run"),
    Component("simulator", "services.runner:run_simulator", only_when_simulating=True),
]


@dataclass(frozen=True)
class RunOptions:
    simulate: bool = False
    topology: Topology = field(default_factory=Topology)
    ingest: IngestOptions = field(default_factory=IngestOptions)
    rate: float = 30.0  # simulator ticks a second (one inspection per line per tick)
    duration: float | None = None  # stop by itself after this many seconds
    only: tuple[str, ...] = ()
    summary_every: float = 2.0


@dataclass
class ComponentContext:
    name: str
    settings: Settings
    broker_url: str
    options: RunOptions
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    stop_flag: threading.Event = field(default_factory=threading.Event)
    status: Callable[[], str] | None = None

    @property
    def topology(self) -> Topology:
        return self.options.topology

    @property
    def log_id(self) -> str:
        return log_id(self.settings)

    def build_records(self) -> QualityRecords:
        """Each component its own application; the tables were created once at start."""
        return build_records(self.settings, create_tables=False)

    def request_stop(self) -> None:
        self.stop.set()
        self.stop_flag.set()


async def run_ingest(ctx: ComponentContext) -> None:
    service = IngestService(ctx.build_records(), ctx.broker_url, ctx.topology,
                            ctx.options.ingest, log_id=ctx.log_id)
    s = service.ingest.stats
    ctx.status = lambda: (f"ingest {s.recorded} recorded ({s.results} results), "
                          f"{s.duplicates} dup, {s.dead_lettered} dlq, {s.retried} retried")
    await service.start()
    try:
        await ctx.stop.wait()
    finally:
        await service.stop()


async def run_relay(ctx: ComponentContext) -> None:
    nc = await nats.connect(ctx.broker_url, name=f"{ctx.topology.prefix}-relay")
    relay = Relay(ctx.build_records(), nc.jetstream(), ctx.topology, log_id=ctx.log_id)
    ctx.status = lambda: relay.behind_stream or (
        f"relay at {relay.stats.position} ({relay.stats.published} out)")
    try:
        await relay.run(ctx.stop)
        await relay.catch_up(timeout=10.0)  # what ingest committed while stopping
    finally:
        await nc.drain()


async def run_ledger(ctx: ComponentContext, every: float = 1.0) -> None:
    """Take new events into the Merkle ledger and publish its signed checkpoints (on the
    stream, to the witnesses and the time-stamping authority in the settings); on stop, seal
    a checkpoint over everything stored."""
    records = ctx.build_records()
    ledger = build_ledger(ctx.settings, records)
    nc = await nats.connect(ctx.broker_url, name=f"{ctx.topology.prefix}-ledger")
    publisher = CheckpointPublisher(nc.jetstream(), ledger, ctx.topology, log_id=ctx.log_id)
    outside = [""]
    ctx.status = lambda: (publisher.waiting or
                          f"ledger {publisher.published} checkpoints out") + outside[0]

    async def take_in(seal: bool = False) -> None:
        made = await asyncio.to_thread(ledger.catch_up, seal=seal)
        await publisher.publish_new()
        behind = any(word in outside[0] for word in (REFUSED, UNREACHABLE, "failed"))
        if (made or behind) and (ctx.settings.witnesses or ctx.settings.tsa_url):
            said = await asyncio.to_thread(publish_outside, ledger, ctx.settings)
            outside[0] = "; " + "; ".join(said)  # a refusal stays on the line, retried

    try:
        await publisher.prepare()
        while not ctx.stop.is_set():
            await take_in()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx.stop.wait(), every)
        await take_in(seal=True)
    finally:
        await nc.drain()
        records.close()


async def run_simulator(ctx: ComponentContext) -> None:
    nc = await nats.connect(ctx.broker_url, name=f"{ctx.topology.prefix}-simulator")
    simulator = LineSimulator(ctx.topology)
    ctx.status = lambda: f"simulator {simulator.published} sent"
    try:
        await simulator.run_until(nc.jetstream(), ctx.stop, ctx.options.rate)
    finally:
        await nc.drain()


class BrokerUnreachable(ConnectionError):
    pass


async def connect_once(url: str) -> NATS:
    """Connect without the client's endless retries, so that a wrong or down broker is
    said at once instead of retried in the background forever."""
    async def quiet(_: Exception) -> None:
        pass

    try:
        # the client retries a first connection forever unless attempts are bounded
        return await nats.connect(url, allow_reconnect=False, connect_timeout=5,
                                  max_reconnect_attempts=1, reconnect_time_wait=0.5,
                                  error_cb=quiet)
    except (OSError, TimeoutError, nats.errors.NoServersError) as e:
        raise BrokerUnreachable(f"no NATS server reachable at {shown_url(url)} ({e})") from None


def resolve(target: str) -> Callable[[ComponentContext], Any]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


class Runner:
    def __init__(self, settings: Settings, options: RunOptions,
                 components: list[Component] | None = None) -> None:
        self.settings, self.options = settings, options
        chosen = COMPONENTS if components is None else components
        self.components = [c for c in chosen
                           if (options.simulate or not c.only_when_simulating)
                           and (not options.only or c.name in options.only)]
        self.shutdown = asyncio.Event()
        self.contexts: list[ComponentContext] = []
        self.exit_code = 0

    def prepare_store(self) -> None:
        """Create the tables once, before any component, and load the sample master data
        a simulated line needs."""
        records = build_records(self.settings, create_tables=True)
        build_tracked_records(self.settings, create_tables=True).close()
        Relay.tracking_recorder(records)  # the policies' tracking table is the relay's too
        if self.options.simulate:
            load_master_data(records, SAMPLE_MASTER_DATA)

    async def run(self, broker_url: str) -> None:
        nc = await connect_once(broker_url)
        try:
            await declare_streams(nc.jetstream(), self.options.topology, log_id(self.settings))
        finally:
            await nc.close()
        tasks = [self.start(c, broker_url) for c in self.components]
        summary = asyncio.create_task(self.print_summary())
        await self.wait_for_shutdown()
        for ctx, task in reversed(list(zip(self.contexts, tasks, strict=True))):
            ctx.request_stop()
            await asyncio.gather(task, return_exceptions=True)
        summary.cancel()
        self.print_line(final=True)

    def start(self, component: Component, broker_url: str) -> asyncio.Future[Any]:
        ctx = ComponentContext(component.name, self.settings, broker_url, self.options)
        self.contexts.append(ctx)
        target = resolve(component.target)
        if inspect.iscoroutinefunction(target):
            return asyncio.ensure_future(self.supervised(ctx, target(ctx)))
        return asyncio.ensure_future(self.supervised(ctx, asyncio.to_thread(target, ctx)))

    async def supervised(self, ctx: ComponentContext, work: Any) -> None:
        """A component that fails brings the whole run down, loudly, rather than half-run."""
        try:
            await work
        except Exception as e:
            if hasattr(e, "exit_code"):  # a refusal (LogMismatch): its own one line
                print(e, file=sys.stderr, flush=True)
                self.exit_code = self.exit_code or e.exit_code
            else:
                print(f"qrec run: {ctx.name} failed: {type(e).__name__}: {e}",
                      file=sys.stderr)
            self.shutdown.set()
            raise

    async def wait_for_shutdown(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.shutdown.set)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.shutdown.wait(), self.options.duration)

    async def print_summary(self) -> None:
        while True:
            await asyncio.sleep(self.options.summary_every)
            self.print_line()

    def print_line(self, final: bool = False) -> None:
        parts = [ctx.status() for ctx in self.contexts if ctx.status is not None]
        stamp = "stopped" if final else time.strftime("%H:%M:%S")
        print(f"[{stamp}] " + " | ".join(parts), flush=True)


def run(settings: Settings, options: RunOptions) -> int:
    runner = Runner(settings, options)
    runner.prepare_store()
    embedded = None
    url = settings.broker_url
    if not url:
        embedded = EmbeddedNats(settings.data_dir).start()
        url = embedded.url
    print(f"qrec run: broker {shown_url(url)}{' (embedded)' if embedded else ''}, store "
          f"{'PostgreSQL' if settings.uses_postgres else settings.events_path} (log "
          f"{log_id(settings)}), stream prefix {options.topology.prefix}, "
          f"components {', '.join(c.name for c in runner.components)}; Ctrl-C stops",
          flush=True)
    try:
        asyncio.run(runner.run(url))
    finally:
        if embedded is not None:
            embedded.stop()
    return runner.exit_code
