"""The whole permission table, walked over HTTP: every endpoint without credentials is a 401;
with each role's API key, an allowed role gets a 2xx and any other a 403 (and records
nothing). Every route of the API must have a request here: a new route without one fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from domain.access import PERMISSIONS, ROLES
from services.api.app import PUBLIC, api_routes
from services.api.security import action_of
from tests.e2e.api import Plant, later

Request = Callable[[Plant], tuple[str, Any]]  # (url, JSON body)
BORE = {"id": "bore_dia", "nominal": 12.0, "lsl": 11.99, "usl": 12.01, "unit": "mm"}
WHY = {"reason": "permission walk"}


def _key(p: Plant) -> str:
    return p.api_key()


REQUESTS: dict[tuple[str, str], Request] = {
    # people
    ("DELETE", "/api/v1/session"): lambda p: ("/api/v1/session", None),
    ("GET", "/api/v1/me"): lambda p: ("/api/v1/me", None),
    ("GET", "/api/v1/people"): lambda p: ("/api/v1/people", None),
    ("POST", "/api/v1/people"): lambda p: ("/api/v1/people", {
        "user": p.name("new"), "name": "Nia New", "roles": ["operator"],
        "password": "a long enough password", **WHY}),
    ("GET", "/api/v1/people/{principal}/access"): lambda p: (
        "/api/v1/people/key:test-operator/access", None),
    ("POST", "/api/v1/people/{principal}/roles"): lambda p: (
        f"/api/v1/people/{p.enrolled()}/roles", {"role": "operator", **WHY}),
    ("POST", "/api/v1/people/{principal}/roles/{role}/revoke"): lambda p: (
        f"/api/v1/people/{p.enrolled('operator')}/roles/operator/revoke", WHY),
    ("POST", "/api/v1/people/{principal}/lock"): lambda p: (
        f"/api/v1/people/{p.account()}/lock", WHY),
    ("POST", "/api/v1/people/{principal}/unlock"): lambda p: (
        f"/api/v1/people/{p.account()}/unlock", WHY),
    ("POST", "/api/v1/api-keys"): lambda p: ("/api/v1/api-keys", {
        "name": p.name("erp"), "role": "operator", **WHY}),
    ("POST", "/api/v1/api-keys/{name}/revoke"): lambda p: (
        f"/api/v1/api-keys/{_key(p)}/revoke", WHY),
    ("GET", "/api/v1/security-log"): lambda p: ("/api/v1/security-log", None),
    # lots
    ("POST", "/api/v1/lots"): lambda p: ("/api/v1/lots", {"lot": p.name("LOT"),
                                                          "product": "P-7"}),
    ("POST", "/api/v1/lots/{lot}/operations/{operation}/start"): lambda p: (
        f"/api/v1/lots/{p.lot()}/operations/cure/start", {"station": "OVEN-1"}),
    ("POST", "/api/v1/lots/{lot}/operations/{operation}/complete"): lambda p: (
        f"/api/v1/lots/{p.lot(started='cure')}/operations/cure/complete", {}),
    ("POST", "/api/v1/lots/{lot}/components"): lambda p: (
        f"/api/v1/lots/{p.lot()}/components", {"component_lot": p.lot(), "quantity": 2}),
    ("POST", "/api/v1/lots/{lot}/hold"): lambda p: (f"/api/v1/lots/{p.lot()}/hold", WHY),
    ("POST", "/api/v1/lots/{lot}/release"): lambda p: (
        f"/api/v1/lots/{p.held_lot()}/release", WHY),
    ("POST", "/api/v1/lots/{lot}/movements"): lambda p: (
        f"/api/v1/lots/{p.lot()}/movements", {"movement": "shipped", "customer": "ACME"}),
    # inspections
    ("POST", "/api/v1/inspections"): lambda p: ("/api/v1/inspections", {
        "number": p.name("FI"), "lot": p.lot(), "stage": "final", "plan": "IP-100"}),
    ("POST", "/api/v1/inspections/{number}/results"): lambda p: (
        f"/api/v1/inspections/{p.open_inspection()}/results", {"results": [
            {"characteristic": "bore_dia", "value": 12.001, "unit": "mm",
             "gauge": "G-0042"}]}),
    ("POST", "/api/v1/inspections/{number}/close"): lambda p: (
        f"/api/v1/inspections/{p.open_inspection(with_results=True)}/close", {}),
    ("POST", "/api/v1/inspections/{inspection}/results/{index}/correction"): lambda p: (
        f"/api/v1/inspections/{p.open_inspection(with_results=True)}/results/0/correction",
        {"value": 12.002, "reason": "transcription error"}),
    # nonconformances
    ("POST", "/api/v1/nonconformances"): lambda p: ("/api/v1/nonconformances", {
        "number": p.name("NC"), "source": "audit", "description": "label missing",
        "lots": [p.lot()], **WHY}),
    ("POST", "/api/v1/nonconformances/{number}/lots"): lambda p: (
        f"/api/v1/nonconformances/{p.nc()}/lots", {"lot": p.lot(), **WHY}),
    ("POST", "/api/v1/nonconformances/{number}/evidence"): lambda p: (
        f"/api/v1/nonconformances/{p.nc()}/evidence", {"evidence": ["photo-7.jpg"]}),
    ("POST", "/api/v1/nonconformances/{number}/containment"): lambda p: (
        f"/api/v1/nonconformances/{p.nc()}/containment", {"action": "sorted 100%"}),
    ("POST", "/api/v1/nonconformances/{number}/disposition"): lambda p: (
        f"/api/v1/nonconformances/{p.nc()}/disposition", {"disposition": "rework", **WHY}),
    ("POST", "/api/v1/nonconformances/{number}/close"): lambda p: (
        f"/api/v1/nonconformances/{p.nc(dispositioned=True)}/close", WHY),
    # corrective actions
    ("POST", "/api/v1/corrective-actions"): lambda p: ("/api/v1/corrective-actions", {
        "number": p.name("CA"), "problem": "bores drift"}),
    ("POST", "/api/v1/corrective-actions/{number}/root-cause"): lambda p: (
        f"/api/v1/corrective-actions/{p.ca()}/root-cause", {"cause": "worn probe"}),
    ("POST", "/api/v1/corrective-actions/{number}/actions"): lambda p: (
        f"/api/v1/corrective-actions/{p.ca()}/actions", {
            "description": "replace probe", "owner": "eng-1", "due": later(30)}),
    ("POST", "/api/v1/corrective-actions/{number}/actions/{index}/complete"): lambda p: (
        f"/api/v1/corrective-actions/{p.ca(actions=1)}/actions/0/complete",
        {"evidence": "work order 77"}),
    ("POST", "/api/v1/corrective-actions/{number}/effectiveness"): lambda p: (
        f"/api/v1/corrective-actions/{p.ca(actions=1, complete=True)}/effectiveness",
        {"effective": True, "evidence": "Cpk 1.7 over 4 weeks"}),
    ("POST", "/api/v1/corrective-actions/{number}/close"): lambda p: (
        f"/api/v1/corrective-actions/{p.ca(actions=1, complete=True, effective=True)}/close",
        WHY),
    # instruments
    ("POST", "/api/v1/instruments"): lambda p: ("/api/v1/instruments", {
        "tag": p.name("G"), "kind": "caliper", "unit": "mm", "range": [0, 150],
        "resolution": 0.01, "tolerance": 0.02, "interval_days": 365}),
    ("POST", "/api/v1/instruments/{tag}/quarantine"): lambda p: (
        f"/api/v1/instruments/{p.gauge()}/quarantine", WHY),
    ("POST", "/api/v1/instruments/{tag}/release"): lambda p: (
        f"/api/v1/instruments/{p.gauge(quarantined=True)}/release", WHY),
    ("POST", "/api/v1/instruments/{tag}/retire"): lambda p: (
        f"/api/v1/instruments/{p.gauge()}/retire", WHY),
    ("POST", "/api/v1/instruments/{tag}/calibrations"): lambda p: (
        f"/api/v1/instruments/{p.gauge()}/calibrations", {
            "performed_at": later(), "certificate": "C-1", "result": "pass",
            "points": [{"nominal": 12.0, "as_found": 12.0, "as_left": 12.0, "unit": "mm"}]}),
    ("GET", "/api/v1/instruments/{tag}/trace"): lambda p: (
        "/api/v1/instruments/G-0042/trace", None),
    # master data
    ("POST", "/api/v1/master-data"): lambda p: ("/api/v1/master-data", {"instruments": [{
        "tag": p.name("G"), "kind": "caliper", "unit": "mm", "range": [0, 150],
        "resolution": 0.01, "tolerance": 0.02, "interval_days": 365}]}),
    ("POST", "/api/v1/inspection-plans"): lambda p: ("/api/v1/inspection-plans", {
        "id": p.name("IP"), "revision": "A", "product": "P-7", "stage": "final",
        "sample_size": 3, "characteristics": [BORE]}),
    ("POST", "/api/v1/control-plans"): lambda p: ("/api/v1/control-plans", {
        "id": p.name("CP"), "revision": "A", "product": "P-7", "operations": [
            {"id": "cure", "parameters": [{"name": "temperature", "unit": "degC", "lsl": 175,
                                           "usl": 185, "reaction": "hold the lot"}]}]}),
    # sampling
    ("POST", "/api/v1/sampling/{plan}/{product}/{source}/reduced-approval"): lambda p: (
        "/api/v1/sampling/{}/{}/{}/reduced-approval".format(*p.switching()),
        {"approved": True, **WHY}),
    ("POST", "/api/v1/sampling/{plan}/{product}/{source}/production"): lambda p: (
        "/api/v1/sampling/{}/{}/{}/production".format(*p.switching()),
        {"steady": True, **WHY}),
    ("POST", "/api/v1/sampling/{plan}/{product}/{source}/resume"): lambda p: (
        "/api/v1/sampling/{}/{}/{}/resume".format(*p.switching(discontinued=True)), WHY),
    # records, views, audit
    ("GET", "/api/v1/genealogy/{lot}"): lambda p: ("/api/v1/genealogy/LOT-0001", None),
    ("GET", "/api/v1/records/{ref}"): lambda p: ("/api/v1/records/lot:LOT-0001", None),
    ("GET", "/api/v1/records/{ref}/history"): lambda p: (
        "/api/v1/records/lot:LOT-0001/history", None),
    ("GET", "/api/v1/records/{ref}/audit-pack"): lambda p: (
        "/api/v1/records/lot:LOT-0001/audit-pack", None),
    ("GET", "/api/v1/control-charts/{plan}/{characteristic}/{line}"): lambda p: (
        "/api/v1/control-charts/IP-100/bore_dia/L1", None),
    ("GET", "/api/v1/audit/verify"): lambda p: ("/api/v1/audit/verify", None),
    ("GET", "/api/v1/audit/checkpoint"): lambda p: ("/api/v1/audit/checkpoint", None),
    ("GET", "/api/v1/audit/public-key"): lambda p: ("/api/v1/audit/public-key", None),
}
VIEWS = [r.path_format for r in api_routes() if r.path_format.startswith("/api/v1/views/")]
for _view in VIEWS:
    REQUESTS[("GET", _view)] = lambda p, v=_view: (v, None)

ENDPOINTS = sorted((m, r.path_format) for r in api_routes() for m in r.methods or ()
                   if (m, r.path_format) not in PUBLIC)


def allowed_roles(method: str, path: str) -> frozenset[str]:
    route = next(r for r in api_routes() if r.path_format == path and method in r.methods)
    action = action_of(route.dependant.dependencies)
    return PERMISSIONS[action] if action else frozenset(ROLES)  # only signed in


def test_every_endpoint_is_walked() -> None:
    assert set(REQUESTS) == set(ENDPOINTS)


@pytest.mark.slow
def test_every_endpoint_refuses_the_unauthenticated_and_the_roles_not_allowed(
        plant: Plant) -> None:
    plant.ctx.ledger.catch_up(seal=True)
    plant.build_views()
    wrong: list[str] = []
    for method, path in ENDPOINTS:
        allowed = allowed_roles(method, path)
        url, body = REQUESTS[(method, path)](plant)
        anonymous = plant.call(None, method, url, body)
        if anonymous.status_code != 401:
            wrong.append(f"{method} {path} anonymous: {anonymous.status_code}")
        for role in ROLES:
            if role in allowed:  # fresh records: the command must be able to succeed
                url, body = REQUESTS[(method, path)](plant)
            answer = plant.call(role, method, url, body)
            ok = 200 <= answer.status_code < 300 if role in allowed else \
                answer.status_code == 403
            if not ok:
                wrong.append(f"{method} {path} as {role}: {answer.status_code} "
                             f"{answer.text[:300]}")
    assert wrong == []


def test_the_table_has_an_auditor_who_changes_nothing_and_an_admin_who_keeps_out() -> None:
    # read straight off the routes, not the table: what the API really lets them do
    for method, path in ENDPOINTS:
        roles = allowed_roles(method, path)
        if method == "POST" and path != "/api/v1/session":
            assert "auditor" not in roles, (method, path)
        quality = not path.startswith(("/api/v1/people", "/api/v1/api-keys",
                                       "/api/v1/security-log", "/api/v1/me",
                                       "/api/v1/session"))
        if quality:
            assert "admin" not in roles, (method, path)
