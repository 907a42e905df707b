"""Referrals: a friend who joined a session through a buyer's share link (see docs/design.md,
"Reminders and sharing")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import now
from core.models.base import Base, Timestamp


class Referral(Base):
    """`referred` joined `session` through `sharer`'s link: at most one per session and referred buyer, so
    a friend is credited to one sharer, once, however often they join or tap links."""

    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("session_id", "referred_id", name="uq_referrals_session_referred"),
        CheckConstraint("sharer_id <> referred_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    sharer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    referred_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=now)
