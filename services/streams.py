"""The JetStream streams qrec reads and writes, declared once at start (idempotently), each
naming the log it belongs to (services.stream_claims)."""

from __future__ import annotations

from contextlib import suppress

from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from services.contracts import Topology
from services.log_identity import described, mismatch, named_log

DAY = 24 * 3600.0


def stream_configs(topology: Topology) -> list[StreamConfig]:
    t = topology
    return [
        # What lines, labs and the ERP send: kept a week so a new consumer can catch up.
        StreamConfig(name=t.lines_stream, subjects=[t.inspections, t.readings,
                                                     t.calibrations, t.lot_movements,
                                                     t.genealogy],
                     description="qrec: what lines, labs and the ERP send",
                     max_age=7 * DAY, duplicate_window=120.0),
        StreamConfig(name=t.dlq_stream, subjects=[t.dlq(">")], max_age=30 * DAY,
                     description="qrec: dead letters, with the reason"),
        # Committed events: subscribers replay from any position; the store stays the
        # source of truth. A long duplicate window lets a restarted relay re-send safely.
        StreamConfig(name=t.events_stream, subjects=[f"{t.prefix}.events.>"],
                     description="qrec: every committed event once, in store order",
                     duplicate_window=3600.0),
        StreamConfig(name=t.ledger_stream, subjects=[t.checkpoints],
                     description="qrec: the ledger's signed checkpoints"),
    ]


def stream_config(topology: Topology, name: str) -> StreamConfig:
    return next(c for c in stream_configs(topology) if c.name == name)


async def declare_streams(js: JetStreamContext, topology: Topology,
                          log_id: str | None = None) -> None:
    """Make the streams, or bring their settings up to date. With ``log_id``, a new stream
    names that log and an existing one must not name another (LogMismatch); one that names
    none is left for the component that uses it to adopt, after its own check."""
    for config in stream_configs(topology):
        if log_id is not None:
            config = await owned_config(js, config, log_id)
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)


async def owned_config(js: JetStreamContext, config: StreamConfig, log_id: str
                       ) -> StreamConfig:
    try:
        info = await js.stream_info(config.name or "")
    except NotFoundError:
        return config.evolve(description=described(config.description or "", log_id))
    owner = named_log(info.config.description)
    if owner is not None and owner != log_id:
        raise mismatch("qrec", f"stream {config.name}", owner, log_id)
    return config.evolve(description=info.config.description)


async def delete_streams(js: JetStreamContext, topology: Topology) -> None:
    for config in stream_configs(topology):
        with suppress(NotFoundError):
            await js.delete_stream(config.name or "")
