"""The ledger's Merkle math against RFC 9162 section 2.1, written out plainly here."""

from __future__ import annotations

import hashlib
import random
import uuid

import pytest

from projections.ledger import merkle
from projections.ledger.heads import HeadsMap
from projections.ledger.verifier import (
    HEADS_DEPTH,
    bucket_hash,
    head_bucket,
    head_entry,
    heads_root_from_proof,
    leaf_hash,
    record_head,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# -- RFC 9162 section 2.1, as written ----------------------------------------------------------


def H(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def k_of(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def MTH(D: list[bytes]) -> bytes:
    n = len(D)
    if n == 0:
        return H(b"")
    if n == 1:
        return H(b"\x00" + D[0])
    k = k_of(n)
    return H(b"\x01" + MTH(D[:k]) + MTH(D[k:]))


def PATH(m: int, D: list[bytes]) -> list[bytes]:
    n = len(D)
    if n == 1:
        return []
    k = k_of(n)
    if m < k:
        return PATH(m, D[:k]) + [MTH(D[k:])]
    return PATH(m - k, D[k:]) + [MTH(D[:k])]


def SUBPROOF(m: int, D: list[bytes], b: bool) -> list[bytes]:
    n = len(D)
    if m == n:
        return [] if b else [MTH(D)]
    k = k_of(n)
    if m <= k:
        return SUBPROOF(m, D[:k], b) + [MTH(D[k:])]
    return SUBPROOF(m - k, D[k:], False) + [MTH(D[:k])]


def PROOF(m: int, D: list[bytes]) -> list[bytes]:
    return SUBPROOF(m, D, True)


# -- the ledger's side: a tree grown leaf by leaf, keeping only what the store keeps ----------


def grown(entries: list[bytes]) -> tuple[merkle.Frontier, dict[merkle.Key, bytes]]:
    frontier, stored = merkle.Frontier(), {}
    for i, entry in enumerate(entries):
        h = leaf_hash(entry)
        stored[(0, i)] = h
        for level, idx, node in frontier.append(h):
            stored[(level, idx)] = node
    return frontier, stored


def from_store(stored: dict[merkle.Key, bytes]) -> merkle.Fetch:
    return lambda keys: {k: stored[k] for k in keys if k in stored}


ENTRIES = [f"event {i}".encode() for i in range(70)]
SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 70]


@pytest.mark.parametrize("n", SIZES)
def test_the_root_of_a_grown_tree_is_the_rfc_merkle_tree_hash(n: int) -> None:
    frontier, stored = grown(ENTRIES[:n])
    assert frontier.root() == MTH(ENTRIES[:n])
    assert merkle.root_at(n, from_store(stored)) == MTH(ENTRIES[:n])
    assert root_of(leaf_hash(e) for e in ENTRIES[:n]) == MTH(ENTRIES[:n])


def test_the_empty_tree_hashes_to_the_hash_of_nothing() -> None:
    assert merkle.Frontier().root() == MTH([])


@pytest.mark.parametrize("n", SIZES)
def test_every_inclusion_proof_is_the_rfc_path_and_verifies(n: int) -> None:
    _, stored = grown(ENTRIES[:n])
    root = MTH(ENTRIES[:n])
    for m in range(n):
        proof = merkle.inclusion_proof(m, n, from_store(stored))
        assert proof == PATH(m, ENTRIES[:n]), (m, n)
        assert verify_inclusion(leaf_hash(ENTRIES[m]), m, n, proof, root)


@pytest.mark.parametrize("n", SIZES)
def test_every_consistency_proof_is_the_rfc_proof_and_verifies(n: int) -> None:
    _, stored = grown(ENTRIES[:n])
    for m in range(1, n + 1):
        proof = merkle.consistency_proof(m, n, from_store(stored))
        assert proof == PROOF(m, ENTRIES[:n]), (m, n)
        assert verify_consistency(m, n, MTH(ENTRIES[:m]), MTH(ENTRIES[:n]), proof)


def test_an_inclusion_proof_fails_for_another_leaf_index_root_or_a_bit_flip() -> None:
    n = 45
    root, proof = MTH(ENTRIES[:n]), PATH(20, ENTRIES[:n])
    leaf = leaf_hash(ENTRIES[20])
    assert not verify_inclusion(leaf_hash(ENTRIES[21]), 20, n, proof, root)
    assert not verify_inclusion(leaf, 21, n, proof, root)
    assert not verify_inclusion(leaf, 20, n, proof, MTH(ENTRIES[:44]))
    assert not verify_inclusion(leaf, 20, n, proof[:-1], root)
    flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:]] + proof[1:]
    assert not verify_inclusion(leaf, 20, n, flipped, root)
    assert not verify_inclusion(leaf, n, n, proof, root)


