"""Check qrec's audit ledger with nothing but a public key: a standalone verifier.

This file needs only the Python standard library and ``cryptography``; an auditor may copy it
alone and run ``python verifier.py PACK.json [--public-key KEY.pem]``. It defines:

* the leaf of a stored event (RFC 9162 section 2.1.1 hashing)::

      leaf data = originator id (16 bytes, the UUID) || originator version (8 bytes, big-endian)
                  || length of topic (4 bytes, big-endian) || topic (UTF-8) || state (stored bytes)
      leaf hash = SHA-256(0x00 || leaf data)       node hash = SHA-256(0x01 || left || right)

  The state is the event body exactly as stored (orjson), so it includes the recorded time.
* inclusion and consistency proof verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2);
* checkpoints: C2SP checkpoints in signed notes (c2sp.org/tlog-checkpoint, signed-note):
  origin, tree size, base64 root, then ``qrec-time`` and ``qrec-heads`` extension lines,
  signed with Ed25519 (type 0x01, key ID = SHA-256(origin || 0x0A || 0x01 || key)[:4]);
  witnesses' cosignatures (c2sp.org/tlog-cosignature, cosignature/v1, type 0x04). The older
  JSON form, signed over ``checkpoint_message``, still verifies;
* the record heads map (record id -> newest version and position) a checkpoint commits;
* audit packs (``qrec audit export``): a record's events, each with its inclusion proof in the
  pack's checkpoint, the proof of the record's head in the heads map (so a left-out event
  is named), the public key(s) and the checkpoint's cosignatures. ``--witness-key VKEY`` and
  ``--witnesses K`` demand K valid cosignatures by witnesses the auditor trusts.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
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


# -- signed notes (c2sp.org/signed-note) --------------------------------------------------------

NOTE_ED25519, NOTE_COSIGNATURE_V1 = 0x01, 0x04  # signature types
EM_DASH = "\u2014"


class NoteError(ValueError):
    """Text that is not a well-formed signed note or checkpoint."""


def note_key_hash(name: str, sig_type: int, public_raw: bytes) -> bytes:
    """SHA-256(key name || 0x0A || signature type || public key)[:4]: the key ID of a note
    signature line (c2sp.org/signed-note)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_raw).digest()[:4]


@dataclass(frozen=True)
class NoteKey:
    """A verifier key (vkey): ``<name>+<hex key ID>+<base64(type || public key)>``."""

    name: str
    key_hash: bytes
    sig_type: int
    public: bytes

    @classmethod
    def make(cls, name: str, sig_type: int, public_raw: bytes) -> NoteKey:
        _check_key_name(name)
        return cls(name, note_key_hash(name, sig_type, public_raw), sig_type, public_raw)

    @classmethod
    def parse(cls, vkey: str) -> NoteKey:
        name, _, rest = vkey.strip().partition("+")
        hex_hash, _, material = rest.partition("+")
        try:
            raw = base64.b64decode(material, validate=True)
            key_hash = bytes.fromhex(hex_hash)
        except ValueError:
            raise NoteError(f"not a verifier key: {vkey!r}") from None
        if len(key_hash) != 4 or len(raw) != 33 or raw[0] not in (NOTE_ED25519,
                                                                  NOTE_COSIGNATURE_V1):
            raise NoteError(f"not an Ed25519 verifier key: {vkey!r}")
        key = cls.make(name, raw[0], raw[1:])
        if key.key_hash != key_hash:
            raise NoteError(f"verifier key {vkey!r}: key ID does not match the key")
        return key

    def __str__(self) -> str:
        material = base64.b64encode(bytes([self.sig_type]) + self.public).decode()
        return f"{self.name}+{self.key_hash.hex()}+{material}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_hash: bytes
    signature: bytes  # after the key ID

    def line(self) -> str:
        return f"{EM_DASH} {self.name} " \
               f"{base64.b64encode(self.key_hash + self.signature).decode()}\n"


