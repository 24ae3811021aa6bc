"""Administering people and machine clients, the same from `qrec users` and the HTTP API:
each change to who may act is an event on the principal's access record (with who changed
it and why); each change to a credential is a line in the security log."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from domain.access import access_id, checked_principal, checked_role
from domain.application import QualityRecords
from domain.records import Provenance, RecordNotFound
from services.identity.credentials import CredentialConflict, CredentialStore
from services.identity.principals import api_key_principal


@dataclass(frozen=True)
class PersonView:
    principal: str
    name: str
    kind: str
    roles: tuple[str, ...]
    locked: bool
    failed_sign_ins: int
    key_revoked: bool


class People:
    def __init__(self, records: QualityRecords, credentials: CredentialStore) -> None:
        self.records, self.credentials = records, credentials

    def add_user(self, user: str, printed_name: str, roles: list[str], password: str,
                 prov: Provenance) -> None:
        """A local account: enrolled with its roles in the write model, its password hash
        in the credential store. Everything is checked before anything is written."""
        checked_principal(user)
        for role in roles:
            checked_role(role)
        if self.credentials.has_account(user):
            raise CredentialConflict(f"account {user} exists already")
        self.credentials.check_new_password(password)
        prov = prov if prov.reason else replace(prov, reason="new account")
        self.records.enroll(user, printed_name, "user", prov)
        for role in roles:
            self.records.grant_role(user, role, prov)
        self.credentials.add_account(user, password)
        self.credentials.log(prov.actor, f"add user {user}", "account-created",
                             f"roles: {', '.join(roles) or 'none'}")

    def grant(self, principal: str, role: str, prov: Provenance) -> bool:
        return self.records.grant_role(principal, role, prov)

    def revoke(self, principal: str, role: str, prov: Provenance) -> None:
        self.records.revoke_role(principal, role, prov)

    def set_password(self, user: str, password: str, by: str) -> None:
        self.credentials.set_password(user, password)
        self.credentials.log(by, f"set password of {user}", "password-set", "")

    def lock(self, user: str, reason: str, by: str) -> None:
        Provenance(by, reason=reason).requiring_reason(f"lock {user}")
        self.credentials.lock(user, reason)
        self.credentials.log(by, f"lock {user}", "locked", reason)

    def unlock(self, user: str, reason: str, by: str) -> None:
        Provenance(by, reason=reason).requiring_reason(f"unlock {user}")
        self.credentials.unlock(user)
        self.credentials.log(by, f"unlock {user}", "unlocked", reason)

    def create_api_key(self, name: str, role: str, prov: Provenance) -> str:
        """A key for a machine client, scoped to one role; the key is returned once."""
        principal = api_key_principal(name)
        checked_principal(principal)
        checked_role(role)
        prov.requiring_reason(f"create API key {name}")
        if self.records.exists(access_id(principal)):
            raise CredentialConflict(f"an API key named {name} exists already (names are "
                                  "never reused: its history stays its own)")
        self.records.enroll(principal, name, "api_key", prov)
        self.records.grant_role(principal, role, prov)
        key = self.credentials.create_api_key(principal)
        self.credentials.log(prov.actor, f"create API key {name}", "key-created",
                             f"role {role}")
        return key

    def revoke_api_key(self, name: str, prov: Provenance) -> None:
        principal = api_key_principal(name)
        prov.requiring_reason(f"revoke API key {name}")
        self.credentials.revoke_api_key(principal)
        for role in sorted(self.records.access(principal).roles):
            self.records.revoke_role(principal, role, prov)
        self.credentials.log(prov.actor, f"revoke API key {name}", "key-revoked",
                             prov.reason or "")

    def everyone(self) -> list[PersonView]:
        """Every local account and API key, with roles and lock state."""
        people = [self._view(a["user_id"], a) for a in self.credentials.accounts()]
        keys = self.credentials.api_keys()
        return people + [self._view(k["principal"], None, k["revoked_at"] is not None)
                         for k in keys]

    def _view(self, principal: str, account: dict[str, Any] | None,
              revoked: bool = False) -> PersonView:
        try:
            access = self.records.access(principal)
            name, kind, roles = access.printed_name, access.kind, tuple(sorted(access.roles))
        except RecordNotFound:
            name, kind, roles = principal, "user", ()
        return PersonView(principal, name, kind, roles,
                          bool(account and account["locked_at"] is not None),
                          int(account["failed_sign_ins"]) if account else 0, revoked)
