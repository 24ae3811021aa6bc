"""`qrec stream resume-after-restore`: after a store is restored from a backup, its events
and checkpoints go out again from where the store and the streams last agreed.

A restored store has lost what it recorded after the backup; the streams still hold it, and
what the store records from now on takes the same positions (and records and versions) as
what was lost. The relay and the checkpoint publisher refuse such a store (LogDiverged), or
would as soon as it records anything. This command, run deliberately by an operator:
- compares the store's events with the events stream, position by position, up to the
  stream's newest message, and finds the last position they share;
- publishes a marker on `<prefix>.events.log.resumed` (schema `qrec.log-resumed.v1`: the
  last common position, the newest position the stream held, when and why), which begins a
  new segment of the stream, then every event of the store after the common position, each
  with its own event id: a subscriber reading from the start sees every event of the store
  once by event id, and can tell the lost ones (after the common position, before the
  marker) from the new ones;
- publishes the ledger's latest checkpoint, sealed over everything stored, as the newest one
  on the checkpoint stream (header `Qrec-Resumed`).
It refuses when there is nothing to resume (the store and the streams agree), so running it
twice does nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from nats.js import JetStreamContext

from domain.application import QualityRecords
from projections.ledger.store import Ledger
from services.contracts import Topology
from services.ledger_publish import CheckpointPublisher
from services.relay import Relay


class NothingToResume(Exception):
    """The store and the streams agree: there is nothing to resume."""

    exit_code = 1


@dataclass
class Resumed:
    lines: list[str] = field(default_factory=list)


async def resume_after_restore(records: QualityRecords, ledger: Ledger, js: JetStreamContext,
                               topology: Topology, log_id: str, reason: str) -> Resumed:
    relay = Relay(records, js, topology, log_id=log_id)
    publisher = CheckpointPublisher(js, ledger, topology, log_id=log_id)
    diverged = await relay.divergence()
    events_behind = relay.head is not None and relay.last_common < relay.head_position
    checkpoints_behind = await publisher.needs_resume()
    stream = topology.events_stream
    if not (diverged or events_behind or checkpoints_behind):
        raise NothingToResume(
            f"nothing to resume: streams {stream} and {topology.ledger_stream} hold this "
            f"store's history (log {log_id}) as far as they go; `qrec run` goes on from there")
    done = Resumed()
    if diverged or events_behind:
        done.lines += await resume_events(relay, diverged is not None, reason)
    if checkpoints_behind:
        cp = await publisher.resume()
        done.lines.append(f"checkpoints: published this ledger's checkpoint at tree size "
                          f"{cp.tree_size} as the newest on {topology.ledger_stream}")
    return done


async def resume_events(relay: Relay, diverged: bool, reason: str) -> list[str]:
    common, held = relay.last_common, relay.head_position
    marker = await relay.resume_after_common({
        "reason": reason, "resumed_at": datetime.now(UTC).isoformat(),
        "diverged": diverged})
    before = relay.stats.published
    position = await relay.catch_up(timeout=600.0)
    stream = relay.topology.events_stream
    return [
        f"events: this store and stream {stream} agree up to position {common}; the stream "
        f"also holds positions up to {held} that are "
        f"{'not this store’s' if diverged else 'not in this store'} (lost with the restore)",
        f"events: marker at stream sequence {marker.seq}, then {relay.stats.published - before}"
        f" events of this store published after position {common} (now at {position})",
    ]
