"""Which log a stream or a durable consumer belongs to, checked before anything is used.

A stream or durable consumer qrec declares names its log in its description (`... [Qrec-Log-Id
<id>]`), and every message qrec publishes carries the `Qrec-Log-Id` header. Before a
component publishes into a stream or consumes from it, it claims it:
- a stream or consumer that names another log: refused (LogMismatch), never used;
- one that names none (made by an older qrec, or by hand) is adopted, its description set to
  this log, when it is empty or holds what this store can recognise as its own (the caller's
  check of the newest message: the store's event at that position, a checkpoint of its
  ledger); otherwise refused, naming the remedy;
- the newest message of a stream qrec publishes into must not carry another log's id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg, StreamConfig, StreamInfo
from nats.js.errors import NotFoundError

from services.log_identity import LOG_ID_HEADER, LogMismatch, described, mismatch, named_log

# Given the newest message of a stream that names no log: is it this store's own?
RecognisesOwn = Callable[[RawStreamMsg], Awaitable[bool]]


async def newest_message(js: JetStreamContext, stream: str) -> RawStreamMsg | None:
    info = await js.stream_info(stream)
    if not info.state.messages:
        return None
    with suppress(NotFoundError):  # deleted between the two requests
        return await js.get_msg(stream, info.state.last_seq)
    return None


def message_log(msg: RawStreamMsg | Any) -> str | None:
    return (msg.headers or {}).get(LOG_ID_HEADER)


async def claim_stream(js: JetStreamContext, config: StreamConfig, log_id: str, who: str,
                       own: RecognisesOwn | None = None) -> StreamInfo:
    """The stream ``config`` names, made for this log if missing, adopted if it names no log
    and ``own`` (given for streams qrec publishes into) recognises its newest message.
    LogMismatch when it is another log's."""
    name = config.name or ""
    wanted = config.evolve(description=described(config.description or name, log_id))
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        return await js.add_stream(wanted)
    owner = named_log(info.config.description)
    if owner is not None and owner != log_id:
        raise mismatch(who, f"stream {name}", owner, log_id)
    if own is not None:
        await check_newest(js, name, log_id, who, own if owner is None else None)
    if owner is None:
        info = await js.update_stream(info.config.evolve(description=wanted.description))
    return info


async def check_newest(js: JetStreamContext, stream: str, log_id: str, who: str,
                       own: RecognisesOwn | None) -> None:
    newest = await newest_message(js, stream)
    if newest is None:
        return
    other = message_log(newest)
    if other is not None and other != log_id:
        raise mismatch(who, f"stream {stream} (its newest message, sequence {newest.seq})",
                       other, log_id)
    if other is None and own is not None and not await own(newest):
        raise LogMismatch(
            f"{who} refused: stream {stream} names no log and its newest message (sequence "
            f"{newest.seq}) is not this store's (log {log_id}): it was filled by another "
            "store, or by an older qrec; give this store a separate QREC_STREAM_PREFIX, or "
            "delete the stream if what it holds is not needed (the store republishes all)")


async def claim_consumer(js: JetStreamContext, stream: str, durable: str, log_id: str,
                         who: str) -> None:
    """A durable consumer must be this log's (or none's: then it is adopted); a missing one
    is left for its subscriber to create with this log's description."""
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        return
    owner = named_log(info.config.description)
    if owner is not None and owner != log_id:
        raise mismatch(who, f"durable consumer {durable} on stream {stream}", owner, log_id)
    if owner is None:
        config = info.config.evolve(description=described(f"qrec {durable}", log_id))
        await js.add_consumer(stream, config)  # an existing durable: its config updated
