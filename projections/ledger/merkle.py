"""The Merkle tree's growth and proofs, with no database: what to store and how to prove.

Storage layout ("tiles" of height 4): every leaf hash is stored, and the hash of every complete
perfect subtree whose level is a multiple of 4 (4, 8, 12...). Any other perfect subtree is at
most 8 stored hashes away, so a proof reads O(log n) small rows and never recomputes the tree;
and the stored nodes are only ~1/15 of the leaves, so appending and verifying stay cheap.

Keys are ``(level, index)``: level 0 is a leaf, ``(L, i)`` covers leaves ``[i*2^L, (i+1)*2^L)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence

from projections.ledger.verifier import fold_right_edge, node_hash

TILE_HEIGHT = 4
HASH_SIZE = 32
Key = tuple[int, int]
Fetch = Callable[[Collection[Key]], dict[Key, bytes]]
NO_NODES: tuple[tuple[int, int, bytes], ...] = ()


def is_stored_level(level: int) -> bool:
    return level % TILE_HEIGHT == 0


class Frontier:
    """The right edge of the tree: the hashes of its perfect subtrees, largest first.

    Enough to append leaves and to compute the root without reading anything else."""

    __slots__ = ("size", "hashes")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} edge subtrees")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> tuple[tuple[int, int, bytes], ...]:
        """Add a leaf; returns the stored-level nodes it completes as (level, index, hash)."""
        stack = self.hashes
        stack.append(leaf)
        last = self.size
        self.size = grown = last + 1
        if grown & 1:
            return NO_NODES
        completed = []
        level = 0
        sha256 = hashlib.sha256
        while not grown & 1:
            right = stack.pop()
            stack[-1] = sha256(b"\x01" + stack[-1] + right).digest()
            level += 1
            grown >>= 1
            if level % TILE_HEIGHT == 0:
                completed.append((level, last >> level, stack[-1]))
        return tuple(completed)

    def root(self) -> bytes:
        return fold_right_edge(self.hashes)

    def to_bytes(self) -> bytes:
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, blob: bytes) -> Frontier:
        return cls(size, [blob[i:i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)])


# -- which subtrees a proof is made of (RFC 9162 section 2.1.3.1 and 2.1.4.1) -------------------


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """PATH(m, D[n]) as leaf ranges [a, b), in proof order (nearest the leaf first)."""
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf {index} is not in a tree of size {tree_size}")
    ranges: list[tuple[int, int]] = []
    a, b = 0, tree_size
    while b - a > 1:
        k = _split(b - a)
        if index < a + k:
            ranges.append((a + k, b))
            b = a + k
        else:
            ranges.append((a, a + k))
            a += k
    return ranges[::-1]


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) as leaf ranges, in proof order."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first in (0, second):
        return []
    ranges: list[tuple[int, int]] = []
    m, a, b, whole = first, 0, second, True
    while m != b - a:
        k = _split(b - a)
        if m <= k:
            ranges.append((a + k, b))
            b = a + k
        else:
            ranges.append((a, a + k))
            m, a, whole = m - k, a + k, False
    if not whole:
        ranges.append((a, b))
    return ranges[::-1]


def perfect_subtrees(a: int, b: int) -> list[Key]:
    """[a, b) as perfect subtrees, largest first (a is aligned, as in every proof range)."""
    keys = []
    while a < b:
        level = (a & -a).bit_length() - 1 if a else (b - a).bit_length() - 1
        while a + (1 << level) > b:
            level -= 1
        keys.append((level, a >> level))
        a += 1 << level
    return keys


def stored_cover(level: int, index: int) -> list[Key]:
    """The stored hashes (leaves or tile nodes) that make up a perfect subtree."""
    base = level - level % TILE_HEIGHT
    width = 1 << (level - base)
    return [(base, index * width + i) for i in range(width)]


def _perfect_hash(hashes: list[bytes]) -> bytes:
    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


def range_hashes(ranges: Sequence[tuple[int, int]], fetch: Fetch) -> list[bytes]:
    """MTH of each range, from the stored hashes fetched in one call."""
    trees = [perfect_subtrees(a, b) for a, b in ranges]
    needed = {key for tree in trees for sub in tree for key in stored_cover(*sub)}
    stored = fetch(needed)
    missing = needed - stored.keys()
    if missing:
        raise LookupError(f"the ledger lacks stored hashes {sorted(missing)[:3]}")
    return [fold_right_edge([_perfect_hash([stored[k] for k in stored_cover(*sub)])
                             for sub in tree]) for tree in trees]


def inclusion_proof(index: int, tree_size: int, fetch: Fetch) -> list[bytes]:
    return range_hashes(inclusion_ranges(index, tree_size), fetch)


def consistency_proof(first: int, second: int, fetch: Fetch) -> list[bytes]:
    return range_hashes(consistency_ranges(first, second), fetch)


def root_at(tree_size: int, fetch: Fetch) -> bytes:
    return range_hashes([(0, tree_size)], fetch)[0] if tree_size else fold_right_edge([])
