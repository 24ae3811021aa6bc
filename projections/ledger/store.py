"""The ledger's tables and its catch-up: leaves, tile nodes, the record heads map, signed
checkpoints and the tracking position, written in one transaction per page of notifications.

Tables (in the views database; on PostgreSQL in the settings' schema):
``ledger_leaves`` (position -> event key and leaf hash), ``ledger_nodes`` (tile nodes, see
``merkle``), ``ledger_checkpoints`` (signed tree heads; a C2SP checkpoint also has a row in
``ledger_checkpoint_notes``: its origin, heads root and note key ID),
``ledger_head_buckets`` (the record heads map: each bucket's entries, every record's newest
event, and its hash; see ``heads``), ``ledger_cosignatures`` and ``ledger_witness_status``
(what each witness said), ``ledger_timestamps`` (RFC 3161 tokens) and ``ledger_tracking``
(the last notification id taken in, the tree size and its right edge).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    and_,
    create_engine,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.schema import CreateSchema

from projections.base import ddl_transaction
from projections.ledger import merkle
from projections.ledger.heads import HeadsTree
from projections.ledger.keys import Keyring, Signer
from projections.ledger.verifier import (
    Checkpoint,
    Cosignature,
    bucket_hash,
    event_leaf_hash,
    head_bucket,
    head_entry,
)

TRACKING_NAME = "ledger"
Clock = Callable[[], datetime]


class Base(DeclarativeBase):
    pass


class LedgerLeaf(Base):
    __tablename__ = "ledger_leaves"
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    notification_id: Mapped[int] = mapped_column(BigInteger)
    originator_id: Mapped[str] = mapped_column(String(36))
    originator_version: Mapped[int] = mapped_column(BigInteger)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    __table_args__ = (Index("ledger_leaves_by_record", "originator_id", "originator_version"),)


class LedgerNode(Base):
    __tablename__ = "ledger_nodes"
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerCheckpoint(Base):
    __tablename__ = "ledger_checkpoints"
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class LedgerCheckpointNote(Base):
    """What makes a checkpoint a C2SP signed note (older checkpoints have no row here)."""

    __tablename__ = "ledger_checkpoint_notes"
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    origin: Mapped[str] = mapped_column(String(255))
    heads_root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note_key_hash: Mapped[bytes] = mapped_column(LargeBinary(4))


class LedgerHeadBucket(Base):
    """One bucket of the record heads map: its entries (32 bytes each, sorted) and hash."""

    __tablename__ = "ledger_head_buckets"
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entries: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerCosignature(Base):
    __tablename__ = "ledger_cosignatures"
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(String(255), primary_key=True)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(4), primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class LedgerWitnessStatus(Base):
    """The last answer of each witness (by vkey): cosigned up to a size, or why it refused."""

    __tablename__ = "ledger_witness_status"
    witness: Mapped[str] = mapped_column(String(400), primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text)
    at: Mapped[str] = mapped_column(String(40))


class LedgerTimestamp(Base):
    __tablename__ = "ledger_timestamps"
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    authority: Mapped[str] = mapped_column(String(400))
    gen_time: Mapped[str] = mapped_column(String(40))
    response: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerTracking(Base):
    __tablename__ = "ledger_tracking"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    notification_id: Mapped[int] = mapped_column(BigInteger)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    frontier: Mapped[bytes] = mapped_column(LargeBinary)
    checkpoint_size: Mapped[int] = mapped_column(BigInteger)
    checkpoint_at: Mapped[str] = mapped_column(String(40))


class NotificationSource(Protocol):
    """What the ledger reads from the event store (an eventsourcing application recorder)."""

    def select_notifications(self, start: int | None, limit: int) -> Sequence[Any]: ...


class LedgerConflict(RuntimeError):
    """Another writer moved the ledger's position first; this page was rolled back."""


class LedgerMoved(RuntimeError):
    """The ledger took in events while a proof was being read; read it again."""


