"""`qrec witness`: a C2SP tlog-witness (c2sp.org/tlog-witness) that an outside party runs.

It keeps, per log it is told to watch (origin and the log's verifier key), the latest
checkpoint it cosigned, in a SQLite file of its own; it never reads qrec's database. On
``POST /add-checkpoint`` (an ``old N`` line, consistency proof lines, a blank line, the
checkpoint note) it cosigns (cosignature/v1, Ed25519) only a checkpoint that the log signed
and that extends the one it cosigned last, and answers as the protocol says otherwise:

    400 malformed request, or old size above the checkpoint's size (a rollback)
    403 no valid signature by the log's key       404 a log it does not watch
    409 the old size is not the size it cosigned last (body: that size, text/x.tlog.size)
    422 the consistency proof fails, or a same-size checkpoint with another root (a fork)

Checking the old size and storing the new checkpoint happen in one compare-and-set, so two
requests at once can never roll it back. Refused requests are kept as evidence.
``GET /<sha256 of origin, hex>/checkpoint`` serves the latest cosigned checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from projections.ledger.keys import cosign
from projections.ledger.verifier import (
    EMPTY_ROOT,
    NOTE_COSIGNATURE_V1,
    NOTE_ED25519,
    NoteError,
    NoteKey,
    parse_checkpoint_text,
    verified_note_signatures,
    verify_consistency,
)

MAX_BODY = 1 << 16
MAX_PROOF_LINES = 63


class WitnessRefusal(Exception):
    def __init__(self, status: int, reason: str, known_size: int | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.known_size = status, reason, known_size


@dataclass(frozen=True)
class LogState:
    origin: str
    size: int
    root: bytes


class WitnessStore:
    """The witness's own SQLite file: the logs it watches, their keys, the latest cosigned
    checkpoint of each, and the refused requests."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.lock = threading.Lock()
        self.conn.executescript("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;  -- a cosigned state is on disk before the answer
            CREATE TABLE IF NOT EXISTS logs (origin TEXT PRIMARY KEY, size INTEGER NOT NULL,
                root BLOB NOT NULL, note TEXT NOT NULL DEFAULT '');
            CREATE TABLE IF NOT EXISTS log_keys (origin TEXT NOT NULL REFERENCES logs(origin),
                vkey TEXT NOT NULL, UNIQUE (origin, vkey));
            CREATE TABLE IF NOT EXISTS refusals (at REAL NOT NULL, origin TEXT, status INTEGER,
                reason TEXT, request BLOB);
        """)

    def add_log(self, vkey: str) -> NoteKey:
        key = NoteKey.parse(vkey)
        if key.sig_type != NOTE_ED25519:
            raise NoteError(f"{vkey!r} is not an Ed25519 note key (type 0x01) of a log")
        with self.lock:
            self.conn.execute("INSERT OR IGNORE INTO logs (origin, size, root) VALUES (?, 0, ?)",
                              (key.name, EMPTY_ROOT))
            self.conn.execute("INSERT OR IGNORE INTO log_keys VALUES (?, ?)", (key.name, str(key)))
        return key

    def log_keys(self, origin: str) -> list[NoteKey]:
        rows = self.conn.execute("SELECT vkey FROM log_keys WHERE origin = ?", (origin,))
        return [NoteKey.parse(vkey) for (vkey,) in rows]

    def state(self, origin: str) -> LogState | None:
        row = self.conn.execute("SELECT size, root FROM logs WHERE origin = ?",
                                (origin,)).fetchone()
        return LogState(origin, row[0], bytes(row[1])) if row else None

    def logs(self) -> list[tuple[str, int]]:
        return list(self.conn.execute("SELECT origin, size FROM logs ORDER BY origin"))

    def advance(self, origin: str, old_size: int, size: int, root: bytes, note: str) -> bool:
        """Compare-and-set: move the log from ``old_size`` to the new checkpoint."""
        with self.lock:
            moved = self.conn.execute(
                "UPDATE logs SET size = ?, root = ?, note = ? WHERE origin = ? AND size = ?",
                (size, root, note, origin, old_size))
        return moved.rowcount == 1

    def latest_note(self, origin_hash: str) -> str | None:
        for origin, note in self.conn.execute("SELECT origin, note FROM logs WHERE note != ''"):
            if hashlib.sha256(origin.encode()).hexdigest() == origin_hash:
                return str(note)
        return None

    def keep_refusal(self, origin: str, refusal: WitnessRefusal, request: bytes) -> None:
        with self.lock:
            self.conn.execute("INSERT INTO refusals VALUES (?, ?, ?, ?, ?)",
                              (time.time(), origin, refusal.status, refusal.reason, request))

    def refusals(self) -> list[tuple[str, int, str]]:
        return list(self.conn.execute("SELECT origin, status, reason FROM refusals ORDER BY at"))

    def close(self) -> None:
        self.conn.close()


class Witness:
    """The protocol's decisions, apart from HTTP."""

    def __init__(self, name: str, key: Ed25519PrivateKey, store: WitnessStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.name, self.key, self.store, self.clock = name, key, store, clock
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        self.vkey = NoteKey.make(name, NOTE_COSIGNATURE_V1, raw)

    def add_checkpoint(self, body: bytes) -> str:
        """The cosignature line for a request body, or raises ``WitnessRefusal``."""
        old_size, proof, note = parse_request(body)
        text, origin = self._verified(note)
        _, size, root, _ = parse_checkpoint_text(text)
        if old_size > size:
            raise WitnessRefusal(400, f"old size {old_size} is above the checkpoint's {size}")
        known = self.store.state(origin)
        assert known is not None
        if known.size != old_size:
            raise WitnessRefusal(409, f"this witness cosigned {origin} at size {known.size}, "
                                 f"not {old_size}", known.size)
        check_extends(known, size, root, proof)
        # Signed first, handed out only once the new state is stored (one durable commit).
        cosignature = cosign(self.key, self.name, text, int(self.clock()))
        if not self.store.advance(origin, old_size, size, root, note + cosignature.line()):
            now = self.store.state(origin)
            raise WitnessRefusal(409, "another request moved the log first",
                                 now.size if now else 0)
        return cosignature.line()

    def _verified(self, note: str) -> tuple[str, str]:
        origin = note.split("\n", 1)[0]
        keys = self.store.log_keys(origin)
        if not keys:
            raise WitnessRefusal(404, f"unknown log {origin!r}")
        try:
            text, good = verified_note_signatures(note, keys)
        except NoteError as e:
            raise WitnessRefusal(403, f"the log's signature does not verify: {e}") from None
        if not good:
            raise WitnessRefusal(403, f"no signature by a known key of {origin}")
        return text, origin


def parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    try:
        text = body.decode()
        head, note = text.split("\n\n", 1)
        lines = head.split("\n")
        if not lines[0].startswith("old "):
            raise ValueError("the first line is not 'old N'")
        size = lines[0][4:]
        if not size.isdigit() or (size != "0" and size.startswith("0")):
            raise ValueError(f"old size {size!r} is not a decimal number")
        proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
        if len(proof) > MAX_PROOF_LINES or any(len(h) != 32 for h in proof):
            raise ValueError("the proof is not at most 63 lines of 32-byte hashes")
        parse_checkpoint_text(note[:note.rfind("\n\n") + 1])
    except (UnicodeDecodeError, ValueError) as e:
        raise WitnessRefusal(400, f"malformed add-checkpoint request: {e}") from None
    return int(size), proof, note


def check_extends(known: LogState, size: int, root: bytes, proof: list[bytes]) -> None:
    """The protocol's consistency rules, from the cosigned state to the new checkpoint."""
    if size == 0 and root != EMPTY_ROOT:
        raise WitnessRefusal(422, "a checkpoint of size 0 must have the empty tree's root")
    if known.size == 0:
        if proof:
            raise WitnessRefusal(422, "no proof is due from size 0, yet one was sent")
        return
    if known.size == size:
        if root != known.root or proof:
            raise WitnessRefusal(422, f"a fork: size {size} was cosigned with another root")
        return
    if not verify_consistency(known.size, size, known.root, root, proof):
        raise WitnessRefusal(422, f"the consistency proof from size {known.size} to {size} "
                             "fails: this tree does not extend the one cosigned")


def load_or_create_key(directory: Path) -> Ed25519PrivateKey:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / "witness.key"
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 key")
    return loaded


def open_witness(directory: Path, name: str) -> Witness:
    return Witness(name, load_or_create_key(directory), WitnessStore(directory / "witness.db"))


class WitnessHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the protocol recommends
    disable_nagle_algorithm = True  # headers and body go out in two writes
    witness: Witness

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/add-checkpoint":
            self.answer(404, "text/plain", "not found\n")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.answer(400, "text/plain", "request too large\n")
            return
        body = self.rfile.read(length)
        try:
            line = self.witness.add_checkpoint(body)
        except WitnessRefusal as refusal:
            self.refuse(refusal, body)
            return
        self.answer(200, "text/plain; charset=utf-8", line)
        origin, size = body.split(b"\n\n", 1)[-1].split(b"\n", 2)[:2]
        print(f"qrec witness: cosigned {origin.decode()} at size {size.decode()}",
              file=sys.stderr, flush=True)

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        note = self.witness.store.latest_note(parts[0]) if len(parts) == 2 and \
            parts[1] == "checkpoint" else None
        if note is None:
            self.answer(404, "text/plain", "no checkpoint cosigned for this log\n")
        else:
            self.answer(200, "text/plain; charset=utf-8", note)

    def refuse(self, refusal: WitnessRefusal, body: bytes) -> None:
        origin = body.split(b"\n\n", 1)[-1].split(b"\n", 1)[0].decode(errors="replace")
        if refusal.status != 400:
            self.witness.store.keep_refusal(origin, refusal, body)
        print(f"qrec witness: refused {origin} ({refusal.status}): {refusal.reason}",
              file=sys.stderr, flush=True)
        if refusal.status == 409:
            self.answer(409, "text/x.tlog.size", f"{refusal.known_size}\n")
        else:
            self.answer(refusal.status, "text/plain; charset=utf-8", refusal.reason + "\n")

    def answer(self, status: int, content_type: str, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # refusals are said above; cosignatures are counted on the status line


def serve(witness: Witness, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("BoundWitnessHandler", (WitnessHandler,), {"witness": witness})
    return ThreadingHTTPServer((host, port), handler)
