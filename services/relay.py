"""The relay: every committed event, once, in store order, on `<prefix>.events.<kind>.<name>`.

It follows the event store's notification log from its own position, kept in the event
store's tracking table (eventsourcing's TrackingRecorder, the same table and database the
events are in), one position per stream prefix. A batch is published, its acks awaited, and
only then the position moves.

At start it claims the events stream for the store's log (services.stream_claims) and reads
the newest message back: the stream, not the tracking table, says what is published. Where
the relay's own position is behind the stream (a crash between a publish and its position,
a store restored from a backup), every event up to the stream's newest position is looked up
on the stream by position (services.published_events) and compared by event id: one that is
there is not sent again; the first one that differs, or a position the stream holds and the
store does not, stops the relay (LogDiverged) until an operator resumes
(`qrec stream resume-after-restore`, services.restore). Nothing is skipped unseen.

A subscriber replays from any position with a consumer on the events stream starting at
the stream sequence whose `Qrec-Position` header is the position it wants.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import Notification, Tracking, TrackingRecorder
from eventsourcing.utils import resolve_topic
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg

from domain.application import QualityRecords
from domain.encoding import TypedMapper
from projections.ledger.verifier import event_leaf_hash
from services.contracts import Topology
from services.log_identity import LOG_ID_HEADER, LogDiverged
from services.published_events import (
    MSG_ID_HEADER,
    POSITION_HEADER,
    SEGMENT_HEADER,
    Published,
    PublishedEvents,
)
from services.record_keys import RecordKeys
from services.stream_claims import claim_stream
from services.streams import stream_config

__all__ = ["POSITION_HEADER", "Relay", "envelope", "event_id"]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def event_id(record_id: UUID | str, version: int, topic: str, state: bytes) -> UUID:
    """The event's own id: its ledger leaf hash (RFC 9162, over record id, version, topic and
    the body as stored) cut to 16 bytes, as a version 8 UUID. The same event always has the
    same id (a re-sent one is dropped by the server's Nats-Msg-Id check); another event at the
    same record and version, as a restored store may record, has another."""
    raw = bytearray(event_leaf_hash(record_id, version, topic, state)[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80
    raw[8] = (raw[8] & 0x3F) | 0x80
    return UUID(bytes=bytes(raw))


def notification_event_id(n: Notification) -> UUID:
    return event_id(n.originator_id, n.originator_version, n.topic, n.state)


@dataclass(frozen=True)
class EventKind:
    record_kind: str
    record_class: str
    event_name: str
    event_type: str
    event_class: type


@cache
def event_kind(topic: str) -> EventKind:
    """`domain.inspection:Inspection.Performed` -> inspection, performed."""
    qualname = topic.split(":", 1)[1]
    record, _, name = qualname.rpartition(".")
    record_class = record.rpartition(".")[2]
    return EventKind(snake(record_class), record_class, snake(name), qualname,
                     resolve_topic(topic))


def envelope(n: Notification, mapper: Any, log_id: str, keys: RecordKeys
             ) -> tuple[EventKind, UUID, bytes]:
    """The v1 envelope (services.contracts.EventEnvelope) of one stored event, upcast to
    its class's current schema."""
    kind = event_kind(n.topic)
    state: dict[str, Any] = mapper.decode_state(n.state)
    TypedMapper.upcast(kind.event_class, state)
    record_id = n.originator_id if isinstance(n.originator_id, UUID) else UUID(
        str(n.originator_id))
    record_key = keys.key(record_id, kind.record_class, n.originator_version, state)
    provenance = state.pop("provenance", None)
    recorded_at = state.pop("timestamp", None)
    state.pop("originator_topic", None)
    eid = notification_event_id(n)
    body = {
        "schema": "qrec.event.v1", "log_id": log_id, "position": n.id, "event_id": str(eid),
        "record_id": str(record_id), "record_key": record_key,
        "record_kind": kind.record_kind, "version": n.originator_version,
        "event_type": kind.event_type,
        "schema_version": getattr(kind.event_class, "class_version", 1),
        "recorded_at": recorded_at,
        "occurred_at": (provenance or {}).get("occurred_at"),
        "provenance": provenance, "payload": state,
    }
    return kind, eid, orjson.dumps(body)


def tracking_name(topology: Topology) -> str:
    """The relay's position is kept per prefix: a new prefix's streams get the whole log."""
    return f"{topology.prefix}.relay"


@dataclass
class RelayStats:
    published: int = 0
    skipped: int = 0  # already on the stream (compared by event id, not sent again)
    position: int = 0
    lag: int = 0


class Relay:
    def __init__(self, records: QualityRecords, js: JetStreamContext, topology: Topology, *,
                 log_id: str, batch_size: int = 500, poll_interval: float = 0.1,
                 tracking: TrackingRecorder | None = None) -> None:
        self.records, self.js, self.topology = records, js, topology
        self.mapper = cast(TypedMapper, records.mapper)
        self.log_id = log_id
        self.batch_size, self.poll_interval = batch_size, poll_interval
        self.tracking = tracking or self.tracking_recorder(records)
        self.tracking_name = tracking_name(topology)
        self.stats = RelayStats()
        self.stream = PublishedEvents(js, topology)
        self.keys = RecordKeys(self.first_event)
        self.position: int | None = None  # None until prepared
        self.tracked = 0
        self.head: Published | None = None  # the stream's newest message at start
        self.head_position = 0
        self.last_common = 0  # the store and the stream agree up to here
        self.segment: int | None = None  # the Qrec-Segment the relay's messages name

    @staticmethod
    def tracking_recorder(records: QualityRecords) -> TrackingRecorder:
        """The relay's position, in the tracking table beside the events (created with the
        application's tables when it creates them)."""
        return records.factory.tracking_recorder()

    def tracked_position(self) -> int:
        return self.tracking.max_tracking_id(self.tracking_name) or 0

    async def track(self, position: int) -> None:
        """The tracked position only moves forward (it may be ahead of the stream)."""
        if position > self.tracked:
            await asyncio.to_thread(self.tracking.insert_tracking,
                                    Tracking(self.tracking_name, position))
            self.tracked = position

    async def prepare(self) -> int:
        """Claim the events stream and find where to go on from (module docstring)."""
        await claim_stream(self.js, stream_config(self.topology, self.topology.events_stream),
                           self.log_id, "relay", self.recognises_own)
        newest, ever_held = await self.stream.newest()
        self.tracked = tracked = await asyncio.to_thread(self.tracked_position)
        self.head = newest
        if newest is None:  # a new stream gets the whole log; one emptied by hand, the rest
            start = tracked if ever_held else 0
        else:
            self.head_position = newest.position
            self.segment = newest.segment if newest.resumed else None
            # The newest event itself is compared too (a marker's position is common).
            start = min(tracked, newest.position - (0 if newest.marker else 1))
        self.position = self.last_common = self.stats.position = start
        return start

    @property
    def behind_stream(self) -> str | None:
        """Said while the stream holds positions after the last one the store was found to
        share with it (the store is behind it, or being compared with it)."""
        if self.head is None or self.last_common >= self.head_position:
            return None
        return (f"relay at {self.last_common}, behind stream {self.topology.events_stream} "
                f"(it holds up to position {self.head_position}; restored from a backup? "
                "qrec stream resume-after-restore)")

    async def run(self, stop: asyncio.Event) -> None:
        position = await self.prepare() if self.position is None else self.position
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
        fresh = await self.not_on_stream(notifications)
        if fresh:
            await self.publish(fresh)
        position = notifications[-1].id
        await self.track(position)
        self.position = self.stats.position = position
        self.stats.published += len(fresh)
        self.stats.skipped += len(notifications) - len(fresh)
        return position

    async def not_on_stream(self, notifications: Sequence[Notification]
                            ) -> Sequence[Notification]:
        """The notifications the stream does not hold yet; the ones it holds (up to its newest
        position at start) are checked against it."""
        if self.head is None or (notifications[0].id > self.head_position
                                 and self.last_common >= self.head_position):
            return notifications
        fresh = []
        for n in notifications:
            if n.id <= self.head_position:
                await self.check_on_stream(n)
            else:
                if self.last_common < self.head_position:
                    await self.check_nothing_lost()
                fresh.append(n)
        return fresh

    async def check_on_stream(self, n: Notification) -> None:
        assert self.head is not None
        found = await self.stream.find(n.id, self.head)
        if found is not None and self.same_event(found, n):
            self.last_common = n.id
            return
        first = await self.stream.at_or_after(self.last_common + 1, self.head)
        if first is not None and first.position < n.id:
            raise self.lost(first.position)
        if found is not None:
            raise self.diverged(n.id, f"this store's event at position {n.id} is not the "
                                      "one the stream holds there")
        raise self.diverged(n.id, f"this store has an event at position {n.id}, which the "
                                  "stream skips")

    async def check_nothing_lost(self) -> None:
        """Before the first event after the stream's newest position: every position the
        stream holds up to there is in the store too."""
        assert self.head is not None
        first = await self.stream.at_or_after(self.last_common + 1, self.head)
        if first is not None and first.position <= self.head_position:
            raise self.lost(first.position)
        self.last_common = self.head_position

    def lost(self, position: int) -> LogDiverged:
        return self.diverged(position, f"the stream holds position {position}, which this "
                                       "store does not have")

    def diverged(self, position: int, what: str) -> LogDiverged:
        return LogDiverged(
            f"relay refused: stream {self.topology.events_stream} and this store (log "
            f"{self.log_id}) part at position {position}: {what}; they agree up to position "
            f"{self.last_common} (a store restored from a backup, then written to?)", position)

    def same_event(self, found: Published, n: Notification) -> bool:
        if found.log_id is None:  # published by an older qrec, with other event ids
            return self.legacy_match(PublishedEvents.body(found), n)
        return found.event_id == str(notification_event_id(n))

    def legacy_match(self, body: dict[str, Any], n: Notification) -> bool:
        """An older qrec's envelope of this very event: record, version and recorded time."""
        recorded = self.mapper.decode_state(n.state).get("timestamp")
        return (body.get("record_id"), body.get("version"), body.get("recorded_at")) == (
            str(n.originator_id), n.originator_version, recorded)

    async def recognises_own(self, msg: RawStreamMsg) -> bool:
        """Adopting an events stream that names no log: its newest message must be this
        store's event at that position."""
        body = PublishedEvents.body(msg)
        position = body.get("position")
        if not isinstance(position, int):
            return False
        found = await asyncio.to_thread(self.records.recorder.select_notifications,
                                        position, 1)
        return bool(found) and found[0].id == position and self.legacy_match(body, found[0])

    def first_event(self, record: UUID) -> tuple[str, dict[str, Any]] | None:
        stored = self.records.recorder.select_events(record, limit=1)
        if not stored:
            return None
        return (event_kind(stored[0].topic).record_class,
                self.mapper.decode_state(stored[0].state))

    def messages(self, notifications: Sequence[Notification]
                 ) -> list[tuple[str, bytes, dict[str, str]]]:
        mapper = self.mapper
        out = []
        for n in notifications:
            kind, eid, body = envelope(n, mapper, self.log_id, self.keys)
            headers = {MSG_ID_HEADER: str(eid), POSITION_HEADER: str(n.id),
                       LOG_ID_HEADER: self.log_id}
            if self.segment is not None:
                headers[SEGMENT_HEADER] = str(self.segment)
            out.append((self.topology.event(kind.record_kind, kind.event_name), body,
                        headers))
        return out

    async def publish(self, notifications: Sequence[Notification]) -> None:
        """In store order on one connection; all acks awaited before the position moves.
        The envelopes are made in a worker thread (a record's first event may be read)."""
        messages = await asyncio.to_thread(self.messages, notifications)
        futures = [await self.js.publish_async(subject, body, headers=headers)
                   for subject, body, headers in messages]
        await asyncio.gather(*futures)

    async def divergence(self) -> LogDiverged | None:
        """Compare, publishing nothing, the store's events up to the stream's newest position
        with the stream: where they part, or None (``last_common`` then says whether the
        store is behind the stream)."""
        position = await self.prepare()
        try:
            while True:
                batch = await asyncio.to_thread(
                    self.records.recorder.select_notifications, position + 1, self.batch_size)
                for n in batch:
                    if n.id > self.head_position:
                        if self.last_common < self.head_position:
                            await self.check_nothing_lost()
                        return None
                    await self.check_on_stream(n)
                if len(batch) < self.batch_size:
                    return None
                position = batch[-1].id
        except LogDiverged as e:
            return e

    async def resume_after_common(self, why: dict[str, Any]) -> Published:
        """A new segment after the last position the store and the stream share: its marker
        now, the store's events after that position as the relay goes on."""
        assert self.head is not None
        common = self.last_common
        body = orjson.dumps({"schema": "qrec.log-resumed.v1", "log_id": self.log_id,
                             "resumed_after": common, "stream_held_up_to": self.head_position,
                             **why})
        headers = {LOG_ID_HEADER: self.log_id, POSITION_HEADER: str(common),
                   MSG_ID_HEADER: f"resumed:{self.log_id}:{common}:{self.head.seq}"}
        ack = await self.js.publish(self.stream.marker_subject, body, headers=headers)
        self.head = Published(ack.seq, common, ack.seq, None, self.log_id, True, True, body)
        self.head_position, self.segment, self.position = common, ack.seq, common
        return self.head

    async def catch_up(self, timeout: float = 30.0) -> int:
        """Publish until nothing is left (for tests, the bench and `qrec run` on exit)."""
        position = await self.prepare() if self.position is None else self.position
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            published = await self.publish_next(position)
            if published is None:
                return position
            position = published
        raise TimeoutError(f"relay did not catch up within {timeout}s")
