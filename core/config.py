"""The one Settings object: every knob, read from LADEFLYT_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.billing.settings import BillingSettings

DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:8000"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LADEFLYT_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./var/ladeflyt.db"
    # Group commit: how many charger messages at most share one transaction.
    db_batch_max: int = Field(default=256, ge=1, le=10_000)
    # Parallel writers (each with its own connection); messages of one charger always
    # go to the same writer, so their order is kept. SQLite allows only one writer.
    db_writers: int = Field(default=0, ge=0, le=64, description="0 = 1 for SQLite, 4 otherwise")

    http_host: str = "127.0.0.1"
    http_port: int = 8000

    ocpp_host: str = "127.0.0.1"
    ocpp_port: int = 9000
    ocpp_accept_unknown: bool = False
    ocpp_heartbeat_interval: int = Field(default=300, ge=10, le=86_400)
    # A charger whose last message is older than this many heartbeat intervals is offline.
    ocpp_offline_after_intervals: float = 2.5
    ocpp_max_frame_bytes: int = Field(default=65_536, ge=1024)
    ocpp_call_timeout: float = Field(default=30.0, gt=0)
    ocpp_command_timeout: float = Field(default=35.0, gt=0)
    ocpp_ping_interval: float | None = 60.0
    ocpp_validate_responses: bool = True
    ocpp_max_connectors: int = Field(default=32, ge=1, le=1024)

    # Plausibility limits: values beyond them are flagged on the session, never fatal.
    max_session_energy_wh: int = 500_000
    max_power_w: int = 1_000_000
    future_timestamp_tolerance_s: int = 300

    # Driver sign-in. An empty secret is generated once and kept in `secret_file` (dev only:
    # set LADEFLYT_JWT_SECRET in production, shared by every API process).
    jwt_secret: str = ""
    secret_file: str = "var/jwt.secret"
    access_token_ttl_s: int = Field(default=900, ge=60)
    refresh_token_ttl_days: int = Field(default=30, ge=1)
    login_code_ttl_s: int = Field(default=300, ge=30)
    login_code_max_attempts: int = 5
    login_codes_per_phone_per_15min: int = 3
    login_codes_per_ip_per_hour: int = 20

    graphql_introspection: bool = True
    graphql_max_depth: int = 12
    graphql_max_tokens: int = 2000
    graphql_max_aliases: int = 20
    # How long startCharging waits for the charger to accept the remote start.
    remote_start_timeout_s: float = Field(default=10.0, gt=0)
    # The address people and webhooks use. Left at the default, it is the address the HTTP
    # server listens on (see `served_at`), so links always open what is actually served.
    public_base_url: str = DEFAULT_PUBLIC_BASE_URL

    # SMS. `sms_provider` console prints messages; twilio sends them. An empty auth token
    # disables the Twilio webhooks (404).
    sms_provider: str = "console"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    sms_commands_per_10min: int = Field(default=10, ge=1)

    # Payments. `card_provider`: sandbox | stripe; Vipps is offered when configured (or in
    # the sandbox). Amounts in øre. Empty webhook secrets disable the webhook endpoints.
    card_provider: str = "sandbox"
    vipps_provider: str = "sandbox"  # sandbox | vipps | off
    stripe_api_key: str = ""
    stripe_api_base: str = ""  # override for tests (a local fake)
    stripe_webhook_secret: str = ""
    vipps_base_url: str = "https://apitest.vipps.no"
    vipps_client_id: str = ""
    vipps_client_secret: str = ""
    vipps_subscription_key: str = ""
    vipps_merchant_serial_number: str = ""
    vipps_webhook_secret: str = ""
    # PUSH_MESSAGE: the payment request goes straight to the payer's Vipps app (by phone).
    vipps_push_to_phone: bool = False
    # What is held before a session starts (Vipps' own EV advice: NOK 350-500).
    payment_hold_ore: int = Field(default=50_000, ge=100)
    guest_hold_ore: int = Field(default=40_000, ge=100)
    # Stop charging when the cost so far is this close to the hold.
    hold_stop_margin_ore: int = Field(default=1_000, ge=0)
    guest_checkout_ttl_s: int = Field(default=24 * 3600, ge=600)
    invoice_link_ttl_days: int = Field(default=30, ge=1)

    # Session lifecycle (core.sessions.lifecycle). A remote start the charger has not
    # reported after this many seconds FAILS (its hold is released).
    session_start_timeout_s: int = Field(default=180, ge=30)
    # An active session without a word from its charger (offline, or reporting the plug
    # idle) for this long is SUSPENDED; a suspended one is completed on the evidence (last
    # meter reading) after `session_settle_after_s`, or earlier if its hold would lapse
    # within `hold_lapse_margin_h` hours.
    session_suspend_after_s: int = Field(default=900, ge=60)
    session_settle_after_s: int = Field(default=24 * 3600, ge=300)
    hold_lapse_margin_h: float = Field(default=12.0, ge=1)
    # A hold placed when a charger asks about a tag is kept this long for the
    # StartTransaction / TransactionEvent that uses it; then it is released.
    tag_hold_ttl_s: int = Field(default=600, ge=60)

    environment: str = "development"

    # ------------------------------------------------------------ operator voice
    # Who speaks in SMS, on the pages, receipts and invoices. The operator's name,
    # organisation number, address, e-mail and phone are the invoice seller's
    # (LADEFLYT_BILLING_SELLER_*, core/billing/settings.py): one set of facts everywhere.
    billing: BillingSettings = Field(default_factory=BillingSettings, exclude=True)
    # The short number (or sender name) drivers text and get SMS from.
    sms_short_number: str = "2210"
    # When support answers the phone: "DAYS HH:MM-HH:MM", several joined by ";"
    # (e.g. "mon-fri 08:00-16:00; sat 10:00-14:00"); empty: not stated.
    support_hours: str = "mon-fri 08:00-16:00"
    _base_url_follows_server: bool = PrivateAttr(default=False)

    @field_validator("support_hours")
    @classmethod
    def _check_support_hours(cls, value: str) -> str:
        from core.operator import parse_hours

        parse_hours(value)  # a typo fails at start, not in a driver's SMS
        return value

    @model_validator(mode="after")
    def _public_base_url_from_server(self) -> Settings:
        if self.public_base_url.rstrip("/") == DEFAULT_PUBLIC_BASE_URL:
            self.public_base_url = http_url(self.http_host, self.http_port)
            self._base_url_follows_server = True
        return self

    def served_at(self, host: str, port: int) -> Settings:
        """These settings for an HTTP server bound to host:port (port 0 resolved): a public
        base URL left at its default becomes that address; a configured one is kept."""
        update: dict[str, object] = {"http_host": host, "http_port": port}
        if self._base_url_follows_server:
            update["public_base_url"] = http_url(host, port)
        served = self.model_copy(update=update)
        served._base_url_follows_server = self._base_url_follows_server
        return served

    @property
    def links_only_work_here(self) -> bool:
        """Served on every interface, but links (from the default) name 127.0.0.1."""
        return self._base_url_follows_server and self.http_host in _WILDCARDS

    # ------------------------------------------------------------------ invoices: delivery,
    # automatic invoicing and dunning (issue 15). See README "Invoices that reach people".
    # smtp://user:pass@host:587?starttls=true or smtps://host:465; empty = console/log only.
    smtp_url: str = ""
    mail_from: str = "Ladeflyt <faktura@ladeflyt.invalid>"
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    # Where file-based channels write: eFaktura outbox, EHF file drop, print batches.
    delivery_dir: str = "var/delivery"
    efaktura_outbox_dir: str = ""  # default <delivery_dir>/efaktura
    # The operator's issuer id with the eFaktura distributor (in every eFaktura file).
    efaktura_issuer_id: str = ""
    peppol_access_point: str = "file"  # file | http
    peppol_outbox_dir: str = ""  # default <delivery_dir>/ehf (file drop)
    peppol_ap_url: str = ""  # the access point's API base URL (http)
    peppol_ap_api_key: str = ""
    peppol_ap_timeout_s: float = Field(default=30.0, gt=0)
    # A directory with the official Peppol BIS Billing 3.0 Schematron files
    # (CEN-EN16931-UBL.sch, PEPPOL-EN16931-UBL.sch); empty = the built-in checks only.
    ehf_rules_dir: str = ""
    print_dir: str = ""  # default <delivery_dir>/print
    delivery_max_attempts: int = Field(default=8, ge=1, le=50)
    delivery_retry_base_s: float = Field(default=60.0, gt=0)
    delivery_interval_s: float = Field(default=15.0, gt=0)
    # How often `serve` looks at the invoice schedules; a run not finished after
    # `invoice_run_stale_s` (its process died) may be taken over by another process.
    invoice_schedule_interval_s: float = Field(default=60.0, gt=0)
    invoice_run_stale_s: int = Field(default=3600, ge=60)
    # Dunning: the reminder SMS goes this many days after the due date (5-7); a second one
    # only when `second_reminder_day` is set.
    reminder_day: int = Field(default=5, ge=5, le=7)
    second_reminder_day: int | None = Field(default=None, ge=8, le=60)
    # Purregebyr (inkassoforskriften § 1-2): at most 1/10 of the inkassosats, only on a
    # reminder sent at least 14 days after the due date, at most two per invoice. 0 = off.
    reminder_fee_ore: int = Field(default=0, ge=0)
    inkasso_rate_ore: int = Field(default=70_000, ge=0)

    @model_validator(mode="after")
    def _dunning_within_the_rules(self) -> Settings:
        if self.reminder_fee_ore * 10 > self.inkasso_rate_ore:
            raise ValueError(
                "LADEFLYT_REMINDER_FEE_ORE is at most 1/10 of LADEFLYT_INKASSO_RATE_ORE"
            )
        return self

    # ---- Organisations, staff sign-in and the operator API (/api/v1) ----
    # The operator API takes API keys (`ladeflyt apikey create`); LADEFLYT_OPERATOR_TOKEN is
    # gone. Staff browser sessions: an HttpOnly cookie, ending after `staff_session_ttl_s`
    # or `staff_session_idle_s` without use, whichever comes first.
    staff_session_ttl_s: int = Field(default=12 * 3600, ge=300)
    staff_session_idle_s: int = Field(default=3600, ge=60)
    staff_cookie_name: str = "ladeflyt_staff"
    staff_csrf_cookie_name: str = "ladeflyt_csrf"
    # Wrong second-factor codes allowed per sign-in before it must start again.
    staff_totp_max_attempts: int = Field(default=5, ge=1)
    # Staff who sign in by e-mail get their code through the same mail port as invoices
    # (LADEFLYT_SMTP_URL, LADEFLYT_MAIL_FROM; unset: printed to the log).

    # ---- The dashboard (issue 12): server-rendered pages for staff ----
    # Where it is served (the same process as the API).
    dashboard_path: str = "/dashboard"
    # How long a one-time sign-in link (`make run` prints them for the demo admins) works.
    dashboard_link_ttl_s: int = Field(default=3600, ge=60)

    # ---- HTTP: answers that are true (issue 10) ----
    # Request bodies over this many bytes are refused with 413 before they are parsed
    # (GraphQL, the operator API, pages and webhooks alike).
    http_max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    # ---- The car identifies itself (issue 17): Autocharge, Plug & Charge, V2G ----
    # An unknown vehicle id refused at a charger is offered for linking to the driver who
    # charges there within this time (and to a driver who names the charger meanwhile).
    autocharge_offer_ttl_s: int = Field(default=900, ge=60)

    # Plug & Charge: the trusted V2G (and MO) roots, a PEM bundle; unset: P&C is off and
    # contract certificates are answered NoCertificateAvailable.
    pnc_trust_roots_file: str = ""
    # OCSP: where to ask when a certificate names no responder; what to do when no
    # responder answers (refuse the car, or accept on the chain alone).
    pnc_ocsp_default_url: str = ""
    pnc_ocsp_unavailable: Literal["refuse", "accept"] = "refuse"
    pnc_ocsp_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # The operator's sub-CA that signs charging-station certificates (SignCertificate):
    # its chain (PEM, itself first) and key. Unset: SignCertificate is Rejected.
    pnc_station_ca_cert_file: str = ""
    pnc_station_ca_key_file: str = ""
    pnc_station_cert_days: int = Field(default=365, ge=1, le=3650)
    # The demo's local contract-certificate service (Get15118EVCertificate): an MO sub-CA
    # chain and key. A real deployment uses its PKI platform's service instead.
    pnc_mo_ca_cert_file: str = ""
    pnc_mo_ca_key_file: str = ""
    # Security profile 2 and 3: TLS on the OCPP port (server chain and key). With a client
    # CA, chargers may present a client certificate (profile 3): its CN must be the charge
    # point id, and it replaces the password.
    ocpp_tls_cert_file: str = ""
    ocpp_tls_key_file: str = ""
    ocpp_tls_client_ca_file: str = ""
    # V2G: energy a car delivers back is paid at the spot price of the quarter hour in
    # this area minus the operator's margin (øre/kWh, excl. VAT), never below zero.
    v2g_spot_area: str = "NO1"
    v2g_margin_ore_per_kwh: int = Field(default=10, ge=0)

    # ---- The driver web app at /app (issue 16) ----
    # Map tiles for the app's map, a {z}/{x}/{y} URL template; empty: no tiles (the map
    # shows sites and routes on a plain background; the list works either way). The
    # default is OpenStreetMap's own server: mind its tile usage policy in production.
    app_map_tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    app_map_attribution: str = "© OpenStreetMap contributors"
    # Stripe.js needs the publishable key (pk_...) to confirm a card in the app.
    stripe_publishable_key: str = ""

    # ---- Scale-out and observability (issue 14) ----
    # Redis for the buses between processes (commands to the process holding a charger,
    # live events to every process); empty: the in-process buses (one process).
    redis_url: str = ""
    # Logs: "json" (one object per line, with request/charger/session ids) or "text".
    log_format: str = "json"
    log_level: str = "INFO"
    # OpenTelemetry: send traces (GraphQL mutation -> OCPP call) to this OTLP/HTTP
    # collector, e.g. http://127.0.0.1:4318; empty: no tracing.
    otel_endpoint: str = ""
    otel_service_name: str = "ladeflyt"
    # Prometheus metrics at /metrics (HTTP port; a gateway-only process on its OCPP port).
    metrics_enabled: bool = True
    # How often a process that may run the background jobs tries to become their runner.
    jobs_leader_retry_s: float = Field(default=5.0, gt=0)

    # ---- Operator CLI and first run (issue 10) ----
    # A mistyped LADEFLYT_DATABASE_URL fails when the settings are read, in one line; the
    # common short forms (sqlite:///..., postgres://...) get our async drivers.
    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        return database_url(value)


def database_url(value: str) -> str:
    """`value` as a URL our engines take (sqlite+aiosqlite or postgresql+asyncpg); a
    ValueError says in words what is wrong."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value.strip())
    except ArgumentError:
        raise ValueError(
            f"{value!r} is not a database URL; use e.g. sqlite+aiosqlite:///./var/ladeflyt.db "
            "or postgresql+asyncpg://user:password@host:5432/ladeflyt"
        ) from None
    backend, _, driver = url.drivername.partition("+")
    wanted = {"sqlite": "aiosqlite", "postgresql": "asyncpg", "postgres": "asyncpg"}
    if backend not in wanted:
        raise ValueError(f"{backend} databases are not supported: use SQLite or PostgreSQL")
    if driver and driver != wanted[backend]:
        raise ValueError(f"the {driver} driver is not supported: use {backend}+{wanted[backend]}")
    scheme = f"{'postgresql' if backend == 'postgres' else backend}+{wanted[backend]}"
    return scheme + value.strip()[len(url.drivername) :]


_WILDCARDS = {"", "0.0.0.0", "::"}


def http_url(host: str, port: int) -> str:
    """The URL of an HTTP server on host:port. A wildcard bind (0.0.0.0, ::) is reached at
    127.0.0.1 on this machine; set LADEFLYT_PUBLIC_BASE_URL for anyone else."""
    if host in _WILDCARDS:
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
