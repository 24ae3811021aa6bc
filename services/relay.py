"""The relay: every committed event, once, in store order, on `qrec.events.<kind>.<name>`.

It follows the event store's notification log from its own position, kept in the event
store's tracking table (eventsourcing's TrackingRecorder, the same table and database the
events are in). A batch is published, its acks awaited, and only then the position moves.
After a crash the relay starts again from the last position it wrote: what it had already
published is sent again with the same `Nats-Msg-Id` (the event id) and the server drops it
(the events stream keeps a long duplicate window). Past the window, the relay also checks
the position carried by the last message in the stream and never goes back before it.

A subscriber replays from any position with a consumer on the events stream starting at
the stream sequence whose `Qrec-Position` header is the position it wants (they are equal
when the stream has only ever been fed by one relay from the start of the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from uuid import UUID, uuid5

import orjson
from eventsourcing.persistence import Notification, Tracking, TrackingRecorder
from eventsourcing.utils import resolve_topic
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from domain.application import QualityRecords
from domain.encoding import TypedMapper
from services.contracts import Topology

POSITION_HEADER = "Qrec-Position"
TRACKING_NAME = "qrec.relay"


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def event_id(record_id: UUID, version: int) -> UUID:
    """One id per event: the same event published twice carries the same Nats-Msg-Id."""
    return uuid5(record_id, str(version))


@dataclass(frozen=True)
class EventKind:
    record_kind: str
    event_name: str
    event_type: str
    event_class: type


@cache
def event_kind(topic: str) -> EventKind:
    """`domain.inspection:Inspection.Performed` -> inspection, performed."""
    qualname = topic.split(":", 1)[1]
    record, _, name = qualname.rpartition(".")
    return EventKind(snake(record.rpartition(".")[2]), snake(name), qualname,
                     resolve_topic(topic))


def envelope(n: Notification, mapper: Any) -> tuple[EventKind, UUID, bytes]:
    """The v1 envelope (services.contracts.EventEnvelope) of one stored event, upcast to
    its class's current schema."""
    kind = event_kind(n.topic)
    state: dict[str, Any] = mapper.decode_state(n.state)
    TypedMapper.upcast(kind.event_class, state)
    provenance = state.pop("provenance", None)
    recorded_at = state.pop("timestamp", None)
    state.pop("originator_topic", None)
    record_id = n.originator_id if isinstance(n.originator_id, UUID) else UUID(
        str(n.originator_id))
    eid = event_id(record_id, n.originator_version)
    body = {
        "schema": "qrec.event.v1", "position": n.id, "event_id": str(eid),
        "record_id": str(record_id), "record_kind": kind.record_kind,
        "version": n.originator_version, "event_type": kind.event_type,
        "schema_version": getattr(kind.event_class, "class_version", 1),
        "recorded_at": recorded_at,
        "occurred_at": (provenance or {}).get("occurred_at"),
        "provenance": provenance, "payload": state,
    }
    return kind, eid, orjson.dumps(body)


@dataclass
class RelayStats:
    published: int = 0
    position: int = 0
    lag: int = 0


class Relay:
    def __init__(self, records: QualityRecords, js: JetStreamContext, topology: Topology,
                 batch_size: int = 500, poll_interval: float = 0.1,
                 tracking: TrackingRecorder | None = None) -> None:
        self.records, self.js, self.topology = records, js, topology
        self.batch_size, self.poll_interval = batch_size, poll_interval
        self.tracking = tracking or self.tracking_recorder(records)
        self.stats = RelayStats()

    @staticmethod
    def tracking_recorder(records: QualityRecords) -> TrackingRecorder:
        """The relay's position, in the tracking table beside the events (created with the
        application's tables when it creates them)."""
        return records.factory.tracking_recorder()

    def tracked_position(self) -> int:
        return self.tracking.max_tracking_id(TRACKING_NAME) or 0

    async def last_published_position(self) -> int:
        """The position carried by the newest message in the events stream, or 0."""
        stream = self.topology.events_stream
        info = await self.js.stream_info(stream)
        if not info.state.last_seq:
            return 0
        try:
            msg = await self.js.get_msg(stream, info.state.last_seq)
        except NotFoundError:
            return 0
        return int((msg.headers or {}).get(POSITION_HEADER, 0))

    async def start_position(self) -> int:
        tracked = await asyncio.to_thread(self.tracked_position)
        return max(tracked, await self.last_published_position())

    async def run(self, stop: asyncio.Event) -> None:
        position = self.stats.position = await self.start_position()
        while not stop.is_set():
            published = await self.publish_next(position)
            if published:
                position = published
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_interval)

    async def publish_next(self, after: int) -> int | None:
        """Publish the next batch after `after`; return the new position (tracked), or None
        when there is nothing new."""
        notifications = await asyncio.to_thread(
            self.records.recorder.select_notifications, after + 1, self.batch_size)
        if not notifications:
            return None
        await self.publish(notifications)
        position = notifications[-1].id
        await asyncio.to_thread(self.tracking.insert_tracking,
                                Tracking(TRACKING_NAME, position))
        self.stats.position = position
        self.stats.published += len(notifications)
        return position

    async def publish(self, notifications: Sequence[Notification]) -> None:
        """In store order on one connection; all acks awaited before the position moves."""
        mapper = self.records.mapper
        futures = []
        for n in notifications:
            kind, eid, body = envelope(n, mapper)
            subject = self.topology.event(kind.record_kind, kind.event_name)
            futures.append(await self.js.publish_async(
                subject, body, headers={"Nats-Msg-Id": str(eid), POSITION_HEADER: str(n.id)}))
        await asyncio.gather(*futures)

    async def catch_up(self, timeout: float = 30.0) -> int:
        """Publish until nothing is left (for tests, the bench and `qrec run` on exit)."""
        position = await self.start_position()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            published = await self.publish_next(position)
            if published is None:
                return position
            position = published
        raise TimeoutError(f"relay did not catch up within {timeout}s")
