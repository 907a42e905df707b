"""WhatsApp messages: every inbound message with its reply, and the outbox of what Laku sends itself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import now
from core.models.base import Base, OutboundStatus, Timestamp, one_of


class InboundMessage(Base):
    """Every WhatsApp message received, stored once per MessageSid with the reply it got."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(String(64))
    profile_name: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    button_payload: Mapped[str | None] = mapped_column(String(256))
    command: Mapped[str | None] = mapped_column(String(32))
    reply: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(Timestamp, default=now)


UNSENT = f"status IN ('{OutboundStatus.QUEUED}', '{OutboundStatus.SENDING}')"
"""Rows still to be sent, or being sent: only these are looked at when the next message is claimed."""


class OutboundMessage(Base):
    """The outbox: every message Laku sends on its own, once per idempotency key (see `core.delivery`)."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        CheckConstraint(one_of("status", OutboundStatus.ALL), name="status_known"),
        Index("ix_outbound_messages_status_created", "status", "created_at"),
        # The claim: unsent rows by recipient (one at a time per buyer), and the due ones in order.
        Index(
            "ix_outbound_messages_unsent_recipient",
            "to_phone",
            "id",
            postgresql_where=text(UNSENT),
            sqlite_where=text(UNSENT),
        ),
        Index(
            "ix_outbound_messages_unsent_due",
            "next_attempt_at",
            "id",
            postgresql_where=text(UNSENT),
            sqlite_where=text(UNSENT),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    to_phone: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    content_sid: Mapped[str | None] = mapped_column(String(64))
    content_variables: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=OutboundStatus.QUEUED)
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id"), index=True)
    purchase_order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_orders.id"))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=now)
    sent_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=now, onupdate=now)
    next_attempt_at: Mapped[datetime] = mapped_column(Timestamp, default=now)
    """A queued row is not claimed before this time: creation, or the retry's backoff."""
    unconfirmed_since: Mapped[datetime | None] = mapped_column(Timestamp)
    """An attempt that began at this time got no answer (a timeout after the request went out, a worker
    that died mid-send): the provider may have the message, so it is asked before anything is sent again."""
