"""The HTTP conventions a client relies on: the actor is who signed in, a retried POST records
nothing twice, a stale write is a 409, errors are problem+json naming the field, views page
by cursor, a record reads back as of any time, and an audit pack verifies offline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.records import Provenance
from projections.ledger.verifier import pack_problems
from tests.e2e.api import Plant

PROBLEM = "application/problem+json"


def events_of(plant: Plant, lot: str) -> list[object]:
    return plant.records.history(plant.records.lot(lot).id)


def test_the_actor_of_what_a_call_records_is_the_caller_never_a_field_of_the_request(
        plant: Plant) -> None:
    lot = plant.lot()
    forged = plant.call("operator", "POST", f"/api/v1/lots/{lot}/hold",
                        {"reason": "suspect", "actor": "qe-someone-else"})
    assert forged.status_code == 422 and forged.headers["content-type"] == PROBLEM
    assert forged.json()["errors"][0]["field"] == "body.actor"
    held = plant.call("operator", "POST", f"/api/v1/lots/{lot}/hold", {"reason": "suspect"})
    assert held.status_code == 200
    event = events_of(plant, lot)[-1]
    assert event.provenance.actor == "key:test-operator"  # type: ignore[attr-defined]
    assert event.provenance.source == "api"  # type: ignore[attr-defined]
    # the printed name stands beside the actor wherever the history is read
    history = plant.call("auditor", "GET", f"/api/v1/records/lot:{lot}/history").json()
    assert (history["events"][-1]["actor"], history["events"][-1]["actor_name"]) == \
        ("key:test-operator", "test-operator")
    # a disposition's approver is the caller too
    nc = plant.nc()
    plant.call("quality_engineer", "POST", f"/api/v1/nonconformances/{nc}/disposition",
               {"disposition": "scrap", "reason": "porosity"})
    assert plant.records.nonconformance(nc).approver == "key:test-quality_engineer"


def test_a_retried_post_records_nothing_twice_and_gets_the_first_answer(plant: Plant) -> None:
    lot = plant.lot()
    headers = plant.headers("operator", **{"Idempotency-Key": "evidence-77"})
    first = plant.client.post(f"/api/v1/lots/{lot}/operations/cure/start",
                              json={"station": "OVEN-1"}, headers=headers)
    again = plant.client.post(f"/api/v1/lots/{lot}/operations/cure/start",
                              json={"station": "OVEN-1"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    assert len(events_of(plant, lot)) == 2  # opened, started once
    # the same key for another request is a client's mistake
    other = plant.client.post(f"/api/v1/lots/{lot}/operations/deburr/start", json={},
                              headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    # keys are the caller's own: another principal's same key is another request
    theirs = plant.call("quality_engineer", "POST", f"/api/v1/lots/{lot}/hold",
                        {"reason": "x"}, **{"Idempotency-Key": "evidence-77"})
    assert theirs.status_code == 200 and len(events_of(plant, lot)) == 3


def test_a_refused_command_is_refused_again_on_retry_without_running_twice(
        plant: Plant) -> None:
    headers = plant.headers("quality_engineer")
    lot = plant.lot()  # not on hold: a release is refused
    first = plant.client.post(f"/api/v1/lots/{lot}/release", json={"reason": "ok"},
                              headers=headers)
    plant.records.hold_lot(lot, Provenance("qe-1", reason="now it is on hold"))
    again = plant.client.post(f"/api/v1/lots/{lot}/release", json={"reason": "ok"},
                              headers=headers)
    assert first.status_code == again.status_code == 409
    assert first.json() == again.json() and "is not on hold" in again.json()["detail"]
    assert plant.records.lot(lot).on_hold


def test_every_post_needs_an_idempotency_key(plant: Plant) -> None:
    answer = plant.client.post("/api/v1/lots/LOT-0001/hold", json={"reason": "x"}, headers={
        "Authorization": f"Bearer {plant.keys['operator']}"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "header.Idempotency-Key"


def test_a_write_on_a_version_changed_since_it_was_read_is_a_409(plant: Plant) -> None:
    lot = plant.lot()
    read = plant.call("operator", "GET", f"/api/v1/records/lot:{lot}")
    seen = read.headers["ETag"]
    assert seen == '"1"' and read.json()["version"] == 1
    plant.records.start_operation(lot, "cure", "OVEN-1", Provenance("op-2"))  # meanwhile
    stale = plant.call("operator", "POST", f"/api/v1/lots/{lot}/hold", {"reason": "suspect"},
                       **{"If-Match": seen})
    assert stale.status_code == 409 and stale.headers["content-type"] == PROBLEM
    assert "at version 2, not 1" in stale.json()["detail"]
    assert not plant.records.lot(lot).on_hold
    fresh = plant.call("operator", "POST", f"/api/v1/lots/{lot}/hold", {"reason": "suspect"},
                       **{"If-Match": '"2"'})
    assert fresh.status_code == 200 and fresh.headers["ETag"] == '"3"'
    bad = plant.call("operator", "POST", f"/api/v1/lots/{lot}/hold", {"reason": "x"},
                     **{"If-Match": "yesterday"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "header.If-Match"


def test_errors_are_problem_documents_with_the_domains_message_naming_the_field(
        plant: Plant) -> None:
    unknown = plant.call("operator", "POST", "/api/v1/lots/LOT-9999/hold", {"reason": "x"})
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM
    assert unknown.json()["detail"] == "no lot record LOT-9999"
    no_reason = plant.call("operator", "POST", f"/api/v1/lots/{plant.lot()}/hold", {})
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"] == [{"field": "reason", "message":
                                           no_reason.json()["detail"]}]
    missing = plant.call("operator", "POST", "/api/v1/lots", {"product": "P-7"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "body.lot"
    wrong_unit = plant.call("operator", "POST",
                            f"/api/v1/inspections/{plant.open_inspection()}/results",
                            {"results": [{"characteristic": "bore_dia", "value": 0.47,
                                          "unit": "in"}]})
    assert wrong_unit.status_code == 422
    assert wrong_unit.json()["errors"][0]["field"] == "unit"
    assert "mm" in wrong_unit.json()["detail"]
    exists = plant.call("operator", "POST", "/api/v1/lots", {"lot": "LOT-0001"})
    assert exists.status_code == 409 and "already recorded" in exists.json()["detail"]
    assert {"type", "title", "status", "detail", "instance"} <= set(exists.json())


def test_views_page_by_cursor_without_repeating_or_losing_a_row(plant: Plant) -> None:
    for _ in range(7):
        plant.lot()
    plant.build_views()
    seen: list[str] = []
    url = "/api/v1/views/lots?limit=3"
    while url:
        page = plant.call("auditor", "GET", url).json()
        seen += [row["lot"] for row in page["items"]]
        cursor = page["next_cursor"]
        url = f"/api/v1/views/lots?limit=3&cursor={cursor}" if cursor else ""
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 8
    held = plant.call("auditor", "GET", "/api/v1/views/lots?on_hold=false&product=P-7")
    assert len(held.json()["items"]) == 8
    bad = plant.call("auditor", "GET", "/api/v1/views/lots?cursor=bm9wZQ")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.cursor"


def test_a_view_not_built_yet_is_said_plainly(plant: Plant) -> None:
    answer = plant.call("auditor", "GET", "/api/v1/views/nonconformances")
    assert answer.status_code == 503 and "not built yet" in answer.json()["detail"]


def test_a_record_reads_back_as_recorded_at_a_time_and_as_it_truly_was(plant: Plant) -> None:
    lot = plant.lot()
    before = datetime.now(UTC)
    plant.records.hold_lot(lot, Provenance("qe-1", reason="suspect"))
    now = plant.call("auditor", "GET", f"/api/v1/records/lot:{lot}/history").json()
    then = plant.client.get(f"/api/v1/records/lot:{lot}/history",
                            params={"as_of": before.isoformat()},
                            headers=plant.headers("auditor")).json()
    assert now["state"]["on_hold"] is True and now["events_total"] == 2
    assert then["state"]["on_hold"] is False and then["events_total"] == 1
    assert then["at"].startswith("as recorded at")
    ancient = plant.client.get(f"/api/v1/records/lot:{lot}",
                               params={"as_of": (before - timedelta(days=1)).isoformat()},
                               headers=plant.headers("auditor")).json()
    assert ancient["version"] is None and ancient["state"] is None
    paged = plant.call("auditor", "GET",
                       f"/api/v1/records/lot:{lot}/history?limit=1").json()
    assert [e["version"] for e in paged["events"]] == [1] and paged["next_after_version"] == 1


def test_an_audit_pack_from_the_api_verifies_offline(plant: Plant) -> None:
    pack = plant.call("auditor", "GET", "/api/v1/records/lot:LOT-0001/audit-pack")
    assert pack.status_code == 200
    assert pack_problems(pack.json()) == []
    key = plant.call("auditor", "GET", "/api/v1/audit/public-key")
    assert key.text.startswith("-----BEGIN PUBLIC KEY-----")
    verified = plant.call("auditor", "GET", "/api/v1/audit/verify").json()
    assert verified["intact"] is True and verified["checked"] >= 1


def test_health_and_readiness_need_no_credentials(plant: Plant) -> None:
    assert plant.client.get("/healthz").json() == {"status": "ok"}
    ready = plant.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "store": "ok", "credentials": "ok", "broker": "none"}


def test_readiness_says_when_the_broker_cannot_be_reached(plant: Plant) -> None:
    plant.ctx.broker_url = "nats://127.0.0.1:1"
    ready = plant.client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["broker"].startswith("unreachable")
