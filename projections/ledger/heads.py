"""The record heads map kept up to date: which is every record's newest event (version and
leaf position) at a tree size, committed as ``heads_root`` in each checkpoint.

The map's form is defined in ``verifier`` (2^16 buckets by record id, a perfect Merkle tree
over the bucket hashes). ``HeadsTree`` holds the bucket hashes and the tree's nodes in memory,
sparse (an absent node is an empty subtree), so changing k buckets costs about
k * (16 - log2 k) hashes, not a rebuild; ``HeadsMap`` adds the entries of every bucket, for a
verifier that replays the whole log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from uuid import UUID

from projections.ledger.verifier import (
    EMPTY_HEADS,
    HEADS_DEPTH,
    bucket_hash,
)


class HeadsTree:
    """Bucket hashes (level 0) and the nodes above them, each level a dict index -> hash.

    Changed buckets are folded into the nodes only when a root or a path is asked for, so
    many pages between two checkpoints share the work on the upper levels."""

    __slots__ = ("levels", "dirty")

    def __init__(self, buckets: Mapping[int, bytes] | None = None) -> None:
        self.levels: list[dict[int, bytes]] = [{} for _ in range(HEADS_DEPTH + 1)]
        self.dirty: set[int] = set()
        if buckets:
            self.set_buckets(buckets)

    def set_buckets(self, changed: Mapping[int, bytes]) -> None:
        self.levels[0].update(changed)
        self.dirty.update(changed)

    def _fold(self) -> None:
        touched: Iterable[int] = self.dirty
        sha256 = hashlib.sha256
        for level in range(1, HEADS_DEPTH + 1):
            below, here, empty = self.levels[level - 1], self.levels[level], EMPTY_HEADS[level - 1]
            touched = {i >> 1 for i in touched}
            for i in touched:
                here[i] = sha256(b"\x01" + below.get(2 * i, empty) +
                                 below.get(2 * i + 1, empty)).digest()
        self.dirty = set()

    def root(self) -> bytes:
        if self.dirty:
            self._fold()
        return self.levels[HEADS_DEPTH].get(0, EMPTY_HEADS[HEADS_DEPTH])

    def siblings(self, bucket: int) -> list[bytes]:
        """The proof path of a bucket, nearest first."""
        if self.dirty:
            self._fold()
        return [self.levels[level].get((bucket >> level) ^ 1, EMPTY_HEADS[level])
                for level in range(HEADS_DEPTH)]


class HeadsMap:
    """The whole map in memory, for a verifier that replays the log: ``latest`` takes each
    event (one dict write), ``root`` folds what changed since into the buckets and the tree."""

    def __init__(self) -> None:
        self.latest: dict[UUID, tuple[int, int]] = {}  # since the last root
        self.buckets: dict[int, dict[UUID, bytes]] = {}  # bucket -> record -> entry
        self.tree = HeadsTree()

    def record(self, record_id: UUID, version: int, position: int) -> None:
        self.latest[record_id] = (version, position)

    def root(self) -> bytes:
        if self.latest:
            dirty = set()
            buckets = self.buckets
            for rid, (version, position) in self.latest.items():
                n = rid.int
                bucket = n >> 112  # head_bucket, inlined: this runs once per record
                entries = buckets.get(bucket)
                if entries is None:
                    entries = buckets[bucket] = {}
                entries[rid] = (n << 128 | version << 64 | position).to_bytes(32, "big")
                dirty.add(bucket)
            self.latest.clear()
            self.tree.set_buckets({b: bucket_hash(buckets[b].values()) for b in dirty})
        return self.tree.root()

    def entries(self, bucket: int) -> list[bytes]:
        self.root()
        return sorted(self.buckets.get(bucket, {}).values())
