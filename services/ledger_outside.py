"""What the ledger's checkpoints get from outside the plant: witness cosignatures (every new
checkpoint to every witness in QREC_WITNESSES) and RFC 3161 timestamps (every checkpoint, or
one each QREC_TSA_EVERY seconds, from QREC_TSA_URL). Both run after a catch-up, outside its
transactions; a refusal or an unreachable party is said, and tried again next time."""

from __future__ import annotations

from datetime import datetime

from projections.ledger.store import Ledger
from services.settings import Settings
from services.timestamps import Authority, TimestampError
from services.witness_client import endpoints_from, submit_checkpoints


def publish_outside(ledger: Ledger, settings: Settings) -> list[str]:
    """Cosignatures and timestamps for the new checkpoints; one line per party."""
    lines = [str(o) for o in submit_checkpoints(ledger, endpoints_from(settings.witnesses))]
    if settings.tsa_url:
        lines.append(stamp_checkpoints(ledger, settings))
    return lines


def authority(settings: Settings) -> Authority:
    assert settings.tsa_cert is not None  # Settings.check demands it with a URL
    return Authority.from_files(settings.tsa_url, settings.tsa_cert)


def stamp_checkpoints(ledger: Ledger, settings: Settings) -> str:
    stamped = ledger.timestamps()
    last_size = stamped[-1][0] if stamped else 0
    last_cp = ledger.checkpoint_at(last_size) if stamped else None
    # The period runs on the checkpoints' own times, as the ledger's clock made them.
    last_time = datetime.fromisoformat(last_cp.timestamp) if last_cp else None
    tsa, made = authority(settings), 0
    try:
        for cp in ledger.checkpoints(since=last_size):
            if not cp.origin:
                continue
            cp_time = datetime.fromisoformat(cp.timestamp)
            if last_time is not None and settings.tsa_every and \
                    (cp_time - last_time).total_seconds() < settings.tsa_every:
                continue
            gen_time, response = tsa.stamp(cp.text().encode())
            ledger.add_timestamp(cp.tree_size, settings.tsa_url, gen_time.isoformat(),
                                 response)
            last_time, made = cp_time, made + 1
    except TimestampError as e:
        return f"timestamps: {made} new, then failed: {e}"
    return f"timestamps: {made} new from {settings.tsa_url}"


def timestamp_problem(ledger: Ledger, settings: Settings) -> str | None:
    """None when every kept timestamp token verifies against the authority's certificate
    and stamps its checkpoint's text; else the first that does not."""
    if settings.tsa_cert is None:
        return None
    tsa = authority(settings)
    checkpoints = {cp.tree_size: cp for cp in ledger.checkpoints() if cp.origin}
    for tree_size, _, gen_time, response in ledger.timestamps():
        cp = checkpoints.get(tree_size)
        if cp is None:
            return f"timestamp of {gen_time} names tree size {tree_size}, which has no checkpoint"
        try:
            tsa.verify(response, cp.text().encode())
        except TimestampError as e:
            return f"the timestamp on the checkpoint at tree size {tree_size}: {e}"
    return None
