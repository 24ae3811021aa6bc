"""The witness answers each case of c2sp.org/tlog-witness with the protocol's status code,
over real HTTP on 127.0.0.1, and keeps what it cosigned when it is opened again."""

from __future__ import annotations

import hashlib
import http.client
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from projections.ledger import merkle
from projections.ledger.keys import Signer
from projections.ledger.verifier import Checkpoint, leaf_hash, verified_note_signatures
from services.witness import open_witness, serve
from services.witness_client import add_checkpoint_body

ORIGIN = "plant.example/log"


class Log:
    """A log in memory: leaves, stored hashes for proofs, checkpoints signed as qrec signs."""

    def __init__(self, origin: str = ORIGIN, signer: Signer | None = None) -> None:
        self.origin = origin
        self.signer = signer or Signer("k", Ed25519PrivateKey.generate())
        self.frontier, self.stored = merkle.Frontier(), {}

    def grow(self, n: int, salt: bytes = b"") -> None:
        for _ in range(n):
            h = leaf_hash(salt + self.frontier.size.to_bytes(8, "big"))
            self.stored[(0, self.frontier.size)] = h
            for level, idx, node in self.frontier.append(h):
                self.stored[(level, idx)] = node

    def fetch(self, keys: object) -> dict[merkle.Key, bytes]:
        return {k: self.stored[k] for k in keys if k in self.stored}  # type: ignore[attr-defined]

    def checkpoint(self) -> Checkpoint:
        cp = Checkpoint(self.frontier.size, self.frontier.root(), "2026-11-26T08:00:00+00:00",
                        self.signer.key_id, origin=self.origin, heads_root=bytes(32))
        sig = self.signer.sign_note(self.origin, cp.text())
        return replace(cp, signature=sig.signature, note_key_hash=sig.key_hash)

    def proof(self, old: int) -> list[bytes]:
        return merkle.consistency_proof(old, self.frontier.size, self.fetch) if old else []

    @property
    def vkey(self) -> str:
        return str(self.signer.note_key(self.origin))


@dataclass
class Answer:
    status: int
    content_type: str
    body: str


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def add(self, old: int, proof: list[bytes], note: str | bytes) -> Answer:
        body = note if isinstance(note, bytes) else add_checkpoint_body(old, proof, note)
        self.conn.request("POST", "/add-checkpoint", body=body)
        return self._answer()

    def get(self, path: str) -> Answer:
        self.conn.request("GET", path)
        return self._answer()

    def _answer(self) -> Answer:
        r = self.conn.getresponse()
        return Answer(r.status, r.getheader("Content-Type") or "", r.read().decode())


@pytest.fixture
def witness_dir(tmp_path: Path) -> Path:
    return tmp_path / "witness"


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def client(witness_dir: Path, log: Log) -> Iterator[Client]:
    witness = open_witness(witness_dir, "witness.example/w1")
    witness.store.add_log(log.vkey)
    server = serve(witness, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Client(server.server_address[1])
    server.shutdown()
    server.server_close()
    witness.store.close()


def test_a_consistent_checkpoint_is_cosigned_and_a_stale_or_forged_one_refused(
        client: Client, log: Log, witness_dir: Path) -> None:
    witness = open_witness(witness_dir, "witness.example/w1")
    log.grow(5)
    first = log.checkpoint()
    answer = client.add(0, [], first.note())
    assert answer.status == 200 and answer.body.startswith("\u2014 witness.example/w1 ")
    assert verified_note_signatures(first.note() + answer.body, [witness.vkey])[1] == \
        [witness.vkey]
    # The same size again with old 0: 409, and the size it holds, as text/x.tlog.size.
    again = client.add(0, [], first.note())
    assert (again.status, again.content_type, again.body) == (409, "text/x.tlog.size", "5\n")
    # The same size and root with the right old size is cosigned again (idempotent).
    assert client.add(5, [], first.note()).status == 200
    log.grow(8)
    second = log.checkpoint()
    wrong = [bytes(32)] * len(log.proof(5))
    assert client.add(5, wrong, second.note()).status == 422
    assert client.add(5, log.proof(5), second.note()).status == 200
    # A rollback (old above the checkpoint's size) and a fork (same size, other root).
    assert client.add(13, [], first.note()).status == 400
    fork = Log(signer=log.signer)
    fork.grow(13, salt=b"forged")
    assert client.add(13, [], fork.checkpoint().note()).status == 422
    # The witness serves the checkpoint it cosigned last, with its cosignature.
    served = client.get(f"/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint")
    assert served.status == 200 and served.body.startswith(second.note())
    assert client.get(f"/{'0' * 64}/checkpoint").status == 404
    witness.store.close()


def test_unknown_logs_foreign_keys_bad_signatures_and_malformed_requests_are_refused(
        client: Client, log: Log) -> None:
    log.grow(3)
    cp = log.checkpoint()
    stranger = Log(origin="other.example/log")
    stranger.grow(3)
    assert client.add(0, [], stranger.checkpoint().note()).status == 404
    impostor = Log(signer=Signer("x", Ed25519PrivateKey.generate()))  # same origin
    impostor.grow(3)
    assert client.add(0, [], impostor.checkpoint().note()).status == 403
    broken = replace(cp, signature=bytes(64))
    assert client.add(0, [], broken.note()).status == 403
    assert client.add(0, [bytes(32)], cp.note()).status == 422  # no proof is due from 0
    assert client.add(0, [], b"old x\n\n" + cp.note().encode()).status == 400
    assert client.add(0, [], b"nonsense").status == 400
    assert client.add(0, [], cp.note()).status == 200


def test_a_reopened_witness_keeps_the_size_it_cosigned(witness_dir: Path, log: Log) -> None:
    witness = open_witness(witness_dir, "witness.example/w1")
    witness.store.add_log(log.vkey)
    log.grow(4)
    witness.add_checkpoint(add_checkpoint_body(0, [], log.checkpoint().note()))
    witness.store.close()
    reopened = open_witness(witness_dir, "witness.example/w1")
    assert reopened.vkey == witness.vkey  # the same key
    state = reopened.store.state(ORIGIN)
    assert state is not None and state.size == 4
    reopened.store.close()