def _check_key_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"key name {name!r} is empty or holds a space or '+'")


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """The text of a signed note (with its final newline) and its signature lines."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a note holds no control characters but newlines")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("a note is text, a blank line and signature lines")
    text, signatures = note[:cut + 1], []
    for line in note[cut + 2:-1].split("\n"):
        dash, _, rest = line.partition(" ")
        name, _, b64 = rest.partition(" ")
        try:
            raw = base64.b64decode(b64, validate=True)
        except ValueError:
            raise NoteError(f"signature line {line[:40]!r}... is not base64") from None
        if dash != EM_DASH or len(raw) < 5 or " " in b64:
            raise NoteError(f"not a signature line: {line[:60]!r}")
        _check_key_name(name)
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return text, signatures


def verified_note_signatures(note: str, keys: Sequence[NoteKey]) -> tuple[str, list[NoteKey]]:
    """The text and the known keys whose signatures on it verify. Signatures of unknown keys
    are ignored; a known key's signature that fails makes the whole note bad."""
    text, signatures = split_note(note)
    good = []
    for sig in signatures:
        for key in keys:
            if (key.name, key.key_hash) == (sig.name, sig.key_hash):
                if not _note_signature_valid(key, text, sig.signature):
                    raise NoteError(f"the signature of {key.name}+{key.key_hash.hex()} "
                                    "does not verify")
                good.append(key)
    return text, good


def _note_signature_valid(key: NoteKey, text: str, signature: bytes) -> bool:
    if key.sig_type == NOTE_COSIGNATURE_V1:
        return len(signature) == 72 and \
            key.verify(cosignature_message(text, int.from_bytes(signature[:8], "big")),
                       signature[8:])
    return key.verify(text.encode(), signature)


# -- cosignatures (c2sp.org/tlog-cosignature, Ed25519, cosignature/v1) --------------------------


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_text}".encode()


@dataclass(frozen=True)
class Cosignature:
    """A witness's timestamped signature on a checkpoint's note text."""

    name: str
    key_hash: bytes
    timestamp: int
    signature: bytes

    @classmethod
    def from_note_signature(cls, sig: NoteSignature) -> Cosignature:
        if len(sig.signature) != 72:
            raise NoteError(f"the signature of {sig.name} is not a cosignature/v1")
        return cls(sig.name, sig.key_hash, int.from_bytes(sig.signature[:8], "big"),
                   sig.signature[8:])

    def line(self) -> str:
        return NoteSignature(self.name, self.key_hash,
                             self.timestamp.to_bytes(8, "big") + self.signature).line()

    def valid_for(self, key: NoteKey, checkpoint_text: str) -> bool:
        return (key.sig_type, key.name, key.key_hash) == \
            (NOTE_COSIGNATURE_V1, self.name, self.key_hash) and self.timestamp < 1 << 63 and \
            key.verify(cosignature_message(checkpoint_text, self.timestamp), self.signature)


# -- checkpoints and keys ---------------------------------------------------------------------


