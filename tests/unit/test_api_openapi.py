"""docs/openapi.json is the API's OpenAPI document (/openapi.json), kept current."""

from __future__ import annotations

import json
from pathlib import Path

from services.api.app import openapi_document

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGENERATE = ('python -c "import json; from services.api.app import openapi_document; '
              'print(json.dumps(openapi_document(), indent=2, sort_keys=True))" '
              '> docs/openapi.json')


def test_the_openapi_document_in_the_repository_matches_the_code() -> None:
    assert json.loads(DOCUMENT.read_text()) == openapi_document(), f"regenerate it: {REGENERATE}"


def test_the_openapi_document_says_who_may_call_each_command() -> None:
    document = json.loads(DOCUMENT.read_text())
    release = document["paths"]["/api/v1/lots/{lot}/release"]["post"]
    assert release["x-qrec-roles"] == ["quality_engineer"]
    assert release["security"] == [{"bearer": []}, {"session": []}]
    conflict = release["responses"]["409"]["$ref"].rsplit("/", 1)[1]
    assert "application/problem+json" in document["components"]["responses"][conflict][
        "content"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in release["parameters"])
    assert "security" not in document["paths"]["/healthz"]["get"]
