"""The credential store: local accounts (argon2 password hashes, failed sign-in counters,
locks), API keys (stored as SHA-256 of a random secret, shown once), browser sessions
(stored hashed, each with its CSRF token) and the security log (refusals, lockouts, key and
account changes: who, what, when; never a secret).

Its tables sit beside the event log (an SQLite file of their own in the data dir, or qrec's
PostgreSQL schema), never in it: a password hash in an immutable log could never be removed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    DateTime,
    Engine,
    String,
    Text,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from projections.base import create_views_engine

Clock = Callable[[], datetime]
MIN_PASSWORD = 10
KEY_PREFIX = "qrec_"


class CredentialBase(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True)}


class AccountRow(CredentialBase):
    __tablename__ = "identity_accounts"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    failed_sign_ins: Mapped[int]
    locked_at: Mapped[datetime | None]
    locked_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]


class ApiKeyRow(CredentialBase):
    __tablename__ = "identity_api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    principal: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class SessionRow(CredentialBase):
    __tablename__ = "identity_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # when the user last typed their password in this session (signing asks again)
    authenticated_at: Mapped[datetime]


class SecurityLogRow(CredentialBase):
    __tablename__ = "identity_security_log"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    principal: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    remote: Mapped[str | None] = mapped_column(String(64))


class CredentialRefused(Exception):
    """Who the caller says they are could not be confirmed: the message says why, without
    telling a guesser whether the account exists."""


class CredentialError(ValueError):
    """An administrator's request about credentials that cannot be carried out."""


class CredentialConflict(CredentialError):
    """The credential exists already, or is not in a state the request needs."""


class CredentialNotFound(CredentialError):
    pass


class WeakPassword(CredentialError):
    pass


@dataclass(frozen=True)
class Session:
    token_hash: str
    user_id: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    authenticated_at: datetime

    def csrf_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token, self.csrf_token)


def credential_engine(url: str, schema: str = "public") -> Engine:
    """The credential store's engine: an SQLite file in WAL mode (readers never wait for a
    writer), or qrec's PostgreSQL schema."""
    if not url.startswith("sqlite"):
        return create_views_engine(url, schema)
    engine = create_engine(url, connect_args={"timeout": 30})
    event.listen(engine, "connect", _sqlite_wal)
    return engine


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def utc_now() -> datetime:
    return datetime.now(UTC)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _aware(when: datetime | None) -> datetime | None:
    return when if when is None or when.tzinfo else when.replace(tzinfo=UTC)  # SQLite