def key_id(public_raw: bytes) -> str:
    """A short, stable name for a public key: the first 8 bytes of its SHA-256, in hex."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_key_raw(pem_or_raw: bytes) -> bytes:
    """Raw 32-byte Ed25519 public key from PEM, base64, a vkey or raw bytes."""
    text = pem_or_raw.strip()
    if text.startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(text)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if len(text) == 32:
        return text
    if text.count(b"+") >= 2 and not text.startswith(b"+"):
        return NoteKey.parse(text.decode()).public
    return base64.b64decode(text)


TIME_LINE, HEADS_LINE = "qrec-time ", "qrec-heads "


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head. With an ``origin`` it is a C2SP checkpoint (c2sp.org/tlog-checkpoint)
    in a signed note: origin, tree size and base64 root, then two extension lines, the time
    and the root of the record heads map, signed by the log's Ed25519 key named after the
    origin; witnesses add cosignatures. Without one it is the older JSON form (v1)."""

    tree_size: int
    root_hash: bytes
    timestamp: str
    key_id: str = ""
    signature: bytes = b""
    origin: str = ""
    heads_root: bytes = b""
    note_key_hash: bytes = b""
    cosignatures: tuple[Cosignature, ...] = ()

    def text(self) -> str:
        """The note text: what the log signs and witnesses cosign."""
        return (f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root_hash).decode()}\n"
                f"{TIME_LINE}{self.timestamp}\n"
                f"{HEADS_LINE}{base64.b64encode(self.heads_root).decode()}\n")

    def message(self) -> bytes:
        if self.origin:
            return self.text().encode()
        return checkpoint_message(self.tree_size, self.root_hash, self.timestamp)

    def note(self) -> str:
        """The signed note: text, blank line, the log's signature, then the cosignatures."""
        lines = NoteSignature(self.origin, self.note_key_hash, self.signature).line()
        return self.text() + "\n" + lines + "".join(c.line() for c in self.cosignatures)

    def with_cosignatures(self, cosignatures: Iterable[Cosignature]) -> Checkpoint:
        return replace(self, cosignatures=tuple(cosignatures))

    def to_json(self) -> dict[str, Any]:
        data = {"tree_size": self.tree_size, "root_hash": self.root_hash.hex(),
                "timestamp": self.timestamp, "key_id": self.key_id,
                "signature": base64.b64encode(self.signature).decode()}
        if self.origin:
            data["note"] = self.note()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        if "note" in data:
            return cls.from_note(str(data["note"]), str(data.get("key_id", "")))
        return cls(int(data["tree_size"]), bytes.fromhex(data["root_hash"]),
                   str(data["timestamp"]), str(data.get("key_id", "")),
                   base64.b64decode(data.get("signature", "")))

    @classmethod
    def from_note(cls, note: str, key_id: str = "") -> Checkpoint:
        """Parse a qrec checkpoint note (signatures unchecked: see ``signature_problem``)."""
        text, signatures = split_note(note)
        fields = parse_checkpoint_text(text)
        origin, size, root, extensions = fields
        timestamp = next((e[len(TIME_LINE):] for e in extensions if e.startswith(TIME_LINE)), "")
        heads = next((e[len(HEADS_LINE):] for e in extensions if e.startswith(HEADS_LINE)), "")
        logs = [s for s in signatures if s.name == origin and len(s.signature) == 64]
        if not logs or not timestamp or not heads:
            raise NoteError(f"not a qrec checkpoint: no log signature, time or heads line "
                            f"for {origin}")
        cosigs = tuple(Cosignature.from_note_signature(s) for s in signatures
                       if len(s.signature) == 72)
        cp = cls(size, root, timestamp, key_id, logs[0].signature, origin,
                 base64.b64decode(heads), logs[0].key_hash, cosigs)
        if cp.text() != text:
            raise NoteError("checkpoint text is not in qrec's form")
        return cp