@dataclass(frozen=True)
class LedgerPolicy:
    page_size: int = 1000
    checkpoint_every: int = 1000  # events
    checkpoint_seconds: float = 60.0


@dataclass
class TrackingState:
    notification_id: int = 0
    frontier: merkle.Frontier | None = None
    checkpoint_size: int = 0
    checkpoint_at: str = ""
    exists: bool = False

    @property
    def tree_size(self) -> int:
        return self.frontier.size if self.frontier else 0


def utc_now() -> datetime:
    return datetime.now(UTC)


def ledger_engine(views_url: str, schema: str | None = None) -> Engine:
    """An engine on the views database whose ledger tables live in ``schema`` (PostgreSQL)."""
    options: dict[str, Any] = {}
    if schema:
        options["execution_options"] = {"schema_translate_map": {None: schema}}
    if views_url.startswith("sqlite"):
        # wait for the projection runner's page as long as the views engine does (a page
        # marking a trace's suspect results can hold the write lock for seconds)
        options["connect_args"] = {"timeout": 30}
    engine = create_engine(views_url, **options)
    with ddl_transaction(engine) as conn:  # processes starting together take turns
        if schema:
            conn.execute(CreateSchema(schema, if_not_exists=True))
        Base.metadata.create_all(conn)
    return engine


def head_buckets_digest(buckets: dict[int, bytes]) -> bytes:
    """SHA-256 over (bucket (4 bytes), hash) of every bucket, in bucket order."""
    return hashlib.sha256(b"".join(b.to_bytes(4, "big") + buckets[b]
                                   for b in sorted(buckets))).digest()


def leaf_digest(keys: Sequence[tuple[UUID, int, bytes]]) -> bytes:
    """SHA-256 over (record id, version, leaf hash) of consecutive leaves (16 + 8 + 32
    bytes each), in the form ``Ledger.leaf_digest`` has the database compute."""
    return hashlib.sha256(b"".join(oid.bytes + version.to_bytes(8, "big", signed=True) + h
                                   for oid, version, h in keys)).digest()


