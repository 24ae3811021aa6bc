"""`qrec witness` cosigning over HTTP: checkpoints cosigned per second by one witness process
(each request carries a consistency proof from the last one, the log's note signature is
verified, the new state stored in its SQLite file before it answers), against verifying the
same consistency proofs alone in this process."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from projections.ledger import merkle
from projections.ledger.keys import Signer
from projections.ledger.verifier import Checkpoint, leaf_hash, verify_consistency
from services.witness_client import add_checkpoint_body
from tests.bench.common import bench_line

ORIGIN = "bench.example/log"
LEAVES_PER_CHECKPOINT = 100
ROOT = Path(__file__).resolve().parents[2]


Request = tuple[int, list[bytes], bytes, bytes, Checkpoint]


def checkpoints(signer: Signer, n: int) -> list[Request]:
    """(old size, proof, old root, new root, checkpoint) for n checkpoints of a growing log."""
    frontier, stored = merkle.Frontier(), {}

    def fetch(keys: object) -> dict[merkle.Key, bytes]:
        return {k: stored[k] for k in keys}  # type: ignore[attr-defined]

    made, old, old_root = [], 0, frontier.root()
    for _ in range(n):
        for _ in range(LEAVES_PER_CHECKPOINT):
            h = leaf_hash(frontier.size.to_bytes(8, "big"))
            stored[(0, frontier.size)] = h
            for level, idx, node in frontier.append(h):
                stored[(level, idx)] = node
        cp = Checkpoint(frontier.size, frontier.root(), "2026-11-26T08:00:00+00:00",
                        signer.key_id, origin=ORIGIN, heads_root=bytes(32))
        sig = signer.sign_note(ORIGIN, cp.text())
        cp = replace(cp, signature=sig.signature, note_key_hash=sig.key_hash)
        proof = merkle.consistency_proof(old, cp.tree_size, fetch) if old else []
        made.append((old, proof, old_root, cp.root_hash, cp))
        old, old_root = cp.tree_size, cp.root_hash
    return made


def witness(directory: Path, log_vkey: str) -> tuple[subprocess.Popen[bytes], int]:
    def cli(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "services.cli_witness", *args], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
                              capture_output=True, text=True).stdout

    cli("init", "--dir", str(directory), "--name", "bench.example/witness")
    cli("add-log", "--dir", str(directory), log_vkey)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "services.cli_witness", "serve", "--dir",
                             str(directory), "--listen", f"127.0.0.1:{port}"], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the witness did not start")


def run(scale: float) -> None:
    n = max(20, int(2000 * scale))
    signer = Signer("bench", Ed25519PrivateKey.generate())
    made = checkpoints(signer, n)
    print(f"witness-cosign: {n} checkpoints, {LEAVES_PER_CHECKPOINT} leaves apart, one "
          "witness process over HTTP (keep-alive)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = witness(Path(tmp), str(signer.note_key(ORIGIN)))
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            bodies = [add_checkpoint_body(old, proof, cp.note()) for old, proof, _, _, cp in made]
            t0 = time.perf_counter()
            for body in bodies:
                conn.request("POST", "/add-checkpoint", body=body)
                answer = conn.getresponse()
                answer.read()
                assert answer.status == 200, answer.status
            cosign_s = time.perf_counter() - t0
            conn.close()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    t0 = time.perf_counter()
    for old, proof, old_root, new_root, cp in made:
        assert not old or verify_consistency(old, cp.tree_size, old_root, new_root, proof)
    plain_s = time.perf_counter() - t0
    print(f"  cosigned {n / cosign_s:,.0f} checkpoints/s over HTTP; the proofs alone verify "
          f"at {n / plain_s:,.0f}/s", flush=True)
    bench_line("witness-cosign", n / cosign_s, "checkpoints/s", n / plain_s)