def parse_checkpoint_text(text: str) -> tuple[str, int, bytes, list[str]]:
    """(origin, tree size, root hash, extension lines) of a C2SP checkpoint's note text."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise NoteError("a checkpoint is at least three non-empty lines")
    origin, size, root = lines[:3]
    if not size.isdigit() or not size.isascii() or (size != "0" and size.startswith("0")):
        raise NoteError(f"tree size {size!r} is not a decimal number")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except ValueError:
        raise NoteError("the root hash is not base64") from None
    if len(root_hash) != 32:
        raise NoteError("the root hash is not 32 bytes")
    return origin, int(size), root_hash, lines[3:-1]


def checkpoint_message(tree_size: int, root: bytes, timestamp: str) -> bytes:
    return f"{CHECKPOINT_HEADER}\ntree_size {tree_size}\nroot {root.hex()}\ntime {timestamp}\n" \
        .encode()


def signature_problem(cp: Checkpoint, public_keys: Mapping[str, bytes]) -> str | None:
    """None when the checkpoint is signed by one of the keys (key id -> raw public key)."""
    raw = public_keys.get(cp.key_id)
    if raw is None and cp.origin:  # a note names its key by origin and note key ID
        raw = next((r for r in public_keys.values()
                    if note_key_hash(cp.origin, NOTE_ED25519, r) == cp.note_key_hash), None)
    if raw is None:
        return f"signed by key {cp.key_id or '(none)'}, which is not a trusted key"
    if cp.origin and note_key_hash(cp.origin, NOTE_ED25519, raw) != cp.note_key_hash:
        return f"bad signature (key {cp.key_id}: the note names another key ID)"
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(cp.signature, cp.message())
    except (InvalidSignature, ValueError):
        return f"bad signature (key {cp.key_id})"
    return None


def cosigned_by(cp: Checkpoint, witnesses: Sequence[NoteKey]) -> list[NoteKey]:
    """The trusted witnesses whose cosignatures on the checkpoint verify."""
    if not cp.origin:
        return []
    text = cp.text()
    return [key for key in witnesses
            if any(c.valid_for(key, text) for c in cp.cosignatures)]


# -- the record heads map: record id -> (latest version, leaf index) at a checkpoint -----------
#
# 2^16 buckets by the first two bytes of the record id; a bucket's hash is
# SHA-256(0x00 || its entries sorted), an entry record id (16) || version (8) || position (8)
# big-endian; the map root is the perfect Merkle tree (node = SHA-256(0x01 || l || r)) over the
# 65,536 bucket hashes. A record's proof is its bucket's entries and the 16 sibling hashes.

HEADS_DEPTH = 16


def head_bucket(record_id: UUID) -> int:
    return record_id.int >> 112  # the first two bytes


def head_entry(record_id: UUID, version: int, position: int) -> bytes:
    return (record_id.int << 128 | version << 64 | position).to_bytes(32, "big")


def bucket_hash(entries: Iterable[bytes]) -> bytes:
    return hashlib.sha256(b"\x00" + b"".join(sorted(entries))).digest()


def _empty_heads_subtrees() -> list[bytes]:
    empty = [bucket_hash([])]
    for _ in range(HEADS_DEPTH):
        empty.append(node_hash(empty[-1], empty[-1]))
    return empty


EMPTY_HEADS = _empty_heads_subtrees()  # the hash of an empty subtree at each level


def heads_root_from_proof(bucket: int, entries: Sequence[bytes],
                          siblings: Sequence[bytes]) -> bytes:
    if len(siblings) != HEADS_DEPTH:
        raise ValueError(f"a heads proof has {HEADS_DEPTH} sibling hashes")
    h = bucket_hash(entries)
    for level, sibling in enumerate(siblings):
        h = node_hash(sibling, h) if bucket >> level & 1 else node_hash(h, sibling)
    return h


def record_head(record_id: UUID, entries: Sequence[bytes]) -> tuple[int, int] | None:
    """(version, position) of the record in its bucket's entries; None if it has none."""
    for entry in entries:
        if entry[:16] == record_id.bytes:
            return int.from_bytes(entry[16:24], "big"), int.from_bytes(entry[24:32], "big")
    return None


# -- audit packs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WitnessPolicy:
    """The witnesses an auditor trusts and how many of them must have cosigned."""

    keys: tuple[NoteKey, ...] = ()
    required: int = 0


def pack_problems(pack: Mapping[str, Any], trusted_keys: Mapping[str, bytes] | None = None,
                  witnesses: WitnessPolicy = WitnessPolicy()) -> list[str]:
    """Everything wrong with an audit pack; empty when the pack proves its record's history.

    Without trusted keys the pack's own keys are used: compare their ids with the published
    key before relying on the result."""
    if pack.get("format") != PACK_FORMAT:
        return [f"not a qrec audit pack (format {pack.get('format')!r})"]
    try:
        cp = Checkpoint.from_json(pack["checkpoint"])
    except (NoteError, ValueError, KeyError) as e:
        return [f"the pack's checkpoint cannot be read: {e}"]
    keys = dict(trusted_keys) if trusted_keys is not None else {
        k: base64.b64decode(v) for k, v in pack.get("public_keys", {}).items()}
    problems = []
    if (bad := signature_problem(cp, keys)) is not None:
        problems.append(f"checkpoint at tree size {cp.tree_size}: {bad}")
    problems.extend(_witness_problems(cp, witnesses))
    problems.extend(_event_problems(pack, cp))
    if cp.origin:
        problems.extend(_completeness_problems(pack, cp))
    return problems


def _witness_problems(cp: Checkpoint, witnesses: WitnessPolicy) -> list[str]:
    if not witnesses.required:
        return []
    good = cosigned_by(cp, witnesses.keys)
    if len(good) >= witnesses.required:
        return []
    return [f"checkpoint at tree size {cp.tree_size}: {len(good)} valid cosignatures from "
            f"trusted witnesses, {witnesses.required} required "
            f"({len(cp.cosignatures)} cosignatures in the pack)"]


