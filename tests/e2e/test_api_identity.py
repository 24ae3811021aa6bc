"""Three ways in, each refused when it should be: identity-provider tokens (expired, for
another audience, signed by another key, unsigned, from another issuer), API keys (unknown,
revoked), local accounts (wrong password, locked after repeated failures until an admin
unlocks); browser sessions with their cookie and CSRF token. Every refusal is logged."""

from __future__ import annotations

import http.server
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from domain.access import access_id
from services.settings import OidcSettings, Settings
from tests.e2e.api import Plant

ISSUER, AUDIENCE = "https://idp.plant.example/realms/qrec", "qrec"
PASSWORD = "correct horse battery"
GUESS = "Tr0ub4dor&3-guess"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks(key: rsa.RSAPrivateKey, kid: str = "k1") -> dict[str, Any]:
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**public, "kid": kid, "alg": "RS256", "use": "sig"}]}


def token(key: Any, *, kid: str = "k1", alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "f81d4fae", "iat": now, "exp": now + 300,
            "preferred_username": "olga", "name": "Olga Ortiz",
            "realm_access": {"roles": ["quality_engineer", "offline_access"]}, **claims}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa_key()


@pytest.fixture
def idp(tmp_path: Path, signing_key: rsa.RSAPrivateKey, store_settings: Settings
        ) -> Iterator[Plant]:
    """An API trusting an identity provider whose keys are in a JWKS file."""
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(jwks(signing_key)))
    settings = store_settings.with_(oidc=OidcSettings(
        issuer=ISSUER, audience=AUDIENCE, jwks_file=str(keys),
        role_claim="realm_access.roles"))
    served = Plant(settings)
    yield served
    served.close()


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_a_providers_token_signs_in_with_the_roles_it_claims_and_they_are_recorded(
        idp: Plant, signing_key: rsa.RSAPrivateKey) -> None:
    me = idp.client.get("/api/v1/me", headers=bearer(token(signing_key)))
    assert me.status_code == 200, me.text
    assert me.json() | {"authenticated_at": None} == {
        "principal": "oidc:olga", "name": "Olga Ortiz", "kind": "oidc",
        "roles": ["quality_engineer"], "method": "oidc", "authenticated_at": None,
        "csrf_token": None}
    # what the provider claims is on record, with where it came from
    assert idp.records.roles_of("oidc:olga") == {"quality_engineer"}
    # the provider drops the role: it is revoked on record, and the door closes
    demoted = token(signing_key, realm_access={"roles": ["operator"]})
    held = idp.client.post("/api/v1/lots/LOT-0001/release", json={"reason": "ok"},
                           headers=bearer(demoted) | {"Idempotency-Key": "k-1"})
    assert held.status_code == 403
    events = idp.records.history(idp.records.access("oidc:olga").id)
    assert [type(e).__name__ for e in events] == ["Enrolled", "RoleGranted", "RoleGranted",
                                                  "RoleRevoked"]
    assert {e.provenance.reason for e in events} == {f"roles claimed by {ISSUER}"}


def test_tokens_expired_for_others_forged_unsigned_or_of_an_unpinned_algorithm_are_refused(
        idp: Plant, signing_key: rsa.RSAPrivateKey) -> None:
    now = int(time.time())
    unsigned = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x",
                           "preferred_username": "mallory", "exp": now + 60,
                           "realm_access": {"roles": ["admin"]}}, key=None, algorithm="none")
    shared_secret = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 60},
                               "a-shared-secret-of-32-bytes-long", algorithm="HS256",
                               headers={"kid": "k1"})
    cases = {
        "the token has expired": token(signing_key, exp=now - 3600, iat=now - 7200),
        "not meant for qrec (audience)": token(signing_key, aud="another-app"),
        "from another issuer": token(signing_key, iss="https://evil.example"),
        "signature does not verify": token(rsa_key()),  # same kid, another key
        "tokens signed with 'none' are not accepted": unsigned,
        "tokens signed with 'HS256' are not accepted": shared_secret,
        "not a JWT": "not-a-token",
    }
    for expected, refused in cases.items():
        answer = idp.client.get("/api/v1/me", headers=bearer(refused))
        assert answer.status_code == 401, expected
        assert answer.headers["content-type"] == "application/problem+json"
        assert expected in answer.json()["detail"]
    assert not idp.records.exists(access_id("oidc:mallory"))


