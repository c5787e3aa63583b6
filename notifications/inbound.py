"""Inbound SMS commands: identify the sender, act through the same core paths as the app,
and answer every outcome in the sender's language.

Twilio retries a webhook with the same MessageSid; the first delivery claims the sid (a
unique row), later deliveries get the stored reply and change nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.bus import CommandBus
from core.chargers.service import find_by_code
from core.config import Settings
from core.db import transaction
from core.messaging import outbox
from core.messaging.templates import kroner, kwh, render, unit_price
from core.models import Charger, IdTokenKind, InboundSms, StartChannel, User
from core.operator import Operator
from core.payments.service import Payments
from core.sessions import driver, flows
from core.sessions.costs import connector_quotes, session_cost_ore
from core.timeutil import utcnow
from core.users.service import UserError, get_user_by_phone, normalize_phone
from notifications.commands import SmsCommand, parse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundSmsServices:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    commands: CommandBus
    payments: Payments


class InboundSmsHandler:
    def __init__(self, services: InboundSmsServices) -> None:
        self.s = services

    @property
    def operator(self) -> Operator:
        return Operator.from_settings(self.s.settings)

    def _say(self, key: str, language: str | None, **values: object) -> str:
        return render(key, language, self.operator, **values)

    async def handle(self, message_sid: str, sender: str, recipient: str, body: str) -> str:
        """Act on one inbound SMS; return the reply text ('' for none)."""
        try:
            phone = normalize_phone(sender)
        except UserError:
            phone = sender[:20]
        command = parse(body)
        async with transaction(self.s.sessions) as session:
            claimed = await self._claim(session, message_sid, phone, recipient, body, command)
            if not claimed:
                stored = await session.execute(
                    select(InboundSms.reply).where(InboundSms.message_sid == message_sid)
                )
                return stored.scalar_one_or_none() or ""
            limited = await self._rate_limited(session, phone)
        if limited:
            reply = self._say("rate_limited", command.language)
        else:
            try:
                reply = await self._act(phone, command)
            except Exception:
                log.exception("SMS command %r from %s failed", body, phone)
                reply = self._say("unknown_command", command.language)
        async with transaction(self.s.sessions) as session:
            row = (
                await session.execute(
                    select(InboundSms).where(InboundSms.message_sid == message_sid)
                )
            ).scalar_one()
            row.reply = reply
        return reply

    # ----------------------------------------------------------------- bookkeeping

    async def _claim(
        self,
        session: AsyncSession,
        sid: str,
        phone: str,
        recipient: str,
        body: str,
        command: SmsCommand,
    ) -> bool:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        result = await session.execute(
            insert(InboundSms)
            .values(
                message_sid=sid[:64],
                sender=phone,
                recipient=recipient[:20],
                body=body[:1600],
                command=command.kind,
                reply="",
                received_at=utcnow(),
            )
            .on_conflict_do_nothing()
            .returning(InboundSms.id)
        )
        return result.first() is not None

    async def _rate_limited(self, session: AsyncSession, phone: str) -> bool:
        since = utcnow() - timedelta(minutes=10)
        count = (
            await session.execute(
                select(func.count())
                .select_from(InboundSms)
                .where(InboundSms.sender == phone, InboundSms.received_at >= since)
            )
        ).scalar_one()
        return int(count) > self.s.settings.sms_commands_per_10min

    # ----------------------------------------------------------------- commands

    async def _act(self, phone: str, command: SmsCommand) -> str:
        async with transaction(self.s.sessions) as session:
            user = await get_user_by_phone(session, phone)
            # The reply speaks the command's language (CHARGE START → English even for a
            # driver whose profile says nb); words that are the same in both follow the
            # profile.
            language = command.language or (user.language if user is not None else "nb")
            if command.kind == "help":
                return self._say("help", language)
            if command.kind == "unknown":
                return self._say("unknown_command", language)
            if command.kind == "stop_or_opt_out":
                # STOPP/STOP alone: a driver who is charging means the charge, never the SMS.
                stopped = await self._stop_active(session, user, language) if user else None
                if stopped is None:
                    await outbox.opt_out(session, phone)
                    return self._say("opted_out", language)
                return stopped + self._say("opt_out_hint", language)
            if command.kind == "opt_out":
                await outbox.opt_out(session, phone)
                return self._say("opted_out", language)
            if command.kind == "opt_in":
                await outbox.opt_in(session, phone)
                return self._say("opted_in", language)
            if command.kind == "status":
                return await self._status(session, user, language)
            if command.kind == "stop" and command.code is None:  # LADE STOP: what is charging
                if user is None:
                    return self._unknown_number(language, None)
                stopped = await self._stop_active(session, user, language)
                return stopped or self._say("status_none", language)
            charger, connector_no = await self._charger(session, command)
            typed = (command.code or "").upper()
            if charger is None:
                if user is None:
                    return self._unknown_number(language, None)
                return self._say("unknown_charger", language, code=typed)
            if user is None:
                return self._unknown_number(language, charger)
            if command.kind == "stop":
                return await self._stop(session, user, charger, language)
            plan = await self._plan(session, user, charger, connector_no, language)
            if isinstance(plan, str):
                return plan
            price = await self._price(session, plan.connector_pk, user, language)
        # The same start flow as the app: payment, a STARTING session, the remote start.
        code = charger.public_code or charger.charge_point_id
        outcome = await flows.start_remote(
            self.s.payments, user.id, plan.connector_pk, StartChannel.SMS
        )
        if isinstance(outcome, flows.ApproveInVipps):
            return self._say("approve_in_vipps", language, code=code, link=outcome.status_url)
        if isinstance(outcome, driver.Refused):
            return self._refusal(outcome, charger.public_code or charger.charge_point_id, language)
        return self._say(
            "started",
            language,
            code=charger.public_code or charger.charge_point_id,
            evse=outcome.evse_id,
            price=price,
        )

    async def _stop_active(self, session: AsyncSession, user: User, language: str) -> str | None:
        """Stop the session the driver is charging; None when nothing is charging."""
        active = await driver.active_session(session, user.id)
        if active is None:
            return None
        charger = await session.get_one(Charger, active.charger_id)
        return await self._stop(session, user, charger, language)

    async def _charger(
        self, session: AsyncSession, command: SmsCommand
    ) -> tuple[Charger | None, int | None]:
        if command.code:
            charger = await find_by_code(session, command.code)
            if charger is not None:
                return charger, None
        if command.code_without_connector:
            charger = await find_by_code(session, command.code_without_connector)
            if charger is not None:
                return charger, command.connector
        return None, None

    async def _plan(
        self,
        session: AsyncSession,
        user: User,
        charger: Charger,
        connector_no: int | None,
        language: str,
    ) -> driver.StartPlan | str:
        code = charger.public_code or charger.charge_point_id
        connectors = sorted(charger.connectors, key=lambda c: (c.evse_id, c.connector_id))
        if connector_no is not None:
            connectors = [c for c in connectors if c.evse_id == connector_no]
            if not connectors:
                return self._say(
                    "connector_busy",
                    language,
                    code=code,
                    detail=self._say("no_connector", language, connector=connector_no),
                )
        else:
            free = [c for c in connectors if c.status in driver.STARTABLE]
            connectors = free or connectors
        if not connectors:
            return self._say("unknown_charger", language, code=code)
        plan = await driver.prepare_start(
            session, self.s.commands, user, connectors[0].id, token_kind=IdTokenKind.SMS
        )
        return plan if isinstance(plan, driver.StartPlan) else self._refusal(plan, code, language)

    def _refusal(self, refused: driver.Refused, code: str, language: str) -> str:
        base = self.s.settings.public_base_url.rstrip("/")
        if refused.kind == "ChargerOffline":
            return self._say("charger_offline", language, code=code)
        if refused.kind == "ConnectorUnavailable":
            return self._say("connector_busy", language, code=code, detail="").rstrip()
        if refused.kind == "PaymentMethodRequired":
            return self._say("payment_required", language, link=f"{base}/app/payment")
        return self._say("not_allowed", language, detail=refused.message)

    def _unknown_number(self, language: str, charger: Charger | None) -> str:
        base = self.s.settings.public_base_url.rstrip("/")
        guest = ""
        if charger is not None:
            guest = self._say(
                "guest_link",
                language,
                link=f"{base}/pay/{charger.public_code or charger.charge_point_id}",
            )
        return self._say("unknown_number", language, signup=f"{base}/app", guest=guest)

    async def _price(
        self, session: AsyncSession, connector_pk: int, user: User, language: str
    ) -> str:
        quotes = await connector_quotes(session, [connector_pk], user.id)
        quote = quotes.get(connector_pk)
        if quote is None or not quote.price_configured:
            return self._say("price_see_app", language)
        if quote.free:
            return self._say("price_free", language)
        parts = []
        for c in quote.components:
            parts.append(f"{unit_price(c.unit_price_ore, language)}/{c.unit}")
        return ", ".join(parts)

    async def _stop(
        self, session: AsyncSession, user: User, charger: Charger, language: str
    ) -> str:
        code = charger.public_code or charger.charge_point_id
        cs = await driver.active_session(session, user.id, charger.id)
        if cs is None:
            return self._say("not_your_session", language, code=code)
        cost = await session_cost_ore(session, cs)
        energy = cs.energy_wh
        outcome = await flows.stop_for_driver(self.s.payments, user.id, cs.id)
        if isinstance(outcome, driver.Refused):
            if outcome.kind == "NotYourSession":
                return self._say("not_your_session", language, code=code)
            return self._refusal(outcome, code, language)
        return self._say(
            "stopping", language, code=code, kwh=kwh(energy, language), cost=kroner(cost, language)
        )

    async def _status(self, session: AsyncSession, user: User | None, language: str) -> str:
        if user is None:
            return self._unknown_number(language, None)
        cs = await driver.active_session(session, user.id)
        if cs is None:
            return self._say("status_none", language)
        charger = await session.get_one(Charger, cs.charger_id)
        minutes = int((utcnow() - cs.started_at).total_seconds() // 60)
        return self._say(
            "status_active",
            language,
            code=charger.public_code or charger.charge_point_id,
            kwh=kwh(cs.energy_wh, language),
            minutes=minutes,
            cost=kroner(await session_cost_ore(session, cs), language),
        )
