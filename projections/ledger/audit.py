"""`qrec audit verify`: recompute every leaf from the stored events, check it against the
ledger and the signed checkpoints, and name the first position where the history fails.

One pass over the notification log: each recomputed leaf grows a fresh tree in memory; every
completed tile node is compared with the stored one (one lookup per 16 events), every
checkpoint's root and signature when the tree reaches its size. Only a failing tile is read
leaf by leaf, to pinpoint the event and say what happened to it. The stored leaves are read
page by page beside the events: a leaf row that no longer matches its event (the hash, the
record it names, or the row gone) while the events still give the stored tree is named too,
since proofs and exports read those rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from projections.ledger.heads import HeadsMap
from projections.ledger.merkle import TILE_HEIGHT, Frontier
from projections.ledger.store import Ledger, LedgerLeafRow, head_buckets_digest, leaf_digest
from projections.ledger.verifier import (
    Checkpoint,
    event_leaf_hash,
    root_of,
    signature_problem,
    verify_consistency,
)

CHANGED, MISSING, EXTRA, OUT_OF_ORDER = "changed", "missing", "extra", "out of order"
BAD_SIGNATURE, INCONSISTENT, LEDGER_CHANGED = ("bad signature", "checkpoint inconsistent",
                                               "ledger changed")
HEADS_WRONG = "heads map wrong"
TILE = 1 << TILE_HEIGHT
Progress = Callable[[int, int], None]
EventKey = tuple[Any, int, bytes]  # originator id, version, recomputed leaf hash


class EventStore(Protocol):
    def select_notifications(self, start: int | None, limit: int) -> Sequence[Any]: ...
    def select_events(self, originator_id: Any, *, gt: int | None = None,
                      lte: int | None = None) -> Sequence[Any]: ...
    def max_notification_id(self) -> int | None: ...


@dataclass(frozen=True)
class Finding:
    position: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.kind}: {self.detail}"


@dataclass
class AuditReport:
    tree_size: int
    checked: int = 0
    pending: int = 0
    checkpoints: int = 0
    finding: Finding | None = None
    heads_checked: int = 0  # checkpoints whose record heads map was recomputed and matched

    @property
    def ok(self) -> bool:
        return self.finding is None


@dataclass
class _Pass:
    """The state of one verification pass."""

    ledger: Ledger
    store: EventStore
    keys: dict[str, bytes]
    checkpoints: list[tuple[Checkpoint, bool]]  # (checkpoint, came from outside)
    nodes: dict[tuple[int, int], bytes]
    frontier: Frontier = field(default_factory=Frontier)
    tile: list[EventKey] = field(default_factory=list)
    next_cp: int = 0
    bad_leaf: Finding | None = None  # in the open tile; reported if its events hold up
    signed_to: int = 0  # the events up to here gave the root of a signed checkpoint
    heads: HeadsMap = field(default_factory=HeadsMap)  # every record's newest event so far
    heads_checked: int = 0


def verify_store(ledger: Ledger, store: EventStore, public_keys: dict[str, bytes], *,
                 trusted: Sequence[Checkpoint] = (), progress: Progress | None = None,
                 page_size: int = 10_000) -> AuditReport:
    """Check the whole history; ``trusted`` are checkpoints kept outside (exported earlier,
    or from the stream) that the history must still agree with."""
    report = AuditReport(ledger.tree_size())
    cps = sorted([(cp, False) for cp in ledger.checkpoints()] + [(cp, True) for cp in trusted],
                 key=lambda pair: pair[0].tree_size)
    run = _Pass(ledger, store, public_keys, cps, ledger.stored_nodes())
    report.finding = _scan(run, report, progress, page_size) or _finish(run, report)
    report.checkpoints, report.heads_checked = run.next_cp, run.heads_checked
    return report


def _scan(run: _Pass, report: AuditReport, progress: Progress | None,
          page_size: int) -> Finding | None:
    total = (run.store.max_notification_id() or 0) if progress else 0
    size, frontier, tile, nodes = report.tree_size, run.frontier, run.tile, run.nodes
    start = 1
    if progress:
        progress(0, total)
    while True:
        page = run.store.select_notifications(start, page_size)
        keys = [(n.originator_id, n.originator_version,
                 event_leaf_hash(n.originator_id, n.originator_version, n.topic, n.state))
                for n in page[:max(0, size - frontier.size)]]
        report.pending += len(page) - len(keys)
        if run.bad_leaf is None:
            run.bad_leaf = _first_bad_leaf(run.ledger, frontier.size, keys)
        heads = run.heads.latest
        for key in keys:
            tile.append(key)
            heads[key[0]] = (key[1], frontier.size)
            for level, idx, node in frontier.append(key[2]):
                if nodes.get((level, idx)) != node:
                    return _pinpoint(run, level, idx)
                if level == TILE_HEIGHT:
                    tile.clear()
                    if run.bad_leaf is not None and run.bad_leaf.position < frontier.size:
                        return run.bad_leaf
            if run.next_cp < len(run.checkpoints) and \
                    run.checkpoints[run.next_cp][0].tree_size == frontier.size:
                found = _check_checkpoints(run)
                if found:
                    return found
        report.checked = frontier.size
        if progress and page:
            progress(page[-1].id, total)
        if len(page) < page_size:
            return None
        start = page[-1].id + 1


def _first_bad_leaf(ledger: Ledger, first: int, keys: list[EventKey]) -> Finding | None:
    """The first stored leaf of a page that does not match its event, if any. Where the
    database computes the page's leaf digest, only a page that differs is read row by row."""
    if not keys:
        return None
    stop = first + len(keys)
    if ledger.leaf_digest(first, stop) == leaf_digest(keys):
        return None
    stored = {leaf.position: leaf for leaf in ledger.leaves(first, stop)}
    for position, (oid, version, h) in enumerate(keys, start=first):
        leaf = stored.get(position)
        if leaf is None or (leaf.originator_id, leaf.originator_version, leaf.leaf_hash) != \
                (str(oid), version, h):
            return _bad_leaf(position, leaf)
    return None


