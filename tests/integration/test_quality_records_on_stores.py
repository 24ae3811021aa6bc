"""The application cases again, on the embedded SQLite store and the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.application import QualityRecords
from services.composition import build_records
from services.settings import Settings
from tests.application.test_audit_scenario import LotAuditScenario
from tests.application.test_quality_records import QualityRecordsContract
from tests.conftest import ManualClock


class OnSQLite:
    @pytest.fixture
    def app(self, sqlite_settings: Settings, clock: ManualClock) -> Iterator[QualityRecords]:
        app = build_records(sqlite_settings, clock=clock)
        yield app
        app.close()


class OnPostgres:
    @pytest.fixture
    def app(self, pg_settings: Settings, clock: ManualClock) -> Iterator[QualityRecords]:
        app = build_records(pg_settings, clock=clock)
        yield app
        app.close()


class TestOnSQLite(OnSQLite, QualityRecordsContract):
    pass


@pytest.mark.postgres
class TestOnPostgres(OnPostgres, QualityRecordsContract):
    pass


class TestLotAuditOnSQLite(OnSQLite, LotAuditScenario):
    pass


@pytest.mark.postgres
class TestLotAuditOnPostgres(OnPostgres, LotAuditScenario):
    pass