class Ledger:
    """The Merkle log over the notification log, with signed checkpoints and proofs."""

    def __init__(self, engine: Engine, source: NotificationSource, keyring: Keyring,
                 clock: Clock = utc_now, policy: LedgerPolicy | None = None,
                 origin: str = "") -> None:
        """``origin`` names the log in its C2SP checkpoints; without one the ledger signs
        checkpoints in the older JSON form."""
        self.engine, self.source, self.keyring = engine, source, keyring
        self.clock = clock
        self.policy = policy or LedgerPolicy()
        self.origin = origin
        self._heads: HeadsTree | None = None  # the heads map's tree at _heads_at events
        self._heads_at = -1

    # -- catching up --------------------------------------------------------------------------

    def catch_up(self, *, seal: bool = False) -> list[Checkpoint]:
        """Take in every new notification, a page per transaction; returns new checkpoints.

        ``seal`` signs a checkpoint at the end even when neither N events nor T seconds
        have passed, so that everything stored so far is covered."""
        signer = self.keyring.signer()
        made: list[Checkpoint] = []
        while True:
            taken = self.append_page_with_position(signer, made, seal=seal)
            if taken < self.policy.page_size:
                return made

    def append_page_with_position(self, signer: Signer, made: list[Checkpoint], *,
                                  seal: bool = False) -> int:
        """One page: leaves, nodes, checkpoints and the new position commit together."""
        try:
            with self.engine.begin() as conn:
                state = self._tracking(conn)
                page = self.source.select_notifications(state.notification_id + 1,
                                                        self.policy.page_size)
                last_page = len(page) < self.policy.page_size
                heads = PageHeads(conn, self._heads_tree(conn, state.tree_size))
                cps = self._append(conn, state, page, signer, heads, seal=seal and last_page)
                heads.save()
                if page or cps:
                    self._save_tracking(conn, state, page[-1].id if page else None)
        except BaseException:
            self._heads = None  # the tree in memory may hold what was rolled back
            raise
        self._heads_at = state.tree_size
        made.extend(cps)
        return len(page)

    def _heads_tree(self, conn: Connection, tree_size: int) -> HeadsTree:
        """The heads map's tree at the ledger's size: kept from the last page when no other
        writer moved the ledger since, else read from its bucket hashes."""
        if self._heads is None or self._heads_at != tree_size:
            rows = conn.execute(select(LedgerHeadBucket.bucket, LedgerHeadBucket.hash)).all()
            if not rows and tree_size:
                backfill_heads(conn, tree_size)
                rows = conn.execute(select(LedgerHeadBucket.bucket, LedgerHeadBucket.hash)).all()
            self._heads = HeadsTree({r.bucket: r.hash for r in rows})
        return self._heads

    def _append(self, conn: Connection, state: TrackingState, page: Sequence[Any],
                signer: Signer, heads: PageHeads, *, seal: bool) -> list[Checkpoint]:
        frontier = state.frontier or merkle.Frontier()
        state.frontier = frontier
        leaves, nodes, cps = [], [], []
        every = self.policy.checkpoint_every
        for n in page:
            position = frontier.size
            h = event_leaf_hash(n.originator_id, n.originator_version, n.topic, n.state)
            leaves.append({"position": position, "notification_id": n.id,
                           "originator_id": str(n.originator_id),
                           "originator_version": n.originator_version, "leaf_hash": h})
            heads.record(n.originator_id, n.originator_version, position)
            for level, idx, node in frontier.append(h):
                nodes.append({"level": level, "idx": idx, "hash": node})
            if every and frontier.size % every == 0:
                cps.append(self._sign(state, signer, heads))
        if self._checkpoint_due(state, seal):
            cps.append(self._sign(state, signer, heads))
        if leaves:
            conn.execute(insert(LedgerLeaf), leaves)
        if nodes:
            conn.execute(insert(LedgerNode), nodes)
        if cps:
            conn.execute(insert(LedgerCheckpoint), [_checkpoint_row(cp) for cp in cps])
            notes = [_note_row(cp) for cp in cps if cp.origin]
            if notes:
                conn.execute(insert(LedgerCheckpointNote), notes)
        return cps

    def _checkpoint_due(self, state: TrackingState, seal: bool) -> bool:
        if state.tree_size <= state.checkpoint_size:
            return False
        if seal or not state.checkpoint_at:
            return True
        elapsed = self.clock() - datetime.fromisoformat(state.checkpoint_at)
        return elapsed.total_seconds() >= self.policy.checkpoint_seconds

    def _sign(self, state: TrackingState, signer: Signer, heads: PageHeads) -> Checkpoint:
        assert state.frontier is not None
        stamp = self.clock().isoformat()
        state.checkpoint_size, state.checkpoint_at = state.tree_size, stamp
        if not self.origin:
            unsigned = Checkpoint(state.tree_size, state.frontier.root(), stamp, signer.key_id)
            return replace(unsigned, signature=signer.sign(unsigned.message()))
        unsigned = Checkpoint(state.tree_size, state.frontier.root(), stamp, signer.key_id,
                              origin=self.origin, heads_root=heads.root())
        note_signature = signer.sign_note(self.origin, unsigned.text())
        return replace(unsigned, signature=note_signature.signature,
                       note_key_hash=note_signature.key_hash)

    def _tracking(self, conn: Connection) -> TrackingState:
        row = conn.execute(select(LedgerTracking).where(
            LedgerTracking.name == TRACKING_NAME)).one_or_none()
        if row is None:
            return TrackingState()
        return TrackingState(row.notification_id,
                             merkle.Frontier.from_bytes(row.tree_size, row.frontier),
                             row.checkpoint_size, row.checkpoint_at, exists=True)

    def _save_tracking(self, conn: Connection, state: TrackingState,
                       notification_id: int | None) -> None:
        assert state.frontier is not None
        values = {"notification_id": notification_id or state.notification_id,
                  "tree_size": state.tree_size, "frontier": state.frontier.to_bytes(),
                  "checkpoint_size": state.checkpoint_size,
                  "checkpoint_at": state.checkpoint_at}
        if not state.exists:
            conn.execute(insert(LedgerTracking).values(name=TRACKING_NAME, **values))
            return
        moved = conn.execute(update(LedgerTracking).where(
            LedgerTracking.name == TRACKING_NAME,
            LedgerTracking.notification_id == state.notification_id).values(**values))
        if moved.rowcount != 1:
            raise LedgerConflict("the ledger moved on under this page; rolled back")

    # -- reading ------------------------------------------------------------------------------

    def tree_size(self) -> int:
        with self.engine.connect() as conn:
            return self._tracking(conn).tree_size

    def checkpoints(self, *, since: int = -1) -> list[Checkpoint]:
        """Every checkpoint (above tree size ``since``), with the cosignatures kept."""
        with self.engine.connect() as conn:
            return _read_checkpoints(conn, LedgerCheckpoint.tree_size > since,
                                     LedgerCheckpoint.tree_size)

    def latest_checkpoint(self) -> Checkpoint | None:
        with self.engine.connect() as conn:
            found = _read_checkpoints(conn, True, LedgerCheckpoint.tree_size.desc(), limit=1)
            return found[0] if found else None

    def checkpoint_at(self, tree_size: int) -> Checkpoint | None:
        with self.engine.connect() as conn:
            found = _read_checkpoints(conn, LedgerCheckpoint.tree_size == tree_size,
                                      LedgerCheckpoint.tree_size)
            return found[0] if found else None

    # -- witnesses and timestamps -------------------------------------------------------------

    def add_cosignature(self, tree_size: int, cosignature: Cosignature) -> None:
        with self.engine.begin() as conn:
            _upsert(conn, LedgerCosignature, [{
                "tree_size": tree_size, "witness": cosignature.name,
                "key_hash": cosignature.key_hash, "timestamp": cosignature.timestamp,
                "signature": cosignature.signature}], ["tree_size", "witness", "key_hash"])

    def last_cosigned_size(self, witness: str, key_hash: bytes) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(LedgerCosignature.tree_size)).where(
                LedgerCosignature.witness == witness,
                LedgerCosignature.key_hash == key_hash)).scalar() or 0

    def set_witness_status(self, witness: str, tree_size: int, outcome: str,
                           detail: str) -> None:
        with self.engine.begin() as conn:
            _upsert(conn, LedgerWitnessStatus, [{
                "witness": witness, "tree_size": tree_size, "outcome": outcome,
                "detail": detail, "at": self.clock().isoformat()}], ["witness"])

    def witness_status(self) -> dict[str, tuple[int, str, str]]:
        """witness vkey -> (tree size, outcome, detail) of its last answer."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(LedgerWitnessStatus))
            return {r.witness: (r.tree_size, r.outcome, r.detail) for r in rows}

    def add_timestamp(self, tree_size: int, authority: str, gen_time: str,
                      response: bytes) -> None:
        with self.engine.begin() as conn:
            _upsert(conn, LedgerTimestamp, [{"tree_size": tree_size, "authority": authority,
                                             "gen_time": gen_time, "response": response}],
                    ["tree_size"])

    def timestamps(self) -> list[tuple[int, str, str, bytes]]:
        """(tree size, authority, time it gives, the authority's response), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(LedgerTimestamp).order_by(LedgerTimestamp.tree_size))
            return [(r.tree_size, r.authority, r.gen_time, r.response) for r in rows]

    # -- the record heads map -----------------------------------------------------------------

    def stored_head_buckets_digest(self) -> bytes:
        """``head_buckets_digest`` of the heads map's bucket hashes as stored; computed by
        PostgreSQL (one row), read row by row on SQLite."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                return bytes(conn.execute(text(
                    "SELECT sha256(COALESCE(string_agg(int4send(bucket) || hash, ''::bytea "
                    "ORDER BY bucket), ''::bytea)) FROM "
                    f"{table_name(conn, LedgerHeadBucket.__tablename__)}")).scalar_one())
            rows = conn.execute(select(LedgerHeadBucket.bucket, LedgerHeadBucket.hash))
            return head_buckets_digest({r.bucket: r.hash for r in rows})

    def heads_proof(self, record_id: UUID, tree_size: int) -> tuple[list[bytes], list[bytes]]:
        """The record's bucket entries and the sibling hashes, in the map at ``tree_size``,
        which must be the ledger's current size (the map is kept at the newest state)."""
        bucket = head_bucket(record_id)
        with self.engine.connect() as conn:
            before = self._tracking(conn).tree_size
            entries = conn.execute(select(LedgerHeadBucket.entries).where(
                LedgerHeadBucket.bucket == bucket)).scalar() or b""
            tree = HeadsTree({r.bucket: r.hash for r in conn.execute(
                select(LedgerHeadBucket.bucket, LedgerHeadBucket.hash))})
            after = self._tracking(conn).tree_size
        if not before == after == tree_size:
            raise LedgerMoved(f"the ledger is at {after} events, not {tree_size}")
        return split_entries(entries), tree.siblings(bucket)

    def positions_of(self, record_id: UUID) -> list[tuple[int, int]]:
        """(position, version) of a record's events in the ledger, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(LedgerLeaf.position, LedgerLeaf.originator_version)
                                .where(LedgerLeaf.originator_id == str(record_id))
                                .order_by(LedgerLeaf.originator_version))
            return [(r.position, r.originator_version) for r in rows]

    def position_of(self, record_id: UUID | str, version: int) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(select(LedgerLeaf.position).where(
                LedgerLeaf.originator_id == str(record_id),
                LedgerLeaf.originator_version == version)).scalar_one_or_none()

    def leaves(self, start: int, stop: int) -> list[LedgerLeafRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(LedgerLeaf).where(
                LedgerLeaf.position >= start, LedgerLeaf.position < stop)
                .order_by(LedgerLeaf.position))
            return [LedgerLeafRow(r.position, r.originator_id, r.originator_version,
                                  r.leaf_hash) for r in rows]

    def leaf_digest(self, start: int, stop: int) -> bytes | None:
        """``leaf_digest`` of the stored leaves in [start, stop), computed by PostgreSQL (one
        row instead of one per leaf); None on SQLite, which cannot."""
        if self.engine.dialect.name != "postgresql":
            return None
        with self.engine.connect() as conn:
            return bytes(conn.execute(text(
                "SELECT sha256(COALESCE(string_agg(decode(replace(originator_id, '-', ''), "
                "'hex') || int8send(originator_version) || leaf_hash, ''::bytea "
                f"ORDER BY position), ''::bytea)) FROM {self._leaves_table()} "
                "WHERE position >= :start AND position < :stop"),
                {"start": start, "stop": stop}).scalar_one())

    def _leaves_table(self) -> str:
        """The leaves table's name for SQL written out (``text`` is not schema-translated)."""
        quote = self.engine.dialect.identifier_preparer.quote
        options = self.engine.get_execution_options()
        schema = (options.get("schema_translate_map") or {}).get(None)
        table = quote(LedgerLeaf.__tablename__)
        return f"{quote(schema)}.{table}" if schema else table

    def stored_nodes(self) -> dict[tuple[int, int], bytes]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(LedgerNode.level, LedgerNode.idx, LedgerNode.hash))
            return {(r.level, r.idx): r.hash for r in rows}

    def fetch(self, keys: Collection[merkle.Key]) -> dict[merkle.Key, bytes]:
        """Stored hashes by (level, index): leaves at level 0, tile nodes above; one query."""
        by_level: dict[int, list[int]] = {}
        for level, idx in keys:
            by_level.setdefault(level, []).append(idx)
        parts = []
        if 0 in by_level:
            parts.append(select(literal(0).label("level"), LedgerLeaf.position.label("idx"),
                                LedgerLeaf.leaf_hash.label("hash"))
                         .where(LedgerLeaf.position.in_(by_level.pop(0))))
        if by_level:
            parts.append(select(LedgerNode.level, LedgerNode.idx, LedgerNode.hash).where(or_(
                *(and_(LedgerNode.level == level, LedgerNode.idx.in_(indexes))
                  for level, indexes in by_level.items()))))
        if not parts:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(union_all(*parts) if len(parts) > 1 else parts[0])
            return {(r.level, r.idx): r.hash for r in rows}

    # -- proofs -------------------------------------------------------------------------------

    def inclusion_proof(self, position: int, tree_size: int) -> list[bytes]:
        return merkle.inclusion_proof(position, tree_size, self.fetch)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        return merkle.consistency_proof(first, second, self.fetch)

    def root_at(self, tree_size: int) -> bytes:
        return merkle.root_at(tree_size, self.fetch)


