"""The ledger's Ed25519 keyring, a directory in the data dir (never in the database).

Layout: ``ed25519-<key id>.key`` (private, PKCS#8 PEM, mode 0600), ``ed25519-<key id>.pub``
(public, PEM), ``current`` (the id of the signing key). The directory is mode 0700.

Rotation makes a new key current and keeps every old public key, so checkpoints signed before
stay verifiable; the old key signs a statement naming its successor (``rotation-<new id>.json``)
so a verifier who trusts the old key can follow the chain to the new one.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from projections.ledger.verifier import (
    NOTE_COSIGNATURE_V1,
    NOTE_ED25519,
    Cosignature,
    NoteKey,
    NoteSignature,
    cosignature_message,
    key_id,
)

ROTATION_HEADER = "qrec ledger key rotation v1"


@dataclass(frozen=True)
class Signer:
    key_id: str
    private_key: Ed25519PrivateKey

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    @property
    def public_raw(self) -> bytes:
        return _raw_public(self.private_key)

    def note_key(self, name: str) -> NoteKey:
        """The verifier key (vkey) of this key as the signer of notes named ``name``."""
        return NoteKey.make(name, NOTE_ED25519, self.public_raw)

    def sign_note(self, name: str, text: str) -> NoteSignature:
        """An Ed25519 note signature (c2sp.org/signed-note, type 0x01) on the note text."""
        return NoteSignature(name, self.note_key(name).key_hash, self.sign(text.encode()))


def cosign(private_key: Ed25519PrivateKey, name: str, text: str, timestamp: int) -> Cosignature:
    """A cosignature/v1 (c2sp.org/tlog-cosignature, type 0x04) on a checkpoint's note text."""
    key = NoteKey.make(name, NOTE_COSIGNATURE_V1, _raw_public(private_key))
    return Cosignature(name, key.key_hash, timestamp,
                       private_key.sign(cosignature_message(text, timestamp)))


def _raw_public(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                 serialization.PublicFormat.Raw)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def rotation_message(old_id: str, new_id: str) -> bytes:
    return f"{ROTATION_HEADER}\nold {old_id}\nnew {new_id}\n".encode()


class Keyring:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def signer(self) -> Signer:
        """The current signing key, created (owner-only) on first use."""
        current = self.directory / "current"
        if not current.exists():
            return self._create()
        kid = current.read_text().strip()
        pem = (self.directory / f"ed25519-{kid}.key").read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"key {kid} is not an Ed25519 key")
        return Signer(kid, key)

    def _create(self) -> Signer:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        key = Ed25519PrivateKey.generate()
        kid = key_id(_raw_public(key))
        _write_private(self.directory / f"ed25519-{kid}.key", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        (self.directory / f"ed25519-{kid}.pub").write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        tmp = self.directory / f"current.{kid}.tmp"  # one per key: processes may race here
        tmp.write_text(kid + "\n")
        tmp.replace(self.directory / "current")
        return Signer(kid, key)

    def rotate(self) -> Signer:
        """A new current key; the old one signs the handover and its public key stays."""
        old = self.signer()
        (self.directory / "current").unlink()
        new = self._create()
        statement = {"old": old.key_id, "new": new.key_id,
                     "new_public_key": base64.b64encode(_raw_public(new.private_key)).decode(),
                     "signature": base64.b64encode(
                         old.sign(rotation_message(old.key_id, new.key_id))).decode()}
        (self.directory / f"rotation-{new.key_id}.json").write_text(
            json.dumps(statement, indent=2) + "\n")
        return new

    def public_keys(self) -> dict[str, bytes]:
        """Every public key ever used here, by key id (raw 32 bytes)."""
        keys = {}
        for path in sorted(self.directory.glob("ed25519-*.pub")):
            public = serialization.load_pem_public_key(path.read_bytes())
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            keys[key_id(raw)] = raw
        return keys

    def public_pem(self, kid: str | None = None) -> str:
        kid = kid or self.signer().key_id
        return (self.directory / f"ed25519-{kid}.pub").read_text()
