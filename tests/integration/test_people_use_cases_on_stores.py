"""The people's use cases again, on the embedded SQLite store and the real PostgreSQL."""

from __future__ import annotations

import pytest

from tests.application.test_people_use_cases import PeopleUseCasesContract
from tests.integration.test_quality_records_on_stores import OnPostgres, OnSQLite


class TestOnSQLite(OnSQLite, PeopleUseCasesContract):
    pass


@pytest.mark.postgres
class TestOnPostgres(OnPostgres, PeopleUseCasesContract):
    pass
