"""`Idempotency-Key` on every POST: the first request with a key runs and its response is
kept (per principal, for a day); the same request again gets that response back and records
nothing. The same key on a different request is refused (422), and one still running is a
409: retry later.

A request is claimed before it runs, so two copies arriving together cannot both run. If a
process dies between claiming and answering, the claim is taken over after STALE_AFTER; the
key is also each event's source message id, so what was recorded names the request."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Engine, LargeBinary, String, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Clock = Callable[[], datetime]
KEPT_FOR = timedelta(hours=24)
STALE_AFTER = timedelta(seconds=60)


class IdempotencyBase(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True)}


class IdempotencyRow(IdempotencyBase):
    __tablename__ = "api_idempotency"

    principal: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None]
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    media_type: Mapped[str | None] = mapped_column(String(64))
    etag: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)


@dataclass(frozen=True)
class Stored:
    status: int
    body: bytes
    media_type: str
    etag: str | None


class KeyReused(Exception):
    pass


class KeyInProgress(Exception):
    pass


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256(f"{method} {path}?{query}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class IdempotencyStore:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine, self.clock = engine, clock
        self._swept_at: datetime | None = None

    def create_tables(self) -> None:
        IdempotencyBase.metadata.create_all(self.engine)

    def claim(self, principal: str, key: str, print_: str) -> Stored | None:
        """None: the request is ours to run. A stored response: it ran before."""
        now = self.clock()
        self._sweep(now)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(IdempotencyRow), {
                    "principal": principal, "key": key, "fingerprint": print_,
                    "status": None, "body": None, "media_type": None, "etag": None,
                    "created_at": now})
            return None
        except IntegrityError:
            pass
        with self.engine.connect() as conn:
            row = conn.execute(select(IdempotencyRow.__table__).where(
                IdempotencyRow.principal == principal, IdempotencyRow.key == key)
            ).mappings().one()
        if row["fingerprint"] != print_:
            raise KeyReused(f"Idempotency-Key {key!r} was used for a different request")
        if row["status"] is not None:
            return Stored(row["status"], row["body"], row["media_type"], row["etag"])
        if now - _aware(row["created_at"]) < STALE_AFTER or not self._take_over(dict(row), now):
            raise KeyInProgress(f"a request with Idempotency-Key {key!r} is still running")
        return None

    def complete(self, principal: str, key: str, stored: Stored) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(IdempotencyRow).where(
                IdempotencyRow.principal == principal, IdempotencyRow.key == key).values(
                status=stored.status, body=stored.body, media_type=stored.media_type,
                etag=stored.etag))

    def release(self, principal: str, key: str) -> None:
        """The request failed for a reason of ours (a store down): it may run again."""
        with self.engine.begin() as conn:
            conn.execute(delete(IdempotencyRow).where(
                IdempotencyRow.principal == principal, IdempotencyRow.key == key,
                IdempotencyRow.status.is_(None)))

    def _take_over(self, row: Mapping[str, Any], now: datetime) -> bool:
        with self.engine.begin() as conn:
            return bool(conn.execute(update(IdempotencyRow).where(
                IdempotencyRow.principal == row["principal"], IdempotencyRow.key == row["key"],
                IdempotencyRow.status.is_(None),
                IdempotencyRow.created_at == row["created_at"]).values(created_at=now)).rowcount)

    def _sweep(self, now: datetime) -> None:
        """Forget keys older than KEPT_FOR, at most every ten minutes."""
        if self._swept_at is not None and now - self._swept_at < timedelta(minutes=10):
            return
        self._swept_at = now
        with self.engine.begin() as conn:
            conn.execute(delete(IdempotencyRow).where(
                IdempotencyRow.created_at < now - KEPT_FOR))
