"""Signed checkpoints on the stream (`qrec.ledger.checkpoints`), so copies live outside the
database: whoever keeps them can later check that the history still extends them.

Publishing is at-least-once from the ledger and exactly-once on the stream: each message
carries `Nats-Msg-Id` = key id and tree size, and a restart publishes every checkpoint after
the last one the stream holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from projections.ledger.store import Ledger
from projections.ledger.verifier import Checkpoint

SUBJECT = "qrec.ledger.checkpoints"
STREAM = "QREC_LEDGER"


async def ensure_checkpoint_stream(js: JetStreamContext, stream: str = STREAM,
                                   subject: str = SUBJECT) -> None:
    try:
        await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=stream, subjects=[subject]))


async def publish_checkpoints(js: JetStreamContext, checkpoints: Iterable[Checkpoint],
                              subject: str = SUBJECT) -> int:
    count = 0
    for cp in checkpoints:
        await js.publish(subject, json.dumps(cp.to_json()).encode(),
                         headers={"Nats-Msg-Id": f"{cp.key_id}:{cp.tree_size}"})
        count += 1
    return count


async def last_published_size(js: JetStreamContext, stream: str = STREAM,
                              subject: str = SUBJECT) -> int:
    try:
        msg = await js.get_last_msg(stream, subject)
    except NotFoundError:
        return 0
    return int(json.loads(msg.data or b"{}").get("tree_size", 0))


async def publish_new_checkpoints(js: JetStreamContext, ledger: Ledger, stream: str = STREAM,
                                  subject: str = SUBJECT) -> int:
    """Every checkpoint the stream does not hold yet, oldest first."""
    published = await last_published_size(js, stream, subject)
    fresh = [cp for cp in ledger.checkpoints() if cp.tree_size > published]
    return await publish_checkpoints(js, fresh, subject)


async def published_checkpoints(js: JetStreamContext, stream: str = STREAM) -> list[Checkpoint]:
    """The copies kept on the stream, as a verifier outside the database would read them."""
    info = await js.stream_info(stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq)
        found.append(Checkpoint.from_json(json.loads(msg.data or b"{}")))
    return found
