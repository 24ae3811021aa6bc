"""qrec's side of the witness protocol: submit each new checkpoint to every witness in the
settings (QREC_WITNESSES) with a consistency proof from the last one it cosigned, verify the
cosignature it returns against the witness's key, and keep it in the ledger.

Each witness's last answer is kept too (``ledger_witness_status``): how far it cosigned, or
why it refused, so the status line and `qrec audit verify --witnesses K` can say so.
"""

from __future__ import annotations

import http.client
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from projections.ledger.store import Ledger
from projections.ledger.verifier import (
    NOTE_COSIGNATURE_V1,
    Checkpoint,
    Cosignature,
    NoteError,
    NoteKey,
    split_note,
)

COSIGNED, REFUSED, UNREACHABLE = "cosigned", "refused", "unreachable"


@dataclass(frozen=True)
class WitnessEndpoint:
    key: NoteKey
    url: str

    @classmethod
    def parse(cls, vkey: str, url: str) -> WitnessEndpoint:
        key = NoteKey.parse(vkey)
        if key.sig_type != NOTE_COSIGNATURE_V1:
            raise NoteError(f"witness key {vkey!r} is not a cosignature/v1 key (type 0x04)")
        return cls(key, url.rstrip("/"))


@dataclass(frozen=True)
class Outcome:
    witness: str
    tree_size: int
    outcome: str
    detail: str

    def __str__(self) -> str:
        return f"witness {self.witness}: {self.outcome} at tree size {self.tree_size}" + \
            (f" ({self.detail})" if self.detail else "")


class WitnessRefused(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status} {body.strip()[:300]}")
        self.status, self.body = status, body


class WitnessConnection:
    """One keep-alive HTTP connection to a witness's add-checkpoint."""

    def __init__(self, endpoint: WitnessEndpoint, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        parts = urlsplit(endpoint.url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else \
            http.client.HTTPConnection
        self.conn = kind(parts.netloc, timeout=timeout)
        self.path = parts.path + "/add-checkpoint"

    def add_checkpoint(self, old_size: int, proof: Sequence[bytes], note: str) -> str:
        body = add_checkpoint_body(old_size, proof, note)
        try:
            self.conn.request("POST", self.path, body=body,
                              headers={"Content-Type": "text/plain; charset=utf-8"})
            response = self.conn.getresponse()
            text = response.read().decode(errors="replace")
        except (OSError, http.client.HTTPException):
            self.conn.close()
            raise
        if response.status != 200:
            raise WitnessRefused(response.status, text)
        return text

    def close(self) -> None:
        self.conn.close()


def add_checkpoint_body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    import base64

    lines = [f"old {old_size}"] + [base64.b64encode(h).decode() for h in proof]
    return ("\n".join(lines) + "\n\n" + note).encode()


def cosignature_from(endpoint: WitnessEndpoint, cp: Checkpoint, answer: str) -> Cosignature:
    """The witness's valid cosignature on the checkpoint among the lines it answered."""
    _, signatures = split_note("x\n\n" + answer)
    for sig in signatures:
        if (sig.name, sig.key_hash) == (endpoint.key.name, endpoint.key.key_hash):
            cosig = Cosignature.from_note_signature(sig)
            if cosig.valid_for(endpoint.key, cp.text()):
                return cosig
    raise NoteError("the witness answered no valid cosignature by its key")


def submit_checkpoints(ledger: Ledger, endpoints: Sequence[WitnessEndpoint]) -> list[Outcome]:
    """Every checkpoint a witness has not cosigned yet, oldest first, to each witness."""
    return [_submit_to(ledger, endpoint) for endpoint in endpoints]


def _submit_to(ledger: Ledger, endpoint: WitnessEndpoint) -> Outcome:
    name = str(endpoint.key)
    old = ledger.last_cosigned_size(endpoint.key.name, endpoint.key.key_hash)
    pending = [cp for cp in ledger.checkpoints(since=old) if cp.origin]
    if not pending:
        return Outcome(endpoint.key.name, old, COSIGNED, "up to date")
    conn = WitnessConnection(endpoint)
    cosigned = 0
    try:
        for cp in pending:
            if cp.tree_size < old:
                continue  # the witness is past this one already
            old = _submit_one(ledger, conn, cp, old)
            cosigned += old == cp.tree_size
        if old > pending[-1].tree_size:
            raise WitnessRefused(409, f"the witness cosigned this log at size {old}, beyond "
                                 f"the ledger's {pending[-1].tree_size} (a rollback?)")
    except WitnessRefused as e:
        outcome = Outcome(endpoint.key.name, pending[-1].tree_size, REFUSED, str(e))
        ledger.set_witness_status(name, outcome.tree_size, REFUSED, outcome.detail)
        return outcome
    except (OSError, http.client.HTTPException, NoteError) as e:
        return Outcome(endpoint.key.name, old, UNREACHABLE, f"{type(e).__name__}: {e}")
    finally:
        conn.close()
    ledger.set_witness_status(name, old, COSIGNED, "")
    return Outcome(endpoint.key.name, old, COSIGNED, f"{cosigned} new")


def _submit_one(ledger: Ledger, conn: WitnessConnection, cp: Checkpoint, old: int) -> int:
    """Submit one checkpoint; returns the size the witness now holds for the log."""
    try:
        answer = conn.add_checkpoint(old, ledger.consistency_proof(old, cp.tree_size)
                                     if old else [], cp.note())
    except WitnessRefused as e:
        known = _known_size(e)
        if known is None or known == old:
            raise
        if known > cp.tree_size:
            return known
        # The witness is elsewhere (what it cosigned was lost on our side): go on from its
        # size, proving that our history extends what it saw; it refuses if it does not.
        answer = conn.add_checkpoint(known, ledger.consistency_proof(known, cp.tree_size)
                                     if known else [], cp.note())
    ledger.add_cosignature(cp.tree_size, cosignature_from(conn.endpoint, cp, answer))
    return cp.tree_size


def _known_size(refusal: WitnessRefused) -> int | None:
    if refusal.status != 409:
        return None
    text = refusal.body.strip()
    return int(text) if text.isdigit() else None


def endpoints_from(settings_witnesses: Sequence[tuple[str, str]]) -> list[WitnessEndpoint]:
    return [WitnessEndpoint.parse(vkey, url) for vkey, url in settings_witnesses]
