"""Who is acting, and what they may see and do: the one place roles become SQL filters.

Every repository function that serves staff or an API key takes an `Actor` and filters with
`actor.org_filter(...)`; an object outside the actor's organisations is then simply not
found (404), never "forbidden" (403 would confirm that it exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, false, true
from sqlalchemy.orm import InstrumentedAttribute

from core.models.orgs import Role
from core.orgs.errors import Forbidden, NotFound


class Access(StrEnum):
    READ = "read"  # see it
    SUPPORT = "support"  # support actions: remote commands, stop, unlock, reset
    WRITE = "write"  # change it: sites, people, prices
    AUDIT = "audit"  # read the audit log
    OPERATOR = "operator"  # the operator's own work: organisations, operator keys and staff


# Which roles grant which access (within their organisation, or everywhere for operators).
_ALLOWED: dict[Access, frozenset[Role]] = {
    Access.READ: frozenset(Role),
    Access.SUPPORT: frozenset({Role.OPERATOR_ADMIN, Role.OPERATOR_SUPPORT, Role.ORG_ADMIN}),
    Access.WRITE: frozenset({Role.OPERATOR_ADMIN, Role.ORG_ADMIN}),
    Access.AUDIT: frozenset({Role.OPERATOR_ADMIN, Role.ORG_ADMIN}),
    Access.OPERATOR: frozenset({Role.OPERATOR_ADMIN}),
}


@dataclass(frozen=True)
class Grant:
    role: Role
    organisation_id: int | None = None  # None for the operator roles


@dataclass(frozen=True)
class Actor:
    kind: str  # staff | api_key | cli | system
    id: int | None
    label: str
    grants: tuple[Grant, ...]
    ip: str = ""

    @classmethod
    def cli(cls, label: str = "cli") -> Actor:
        """The operator at the console: the CLI has the database, so it can do anything."""
        return cls("cli", None, label, (Grant(Role.OPERATOR_ADMIN),))

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls("system", None, label, (Grant(Role.OPERATOR_ADMIN),))

    # ------------------------------------------------------------------ questions

    def everywhere(self, access: Access = Access.READ) -> bool:
        """Allowed this access in every organisation (operator roles)."""
        return any(g.role.operator and g.role in _ALLOWED[access] for g in self.grants)

    def orgs(self, access: Access = Access.READ) -> frozenset[int] | None:
        """Organisations where this access is allowed; None means all of them, including
        the operator's own sites (no organisation)."""
        if self.everywhere(access):
            return None
        return frozenset(
            g.organisation_id
            for g in self.grants
            if g.organisation_id is not None and g.role in _ALLOWED[access]
        )

    def can(self, access: Access, organisation_id: int | None) -> bool:
        orgs = self.orgs(access)
        return orgs is None or (organisation_id is not None and organisation_id in orgs)

    @property
    def is_operator(self) -> bool:
        return any(g.role.operator for g in self.grants)

    # ------------------------------------------------------------------ enforcement

    def org_filter(
        self,
        column: InstrumentedAttribute[int | None] | InstrumentedAttribute[int],
        access: Access = Access.READ,
    ) -> ColumnElement[bool]:
        """A WHERE clause: rows whose organisation this actor may access."""
        orgs = self.orgs(access)
        if orgs is None:
            return true()
        if not orgs:
            return false()
        return column.in_(sorted(orgs))

    def require(self, access: Access, organisation_id: int | None, what: str = "it") -> None:
        """For an object the caller has already found (so may read): may they do this?
        Objects they may not even read are NotFound, not Forbidden."""
        if self.can(access, organisation_id):
            return
        # None: the operator's own work (creating organisations, operator keys...).
        if organisation_id is not None and not self.can(Access.READ, organisation_id):
            raise NotFound(f"no {what}")
        raise Forbidden(f"your role does not allow this ({access.value})")

    def audit_label(self) -> str:
        return self.label[:200]
