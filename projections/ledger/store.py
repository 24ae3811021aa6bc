"""The ledger's tables and its catch-up: leaves, tile nodes, signed checkpoints and the
tracking position, written in one transaction per page of notifications.

Tables (in the views database; on PostgreSQL in the settings' schema):
``ledger_leaves`` (position -> event key and leaf hash), ``ledger_nodes`` (tile nodes, see
``merkle``), ``ledger_checkpoints`` (signed tree heads) and ``ledger_tracking`` (the last
notification id taken in, the tree size and its right edge).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
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
    and_,
    create_engine,
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
from projections.ledger.keys import Keyring, Signer
from projections.ledger.verifier import Checkpoint, event_leaf_hash

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


def leaf_digest(keys: Sequence[tuple[UUID, int, bytes]]) -> bytes:
    """SHA-256 over (record id, version, leaf hash) of consecutive leaves (16 + 8 + 32
    bytes each), in the form ``Ledger.leaf_digest`` has the database compute."""
    return hashlib.sha256(b"".join(oid.bytes + version.to_bytes(8, "big", signed=True) + h
                                   for oid, version, h in keys)).digest()


class Ledger:
    """The Merkle log over the notification log, with signed checkpoints and proofs."""

    def __init__(self, engine: Engine, source: NotificationSource, keyring: Keyring,
                 clock: Clock = utc_now, policy: LedgerPolicy | None = None) -> None:
        self.engine, self.source, self.keyring = engine, source, keyring
        self.clock = clock
        self.policy = policy or LedgerPolicy()

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
        with self.engine.begin() as conn:
            state = self._tracking(conn)
            page = self.source.select_notifications(state.notification_id + 1,
                                                    self.policy.page_size)
            last_page = len(page) < self.policy.page_size
            cps = self._append(conn, state, page, signer, seal=seal and last_page)
            if page or cps:
                self._save_tracking(conn, state, page[-1].id if page else None)
        made.extend(cps)
        return len(page)

    def _append(self, conn: Connection, state: TrackingState, page: Sequence[Any],
                signer: Signer, *, seal: bool) -> list[Checkpoint]:
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
            for level, idx, node in frontier.append(h):
                nodes.append({"level": level, "idx": idx, "hash": node})
            if every and frontier.size % every == 0:
                cps.append(self._sign(state, signer))
        if self._checkpoint_due(state, seal):
            cps.append(self._sign(state, signer))
        if leaves:
            conn.execute(insert(LedgerLeaf), leaves)
        if nodes:
            conn.execute(insert(LedgerNode), nodes)
        if cps:
            conn.execute(insert(LedgerCheckpoint), [_checkpoint_row(cp) for cp in cps])
        return cps

    def _checkpoint_due(self, state: TrackingState, seal: bool) -> bool:
        if state.tree_size <= state.checkpoint_size:
            return False
        if seal or not state.checkpoint_at:
            return True
        elapsed = self.clock() - datetime.fromisoformat(state.checkpoint_at)
        return elapsed.total_seconds() >= self.policy.checkpoint_seconds

    def _sign(self, state: TrackingState, signer: Signer) -> Checkpoint:
        assert state.frontier is not None
        stamp = self.clock().isoformat()
        unsigned = Checkpoint(state.tree_size, state.frontier.root(), stamp, signer.key_id)
        state.checkpoint_size, state.checkpoint_at = state.tree_size, stamp
        return Checkpoint(unsigned.tree_size, unsigned.root_hash, stamp, signer.key_id,
                          signer.sign(unsigned.message()))

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

    def checkpoints(self) -> list[Checkpoint]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size))
            return [_checkpoint(row) for row in rows]

    def latest_checkpoint(self) -> Checkpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(LedgerCheckpoint).order_by(
                LedgerCheckpoint.tree_size.desc()).limit(1)).one_or_none()
            return _checkpoint(row) if row else None

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


def _checkpoint_row(cp: Checkpoint) -> dict[str, Any]:
    return {"tree_size": cp.tree_size, "root_hash": cp.root_hash, "timestamp": cp.timestamp,
            "key_id": cp.key_id, "signature": cp.signature}


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(row.tree_size, row.root_hash, row.timestamp, row.key_id, row.signature)
