"""The JetStream streams qrec reads and writes, declared once at start (idempotently)."""

from __future__ import annotations

from contextlib import suppress

from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from services.contracts import Topology

DAY = 24 * 3600.0


def stream_configs(topology: Topology) -> list[StreamConfig]:
    t = topology
    return [
        # What lines, labs and the ERP send: kept a week so a new consumer can catch up.
        StreamConfig(name=t.lines_stream, subjects=[t.inspections, t.readings,
                                                     t.calibrations, t.lot_movements,
                                                     t.genealogy],
                     max_age=7 * DAY, duplicate_window=120.0),
        StreamConfig(name=t.dlq_stream, subjects=[t.dlq(">")], max_age=30 * DAY),
        # Committed events: subscribers replay from any position; the store stays the
        # source of truth. A long duplicate window lets a restarted relay re-send safely.
        StreamConfig(name=t.events_stream, subjects=[f"{t.prefix}.events.>"],
                     duplicate_window=3600.0),
    ]


async def declare_streams(js: JetStreamContext, topology: Topology) -> None:
    for config in stream_configs(topology):
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)


async def delete_streams(js: JetStreamContext, topology: Topology) -> None:
    for config in stream_configs(topology):
        with suppress(NotFoundError):
            await js.delete_stream(config.name or "")
