"""The record heads map kept up to date: which is every record's newest event (version and
leaf position) at a tree size, committed as ``heads_root`` in each checkpoint.

The map's form is defined in ``verifier`` (2^16 buckets by record id, a perfect Merkle tree
over the bucket hashes). ``HeadsTree`` holds the bucket hashes and the tree's nodes in memory,
sparse (an absent node is an empty subtree), so changing k buckets costs about
k * (16 - log2 k) hashes, not a rebuild; ``HeadsMap`` adds the entries of every bucket, for a
verifier that replays the whole log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from uuid import UUID

from projections.ledger.verifier import (
    EMPTY_HEADS,
    HEADS_DEPTH,
    bucket_hash,
    head_bucket,
    head_entry,
    node_hash,
)


class HeadsTree:
    """Bucket hashes (level 0) and the nodes above them, each level a dict index -> hash."""

    __slots__ = ("levels",)

    def __init__(self, buckets: Mapping[int, bytes] | None = None) -> None:
        self.levels: list[dict[int, bytes]] = [{} for _ in range(HEADS_DEPTH + 1)]
        if buckets:
            self.set_buckets(buckets)

    def set_buckets(self, changed: Mapping[int, bytes]) -> None:
        self.levels[0].update(changed)
        touched: Iterable[int] = changed.keys()
        for level in range(1, HEADS_DEPTH + 1):
            below, here, empty = self.levels[level - 1], self.levels[level], EMPTY_HEADS[level - 1]
            touched = {i >> 1 for i in touched}
            for i in touched:
                here[i] = node_hash(below.get(2 * i, empty), below.get(2 * i + 1, empty))

    def root(self) -> bytes:
        return self.levels[HEADS_DEPTH].get(0, EMPTY_HEADS[HEADS_DEPTH])

    def siblings(self, bucket: int) -> list[bytes]:
        """The proof path of a bucket, nearest first."""
        return [self.levels[level].get((bucket >> level) ^ 1, EMPTY_HEADS[level])
                for level in range(HEADS_DEPTH)]


class HeadsMap:
    """The whole map in memory: every record's head, grouped by bucket (for verify)."""

    def __init__(self) -> None:
        self.buckets: dict[int, dict[bytes, bytes]] = {}
        self.tree = HeadsTree()
        self.dirty: set[int] = set()

    def record(self, record_id: UUID, version: int, position: int) -> None:
        bucket = head_bucket(record_id)
        entry = head_entry(record_id, version, position)
        self.buckets.setdefault(bucket, {})[entry[:16]] = entry
        self.dirty.add(bucket)

    def root(self) -> bytes:
        if self.dirty:
            self.tree.set_buckets({b: bucket_hash(self.buckets[b].values()) for b in self.dirty})
            self.dirty.clear()
        return self.tree.root()
