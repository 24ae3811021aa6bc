"""Signed checkpoints on the stream (`<prefix>.ledger.checkpoints`), so copies live outside the
database: whoever keeps them can later check that the history still extends them.

Publishing is at-least-once from the ledger and exactly-once on the stream: each message
carries `Nats-Msg-Id` = key id, tree size and root, and the store's log id (header
`Qrec-Log-Id`, field `log_id`). At start the publisher claims the checkpoint stream for the
store's log (services.stream_claims) and reads its newest checkpoint: it publishes every
checkpoint of this ledger after that one, but only once this ledger's tree extends it (the
same root at that tree size). A ledger behind the stream waits, and says so; one whose root
differs (a store restored from a backup, then written to) stops with LogDiverged until an
operator resumes (`qrec stream resume-after-restore`), which publishes the ledger's latest
checkpoint as the new newest one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable

from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from projections.ledger.store import Ledger
from projections.ledger.verifier import Checkpoint
from services.contracts import Topology
from services.log_identity import LOG_ID_HEADER, LogDiverged
from services.stream_claims import claim_stream, newest_message
from services.streams import stream_config

RESUMED_HEADER = "Qrec-Resumed"
SCAN_BACK = 200  # checkpoints read back to say where a diverged ledger last agreed


def checkpoint_of(msg: RawStreamMsg) -> Checkpoint | None:
    try:
        return Checkpoint.from_json(json.loads(msg.data or b"{}"))
    except (ValueError, KeyError, TypeError):
        return None


class CheckpointPublisher:
    """The ledger's checkpoints onto its stream, for one log."""

    def __init__(self, js: JetStreamContext, ledger: Ledger, topology: Topology, *,
                 log_id: str) -> None:
        self.js, self.ledger, self.topology, self.log_id = js, ledger, topology, log_id
        self.stream, self.subject = topology.ledger_stream, topology.checkpoints
        self.head: Checkpoint | None = None  # the stream's newest checkpoint
        self.prepared = False
        self.extends_head = False  # this ledger's tree extends the head (checked once)
        self.published = 0
        self.waiting: str | None = None  # why nothing can be published now

    async def prepare(self) -> None:
        await claim_stream(self.js, stream_config(self.topology, self.stream), self.log_id,
                           "ledger", self.recognises_own)
        newest = await newest_message(self.js, self.stream)
        self.head = None if newest is None else checkpoint_of(newest)
        self.prepared, self.extends_head = True, self.head is None

    async def publish_new(self) -> int:
        """Every checkpoint of this ledger after the stream's newest, oldest first."""
        if not self.prepared:
            await self.prepare()
        if self.head is not None and not self.extends_head:
            tree = await asyncio.to_thread(self.ledger.tree_size)
            if tree < self.head.tree_size:
                self.waiting = (f"waiting: stream {self.stream} holds a checkpoint at tree "
                                f"size {self.head.tree_size}, this ledger is at {tree} "
                                "(restored from a backup?)")
                return 0
            await self.check_extends_head()
            self.waiting = None
        after = self.head.tree_size if self.head is not None else 0
        checkpoints = await asyncio.to_thread(self.ledger.checkpoints)
        fresh = [cp for cp in checkpoints if cp.tree_size > after]
        await self.publish(fresh)
        return len(fresh)

    async def check_extends_head(self) -> None:
        assert self.head is not None
        root = await asyncio.to_thread(self.ledger.root_at, self.head.tree_size)
        if root != self.head.root_hash:
            raise await self.diverged()
        self.extends_head = True

    async def diverged(self) -> LogDiverged:
        assert self.head is not None
        agreed = await self.last_agreed()
        return LogDiverged(
            f"ledger refused: the checkpoint at tree size {self.head.tree_size} on stream "
            f"{self.stream} is not in this store's history (log {self.log_id}): the roots "
            f"differ; the two agree up to tree size {agreed} at most", agreed + 1)

    async def last_agreed(self) -> int:
        """The largest tree size of a checkpoint on the stream, among the last few, that this
        ledger's tree has the same root at."""
        info = await self.js.stream_info(self.stream)
        tree = await asyncio.to_thread(self.ledger.tree_size)
        first = max(info.state.first_seq, info.state.last_seq - SCAN_BACK)
        for seq in range(info.state.last_seq, first - 1, -1):
            try:
                cp = checkpoint_of(await self.js.get_msg(self.stream, seq))
            except NotFoundError:
                continue
            if cp is not None and cp.tree_size <= tree and cp.root_hash == await \
                    asyncio.to_thread(self.ledger.root_at, cp.tree_size):
                return cp.tree_size
        return 0

    async def publish(self, checkpoints: Iterable[Checkpoint], resumed: bool = False) -> None:
        for cp in checkpoints:
            body = {**cp.to_json(), "log_id": self.log_id}
            msg_id = f"{cp.key_id}:{cp.tree_size}:{cp.root_hash.hex()}"
            headers = {"Nats-Msg-Id": msg_id, LOG_ID_HEADER: self.log_id}
            if resumed:  # the same checkpoint may have gone out before the restore
                info = await self.js.stream_info(self.stream)
                headers[RESUMED_HEADER] = str(info.state.last_seq)
                headers["Nats-Msg-Id"] = f"resumed@{info.state.last_seq}:{msg_id}"
            await self.js.publish(self.subject, json.dumps(body).encode(), headers=headers)
            self.head, self.extends_head = cp, True
            self.published += 1

    async def needs_resume(self) -> bool:
        """The stream's newest checkpoint is not one this ledger's tree extends."""
        await self.prepare()
        if self.head is None:
            return False
        tree = await asyncio.to_thread(self.ledger.tree_size)
        if tree < self.head.tree_size:
            return True
        root = await asyncio.to_thread(self.ledger.root_at, self.head.tree_size)
        return root != self.head.root_hash

    async def resume(self) -> Checkpoint:
        """Seal a checkpoint over everything stored and publish it as the stream's newest."""
        await asyncio.to_thread(self.ledger.catch_up, seal=True)
        latest = await asyncio.to_thread(self.ledger.latest_checkpoint)
        assert latest is not None
        await self.publish([latest], resumed=True)
        return latest

    async def recognises_own(self, msg: RawStreamMsg) -> bool:
        """Adopting a checkpoint stream that names no log: its newest checkpoint must be one
        this ledger's tree extends."""
        cp = checkpoint_of(msg)
        if cp is None or await asyncio.to_thread(self.ledger.tree_size) < cp.tree_size:
            return False
        return await asyncio.to_thread(self.ledger.root_at, cp.tree_size) == cp.root_hash


async def published_checkpoints(js: JetStreamContext, topology: Topology) -> list[Checkpoint]:
    """The copies kept on the stream, as a verifier outside the database would read them."""
    stream = topology.ledger_stream
    info = await js.stream_info(stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq)
        found.append(Checkpoint.from_json(json.loads(msg.data or b"{}")))
    return found