@dataclass(frozen=True)
class LedgerLeafRow:
    position: int
    originator_id: str
    originator_version: int
    leaf_hash: bytes


class PageHeads:
    """The heads map's changes of one page: applied to the tree when a checkpoint needs its
    root, written (the changed buckets' entries and hashes) with the page."""

    def __init__(self, conn: Connection, tree: HeadsTree) -> None:
        self.conn, self.tree = conn, tree
        self.pending: dict[UUID, tuple[int, int]] = {}  # not in the tree yet
        self.entries: dict[int, dict[bytes, bytes]] = {}  # bucket -> record id -> entry
        self.changed: set[int] = set()

    def record(self, record_id: UUID, version: int, position: int) -> None:
        self.pending[record_id] = (version, position)

    def root(self) -> bytes:
        if self.pending:
            self._apply()
        return self.tree.root()

    def _apply(self) -> None:
        touched = {head_bucket(rid) for rid in self.pending}
        unread = touched - self.entries.keys()
        if unread:
            for bucket, blob in self.conn.execute(text(
                    "SELECT bucket, entries FROM "
                    f"{table_name(self.conn, LedgerHeadBucket.__tablename__)} WHERE bucket IN "
                    f"({','.join(str(int(b)) for b in unread)})")):
                self.entries[bucket] = {blob[i:i + 16]: blob[i:i + 32]
                                        for i in range(0, len(blob), 32)}
        for rid, (version, position) in self.pending.items():
            self.entries.setdefault(head_bucket(rid), {})[rid.bytes] = \
                head_entry(rid, version, position)
        self.tree.set_buckets({b: bucket_hash(self.entries[b].values()) for b in touched})
        self.changed |= touched
        self.pending.clear()

    def save(self) -> None:
        if self.pending:
            self._apply()
        if self.changed:
            hashes, order = self.tree.levels[0], sorted(self.changed)
            save_buckets(self.conn, order, [hashes[b] for b in order],
                         [b"".join(sorted(self.entries[b].values())) for b in order])


