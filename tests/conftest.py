"""Shared fixtures: a fresh data dir, a unique PostgreSQL schema, a clock tests control.

Tests that need PostgreSQL or NATS talk to the real servers (QREC_TEST_PG_URL,
QREC_TEST_NATS_URL). When a server is not reachable they skip, unless
QREC_REQUIRE_SERVICES=1 (as in CI), where they fail.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest

from services.contracts import Topology
from services.settings import Settings

PG_URL = os.environ.get("QREC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("QREC_TEST_NATS_URL", "nats://127.0.0.1:4222")
REQUIRE_SERVICES = os.environ.get("QREC_REQUIRE_SERVICES") == "1"


def reachable(url: str) -> bool:
    parts = urlparse(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return True
    except OSError:
        return False


def need_service(url: str, what: str) -> None:
    if reachable(url):
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} at {url} is not reachable (QREC_REQUIRE_SERVICES=1)")
    pytest.skip(f"{what} at {url} is not reachable")


class ManualClock:
    """A clock the test moves: recorded times are deterministic."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 26, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "qrec-data")


@pytest.fixture
def pg_settings(tmp_path: Path) -> Iterator[Settings]:
    need_service(PG_URL, "PostgreSQL")
    schema = f"qrec_test_{uuid.uuid4().hex[:12]}"
    yield Settings(data_dir=tmp_path / "qrec-data", store_url=PG_URL, pg_schema=schema)
    drop_pg_schema(PG_URL, schema)


def drop_pg_schema(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", "postgres"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """The same test on the embedded SQLite store and on the real PostgreSQL."""
    if request.param == "sqlite":
        yield Settings(data_dir=tmp_path / "qrec-data")
        return
    request.applymarker(pytest.mark.postgres)
    yield request.getfixturevalue("pg_settings")


@pytest.fixture
def nats_url() -> str:
    need_service(NATS_URL, "NATS")
    return NATS_URL


@pytest.fixture
def topology(nats_url: str) -> Iterator[Topology]:
    """Subjects and streams under a prefix of this test's own, deleted after it."""
    import asyncio

    import nats

    from services.streams import delete_streams

    topology = Topology(prefix=f"t{uuid.uuid4().hex[:10]}")
    yield topology

    async def clean() -> None:
        nc = await nats.connect(nats_url)
        await delete_streams(nc.jetstream(), topology)
        await nc.close()
    asyncio.run(clean())


@pytest.fixture
def another_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A second store of the same kind as `store_settings` (its own data dir, and on
    PostgreSQL its own schema, removed after), for tests of two stores on one broker."""
    first: Settings = request.getfixturevalue("store_settings")
    second = first.with_(data_dir=tmp_path / "another-store")
    if not first.uses_postgres:
        yield second
        return
    second = second.with_(pg_schema=f"{first.pg_schema}_b")
    yield second
    drop_pg_schema(PG_URL, second.pg_schema)


@pytest.fixture
def backup(tmp_path: Path) -> Iterator[Callable[[Settings], Settings]]:
    """``backup(settings)``: a backup of that store taken now, as the settings of a store
    restored from it (tests/backups.py); removed after the test."""
    from tests.backups import take_backup

    made: list[Settings] = []

    def take(settings: Settings) -> Settings:
        restored = take_backup(settings, tmp_path / f"backup-{len(made)}")
        made.append(restored)
        return restored

    yield take
    for restored in made:
        if restored.uses_postgres:
            drop_pg_schema(PG_URL, restored.pg_schema)
