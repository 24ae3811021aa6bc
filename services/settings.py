"""The one place qrec reads its settings from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlparse

# One NATS subject token, also usable in stream and consumer names.
STREAM_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


class SettingsError(ValueError):
    pass


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    try:
        return int(text) if text else default
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {text!r}") from None


@dataclass(frozen=True)
class Settings:
    """qrec's settings.

    QREC_DATA_DIR    where embedded data lives (default ./qrec-data)
    QREC_STORE_URL   event store and views: empty for SQLite files in the data dir,
                     or postgresql://user@host:port/db
    QREC_BROKER_URL  empty for an embedded NATS server run by qrec, or nats://host:port
    QREC_PG_SCHEMA   PostgreSQL schema for qrec's tables (default public)
    QREC_STREAM_PREFIX      prefix of every subject, stream and durable consumer qrec
                            declares on the broker (default qrec); one per plant or
                            environment sharing a NATS cluster
    QREC_DUE_SOON_DAYS      a calibration is "due soon" this many days ahead (default 14)
    QREC_QUARANTINE_OVERDUE 1 to quarantine a gauge whose calibration is overdue (default 0)
    """

    data_dir: Path = Path("qrec-data")
    store_url: str = ""
    broker_url: str = ""
    pg_schema: str = "public"
    stream_prefix: str = "qrec"
    due_soon_days: int = 14
    quarantine_overdue: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        settings = cls(
            data_dir=Path(env.get("QREC_DATA_DIR") or "qrec-data"),
            store_url=env.get("QREC_STORE_URL", "").strip(),
            broker_url=env.get("QREC_BROKER_URL", "").strip(),
            pg_schema=env.get("QREC_PG_SCHEMA", "").strip() or "public",
            stream_prefix=env.get("QREC_STREAM_PREFIX", "").strip() or "qrec",
            due_soon_days=_int(env, "QREC_DUE_SOON_DAYS", 14),
            quarantine_overdue=env.get("QREC_QUARANTINE_OVERDUE", "0").strip() in ("1", "true"),
        )
        settings.check()
        return settings

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def check(self) -> None:
        if self.store_url and not self.uses_postgres:
            raise SettingsError(
                "QREC_STORE_URL must be empty (SQLite) or postgresql://..., "
                f"not {self.store_url!r}")
        if self.broker_url and not self.broker_url.startswith("nats://"):
            raise SettingsError(
                f"QREC_BROKER_URL must be empty (embedded) or nats://..., not {self.broker_url!r}")
        if not STREAM_PREFIX.fullmatch(self.stream_prefix):
            raise SettingsError(
                "QREC_STREAM_PREFIX must be letters, digits, '-' or '_' (one subject token, "
                f"at most 32 characters, no dots or wildcards), not {self.stream_prefix!r}")

    @property
    def uses_postgres(self) -> bool:
        return self.store_url.startswith(("postgresql://", "postgres://"))

    @property
    def events_path(self) -> Path:
        return self.data_dir / "events.sqlite"

    @property
    def views_path(self) -> Path:
        return self.data_dir / "views.sqlite"

    def postgres_parts(self) -> dict[str, str]:
        url = urlparse(self.store_url)
        return {
            "host": url.hostname or "127.0.0.1",
            "port": str(url.port or 5432),
            "user": unquote(url.username or "postgres"),
            "password": unquote(url.password or ""),
            "dbname": (url.path or "/").lstrip("/") or "postgres",
        }

    @property
    def views_url(self) -> str:
        """SQLAlchemy URL of the database that holds the read models."""
        if self.uses_postgres:
            p = self.postgres_parts()
            auth = p["user"] + (f":{p['password']}" if p["password"] else "")
            return f"postgresql+psycopg://{auth}@{p['host']}:{p['port']}/{p['dbname']}"
        return f"sqlite:///{self.views_path}"