def _event_problems(pack: Mapping[str, Any], cp: Checkpoint) -> list[str]:
    problems = []
    for expected_version, event in enumerate(pack.get("events", []), start=1):
        where = f"position {event['position']} (version {event['originator_version']})"
        if event["originator_id"] != pack["record_id"]:
            problems.append(f"{where}: belongs to record {event['originator_id']}")
        if event["originator_version"] != expected_version:
            problems.append(f"{where}: expected version {expected_version}, history has a gap "
                            f"(version {expected_version} is missing)")
        leaf = event_leaf_hash(event["originator_id"], event["originator_version"],
                               event["topic"], base64.b64decode(event["state"]))
        proof = [bytes.fromhex(h) for h in event["inclusion_proof"]]
        if not verify_inclusion(leaf, event["position"], cp.tree_size, proof, cp.root_hash):
            problems.append(f"{where}: changed, or not in the checkpoint's tree "
                            "(inclusion proof fails)")
    if not pack.get("events"):
        problems.append("the pack holds no events")
    return problems


def _completeness_problems(pack: Mapping[str, Any], cp: Checkpoint) -> list[str]:
    """The checkpoint's heads map names the record's newest event: the pack must end there."""
    record = UUID(pack["record_id"])
    proof = pack.get("heads_proof")
    if not proof:
        return ["the pack has no heads proof: nothing shows it holds the whole history"]
    entries = [bytes.fromhex(e) for e in proof["entries"]]
    bucket = head_bucket(record)
    if entries != sorted(set(entries)) or \
            any(head_bucket(UUID(bytes=e[:16])) != bucket or len(e) != 32 for e in entries) or \
            heads_root_from_proof(bucket, entries,
                                  [bytes.fromhex(h) for h in proof["siblings"]]) != cp.heads_root:
        return [f"the heads proof does not give the checkpoint's heads root (record {record})"]
    head = record_head(record, entries)
    if head is None:
        return [f"the checkpoint's heads map has no event of record {record}"]
    version, position = head
    events = pack.get("events", [])
    have = {e["originator_version"]: e["position"] for e in events}
    missing = [v for v in range(1, version + 1) if v not in have]
    if missing:
        return [f"record {record}: the checkpoint at tree size {cp.tree_size} has its newest "
                f"event at version {version} (position {position}); the pack lacks "
                f"version{'s' if len(missing) > 1 else ''} {_ranges(missing)}"]
    if have.get(version) != position or max(have) != version:
        return [f"record {record}: the checkpoint's newest event is version {version} at "
                f"position {position}, not the pack's"]
    return []


def _ranges(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers[:10]) + (", ..." if len(numbers) > 10 else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a qrec audit pack offline.")
    parser.add_argument("pack", help="the audit pack (JSON) from `qrec audit export`")
    parser.add_argument("--public-key", action="append", default=[], metavar="FILE",
                        help="a trusted public key (PEM); default: the keys inside the pack")
    parser.add_argument("--witness-key", action="append", default=[], metavar="VKEY",
                        help="a trusted witness's verifier key (name+id+key, or a file of one)")
    parser.add_argument("--witnesses", type=int, default=None, metavar="K",
                        help="valid cosignatures required (default: 1 with --witness-key)")
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
    policy = witness_policy(args.witness_key, args.witnesses)
    problems = pack_problems(pack, trusted, policy)
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems:
        print(pack_summary(pack, policy))
    return 1 if problems else 0


def witness_policy(vkeys: Sequence[str], required: int | None) -> WitnessPolicy:
    """Witness keys given inline or as files; K defaults to 1 once any key is given."""
    keys = []
    for given in vkeys:
        try:
            with open(given) as f:
                given = f.read()
        except OSError:
            pass
        keys.append(NoteKey.parse(given))
    return WitnessPolicy(tuple(keys), (1 if keys else 0) if required is None else required)


def pack_summary(pack: Mapping[str, Any], policy: WitnessPolicy) -> str:
    cp = Checkpoint.from_json(pack["checkpoint"])
    line = (f"OK record {pack['record_id']}: {len(pack['events'])} events included in the "
            f"tree of size {cp.tree_size} signed by key {cp.key_id}")
    if cp.origin:
        line += f" (log {cp.origin}); the checkpoint's heads map shows no event is missing"
    if policy.keys:
        names = [k.name for k in cosigned_by(cp, policy.keys)]
        line += f"; cosigned by {len(names)} trusted witnesses ({', '.join(names)})"
    return line


if __name__ == "__main__":
    sys.exit(main())
