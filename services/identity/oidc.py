"""Bearer tokens from the plant's identity provider (OpenID Connect), verified with PyJWT:
signature by a key of the issuer's JWKS (a URL or a file), the algorithm pinned by settings
(an unsigned `alg: none` token never passes), expiry, issuer and audience. The user and
their qrec roles come from configurable claims."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from domain.access import ROLES
from services.identity.credentials import CredentialRefused
from services.settings import OidcSettings

LEEWAY_SECONDS = 30  # clocks of the provider and qrec differ a little


@dataclass(frozen=True)
class OidcIdentity:
    user: str
    name: str
    roles: frozenset[str]
    authenticated_at: datetime  # auth_time if the provider says, else the token's issue time


class OidcVerifier:
    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._client = PyJWKClient(settings.jwks_url, lifespan=300) if settings.jwks_url \
            else None
        self._file_keys: PyJWKSet | None = None
        self._lock = threading.Lock()

    def verify(self, token: str) -> OidcIdentity:
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise CredentialRefused("the bearer token is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in s.algorithms:  # `none` is never among them (settings check)
            raise CredentialRefused(f"tokens signed with {algorithm!r} are not accepted")
        try:
            claims = jwt.decode(token, self._key(header), algorithms=list(s.algorithms),
                                audience=s.audience, issuer=s.issuer, leeway=LEEWAY_SECONDS,
                                options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise CredentialRefused("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise CredentialRefused("the token is not meant for qrec (audience)") from None
        except jwt.InvalidIssuerError:
            raise CredentialRefused("the token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise CredentialRefused("the token's signature does not verify") from None
        except jwt.InvalidTokenError as e:
            raise CredentialRefused(f"the token is refused: {e}") from None
        return self._identity(claims)

    def _identity(self, claims: Mapping[str, Any]) -> OidcIdentity:
        user = claims.get(self.settings.user_claim) or claims["sub"]
        if not isinstance(user, str) or not user:
            raise CredentialRefused(f"the token names no user ({self.settings.user_claim})")
        when = claims.get("auth_time") or claims.get("iat")
        at = datetime.fromtimestamp(when, UTC) if isinstance(when, (int, float)) \
            else datetime.now(UTC)
        name = claims.get("name") if isinstance(claims.get("name"), str) else user
        return OidcIdentity(user, str(name), claimed_roles(claims, self.settings.role_claim),
                            at)

    def _key(self, header: Mapping[str, Any]) -> Any:
        try:
            if self._client is not None:
                return self._client.get_signing_key(header.get("kid", "")).key \
                    if header.get("kid") else self._only_key(self._client.get_jwk_set())
            return self._from_file(header.get("kid"))
        except jwt.PyJWKClientError as e:
            raise CredentialRefused(f"no key of the issuer verifies this token: {e}") from None

    def _from_file(self, kid: str | None) -> Any:
        with self._lock:
            if self._file_keys is None or (kid and not _has(self._file_keys, kid)):
                text = Path(self.settings.jwks_file).read_text()
                self._file_keys = PyJWKSet.from_json(text)
            keys = self._file_keys
        if kid is None:
            return self._only_key(keys)
        if not _has(keys, kid):
            raise CredentialRefused(f"no key {kid!r} in the issuer's key set")
        return keys[kid].key

    @staticmethod
    def _only_key(keys: PyJWKSet) -> Any:
        if len(keys.keys) != 1:
            raise CredentialRefused("the token names no key (kid) and the issuer has several")
        only: PyJWK = keys.keys[0]
        return only.key


def _has(keys: PyJWKSet, kid: str) -> bool:
    return any(k.key_id == kid for k in keys.keys)


def claimed_roles(claims: Mapping[str, Any], claim: str) -> frozenset[str]:
    """The qrec roles a token claims: a list or a space-separated string, found by a dotted
    path (``realm_access.roles``); names that are not qrec roles are left out."""
    value: Any = claims
    for part in claim.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list):
        return frozenset()
    return frozenset(r for r in value if isinstance(r, str) and r in ROLES)
