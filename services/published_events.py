"""The events stream read back: which store positions it holds, and with which events.

Every message the relay publishes carries its store position (`Qrec-Position`) and its event
id (`Nats-Msg-Id`). Positions increase along the stream within a *segment*; the stream
sequence need not equal the position (an adopted stream, gaps in the store's positions). A
new segment begins when an operator resumes a restored store (services.restore): a marker
message on `<prefix>.events.log.resumed` whose position is the last one the store and the
stream have in common, after which every message names the marker's sequence in its
`Qrec-Segment` header. So a position is looked up by binary search in the newest segment,
or, when it is not after that segment's marker, in the segment before it.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import orjson
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from services.contracts import Topology
from services.log_identity import LOG_ID_HEADER

POSITION_HEADER = "Qrec-Position"
SEGMENT_HEADER = "Qrec-Segment"
MSG_ID_HEADER = "Nats-Msg-Id"
RESUMED = ("log", "resumed")  # record kind and event name of the marker's subject


@dataclass(frozen=True)
class Published:
    """One message of the events stream, as far as the relay needs it."""

    seq: int
    position: int
    segment: int  # stream sequence where its segment begins
    event_id: str | None
    log_id: str | None
    marker: bool
    resumed: bool  # in a segment that began with a marker (it names that segment)
    data: bytes


class PublishedEvents:
    """The events stream of a topology, read message by message (get by sequence)."""

    def __init__(self, js: JetStreamContext, topology: Topology) -> None:
        self.js, self.topology = js, topology
        self.stream = topology.events_stream
        self.subjects = f"{topology.prefix}.events.>"
        self.marker_subject = topology.event(*RESUMED)
        self.first_seq = 1
        self.starts: dict[int, Published | None] = {}  # first messages of segments
        self.hint: Published | None = None  # the last message found: lookups go forward

    def read(self, msg: RawStreamMsg) -> Published:
        headers = msg.headers or {}
        seq = int(msg.seq or 0)
        marker = msg.subject == self.marker_subject
        named = int(headers.get(SEGMENT_HEADER, 0))
        segment = named or (seq if marker else self.first_seq)
        return Published(seq, int(headers.get(POSITION_HEADER, 0)), segment,
                         headers.get(MSG_ID_HEADER), headers.get(LOG_ID_HEADER), marker,
                         bool(named) or marker, msg.data or b"")

    async def newest(self) -> tuple[Published | None, bool]:
        """The newest message, and whether the stream ever held one (a stream emptied by
        hand has held some)."""
        info = await self.js.stream_info(self.stream)
        self.first_seq = info.state.first_seq or 1
        if info.state.messages:
            with suppress(NotFoundError):
                return self.read(await self.js.get_msg(self.stream, info.state.last_seq)), True
        return None, info.state.last_seq > 0

    async def at(self, seq: int) -> Published | None:
        """The first message at or after stream sequence ``seq`` (messages may be deleted)."""
        try:
            return self.read(await self.js.get_msg(self.stream, seq, subject=self.subjects,
                                                   next=True))
        except NotFoundError:
            return None

    async def before(self, seq: int) -> Published | None:
        """The newest message before stream sequence ``seq``."""
        for earlier in range(seq - 1, self.first_seq - 1, -1):
            with suppress(NotFoundError):
                return self.read(await self.js.get_msg(self.stream, earlier))
        return None

    async def find(self, position: int, last: Published) -> Published | None:
        """The message at ``position`` in the history ``last`` ends, or None."""
        if position == last.position and not last.marker:
            return last
        found = await self.at_or_after(position, last)
        return found if found is not None and found.position == position else None

    async def at_or_after(self, position: int, last: Published) -> Published | None:
        """The first message at ``position`` or after it, in the history ``last`` ends."""
        while True:
            start = await self.segment_start(last.segment)
            if start is None:
                return None
            if not start.marker:
                return await self.search(position, start.seq, last.seq)
            if position > start.position:
                return await self.search(position, start.seq + 1, last.seq)
            # At or before the marker: in the segment the store and the stream shared.
            previous = await self.before(start.seq)
            if previous is None:
                return None
            last = previous

    async def segment_start(self, seq: int) -> Published | None:
        if seq not in self.starts:
            self.starts[seq] = await self.at(seq)
        return self.starts[seq]

    async def search(self, position: int, lo: int, hi: int) -> Published | None:
        """Binary search over stream sequences lo..hi (hi a message of the same segment);
        the message after the last one found is tried first (positions looked up in order
        are mostly consecutive)."""
        hint = self.hint
        if hint is not None and lo <= hint.seq < hi and hint.position < position:
            following = await self.at(hint.seq + 1)
            if following is None or following.seq > hi:
                return None
            if following.position >= position:
                self.hint = following
                return following
            lo = following.seq + 1
        found = await self.bisect(position, lo, hi)
        if found is not None:
            self.hint = found
        return found

    async def bisect(self, position: int, lo: int, hi: int) -> Published | None:
        end = hi + 1
        while lo < end:
            mid = (lo + end) // 2
            found = await self.at(mid)
            if found is None or found.seq > hi or found.position >= position:
                end = mid
            else:
                lo = found.seq + 1
        if lo > hi:
            return None
        return await self.at(lo)

    @staticmethod
    def body(found: Published | RawStreamMsg) -> dict[str, Any]:
        try:
            body = orjson.loads(found.data or b"")
        except orjson.JSONDecodeError:
            return {}
        return body if isinstance(body, dict) else {}
