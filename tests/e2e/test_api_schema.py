"""Property tests of the API against its OpenAPI document as checked in (schemathesis), on
SQLite and on PostgreSQL: whatever a client sends within (and around) the document, the API answers
without a server error, with a status code, content type and body the document declares.

Bounded for CI (QREC_SCHEMA_EXAMPLES generated examples per operation, default 5); run with
more, which also turns on schemathesis' boundary cases, to dig deeper:
QREC_SCHEMA_EXAMPLES=200 make test PYTEST_ARGS=tests/e2e/test_api_schema.py
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.settings import Settings
from tests.conftest import PG_URL, drop_pg_schema, need_service
from tests.e2e.api import Plant

EXAMPLES = int(os.environ.get("QREC_SCHEMA_EXAMPLES", "5"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
schema = schemathesis.openapi.from_path(DOCUMENT)
# The coverage phase (thousands of boundary cases, built at collection) is for a deep run.
schema.config.phases.coverage.enabled = EXAMPLES > 50


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Plant]:
    """One plant per store for every operation (a plant each would take minutes)."""
    data_dir = tmp_path_factory.mktemp("qrec") / "qrec-data"
    settings, pg_schema = Settings(data_dir=data_dir), None
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        need_service(PG_URL, "PostgreSQL")
        pg_schema = f"qrec_test_{uuid.uuid4().hex[:12]}"
        settings = settings.with_(store_url=PG_URL, pg_schema=pg_schema)
    plant = Plant(settings)
    plant.ctx.ledger.catch_up(seal=True)
    plant.build_views()
    yield plant
    plant.close()
    if pg_schema:
        drop_pg_schema(PG_URL, pg_schema)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_openapi_document(case: Any, served: Plant) -> None:
    # As a caller whose roles allow the operation, so that it gets past the door.
    roles = case.operation.definition.raw.get("x-qrec-roles") or ["quality_engineer"]
    case.call_and_validate(app=served.app, checks=CHECKS,
                           headers={"Authorization": f"Bearer {served.keys[roles[0]]}"})
