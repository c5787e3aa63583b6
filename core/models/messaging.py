"""SMS: every outbound message (an outbox with dedup keys), inbound messages, opt-outs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime
from core.timeutil import utcnow


class SmsStatus(StrEnum):
    """Outbound states; a status callback may only move a message forward."""

    QUEUED = "queued"  # in our outbox, not handed to the provider yet
    HELD = "held"  # waiting for quiet hours to end
    SUPPRESSED = "suppressed"  # the recipient opted out; never sent
    ACCEPTED = "accepted"  # the provider took it
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"


# Provider-reported states by progress; equal rank never overwrites.
STATUS_RANK = {
    SmsStatus.QUEUED: 0,
    SmsStatus.HELD: 0,
    SmsStatus.ACCEPTED: 1,
    SmsStatus.SENDING: 2,
    SmsStatus.SENT: 3,
    SmsStatus.DELIVERED: 4,
    SmsStatus.UNDELIVERED: 4,
    SmsStatus.FAILED: 4,
    SmsStatus.SUPPRESSED: 4,
}


class SmsMessage(Base):
    __tablename__ = "sms_messages"
    __table_args__ = (Index("ix_sms_messages_status_send_after", "status", "send_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    # A retried job queues the same key again; the unique index keeps one message.
    dedup_key: Mapped[str] = mapped_column(String(120), unique=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    essential: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default=SmsStatus.QUEUED.value)
    send_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[str | None] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboundSms(Base):
    __tablename__ = "inbound_sms"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Twilio retries a webhook with the same MessageSid: seen once, answered the same.
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    sender: Mapped[str] = mapped_column(String(20), index=True)
    recipient: Mapped[str] = mapped_column(String(20), default="")
    body: Mapped[str] = mapped_column(String(1600))
    command: Mapped[str] = mapped_column(String(20), default="")
    reply: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class SmsOptOut(Base):
    """Numbers that sent STOPP/STOP: no non-essential SMS until they send START."""

    __tablename__ = "sms_opt_outs"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