def test_a_consistency_proof_fails_when_the_older_tree_was_rewritten() -> None:
    rewritten = list(ENTRIES[:70])
    rewritten[3] = b"forged"
    proof = PROOF(20, rewritten)
    assert not verify_consistency(20, 70, MTH(ENTRIES[:20]), MTH(rewritten), proof)
    assert not verify_consistency(20, 70, MTH(ENTRIES[:20]), MTH(ENTRIES[:70]), proof[:-1])
    assert not verify_consistency(21, 20, MTH(ENTRIES[:21]), MTH(ENTRIES[:20]), [])


def test_the_frontier_survives_being_saved_and_loaded_between_pages() -> None:
    frontier, _ = grown(ENTRIES[:37])
    again = merkle.Frontier.from_bytes(37, frontier.to_bytes())
    for entry in ENTRIES[37:]:
        again.append(leaf_hash(entry))
    assert again.root() == MTH(ENTRIES)


def test_only_leaves_and_every_fourth_level_are_stored() -> None:
    _, stored = grown(ENTRIES[:64])
    assert {level for level, _ in stored} == {0, 4}
    assert sum(1 for level, _ in stored if level == 4) == 4


# -- the record heads map ----------------------------------------------------------------------


def heads_root_written_out(heads: dict[uuid.UUID, tuple[int, int]]) -> bytes:
    """The map's root from its definition, every one of the 65,536 buckets hashed."""
    buckets: dict[int, list[bytes]] = {}
    for rid, (version, position) in heads.items():
        buckets.setdefault(head_bucket(rid), []).append(head_entry(rid, version, position))
    level = [bucket_hash(buckets.get(b, [])) for b in range(1 << HEADS_DEPTH)]
    while len(level) > 1:
        level = [H(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def test_the_heads_map_kept_up_to_date_is_the_map_written_out_and_proves_each_head() -> None:
    rng = random.Random(5)
    ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(40)]
    ids += [uuid.UUID(bytes=ids[0].bytes[:2] + bytes(14))]  # shares a bucket with the first
    heads_map, heads = HeadsMap(), {}
    assert heads_map.root() == heads_root_written_out({})
    for position in range(300):
        rid = rng.choice(ids)
        version = heads.get(rid, (0, 0))[0] + 1
        heads[rid] = (version, position)
        heads_map.record(rid, version, position)
        if position % 150 == 0:
            assert heads_map.root() == heads_root_written_out(heads)
    root = heads_map.root()
    assert root == heads_root_written_out(heads)
    for rid, head in heads.items():
        bucket = head_bucket(rid)
        entries = heads_map.entries(bucket)
        siblings = heads_map.tree.siblings(bucket)
        assert heads_root_from_proof(bucket, entries, siblings) == root
        assert record_head(rid, entries) == head
    # A proof with the newest entry swapped for an older one does not give the root.
    rid = ids[0]
    bucket = head_bucket(rid)
    older = [head_entry(rid, 1, 0) if e[:16] == rid.bytes else e
             for e in heads_map.entries(bucket)]
    assert heads_root_from_proof(bucket, older, heads_map.tree.siblings(bucket)) != root