def _bad_leaf(position: int, leaf: LedgerLeafRow | None) -> Finding:
    what = "is gone" if leaf is None else (f"(record {leaf.originator_id} version "
                                           f"{leaf.originator_version}) does not match the "
                                           "event stored there")
    return Finding(position, LEDGER_CHANGED, f"the ledger's leaf at position {position} "
                   f"{what}, though the events still give the stored tree")


def _finish(run: _Pass, report: AuditReport) -> Finding | None:
    """The end of the store: a short store, a partial tile and checkpoints beyond the end."""
    if run.bad_leaf is not None and run.bad_leaf.position < run.signed_to:
        return run.bad_leaf  # the events are what was signed: the leaf row is what changed
    found = _compare_tile(run, run.frontier.size - len(run.tile), report.tree_size)
    if found:
        return found
    if run.frontier.size < report.tree_size:
        return _missing_tail(run.frontier.size, report.tree_size)
    run.heads.root()
    if run.ledger.stored_head_buckets_digest() != head_buckets_digest(run.heads.tree.levels[0]):
        return Finding(report.tree_size, LEDGER_CHANGED, "the stored record heads map (what "
                       "exports prove completeness with) does not match the events")
    for cp, outside in run.checkpoints[run.next_cp:]:
        kind = INCONSISTENT if outside else LEDGER_CHANGED
        return Finding(report.tree_size, kind, f"checkpoint at tree size {cp.tree_size} covers "
                       f"more than the {report.tree_size} events in the ledger")
    return None


def _check_checkpoints(run: _Pass) -> Finding | None:
    size = run.frontier.size
    root = run.frontier.root()
    while run.next_cp < len(run.checkpoints) and \
            run.checkpoints[run.next_cp][0].tree_size == size:
        cp, outside = run.checkpoints[run.next_cp]
        run.next_cp += 1
        bad = signature_problem(cp, run.keys)
        if bad:
            return Finding(size - 1, BAD_SIGNATURE, f"checkpoint at tree size {size} "
                           f"({cp.timestamp}): {bad}")
        if cp.root_hash != root:
            # a leaf in the open tile may explain it better than the checkpoint
            return _compare_tile(run, size - len(run.tile), size) or Finding(
                size - 1, INCONSISTENT, f"the {'exported ' if outside else ''}checkpoint at "
                f"tree size {size} ({cp.timestamp}) signs root {cp.root_hash.hex()[:16]}..., "
                f"the stored events give {root.hex()[:16]}...")
        if cp.origin:
            if cp.heads_root != run.heads.root():
                return Finding(size - 1, HEADS_WRONG, f"the checkpoint at tree size {size} "
                               "commits a record heads map that the stored events do not "
                               "give: a pack proved with it could leave events out")
            run.heads_checked += 1
        run.signed_to = size
    return None


