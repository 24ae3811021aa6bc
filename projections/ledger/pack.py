"""Audit packs: a record's whole history with the proof that each event is in a signed tree.

A pack is JSON that ``projections.ledger.verifier`` checks with no database and no network.
"""

from __future__ import annotations

import base64
import time
from typing import Any, Protocol
from uuid import UUID

import orjson

from projections.ledger.store import Ledger, LedgerConflict
from projections.ledger.verifier import PACK_FORMAT


class RecordEvents(Protocol):
    def select_events(self, originator_id: Any) -> Any: ...


class NotInLedger(LookupError):
    """The record has no events in the ledger's latest checkpoint yet."""


def export_pack(ledger: Ledger, store: RecordEvents, record_id: UUID,
                public_keys: dict[str, bytes]) -> dict[str, Any]:
    """The record's stored events, each with its inclusion proof in the latest checkpoint."""
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
    return {"format": PACK_FORMAT, "record_id": str(record_id), "checkpoint": cp.to_json(),
            "public_keys": {kid: base64.b64encode(raw).decode()
                            for kid, raw in public_keys.items()},
            "events": events}


def export_pack_signed(ledger: Ledger, store: RecordEvents, record_id: UUID,
                       attempts: int = 3) -> dict[str, Any]:
    """``export_pack`` with every public key of the ledger's keyring, first taking every
    stored event into the ledger and signing a checkpoint over it if the latest one does
    not cover the record yet. Another process appending at the same moment
    (LedgerConflict) is waited out."""
    for attempt in range(attempts):
        try:
            return export_pack(ledger, store, record_id, ledger.keyring.public_keys())
        except NotInLedger:
            if attempt == attempts - 1:
                raise
        try:
            ledger.catch_up(seal=True)
        except LedgerConflict:
            time.sleep(0.1)
    raise AssertionError("unreachable")


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
