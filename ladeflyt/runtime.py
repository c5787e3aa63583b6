"""Composition root: builds the engine, buses, write batcher, gateway, SMS and HTTP app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.app import create_app
from api.dashboard import DashboardServices, dashboard_router
from api.deps import Services
from api.graphql.context import DriverServices
from core import observe
from core.bus import CommandRegistry, EventBus, InProcessCommandBus, InProcessEventBus
from core.chargers.service import mark_all_offline
from core.config import Settings
from core.db import create_engine, is_sqlite, session_factory, transaction
from core.invoicing.dispatcher import DeliveryDispatcher
from core.invoicing.schedule import InvoiceScheduler
from core.leader import Leadership
from core.messaging.dispatcher import SmsDispatcher
from core.orgs.staff_auth import StaffAuth
from core.payments.service import Payments
from core.payments.worker import PaymentWorker
from core.ports import CardVault, MailSender, PaymentProvider, SmsSender
from core.uow import WriteBatcher
from core.users.auth import AuthService
from driver_web import app_router
from ladeflyt.pnc_setup import ocpp_tls, plug_and_charge
from notifications.console import ConsoleSmsSender
from notifications.inbound import InboundSmsServices
from notifications.listener import SmsNotifier
from notifications.routes import sms_router
from ocpp_gateway.context import GatewayContext
from ocpp_gateway.server import GatewayServer
from payments.pages import pages_router
from payments.sandbox import SandboxBank, SandboxCardVault, SandboxProvider
from payments.webhook_routes import webhook_router

log = logging.getLogger(__name__)


def payment_setup(
    settings: Settings,
) -> tuple[dict[str, PaymentProvider], CardVault | None, SandboxBank | None]:
    """The configured providers: Stripe and Vipps for real, or the sandbox for each."""
    providers: dict[str, PaymentProvider] = {}
    vault: CardVault | None = None
    bank: SandboxBank | None = None
    if settings.card_provider == "stripe":
        from payments.stripe_provider import StripeCardVault, StripeProvider

        base = settings.stripe_api_base or None
        providers["stripe"] = StripeProvider(settings.stripe_api_key, api_base=base)
        vault = StripeCardVault(settings.stripe_api_key, api_base=base)
    elif settings.card_provider == "sandbox":
        bank = SandboxBank(settings.public_base_url)
        providers["sandbox-card"] = SandboxProvider(bank, "card")
        vault = SandboxCardVault()
    if settings.vipps_provider == "vipps":
        from payments.vipps import VippsProvider

        providers["vipps"] = VippsProvider(
            base_url=settings.vipps_base_url,
            client_id=settings.vipps_client_id,
            client_secret=settings.vipps_client_secret,
            subscription_key=settings.vipps_subscription_key,
            merchant_serial_number=settings.vipps_merchant_serial_number,
            push_to_phone=settings.vipps_push_to_phone,
        )
    elif settings.vipps_provider == "sandbox":
        bank = bank or SandboxBank(settings.public_base_url)
        providers["sandbox-vipps"] = SandboxProvider(bank, "vipps")
    return providers, vault, bank


def sms_sender(settings: Settings) -> SmsSender:
    if settings.sms_provider == "twilio":
        from notifications.twilio_sms import TwilioSmsSender

        return TwilioSmsSender(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from or settings.sms_short_number,
            settings.public_base_url.rstrip("/") + "/sms/status",
        )
    if settings.sms_provider != "console":
        raise ValueError(f"unknown LADEFLYT_SMS_PROVIDER {settings.sms_provider!r}")
    return ConsoleSmsSender()


def invoice_delivery(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    mail: MailSender | None = None,
) -> tuple[DeliveryDispatcher, InvoiceScheduler]:
    """Invoices that reach people: the delivery outbox's dispatcher (with the receipt and
    consent chores) and the invoice schedule."""
    from delivery.setup import channels, consent_chore, receipt_chore

    deliveries = DeliveryDispatcher(settings, sessions, channels(settings, mail=mail))
    deliveries.chores += [receipt_chore(sessions), consent_chore(settings, sessions)]
    scheduler = InvoiceScheduler(settings, sessions, on_queued=deliveries.kick)
    return deliveries, scheduler


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    gateway_ctx: GatewayContext
    gateway: GatewayServer
    sms: SmsSender
    auth: AuthService
    dispatcher: SmsDispatcher
    notifier: SmsNotifier
    payments: Payments
    payment_worker: PaymentWorker
    deliveries: DeliveryDispatcher
    invoice_scheduler: InvoiceScheduler
    routers: list[APIRouter] = field(default_factory=list)
    staff_auth: StaffAuth | None = None
    # Set with LADEFLYT_REDIS_URL: the buses between processes (ladeflyt.redis_bus).
    redis: Any = None
    leadership: Leadership | None = None
    roles: frozenset[str] = frozenset()
    _sampler: asyncio.Task[None] | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        sms: SmsSender | None = None,
        engine: AsyncEngine | None = None,
        mail: MailSender | None = None,
    ) -> Runtime:
        if os.environ.get("LADEFLYT_OPERATOR_TOKEN"):
            log.warning(
                "LADEFLYT_OPERATOR_TOKEN is no longer used: the operator API is /api/v1 with "
                "API keys (`ladeflyt apikey create --role operator_admin`)"
            )
        engine = engine or create_engine(settings.database_url)
        events: EventBus
        commands: CommandRegistry
        redis = None
        if settings.redis_url:
            from ladeflyt.redis_bus import RedisCommandBus, RedisEventBus, RedisLink

            redis = RedisLink(settings.redis_url)
            events = RedisEventBus(redis)
            commands = RedisCommandBus(redis, default_timeout=settings.ocpp_command_timeout)
        else:
            events = InProcessEventBus()
            commands = InProcessCommandBus(default_timeout=settings.ocpp_command_timeout)
        writers = settings.db_writers or (1 if is_sqlite(settings.database_url) else 4)
        batcher = WriteBatcher(engine, events, writers=writers, max_batch=settings.db_batch_max)
        batcher.stats.observers.append(observe.BATCH_UNITS.observe)
        sessions = session_factory(engine)
        providers, vault, bank = payment_setup(settings)
        payments = Payments(settings, sessions, providers, commands, vault, events)
        ctx = GatewayContext(
            settings, batcher, sessions, commands, events, payments, plug_and_charge(settings)
        )
        sms = sms or sms_sender(settings)
        dispatcher = SmsDispatcher(sessions, sms)
        notifier = SmsNotifier(settings, sessions, events, dispatcher.kick)
        worker = PaymentWorker(payments, events, dispatcher.kick)
        from delivery.setup import mail_sender

        # One mail port for invoices, receipts and staff sign-in codes (LADEFLYT_SMTP_URL).
        mail = mail or mail_sender(settings)
        deliveries, scheduler = invoice_delivery(settings, sessions, mail)
        staff_auth = StaffAuth(settings, sms, mail)
        routers = [
            sms_router(InboundSmsServices(settings, sessions, commands, payments)),
            webhook_router(payments, worker.kick),
            pages_router(payments, bank),
            dashboard_router(
                DashboardServices(settings, sessions, commands, events, payments, staff_auth)
            ),
            app_router(settings),
        ]
        return cls(
            settings,
            engine,
            ctx,
            GatewayServer(ctx, ocpp_tls(settings)),
            sms,
            AuthService(settings, sms),
            dispatcher,
            notifier,
            payments,
            worker,
            deliveries,
            scheduler,
            routers,
            staff_auth,
            redis,
        )

    def http_app(self) -> FastAPI:
        ctx = self.gateway_ctx
        return create_app(
            Services(self.settings, ctx.sessions, ctx.commands, self.staff_auth),
            DriverServices(
                self.settings, ctx.sessions, ctx.commands, ctx.events, self.auth, self.payments
            ),
            routers=self.routers,
        )

    async def start(
        self,
        *,
        ocpp_port: int | None = None,
        gateway: bool = True,
        jobs: bool = True,
        reset_connections: bool = True,
    ) -> None:
        """Start this process's parts: the OCPP gateway, and the background jobs (run by
        one process of many: the holder of the jobs lock, core.leader). Without
        `reset_connections` other chargers' state is left alone (a replay next to a
        running server: `ladeflyt simulate --replay`)."""
        self.roles = frozenset(r for r, on in (("gateway", gateway), ("jobs", jobs)) if on)
        ctx = self.gateway_ctx
        if self.redis is not None:
            await self.redis.start()
            await ctx.events.start()  # type: ignore[attr-defined]
            await ctx.commands.start()  # type: ignore[attr-defined]
        elif gateway and reset_connections:
            # Single-process setup: no charger is connected until it connects to us.
            async with transaction(ctx.sessions) as session:
                await mark_all_offline(session)
        await ctx.batcher.start()
        if jobs:
            if self.redis is None:
                await self._start_jobs()  # one process: it runs them
            else:
                self.leadership = Leadership(
                    self.engine,
                    self._start_jobs,
                    self._stop_jobs,
                    retry_s=self.settings.jobs_leader_retry_s,
                )
                await self.leadership.start()
        if gateway:
            await self.gateway.start(port=ocpp_port)
        # What start-up built lives as long as the process: keep it out of the collector's
        # full passes (gen-2 pauses of ~80 ms showed in the gateway's p99).
        gc.collect()
        gc.freeze()

    async def _start_jobs(self) -> None:
        if self.settings.metrics_enabled:
            self._sampler = asyncio.create_task(self._sample_backlogs(), name="backlogs")
        await self.notifier.start()
        await self.dispatcher.start()
        await self.payment_worker.start()
        await self.deliveries.start()
        await self.invoice_scheduler.start()

    async def _sample_backlogs(self) -> None:
        """The job runner's queues, for /metrics (every 15 s)."""
        while True:
            try:
                async with self.gateway_ctx.sessions() as session:
                    await observe.sample_backlogs(session)
            except Exception as error:
                log.warning("could not count the backlogs: %s", error)
            await asyncio.sleep(15)

    async def _stop_jobs(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(BaseException):
                await self._sampler
            self._sampler = None
        await self.notifier.stop()
        await self.payment_worker.stop()
        await self.invoice_scheduler.stop()
        await self.deliveries.stop()
        await self.dispatcher.stop()

    async def stop(self) -> None:
        if "gateway" in self.roles:
            await self.gateway.stop()
        await self.gateway_ctx.batcher.stop()
        if self.leadership is not None:
            await self.leadership.stop()
        elif "jobs" in self.roles:
            await self._stop_jobs()
        if self.redis is not None:
            await self.redis.stop()
        await self.engine.dispose()
