"""The one Settings object: every knob, read from LADEFLYT_* environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    public_base_url: str = "http://127.0.0.1:8000"

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
    # Days after the due date on which an unpaid invoice gets an SMS reminder.
    reminder_days: list[int] = Field(default_factory=lambda: [5, 12])

    environment: str = "development"

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
    # Staff who sign in by e-mail get their code by: console (printed) | smtp.
    staff_email_provider: str = "console"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_starttls: bool = True


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