class CredentialStore:
    def __init__(self, engine: Engine, *, clock: Clock = utc_now, lockout_after: int = 5,
                 session_hours: int = 8, hasher: PasswordHasher | None = None) -> None:
        self.engine, self.clock = engine, clock
        self.lockout_after, self.session_hours = lockout_after, session_hours
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    def create_tables(self) -> None:
        CredentialBase.metadata.create_all(self.engine)

    # -- local accounts -------------------------------------------------------------------

    def add_account(self, user: str, password: str) -> None:
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(AccountRow), {
                    "user_id": user, "password_hash": self._hash(password),
                    "failed_sign_ins": 0, "locked_at": None, "locked_reason": None,
                    "created_at": now, "password_changed_at": now})
        except IntegrityError:
            raise CredentialConflict(f"account {user} exists already") from None

    def has_account(self, user: str) -> bool:
        return self._account(user) is not None

    def set_password(self, user: str, password: str) -> None:
        self._change_account(user, password_hash=self._hash(password),
                             password_changed_at=self.clock())

    def check_password(self, user: str, password: str) -> None:
        """Refuse a wrong password (counting it; the last allowed failure locks the
        account) or a locked account; a right one resets the count."""
        account = self._account(user)
        if account is None:
            self._verify(self._dummy_hash(), password)
            raise CredentialRefused("wrong user name or password")
        if account["locked_at"] is not None:
            raise CredentialRefused(f"account {user} is locked: an administrator must "
                                    "unlock it")
        if not self._verify(account["password_hash"], password):
            failures = self._count_failure(user)
            if failures >= self.lockout_after:
                self.lock(user, f"{failures} failed sign-ins in a row")
                raise CredentialRefused(f"wrong password; account {user} is now locked "
                                        f"after {failures} failed sign-ins")
            raise CredentialRefused("wrong user name or password")
        if account["failed_sign_ins"]:
            self._change_account(user, failed_sign_ins=0)
        if self.hasher.check_needs_rehash(account["password_hash"]):
            self._change_account(user, password_hash=self.hasher.hash(password))

    def lock(self, user: str, reason: str) -> None:
        with self.engine.begin() as conn:
            locked = conn.execute(update(AccountRow).where(
                AccountRow.user_id == user, AccountRow.locked_at.is_(None)).values(
                locked_at=self.clock(), locked_reason=reason)).rowcount
            conn.execute(delete(SessionRow).where(SessionRow.user_id == user))
        if not locked and not self.has_account(user):
            raise CredentialNotFound(f"no account {user}")

    def unlock(self, user: str) -> None:
        self._change_account(user, locked_at=None, locked_reason=None, failed_sign_ins=0)

    def account(self, user: str) -> dict[str, Any] | None:
        """The account without its hash."""
        found = self._account(user)
        if found is None:
            return None
        found.pop("password_hash")
        found["locked_at"] = _aware(found["locked_at"])
        return found

    def accounts(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            users = conn.execute(select(AccountRow.user_id).order_by(AccountRow.user_id))
            names = [u for (u,) in users]
        return [a for a in map(self.account, names) if a is not None]

    def _account(self, user: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(AccountRow.__table__).where(
                AccountRow.user_id == user)).mappings().first()
        return None if row is None else dict(row)

    def _change_account(self, user: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            changed = conn.execute(update(AccountRow).where(AccountRow.user_id == user)
                                   .values(**values)).rowcount
        if not changed:
            raise CredentialNotFound(f"no account {user}")

    def _count_failure(self, user: str) -> int:
        with self.engine.begin() as conn:
            conn.execute(update(AccountRow).where(AccountRow.user_id == user).values(
                failed_sign_ins=AccountRow.failed_sign_ins + 1))
            count = conn.execute(select(AccountRow.failed_sign_ins).where(
                AccountRow.user_id == user)).scalar_one()
        return int(count)

    @staticmethod
    def check_new_password(password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise WeakPassword(f"a password needs at least {MIN_PASSWORD} characters")

    def _dummy_hash(self) -> str:
        """Checked against when the user is unknown, so a guess takes as long either way."""
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy

    def _hash(self, password: str) -> str:
        self.check_new_password(password)
        return self.hasher.hash(password)

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    # -- API keys ----------------------------------------------------------------------------

    def create_api_key(self, principal: str) -> str:
        """A new key for ``principal``; the whole key is returned this once, never again."""
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(ApiKeyRow), {
                    "key_id": key_id, "principal": principal,
                    "secret_hash": sha256_hex(secret), "created_at": self.clock(),
                    "revoked_at": None})
        except IntegrityError:
            raise CredentialConflict(f"{principal} has a key already") from None
        return f"{KEY_PREFIX}{key_id}_{secret}"

    def revoke_api_key(self, principal: str) -> None:
        with self.engine.begin() as conn:
            revoked = conn.execute(update(ApiKeyRow).where(
                ApiKeyRow.principal == principal, ApiKeyRow.revoked_at.is_(None)).values(
                revoked_at=self.clock())).rowcount
        if not revoked:
            raise CredentialConflict(f"{principal} has no key in use")

    def api_key_principal(self, key: str) -> str:
        """Whose key this is; a malformed, unknown or revoked key is refused."""
        key_id, _, secret = key.removeprefix(KEY_PREFIX).partition("_")
        with self.engine.connect() as conn:
            row = conn.execute(select(ApiKeyRow.__table__).where(
                ApiKeyRow.key_id == key_id)).mappings().first()
        if row is None or not hmac.compare_digest(row["secret_hash"], sha256_hex(secret)):
            raise CredentialRefused("unknown API key")
        if row["revoked_at"] is not None:
            raise CredentialRefused("this API key was revoked")
        return str(row["principal"])

    def api_keys(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(ApiKeyRow.principal, ApiKeyRow.key_id,
                                       ApiKeyRow.created_at, ApiKeyRow.revoked_at)
                                .order_by(ApiKeyRow.principal)).mappings()
            return [{**r, "created_at": _aware(r["created_at"]),
                     "revoked_at": _aware(r["revoked_at"])} for r in rows]

    # -- browser sessions ------------------------------------------------------------------

    def open_session(self, user: str) -> tuple[str, Session]:
        """A new session: the token for the cookie (only its hash is kept) and the session."""
        token, now = secrets.token_urlsafe(32), self.clock()
        session = Session(sha256_hex(token), user, secrets.token_urlsafe(32), now,
                          now + timedelta(hours=self.session_hours), now)
        with self.engine.begin() as conn:
            conn.execute(delete(SessionRow).where(SessionRow.expires_at < now))
            conn.execute(insert(SessionRow), vars(session))
        return token, session

    def session(self, token: str) -> Session:
        with self.engine.connect() as conn:
            row = conn.execute(select(SessionRow.__table__).where(
                SessionRow.token_hash == sha256_hex(token))).mappings().first()
        if row is None:
            raise CredentialRefused("no such session: sign in again")
        values: dict[str, Any] = {k: _aware(v) if isinstance(v, datetime) else v
                                  for k, v in row.items()}
        session = Session(**values)
        if session.expires_at <= self.clock():
            self.close_session(token)
            raise CredentialRefused("the session has expired: sign in again")
        return session

    def close_session(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(SessionRow).where(SessionRow.token_hash == sha256_hex(token)))

    # -- the security log ------------------------------------------------------------------

    def log(self, principal: str | None, action: str, outcome: str, detail: str,
            remote: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(SecurityLogRow), {
                "at": self.clock(), "principal": principal, "action": action[:200],
                "outcome": outcome[:32], "detail": detail, "remote": remote})

    def security_log(self, after: int = 0, limit: int = 100, principal: str | None = None,
                     outcome: str | None = None) -> list[dict[str, Any]]:
        t = SecurityLogRow
        query = select(t.__table__).where(t.id > after)
        if principal is not None:
            query = query.where(t.principal == principal)
        if outcome is not None:
            query = query.where(t.outcome == outcome)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.id).limit(limit)).mappings()
            return [{**r, "at": _aware(r["at"])} for r in rows]
