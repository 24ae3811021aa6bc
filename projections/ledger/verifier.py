"""Check qrec's audit ledger with nothing but a public key: a standalone verifier.

This file needs only the Python standard library and ``cryptography``; an auditor may copy it
alone and run ``python verifier.py PACK.json [--public-key KEY.pem]``. It defines:

* the leaf of a stored event (RFC 9162 section 2.1.1 hashing)::

      leaf data = originator id (16 bytes, the UUID) || originator version (8 bytes, big-endian)
                  || length of topic (4 bytes, big-endian) || topic (UTF-8) || state (stored bytes)
      leaf hash = SHA-256(0x00 || leaf data)       node hash = SHA-256(0x01 || left || right)

  The state is the event body exactly as stored (orjson), so it includes the recorded time.
* inclusion and consistency proof verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2);
* checkpoints: tree size, root hash and time, signed with Ed25519 over ``checkpoint_message``;
* audit packs (``qrec audit export``): a record's events, each with its inclusion proof in the
  pack's checkpoint, and the public key(s).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PACK_FORMAT = "qrec.audit-pack.v1"
CHECKPOINT_HEADER = "qrec ledger checkpoint v1"

# -- hashing (RFC 9162 section 2.1.1) ---------------------------------------------------------


def leaf_data(originator_id: UUID | str, version: int, topic: str, state: bytes) -> bytes:
    oid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
    topic_bytes = topic.encode()
    if not isinstance(state, bytes):  # a row rewritten by hand may come back as text
        state = state.encode() if isinstance(state, str) else bytes(state)
    return (oid.bytes + version.to_bytes(8, "big") + len(topic_bytes).to_bytes(4, "big")
            + topic_bytes + state)


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def event_leaf_hash(originator_id: UUID | str, version: int, topic: str, state: bytes) -> bytes:
    return leaf_hash(leaf_data(originator_id, version, topic, state))


EMPTY_ROOT = hashlib.sha256(b"").digest()


def fold_right_edge(subtrees: Sequence[bytes]) -> bytes:
    """The root of a tree from its perfect subtrees, largest (leftmost) first."""
    if not subtrees:
        return EMPTY_ROOT
    root = subtrees[-1]
    for left in reversed(subtrees[:-1]):
        root = node_hash(left, root)
    return root


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH over leaf hashes, in one pass with a stack of perfect subtrees."""
    stack: list[tuple[int, bytes]] = []
    for count, h in enumerate(leaf_hashes, start=1):
        stack.append((0, h))
        merges = (count & -count).bit_length() - 1  # trailing zeros: subtrees completed
        for _ in range(merges):
            (level, right), (_, left) = stack.pop(), stack.pop()
            stack.append((level + 1, node_hash(left, right)))
    return fold_right_edge([h for _, h in stack])


# -- proofs (RFC 9162 sections 2.1.3.2 and 2.1.4.2) -------------------------------------------


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes],
                     root: bytes) -> bool:
    if index >= tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    if first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


# -- checkpoints and keys ---------------------------------------------------------------------


def key_id(public_raw: bytes) -> str:
    """A short, stable name for a public key: the first 8 bytes of its SHA-256, in hex."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_key_raw(pem_or_raw: bytes) -> bytes:
    """Raw 32-byte Ed25519 public key from PEM, base64 or raw bytes."""
    text = pem_or_raw.strip()
    if text.startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(text)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if len(text) == 32:
        return text
    return base64.b64decode(text)


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root_hash: bytes
    timestamp: str
    key_id: str = ""
    signature: bytes = b""

    def message(self) -> bytes:
        return checkpoint_message(self.tree_size, self.root_hash, self.timestamp)

    def to_json(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "root_hash": self.root_hash.hex(),
                "timestamp": self.timestamp, "key_id": self.key_id,
                "signature": base64.b64encode(self.signature).decode()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        return cls(int(data["tree_size"]), bytes.fromhex(data["root_hash"]),
                   str(data["timestamp"]), str(data.get("key_id", "")),
                   base64.b64decode(data.get("signature", "")))


def checkpoint_message(tree_size: int, root: bytes, timestamp: str) -> bytes:
    return f"{CHECKPOINT_HEADER}\ntree_size {tree_size}\nroot {root.hex()}\ntime {timestamp}\n" \
        .encode()


def signature_problem(cp: Checkpoint, public_keys: Mapping[str, bytes]) -> str | None:
    """None when the checkpoint is signed by one of the keys (key id -> raw public key)."""
    raw = public_keys.get(cp.key_id)
    if raw is None:
        return f"signed by key {cp.key_id or '(none)'}, which is not a trusted key"
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(cp.signature, cp.message())
    except (InvalidSignature, ValueError):
        return f"bad signature (key {cp.key_id})"
    return None


# -- audit packs ------------------------------------------------------------------------------


def pack_problems(pack: Mapping[str, Any],
                  trusted_keys: Mapping[str, bytes] | None = None) -> list[str]:
    """Everything wrong with an audit pack; empty when the pack proves its record's history.

    Without trusted keys the pack's own keys are used: compare their ids with the published
    key before relying on the result."""
    if pack.get("format") != PACK_FORMAT:
        return [f"not a qrec audit pack (format {pack.get('format')!r})"]
    cp = Checkpoint.from_json(pack["checkpoint"])
    keys = dict(trusted_keys) if trusted_keys is not None else {
        k: base64.b64decode(v) for k, v in pack.get("public_keys", {}).items()}
    problems = []
    if (bad := signature_problem(cp, keys)) is not None:
        problems.append(f"checkpoint at tree size {cp.tree_size}: {bad}")
    problems.extend(_event_problems(pack, cp))
    return problems


def _event_problems(pack: Mapping[str, Any], cp: Checkpoint) -> list[str]:
    problems = []
    for expected_version, event in enumerate(pack.get("events", []), start=1):
        where = f"position {event['position']} (version {event['originator_version']})"
        if event["originator_id"] != pack["record_id"]:
            problems.append(f"{where}: belongs to record {event['originator_id']}")
        if event["originator_version"] != expected_version:
            problems.append(f"{where}: expected version {expected_version}, history has a gap")
        leaf = event_leaf_hash(event["originator_id"], event["originator_version"],
                               event["topic"], base64.b64decode(event["state"]))
        proof = [bytes.fromhex(h) for h in event["inclusion_proof"]]
        if not verify_inclusion(leaf, event["position"], cp.tree_size, proof, cp.root_hash):
            problems.append(f"{where}: changed, or not in the checkpoint's tree "
                            "(inclusion proof fails)")
    if not pack.get("events"):
        problems.append("the pack holds no events")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a qrec audit pack offline.")
    parser.add_argument("pack", help="the audit pack (JSON) from `qrec audit export`")
    parser.add_argument("--public-key", action="append", default=[], metavar="FILE",
                        help="a trusted public key (PEM); default: the keys inside the pack")
    args = parser.parse_args(argv)
    with open(args.pack, "rb") as f:
        pack = json.load(f)
    trusted = None
    if args.public_key:
        trusted = {}
        for path in args.public_key:
            with open(path, "rb") as f:
                raw = public_key_raw(f.read())
            trusted[key_id(raw)] = raw
    problems = pack_problems(pack, trusted)
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems:
        cp = pack["checkpoint"]
        print(f"OK record {pack['record_id']}: {len(pack['events'])} events included in the "
              f"tree of size {cp['tree_size']} signed by key {cp['key_id']}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
