"""The HTTP API's fixture: a plant served in process, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.settings import Settings
from tests.e2e.api import Plant


@pytest.fixture
def plant(store_settings: Settings) -> Iterator[Plant]:
    served = Plant(store_settings)
    yield served
    served.close()
