"""Audit packs: a record's whole history with the proof that each event is in a signed tree,
and that nothing is left out (the checkpoint's heads map names the record's newest event).

A pack is JSON that ``projections.ledger.verifier`` checks with no database and no network.
It carries the checkpoint as a signed note with the witnesses' cosignatures, and the
RFC 3161 timestamp token of the checkpoint when there is one.
"""

from __future__ import annotations

import base64
from typing import Any, Protocol
from uuid import UUID

import orjson

from projections.ledger.store import Ledger, LedgerMoved
from projections.ledger.verifier import PACK_FORMAT


class RecordEvents(Protocol):
    def select_events(self, originator_id: Any) -> Any: ...


class NotInLedger(LookupError):
    """The record has no events in the ledger's latest checkpoint yet."""


def export_pack(ledger: Ledger, store: RecordEvents, record_id: UUID,
                 public_keys: dict[str, bytes], attempts: int = 5) -> dict[str, Any]:
    """The record's stored events, each with its inclusion proof in the latest checkpoint,
    and the record's head in that checkpoint's heads map. The ledger is brought up to date
    and sealed first; should it move on meanwhile, the pack is made again."""
    for _ in range(attempts - 1):
        try:
            return _export(ledger, store, record_id, public_keys)
        except LedgerMoved:
            continue
    return _export(ledger, store, record_id, public_keys)


def _export(ledger: Ledger, store: RecordEvents, record_id: UUID,
            public_keys: dict[str, bytes]) -> dict[str, Any]:
    ledger.catch_up(seal=True)
    cp = ledger.latest_checkpoint()
    positions = dict((v, p) for p, v in ledger.positions_of(record_id))
    if cp is None or not positions:
        raise NotInLedger(f"record {record_id} is not in the ledger (run `qrec audit catch-up`)")
    events = []
    for stored in store.select_events(record_id):
        position = positions.get(stored.originator_version)
        if position is None or position >= cp.tree_size:
            raise NotInLedger(f"record {record_id} version {stored.originator_version} is not "
                              "covered by a checkpoint yet (run `qrec audit catch-up`)")
        events.append(_pack_event(ledger, stored, position, cp.tree_size))
    pack = {"format": PACK_FORMAT, "record_id": str(record_id), "checkpoint": cp.to_json(),
            "public_keys": {kid: base64.b64encode(raw).decode()
                            for kid, raw in public_keys.items()},
            "events": events}
    if cp.origin:
        entries, siblings = ledger.heads_proof(record_id, cp.tree_size)
        pack["heads_proof"] = {"entries": [e.hex() for e in entries],
                               "siblings": [h.hex() for h in siblings]}
    stamp = next((t for t in ledger.timestamps() if t[0] == cp.tree_size), None)
    if stamp is not None:
        pack["timestamp"] = {"authority": stamp[1], "time": stamp[2],
                             "response": base64.b64encode(stamp[3]).decode()}
    return pack


def _pack_event(ledger: Ledger, stored: Any, position: int, tree_size: int) -> dict[str, Any]:
    return {"position": position, "originator_id": str(stored.originator_id),
            "originator_version": stored.originator_version, "topic": stored.topic,
            "state": base64.b64encode(stored.state).decode(),
            "body": _readable(stored.state),
            "inclusion_proof": [h.hex() for h in ledger.inclusion_proof(position, tree_size)]}


def _readable(state: bytes) -> Any:
    """The body for a human reader; the verifier checks ``state``, not this."""
    try:
        return orjson.loads(state)
    except orjson.JSONDecodeError:
        return None
