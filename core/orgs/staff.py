"""Staff: the people who administer, and their roles (operator-wide or per organisation)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Role, StaffMember, StaffRole
from core.orgs import repository as repo
from core.orgs.audit import record, snapshot
from core.orgs.errors import Conflict, Invalid, NotFound
from core.orgs.scope import Access, Actor, Grant
from core.orgs.totp import new_nonce
from core.users.service import UserError, normalize_phone


def normalize_identity(value: str) -> tuple[str, str]:
    """('email', 'kari@example.no') or ('phone', '+4791234567')."""
    text = value.strip()
    if "@" in text:
        local, _, domain = text.rpartition("@")
        if not local or "." not in domain or len(text) > 254 or any(c.isspace() for c in text):
            raise Invalid(f"not an e-mail address: {value!r}")
        # Case-insensitive in practice, whatever RFC 5321 allows for the local part.
        return "email", text.lower()
    try:
        return "phone", normalize_phone(text)
    except UserError:
        raise Invalid(f"not an e-mail address or phone number: {value!r}") from None


async def grants_of(session: AsyncSession, staff_id: int) -> tuple[Grant, ...]:
    return tuple(
        Grant(Role(r.role), r.organisation_id) for r in await repo.staff_roles(session, staff_id)
    )


def needs_totp(grants: tuple[Grant, ...], staff: StaffMember) -> bool:
    """Operator roles always need a second factor; anyone who enrolled one uses it."""
    return any(g.role.operator for g in grants) or staff.totp_confirmed_at is not None


@dataclass(frozen=True)
class StaffAdded:
    staff: StaffMember
    role: StaffRole
    created: bool
    # True when a TOTP secret was made now: the caller shows its provisioning URI once.
    totp_created: bool


async def add_staff(
    session: AsyncSession,
    actor: Actor,
    identity: str,
    role: Role | str,
    organisation_id: int | None = None,
    name: str = "",
) -> StaffAdded:
    """Give a person (by e-mail or phone) a role; creates the staff member if new."""
    try:
        role = Role(role)
    except ValueError:
        raise Invalid(
            f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}"
        ) from None
    if role.operator:
        if organisation_id is not None:
            raise Invalid(f"{role.value} is an operator role: it has no organisation")
        actor.require(Access.OPERATOR, None, "staff")
    else:
        if organisation_id is None:
            raise Invalid(f"{role.value} is a role in an organisation: give the organisation")
        org = await repo.get_organisation(session, actor, organisation_id)
        actor.require(Access.WRITE, org.id, "organisation")
    kind, value = normalize_identity(identity)
    staff = await repo.staff_by_identity(session, value)
    created = staff is None
    if staff is None:
        staff = StaffMember(name=name, **{kind: value})
        session.add(staff)
        await session.flush()
        await record(
            session,
            actor,
            "staff.create",
            "staff",
            staff.id,
            organisation_id,
            after=snapshot(staff),
        )
    elif name and not staff.name:
        staff.name = name
    exists = (
        await session.execute(
            select(StaffRole.id).where(
                StaffRole.staff_id == staff.id,
                StaffRole.role == role.value,
                StaffRole.organisation_id.is_(None)
                if organisation_id is None
                else StaffRole.organisation_id == organisation_id,
            )
        )
    ).first()
    if exists:
        raise Conflict(f"{value} has this role already")
    row = StaffRole(staff_id=staff.id, role=role.value, organisation_id=organisation_id)
    session.add(row)
    totp_created = False
    if role.operator and staff.totp_nonce is None:
        staff.totp_nonce = new_nonce()
        totp_created = True
    await session.flush()
    await record(
        session,
        actor,
        "staff_role.create",
        "staff_role",
        row.id,
        organisation_id,
        after=snapshot(row),
    )
    return StaffAdded(staff, row, created, totp_created)


async def remove_role(session: AsyncSession, actor: Actor, role_id: int) -> None:
    row = await session.get(StaffRole, role_id)
    if row is None or not actor.can(Access.READ, row.organisation_id):
        raise NotFound(f"no staff role {role_id}")
    if row.organisation_id is None:
        actor.require(Access.OPERATOR, None, "staff")
    else:
        actor.require(Access.WRITE, row.organisation_id, "staff")
    before = snapshot(row)
    await session.delete(row)
    await session.flush()
    await record(
        session,
        actor,
        "staff_role.delete",
        "staff_role",
        role_id,
        before["organisation_id"] if before else None,
        before=before,
    )