def _pinpoint(run: _Pass, level: int, idx: int) -> Finding:
    if level == TILE_HEIGHT:
        start = idx * TILE
        found = _compare_tile(run, start, start + TILE)
        if found:
            return found
    return Finding((idx + 1) * (1 << level) - 1, LEDGER_CHANGED,
                   f"stored node (level {level}, index {idx}) does not match the events "
                   "beneath it")


def _compare_tile(run: _Pass, start: int, stop: int) -> Finding | None:
    """The first position in [start, stop) where the events and the stored leaves differ."""
    leaves = run.ledger.leaves(start, stop)
    for offset in range(stop - start):
        position = start + offset
        event = run.tile[offset] if offset < len(run.tile) else None
        leaf = leaves[offset] if offset < len(leaves) else None
        found = _classify(run, position, event, leaf)
        if found:
            return found
    return None


def _classify(run: _Pass, position: int, event: EventKey | None, leaf: Any) -> Finding | None:
    if event is None:
        return _missing_tail(position, run.ledger.tree_size())
    oid, version, h = event
    if leaf is None or leaf.position != position:
        return Finding(position, LEDGER_CHANGED, "the ledger has no leaf here")
    if (str(oid), version) == (leaf.originator_id, leaf.originator_version):
        if h == leaf.leaf_hash:
            return None
        return Finding(position, CHANGED, f"record {oid} version {version}: the stored event "
                       "(body, recorded time or topic) differs from the one recorded")
    if not run.store.select_events(UUID(leaf.originator_id), gt=leaf.originator_version - 1,
                                   lte=leaf.originator_version):
        return Finding(position, MISSING, f"record {leaf.originator_id} version "
                       f"{leaf.originator_version}, recorded here, is no longer in the store "
                       "(deleted)")
    recorded = run.ledger.position_of(oid, version)
    if recorded is None:
        return Finding(position, EXTRA, f"record {oid} version {version} is in the store but "
                       "was never recorded (inserted)")
    return Finding(position, OUT_OF_ORDER, f"record {oid} version {version} was recorded at "
                   f"position {recorded}, not here (events reordered)")


def _missing_tail(position: int, tree_size: int) -> Finding:
    return Finding(position, MISSING, f"the store ends at position {position} but the ledger "
                   f"recorded {tree_size} events: the newest {tree_size - position} are gone "
                   "(truncated)")


def consistent_with(ledger: Ledger, store: EventStore, earlier: Checkpoint,
                    page_size: int = 10_000) -> str | None:
    """None when today's history extends a checkpoint kept earlier; else what is wrong.

    Two checks an outside auditor makes: the ledger's consistency proof from the earlier
    checkpoint to its latest one, and the root of the first ``tree_size`` stored events."""
    latest = ledger.latest_checkpoint()
    if latest is None or latest.tree_size < earlier.tree_size:
        return f"the ledger no longer reaches tree size {earlier.tree_size}"
    try:
        proof = ledger.consistency_proof(earlier.tree_size, latest.tree_size)
    except LookupError as e:
        return f"no consistency proof: {e}"
    if not verify_consistency(earlier.tree_size, latest.tree_size, earlier.root_hash,
                              latest.root_hash, proof):
        return (f"the checkpoint at tree size {latest.tree_size} does not extend the one at "
                f"{earlier.tree_size} (consistency proof fails)")
    leaves = _stored_leaves(store, earlier.tree_size, page_size)
    if len(leaves) < earlier.tree_size:
        return f"the store holds {len(leaves)} events, fewer than {earlier.tree_size}"
    if root_of(leaves) != earlier.root_hash:
        return f"the first {earlier.tree_size} stored events no longer give the checkpoint's root"
    return None


def _stored_leaves(store: EventStore, count: int, page_size: int) -> list[bytes]:
    leaves: list[bytes] = []
    start = 1
    while len(leaves) < count:
        page = store.select_notifications(start, page_size)
        leaves.extend(event_leaf_hash(n.originator_id, n.originator_version, n.topic, n.state)
                      for n in page[:count - len(leaves)])
        if len(page) < page_size:
            break
        start = page[-1].id + 1
    return leaves
