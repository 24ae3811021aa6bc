"""Signed notes, checkpoints and cosignatures byte for byte as the C2SP specifications and
their reference implementations write them.

Vectors:
- golang.org/x/mod/sumdb/note, note_test.go TestSign: the PeterNeumann signing key and the
  note it signs (Ed25519, type 0x01);
- c2sp.org/signed-note, "Verifier keys" example: the example.com/foo vkey and its note;
- c2sp.org/tlog-cosignature, the example's cosignature line (timestamp 1679315147, as its
  "time" line says), and transparency-dev/formats note/note_cosigv1_test.go
  TestCoSigV1Timestamp (key ID 646846b9, timestamp 1727964367).
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from projections.ledger.keys import Signer, cosign
from projections.ledger.verifier import (
    NOTE_COSIGNATURE_V1,
    Checkpoint,
    Cosignature,
    NoteError,
    NoteKey,
    NoteSignature,
    cosigned_by,
    parse_checkpoint_text,
    split_note,
    verified_note_signatures,
)

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = ("If you think cryptography is the answer to your problem,\n"
              "then you don't know what your problem is.\n")
PETER_NOTE = PETER_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIu" \
    "GUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
FOO_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
FOO_NOTE = "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1" \
    "YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"


def peter() -> Signer:
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert seed[0] == 0x01  # the signing key's type byte: Ed25519
    return Signer("peter", Ed25519PrivateKey.from_private_bytes(seed[1:]))


def test_our_note_signature_is_byte_for_byte_the_go_reference_one() -> None:
    signer = peter()
    assert str(signer.note_key("PeterNeumann")) == PETER_VKEY
    assert PETER_TEXT + "\n" + signer.sign_note("PeterNeumann", PETER_TEXT).line() == PETER_NOTE


def test_the_key_id_is_the_first_four_bytes_of_the_hash_of_name_type_and_key() -> None:
    key = NoteKey.parse(PETER_VKEY)
    assert key.key_hash == hashlib.sha256(b"PeterNeumann\n\x01" + key.public).digest()[:4]
    assert key.key_hash.hex() == "c74f20a3"


def test_the_spec_example_note_verifies_with_its_vkey_and_not_once_changed() -> None:
    key = NoteKey.parse(FOO_VKEY)
    assert verified_note_signatures(FOO_NOTE, [key]) == ("This is an example message.\n", [key])
    with pytest.raises(NoteError, match="does not verify"):
        verified_note_signatures(FOO_NOTE.replace("example", "exemple", 1), [key])
    # A signature from a key the verifier does not know is ignored, not trusted.
    assert verified_note_signatures(FOO_NOTE, [NoteKey.parse(PETER_VKEY)])[1] == []


@pytest.mark.parametrize("vkey", [PETER_VKEY.replace("c74f20a3", "c74f20a4"),
                                  PETER_VKEY.replace("PeterNeumann", "PeterNeuman"),
                                  PETER_VKEY + "AA", "PeterNeumann+c74f20a3"])
def test_a_mangled_vkey_is_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        NoteKey.parse(vkey)


@pytest.mark.parametrize("note", [PETER_TEXT, PETER_TEXT + "\n",
                                  PETER_NOTE[:-1], "\x01" + PETER_NOTE,
                                  PETER_NOTE + "Unexpected line.\n",
                                  PETER_NOTE.replace("PeterNeumann", "Peter Neumann")])
def test_malformed_notes_are_refused_as_the_go_reference_refuses_them(note: str) -> None:
    with pytest.raises(NoteError):
        split_note(note)


def test_cosignature_lines_carry_the_key_id_and_a_big_endian_timestamp() -> None:
    # The spec's example cosignature: its timestamp is the one in its "time" line.
    spec = "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo" \
        "0xUe+mbIUBkBIfZ+qnA=="
    _, (sig,) = split_note("x\n\n\u2014 witness.example.com/w1 " + spec + "\n")
    assert Cosignature.from_note_signature(sig).timestamp == 1679315147
    formats = "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEH" \
        "WWOworDcFiEBYJXORmnFBOBA=="
    _, (sig,) = split_note("x\n\n\u2014 w " + formats + "\n")
    cosig = Cosignature.from_note_signature(sig)
    assert (cosig.key_hash.hex(), cosig.timestamp) == ("646846b9", 1727964367)
    assert cosig.line() == "\u2014 w " + formats + "\n"


def test_a_cosignature_signs_the_header_the_time_and_the_whole_checkpoint_text() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    key = peter().private_key
    cosig = cosign(key, "witness.example/w1", text, 1679315147)
    witness = NoteKey.make("witness.example/w1", NOTE_COSIGNATURE_V1,
                           key.public_key().public_bytes_raw())
    assert cosig.key_hash == hashlib.sha256(
        b"witness.example/w1\n\x04" + witness.public).digest()[:4]
    # The message as tlog-cosignature writes it out, signed by the key (Ed25519 is
    # deterministic, so the same bytes).
    message = ("cosignature/v1\ntime 1679315147\n" + text).encode()
    assert cosig.signature == key.sign(message)
    assert cosig.valid_for(witness, text)
    assert not cosig.valid_for(witness, text.replace("20852163", "20852164"))
    assert str(witness).split("+")[2].startswith("B")  # type 0x04 leads the key material


def test_a_checkpoint_is_a_c2sp_checkpoint_note_with_qrec_extension_lines() -> None:
    signer = peter()
    cp = Checkpoint(40, bytes(range(32)), "2026-11-26T08:00:00+00:00", signer.key_id,
                    origin="qrec.example/log-1", heads_root=bytes(32))
    sig = signer.sign_note(cp.origin, cp.text())
    cp = Checkpoint(cp.tree_size, cp.root_hash, cp.timestamp, cp.key_id, sig.signature,
                    cp.origin, cp.heads_root, sig.key_hash)
    assert cp.text() == ("qrec.example/log-1\n40\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
                         "qrec-time 2026-11-26T08:00:00+00:00\n"
                         "qrec-heads AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
    assert parse_checkpoint_text(cp.text())[:3] == (cp.origin, 40, cp.root_hash)
    vkey = signer.note_key(cp.origin)
    assert verified_note_signatures(cp.note(), [vkey])[1] == [vkey]
    witness = Ed25519PrivateKey.generate()
    cosigned = cp.with_cosignatures([cosign(witness, "w.example/1", cp.text(), 1700000000)])
    again = Checkpoint.from_json(cosigned.to_json())
    assert again == cosigned
    w = NoteKey.make("w.example/1", NOTE_COSIGNATURE_V1, witness.public_key().public_bytes_raw())
    assert cosigned_by(again, [w]) == [w] and cosigned_by(cp, [w]) == []


def test_an_old_json_checkpoint_still_reads_as_before() -> None:
    old = {"tree_size": 3, "root_hash": "00" * 32, "timestamp": "t", "key_id": "k",
           "signature": base64.b64encode(b"s" * 64).decode()}
    cp = Checkpoint.from_json(old)
    assert cp.origin == "" and cp.to_json() == old
    assert cp.message().startswith(b"qrec ledger checkpoint v1\n")
    assert NoteSignature("a", b"1234", b"x").line().startswith("\u2014 a ")
