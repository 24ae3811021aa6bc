"""The one place qrec reads its settings from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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


def _words(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    words = tuple(w for w in env.get(name, "").replace(",", " ").split() if w)
    return words or default


@dataclass(frozen=True)
class OidcSettings:
    """Bearer tokens from the plant's identity provider (all empty: OIDC is off).

    QREC_OIDC_ISSUER      the issuer (iss) tokens must name
    QREC_OIDC_AUDIENCE    the audience (aud) tokens must name: qrec's client id
    QREC_OIDC_JWKS_URL    where the issuer publishes its signing keys (JWKS), or
    QREC_OIDC_JWKS_FILE   a JWKS file (an offline plant)
    QREC_OIDC_ALGORITHMS  accepted signing algorithms (default RS256; never none)
    QREC_OIDC_ROLE_CLAIM  the claim listing qrec roles (default roles; dots reach into
                          objects, e.g. realm_access.roles)
    QREC_OIDC_USER_CLAIM  the claim naming the user (default preferred_username)
    """

    issuer: str = ""
    audience: str = ""
    jwks_url: str = ""
    jwks_file: str = ""
    algorithms: tuple[str, ...] = ("RS256",)
    role_claim: str = "roles"
    user_claim: str = "preferred_username"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OidcSettings:
        return cls(issuer=env.get("QREC_OIDC_ISSUER", "").strip(),
                   audience=env.get("QREC_OIDC_AUDIENCE", "").strip(),
                   jwks_url=env.get("QREC_OIDC_JWKS_URL", "").strip(),
                   jwks_file=env.get("QREC_OIDC_JWKS_FILE", "").strip(),
                   algorithms=_words(env, "QREC_OIDC_ALGORITHMS", ("RS256",)),
                   role_claim=env.get("QREC_OIDC_ROLE_CLAIM", "").strip() or "roles",
                   user_claim=env.get("QREC_OIDC_USER_CLAIM", "").strip()
                   or "preferred_username")

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    def check(self) -> None:
        if not self.enabled:
            return
        if not self.audience or not (self.jwks_url or self.jwks_file):
            raise SettingsError("QREC_OIDC_ISSUER needs QREC_OIDC_AUDIENCE and "
                                "QREC_OIDC_JWKS_URL or QREC_OIDC_JWKS_FILE")
        if any(a.lower() == "none" for a in self.algorithms):
            raise SettingsError("QREC_OIDC_ALGORITHMS: unsigned tokens (none) are never "
                                "accepted")


def _witnesses(text: str) -> tuple[tuple[str, str], ...]:
    """"VKEY URL, VKEY URL" -> ((vkey, url), ...); each vkey is checked when used."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        vkey, _, url = item.partition(" ")
        if not url.strip().startswith(("http://", "https://")) or vkey.count("+") < 2:
            raise SettingsError(f"QREC_WITNESSES: {item!r} is not 'VKEY http(s)://URL'")
        pairs.append((vkey, url.strip()))
    return tuple(pairs)