def save_buckets(conn: Connection, buckets: list[int], hashes: list[bytes],
                 entries: list[bytes]) -> None:
    """Upsert the heads map's buckets: on PostgreSQL one statement over arrays (a row at a
    time costs more than the rest of the page), on SQLite an executemany."""
    table = LedgerHeadBucket.__table__
    name = table_name(conn, table.name)  # type: ignore[attr-defined]
    upsert = (f"INSERT INTO {name} (bucket, hash, entries) {{rows}} ON CONFLICT (bucket) "
              "DO UPDATE SET hash = excluded.hash, entries = excluded.entries")
    if conn.dialect.name == "postgresql":
        conn.execute(text(upsert.format(
            rows="SELECT * FROM unnest(CAST(:b AS integer[]), CAST(:h AS bytea[]), "
                 "CAST(:e AS bytea[]))")), {"b": buckets, "h": hashes, "e": entries})
    else:
        conn.execute(text(upsert.format(rows="VALUES (:b, :h, :e) ")),
                     [{"b": b, "h": h, "e": e} for b, h, e in zip(buckets, hashes, entries,
                                                                   strict=True)])


def table_name(conn: Connection, table: str) -> str:
    """A ledger table's name for SQL written out (``text`` is not schema-translated)."""
    quote = conn.dialect.identifier_preparer.quote
    schema = (conn.get_execution_options().get("schema_translate_map") or {}).get(None)
    return f"{quote(schema)}.{quote(table)}" if schema else quote(table)


