"""Inviting a member by SMS (dashboard page 5): a text with the app's link, in the
operator's name and the driver's language, through the SMS outbox (quiet hours and STOPP
respected, as every message that is not essential). Audited; each invite is a new message."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.messaging import outbox
from core.messaging.templates import render
from core.models import Organisation, SmsMessage, User
from core.operator import Operator
from core.orgs import repository as repo
from core.orgs.audit import record
from core.orgs.scope import Access, Actor


def app_link(settings: Settings) -> str:
    return f"{settings.public_base_url.rstrip('/')}/app"


async def invite(
    session: AsyncSession, actor: Actor, settings: Settings, membership_id: int
) -> str:
    """Text the member of `membership_id` the app link; returns the phone number."""
    m = await repo.get_membership(session, actor, membership_id)
    actor.require(Access.WRITE, m.organisation_id, "membership")
    user = await session.get_one(User, m.user_id)
    org = await session.get_one(Organisation, m.organisation_id)
    key = f"membership:{m.id}:invite:"
    sent = (
        await session.execute(
            select(func.count()).select_from(SmsMessage).where(SmsMessage.dedup_key.like(f"{key}%"))
        )
    ).scalar_one()
    text = render(
        "member_invite",
        user.language,
        Operator.from_settings(settings),
        org=org.name,
        group=m.group,
        link=app_link(settings),
    )
    await outbox.queue_sms(
        session, to=user.phone, kind="member_invite", body=text, dedup_key=f"{key}{int(sent) + 1}"
    )
    await record(
        session,
        actor,
        "membership.invite",
        "membership",
        m.id,
        m.organisation_id,
        after={"to": user.phone},
    )
    return user.phone