def shown_url(url: str) -> str:
    """A URL as qrec prints it: any password replaced by ``***`` (deploy/ puts NATS and
    PostgreSQL passwords in the URLs; they must never reach a log)."""
    parts = urlparse(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


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
    QREC_API_ADDR      where `qrec serve` listens, host:port (default 127.0.0.1:8000)
    QREC_LOCKOUT_AFTER      failed sign-ins in a row that lock an account (default 5)
    QREC_SESSION_HOURS      how long a browser session lasts (default 8)
    QREC_OIDC_*             bearer tokens from an identity provider (OidcSettings)
    QREC_LOG_ORIGIN  the origin line naming the log in its checkpoints (default: derived
                     from the log's id, see composition.log_origin)
    QREC_WITNESSES   witnesses to cosign every checkpoint: "VKEY URL" pairs, comma-separated
    QREC_TSA_URL     an RFC 3161 time-stamping authority (default: none)
    QREC_TSA_CERT    PEM file of the authority's root certificate(s), to verify its tokens
    QREC_TSA_EVERY   seconds between timestamped checkpoints; 0 = every one (default 0)
    """

    data_dir: Path = Path("qrec-data")
    store_url: str = ""
    broker_url: str = ""
    pg_schema: str = "public"
    stream_prefix: str = "qrec"
    due_soon_days: int = 14
    quarantine_overdue: bool = False
    api_addr: str = "127.0.0.1:8000"
    lockout_after: int = 5
    session_hours: int = 8
    oidc: OidcSettings = field(default_factory=OidcSettings)
    log_origin: str = ""
    witnesses: tuple[tuple[str, str], ...] = ()  # (vkey, url)
    tsa_url: str = ""
    tsa_cert: Path | None = None
    tsa_every: int = 0

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
            api_addr=env.get("QREC_API_ADDR", "").strip() or "127.0.0.1:8000",
            lockout_after=_int(env, "QREC_LOCKOUT_AFTER", 5),
            session_hours=_int(env, "QREC_SESSION_HOURS", 8),
            oidc=OidcSettings.from_env(env),
            log_origin=env.get("QREC_LOG_ORIGIN", "").strip(),
            witnesses=_witnesses(env.get("QREC_WITNESSES", "")),
            tsa_url=env.get("QREC_TSA_URL", "").strip(),
            tsa_cert=Path(env["QREC_TSA_CERT"]) if env.get("QREC_TSA_CERT") else None,
            tsa_every=_int(env, "QREC_TSA_EVERY", 0),
        )
        settings.check()
        return settings

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def check(self) -> None:
        if self.store_url and not self.uses_postgres:
            raise SettingsError(
                "QREC_STORE_URL must be empty (SQLite) or postgresql://..., "
                f"not {shown_url(self.store_url)!r}")
        if self.broker_url and not self.broker_url.startswith("nats://"):
            raise SettingsError(
                "QREC_BROKER_URL must be empty (embedded) or nats://..., "
                f"not {shown_url(self.broker_url)!r}")
        if not STREAM_PREFIX.fullmatch(self.stream_prefix):
            raise SettingsError(
                "QREC_STREAM_PREFIX must be letters, digits, '-' or '_' (one subject token, "
                f"at most 32 characters, no dots or wildcards), not {self.stream_prefix!r}")
        self.api_host_port()
        if self.lockout_after < 1 or self.session_hours < 1:
            raise SettingsError("QREC_LOCKOUT_AFTER and QREC_SESSION_HOURS must be at least 1")
        self.oidc.check()

    def api_host_port(self) -> tuple[str, int]:
        host, sep, port = self.api_addr.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(f"QREC_API_ADDR must be host:port, not {self.api_addr!r}")
        return host.strip("[]"), int(port)
        if self.log_origin and ("+" in self.log_origin or
                                any(c.isspace() for c in self.log_origin)):
            raise SettingsError(f"QREC_LOG_ORIGIN holds a space or '+': {self.log_origin!r}")
        if self.tsa_url and self.tsa_cert is None:
            raise SettingsError("QREC_TSA_URL needs QREC_TSA_CERT (the authority's root "
                                "certificate, PEM) to verify its tokens")

    @property
    def uses_postgres(self) -> bool:
        return self.store_url.startswith(("postgresql://", "postgres://"))

    @property
    def events_path(self) -> Path:
        return self.data_dir / "events.sqlite"

    @property
    def views_path(self) -> Path:
        return self.data_dir / "views.sqlite"

    @property
    def identity_url(self) -> str:
        """SQLAlchemy URL of the credential store: beside the log, never in it (its own
        SQLite file, or qrec's PostgreSQL schema)."""
        if self.uses_postgres:
            return self.views_url
        return f"sqlite:///{self.data_dir / 'identity.sqlite'}"

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