def test_tokens_are_refused_where_no_provider_is_configured(plant: Plant,
                                                            signing_key: Any) -> None:
    answer = plant.client.get("/api/v1/me", headers=bearer(token(signing_key)))
    assert answer.status_code == 401 and "OIDC is not configured" in answer.json()["detail"]


@pytest.fixture
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    body = json.dumps(jwks(signing_key)).encode()

    class Keys(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the library's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Keys)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/certs"
    server.shutdown()


def test_keys_are_fetched_from_the_providers_jwks_url(
        sqlite_settings: Settings, jwks_url: str, signing_key: rsa.RSAPrivateKey) -> None:
    served = Plant(sqlite_settings.with_(oidc=OidcSettings(
        issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_url, role_claim="realm_access.roles")))
    try:
        good = served.client.get("/api/v1/me", headers=bearer(token(signing_key)))
        assert good.status_code == 200 and good.json()["principal"] == "oidc:olga"
        forged = served.client.get("/api/v1/me", headers=bearer(token(rsa_key())))
        assert forged.status_code == 401
    finally:
        served.close()


# -- API keys ---------------------------------------------------------------------------------

def test_an_unknown_or_revoked_api_key_is_refused(plant: Plant) -> None:
    created = plant.call("admin", "POST", "/api/v1/api-keys",
                         {"name": "lab-7", "role": "metrology", "reason": "LIMS"})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert plant.client.get("/api/v1/me", headers=bearer(key)).json()["roles"] == ["metrology"]
    # stored hashed: the key itself is nowhere in the credential store
    with plant.ctx.credentials.engine.connect() as conn:
        dump = "\n".join(str(row) for row in conn.exec_driver_sql(
            "SELECT * FROM identity_api_keys"))
    secret = key.removeprefix("qrec_").partition("_")[2]  # qrec_<key id>_<secret>
    assert len(secret) > 30 and secret not in dump

    revoked = plant.call("admin", "POST", "/api/v1/api-keys/lab-7/revoke",
                         {"reason": "LIMS replaced"})
    assert revoked.status_code == 200, revoked.text
    refused = plant.client.get("/api/v1/me", headers=bearer(key))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert plant.records.roles_of("key:lab-7") == frozenset()
    unknown = plant.client.get("/api/v1/me", headers=bearer("qrec_0123456789abcdef_nope"))
    assert unknown.status_code == 401 and "unknown API key" in unknown.json()["detail"]


# -- local accounts and browser sessions ---------------------------------------------------------

def sign_in(plant: Plant, user: str, password: str) -> Any:
    return plant.client.post("/api/v1/session", json={"user": user, "password": password})


def test_repeated_wrong_passwords_lock_the_account_until_an_admin_unlocks_it(
        plant: Plant) -> None:
    user = plant.account()
    for _ in range(4):
        assert sign_in(plant, user, GUESS).status_code == 401
    last = sign_in(plant, user, GUESS)
    assert last.status_code == 401 and "now locked after 5 failed" in last.json()["detail"]
    # locked: the right password is refused too
    locked = sign_in(plant, user, PASSWORD)
    assert locked.status_code == 401 and "is locked" in locked.json()["detail"]

    unlocked = plant.call("admin", "POST", f"/api/v1/people/{user}/unlock",
                          {"reason": "called the help desk"})
    assert unlocked.status_code == 200 and unlocked.json()["locked"] is False
    assert sign_in(plant, user, PASSWORD).status_code == 200
    outcomes = [line["outcome"] for line in plant.ctx.credentials.security_log(
        principal=user, limit=1000)]
    assert outcomes.count("refused-401") == 6 and "unlocked" not in outcomes
    assert [line["outcome"] for line in plant.ctx.credentials.security_log(
        principal="key:test-admin", outcome="unlocked")] == ["unlocked"]
    # the passwords tried are never written down
    assert not any(GUESS in str(line) or PASSWORD in str(line)
                   for line in plant.ctx.credentials.security_log(limit=1000))


def test_a_browser_session_is_an_httponly_strict_cookie_and_its_posts_need_the_csrf_token(
        plant: Plant) -> None:
    user = plant.account()
    signed_in = sign_in(plant, user, PASSWORD)
    assert signed_in.status_code == 200
    cookie = signed_in.headers["set-cookie"]
    assert "qrec_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Secure" not in cookie  # plain http here
    csrf = signed_in.json()["csrf_token"]
    lot = plant.lot()
    without = plant.client.post(f"/api/v1/lots/{lot}/hold", json={"reason": "x"},
                                headers={"Idempotency-Key": "s-1"})
    assert without.status_code == 403 and "CSRF" in without.json()["detail"]
    held = plant.client.post(f"/api/v1/lots/{lot}/hold", json={"reason": "suspect"},
                             headers={"Idempotency-Key": "s-2", "X-CSRF-Token": csrf})
    assert held.status_code == 200, held.text
    assert plant.records.history(plant.records.lot(lot).id)[-1].provenance.actor == user
    # signing out ends the session: the cookie opens nothing any more
    out = plant.client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    plant.client.cookies.set("qrec_session", cookie.split(";")[0].split("=", 1)[1])
    assert plant.client.get("/api/v1/me").status_code == 401


def test_a_session_cookie_is_secure_when_served_over_tls(plant: Plant) -> None:
    from tests.e2e.api import TestClient

    user = plant.account()
    with TestClient(plant.app, base_url="https://qrec.plant") as tls:
        signed_in = tls.post("/api/v1/session", json={"user": user, "password": PASSWORD})
    assert "Secure" in signed_in.headers["set-cookie"]


def test_a_locked_account_is_refused_and_its_sessions_end(plant: Plant) -> None:
    user = plant.account()
    assert sign_in(plant, user, PASSWORD).status_code == 200
    assert plant.client.get("/api/v1/me").status_code == 200
    locked = plant.call("admin", "POST", f"/api/v1/people/{user}/lock",
                        {"reason": "left the company"})
    assert locked.status_code == 200 and locked.json()["locked"] is True
    assert plant.client.get("/api/v1/me").status_code == 401
    refused = sign_in(plant, user, PASSWORD)
    assert refused.status_code == 401 and "is locked" in refused.json()["detail"]


def test_refusals_are_logged_with_who_what_and_when(
        plant: Plant, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="qrec.security"):
        plant.client.get("/api/v1/views/lots")
        plant.call("auditor", "POST", "/api/v1/lots/LOT-0001/hold", {"reason": "x"})
    anonymous, auditor = plant.ctx.credentials.security_log(outcome="refused-401")[-1], \
        plant.ctx.credentials.security_log(outcome="refused-403")[-1]
    assert (anonymous["principal"], anonymous["action"]) == (None, "GET /api/v1/views/lots")
    assert (auditor["principal"], auditor["action"]) == (
        "key:test-auditor", "POST /api/v1/lots/LOT-0001/hold")
    assert auditor["at"] is not None and "may not do lots.hold" in auditor["detail"]
    assert any("refused 403 POST /api/v1/lots/LOT-0001/hold for key:test-auditor" in r.message
               for r in caplog.records)
    seen = plant.call("auditor", "GET", "/api/v1/security-log?outcome=refused-403")
    assert seen.status_code == 200 and seen.json()[-1]["principal"] == "key:test-auditor"
