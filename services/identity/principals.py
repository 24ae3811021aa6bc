"""Who is calling: a session cookie, an API key or an identity provider's token turned into a
principal with its printed name and roles. Roles are read from the principal's access
record in the write model at every request, so a revocation counts at once; a provider's
claimed roles are recorded there as they change, so "roles of X at T" holds for everyone."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from domain.access import RoleNotHeld, allowed
from domain.application import QualityRecords
from domain.records import Provenance, RecordExists, RecordNotFound
from services.identity.credentials import KEY_PREFIX, CredentialRefused, CredentialStore
from services.identity.oidc import OidcVerifier


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``id`` is the actor of every event they record."""

    id: str
    name: str  # the printed name
    kind: str  # user, api_key, oidc
    roles: frozenset[str]
    method: str  # how they proved it: password, session, api_key, oidc
    authenticated_at: datetime
    session: str | None = None  # the session's token hash, for a browser session

    def may(self, action: str) -> bool:
        return allowed(self.roles, action)


def api_key_principal(name: str) -> str:
    return f"key:{name}"


def oidc_principal(user: str) -> str:
    return f"oidc:{user}"


class Authenticator:
    def __init__(self, records: QualityRecords, credentials: CredentialStore,
                 oidc: OidcVerifier | None = None) -> None:
        self.records, self.credentials, self.oidc = records, credentials, oidc
        self._synced: dict[str, frozenset[str]] = {}  # provider roles last recorded

    def by_password(self, user: str, password: str) -> Principal:
        self.credentials.check_password(user, password)
        return self._principal(user, "password", self.records.clock())

    def by_session(self, token: str) -> tuple[Principal, str]:
        """The session's user and the session's CSRF token."""
        session = self.credentials.session(token)
        principal = self._principal(session.user_id, "session", session.authenticated_at,
                                    session.token_hash)
        return principal, session.csrf_token

    def by_bearer(self, token: str) -> Principal:
        if token.startswith(KEY_PREFIX):
            who = self.credentials.api_key_principal(token)
            return self._principal(who, "api_key", self.records.clock())
        if self.oidc is None:
            raise CredentialRefused("bearer tokens from an identity provider are not "
                                    "accepted here (OIDC is not configured)")
        identity = self.oidc.verify(token)
        who = oidc_principal(identity.user)
        if len(who) > 64:
            raise CredentialRefused("the token's user name is longer than 59 characters")
        self._record_claimed_roles(who, identity.name, identity.roles)
        return Principal(who, identity.name, "oidc", identity.roles, "oidc",
                         identity.authenticated_at)

    def _principal(self, who: str, method: str, at: datetime,
                   session: str | None = None) -> Principal:
        try:
            access = self.records.access(who)
        except RecordNotFound:
            raise CredentialRefused(f"{who} is not enrolled") from None
        if access.kind == "user" and self.credentials.account(who) is None:
            raise CredentialRefused(f"{who} has no account")
        return Principal(who, access.printed_name, access.kind, frozenset(access.roles),
                         method, at, session)

    def _record_claimed_roles(self, who: str, name: str, claimed: frozenset[str]) -> None:
        """Record the roles the provider claims when they differ from the ones recorded
        for this principal (once per change, not per request)."""
        if self._synced.get(who) == claimed:
            return
        issuer = self.oidc.settings.issuer if self.oidc else "the identity provider"
        prov = Provenance(actor="identity-provider", source="oidc",
                          reason=f"roles claimed by {issuer}")
        with suppress(RecordExists):  # enrolled by an earlier request
            self.records.enroll(who, name, "oidc", prov)
        held = frozenset(self.records.access(who).roles)
        for role in sorted(claimed - held):
            self.records.grant_role(who, role, prov)
        for role in sorted(held - claimed):
            with suppress(RoleNotHeld):  # revoked meanwhile by a concurrent request
                self.records.revoke_role(who, role, prov)
        self._synced[who] = claimed
