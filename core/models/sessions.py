"""Buyers and the sessions they join: the session row, its per-size counters and every join."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import now
from core.models.base import Base, ParticipantStatus, SessionStatus, Timestamp, one_of
from core.models.catalog import Product, Variant


class Buyer(Base):
    __tablename__ = "buyers"
    __table_args__ = (CheckConstraint("language IN ('id', 'en')", name="language_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="id")
    address: Mapped[str | None] = mapped_column(Text)
    last_inbound_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=now)
    # reminders and sharing (see docs/design.md, "Reminders and sharing")
    referral_tag: Mapped[str | None] = mapped_column(String(6), unique=True)  # given on the first share link
    opted_out_at: Mapped[datetime | None] = mapped_column(Timestamp)  # BERHENTI/STOP; None: reminders on


def _first_reminder_check(context) -> datetime:
    """A new session is first looked at by the reminder sweep when it starts (see `core.reminders`)."""
    return context.get_current_parameters()["starts_at"]


class GroupSession(Base):
    """A time-limited group-buying session (table `sessions`)."""

    __tablename__ = "sessions"
    __table_args__ = (
        CheckConstraint(one_of("status", SessionStatus.ALL), name="status_known"),
        CheckConstraint("target_moq > 0", name="moq_positive"),
        CheckConstraint("price >= 0", name="price_non_negative"),
        CheckConstraint("ordered_units >= 0", name="ordered_non_negative"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_sessions_status_ends_at", "status", "ends_at"),
        # the expiry sweep's claim: the oldest due sessions first, without sorting every due session
        Index(
            "ix_sessions_due_ends_at",
            "ends_at",
            "id",
            postgresql_where=text("status IN ('forming', 'moq_reached')"),
            sqlite_where=text("status IN ('forming', 'moq_reached')"),
        ),
        # the reminder sweep's claim (`core.reminders`): sessions whose next look is due, oldest first
        Index(
            "ix_sessions_next_reminder_at",
            "next_reminder_at",
            "id",
            postgresql_where=text("next_reminder_at IS NOT NULL"),
            sqlite_where=text("next_reminder_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=SessionStatus.FORMING)
    target_moq: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)
    ordered_units: Mapped[int] = mapped_column(Integer, default=0)
    starts_at: Mapped[datetime] = mapped_column(Timestamp)
    ends_at: Mapped[datetime] = mapped_column(Timestamp)
    moq_reached_at: Mapped[datetime | None] = mapped_column(Timestamp)
    warehouse_check_at: Mapped[datetime | None] = mapped_column(Timestamp)
    warehouse_has_stock: Mapped[bool | None] = mapped_column(Boolean)
    factory_notified_at: Mapped[datetime | None] = mapped_column(Timestamp)
    factory_whatsapp_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    grosir_units_needed: Mapped[int | None] = mapped_column(Integer)
    stock_received_at: Mapped[datetime | None] = mapped_column(Timestamp)
    orders_created_at: Mapped[datetime | None] = mapped_column(Timestamp)
    closed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    cancelled_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=now)
    # when the reminder sweep next looks at the session (None: never again); see `core.reminders`
    next_reminder_at: Mapped[datetime | None] = mapped_column(Timestamp, default=_first_reminder_check)

    product: Mapped[Product] = relationship()


class SessionVariantCounter(Base):
    """Confirmed and waiting units per size in a session; equal to the sums over participants."""

    __tablename__ = "session_variant_counters"
    __table_args__ = (
        CheckConstraint("ordered_units >= 0", name="ordered_non_negative"),
        CheckConstraint("waiting_units >= 0", name="waiting_non_negative"),
    )

    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"), primary_key=True)
    ordered_units: Mapped[int] = mapped_column(Integer, default=0)
    waiting_units: Mapped[int] = mapped_column(Integer, default=0)


class Participant(Base):
    """One join (or waiting request) of a buyer for one size; a buyer may join several times."""

    __tablename__ = "participants"
    __table_args__ = (
        CheckConstraint(one_of("status", ParticipantStatus.ALL), name="status_known"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("total = quantity * unit_price", name="total_matches"),
        Index("ix_participants_session_status", "session_id", "status"),
        Index("ix_participants_session_variant_status", "session_id", "variant_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default=ParticipantStatus.CONFIRMED)
    requested_at: Mapped[datetime] = mapped_column(Timestamp, default=now)
    joined_at: Mapped[datetime | None] = mapped_column(Timestamp)
    left_at: Mapped[datetime | None] = mapped_column(Timestamp)

    session: Mapped[GroupSession] = relationship()
    buyer: Mapped[Buyer] = relationship()
    variant: Mapped[Variant] = relationship()
