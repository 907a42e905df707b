"""The people who run Laku from the dashboard, and the counters that throttle guessing their passwords."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import now
from core.models.base import Base, Timestamp


class Operator(Base):
    """A dashboard account. The password is stored only as an Argon2id hash (`core.operators`)."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[datetime] = mapped_column(Timestamp, default=now)
    last_login_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=now)


class LoginThrottle(Base):
    """Failed logins counted per key (`account:<username>` or `address:<ip>`) in a fixed window.

    In the database rather than in a process, so every web process sees the same count."""

    __tablename__ = "login_throttles"
    __table_args__ = (CheckConstraint("failures >= 0", name="failures_non_negative"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(Timestamp)
    blocked_until: Mapped[datetime | None] = mapped_column(Timestamp)