def split_entries(blob: bytes) -> list[bytes]:
    return [blob[i:i + 32] for i in range(0, len(blob), 32)]


def backfill_heads(conn: Connection, tree_size: int) -> None:
    """A ledger from before the heads map: fill it from the leaves, once."""
    heads = PageHeads(conn, HeadsTree())
    rows = conn.execute(select(LedgerLeaf.originator_id, LedgerLeaf.originator_version,
                               LedgerLeaf.position).where(LedgerLeaf.position < tree_size)
                        .order_by(LedgerLeaf.position))
    for r in rows:
        heads.record(UUID(r.originator_id), r.originator_version, r.position)
    heads.save()


def _upsert(conn: Connection, model: type[Base], rows: list[dict[str, Any]],
            keys: list[str], chunk: int = 1000) -> None:
    """Insert rows, replacing those with the same keys (PostgreSQL and SQLite alike), many
    rows to a statement (one round trip, not one per row)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect_insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else \
        sqlite.insert
    for start in range(0, len(rows), chunk):
        stmt = dialect_insert(model).values(rows[start:start + chunk])
        conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_={
            c: stmt.excluded[c] for c in rows[0] if c not in keys}))


def _checkpoint_row(cp: Checkpoint) -> dict[str, Any]:
    return {"tree_size": cp.tree_size, "root_hash": cp.root_hash, "timestamp": cp.timestamp,
            "key_id": cp.key_id, "signature": cp.signature}


def _note_row(cp: Checkpoint) -> dict[str, Any]:
    return {"tree_size": cp.tree_size, "origin": cp.origin, "heads_root": cp.heads_root,
            "note_key_hash": cp.note_key_hash}


def _read_checkpoints(conn: Connection, where: Any, order: Any,
                      limit: int | None = None) -> list[Checkpoint]:
    note = LedgerCheckpointNote
    query = select(LedgerCheckpoint.__table__, note.origin, note.heads_root,
                   note.note_key_hash).outerjoin(
        note, note.tree_size == LedgerCheckpoint.tree_size).where(where).order_by(order)
    rows = conn.execute(query.limit(limit) if limit else query).all()
    sizes = [row.tree_size for row in rows if row.origin is not None]
    cosigs: dict[int, list[Cosignature]] = {}
    if sizes:
        for c in conn.execute(select(LedgerCosignature.__table__).where(
                LedgerCosignature.tree_size.between(min(sizes), max(sizes))).order_by(
                LedgerCosignature.witness)):
            cosigs.setdefault(c.tree_size, []).append(
                Cosignature(c.witness, c.key_hash, c.timestamp, c.signature))
    return [_checkpoint(row, cosigs.get(row.tree_size, ())) for row in rows]


def _checkpoint(row: Any, cosignatures: Any = ()) -> Checkpoint:
    cp = Checkpoint(row.tree_size, row.root_hash, row.timestamp, row.key_id, row.signature)
    if row.origin is None:
        return cp
    return replace(cp, origin=row.origin, heads_root=row.heads_root,
                   note_key_hash=row.note_key_hash, cosignatures=tuple(cosignatures))
