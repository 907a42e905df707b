"""Online payment: each order's invoice (`order_payments`) and the append-only ledger of payment events.

See docs/design.md, "Orders and payment". Rows exist only with a payment provider configured; without
one, orders state the amount due and these tables stay empty.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import now
from core.models.base import Base, Timestamp, one_of
from core.models.stock import Order


class OrderStatus:
    """`orders.status`: created, then paid or expired once online payment decides."""

    CREATED = "created"
    PAID = "paid"
    EXPIRED = "expired"


class PaymentStatus:
    INVOICING = "invoicing"  # row made with the order; the invoice job has not finished
    PENDING = "pending"  # invoice live at the provider, link sent to the buyer
    PAID = "paid"
    EXPIRED = "expired"  # unpaid at the deadline: the order is off, its units back in stock
    REVIEW = "review"  # money arrived but does not settle the order (amount, currency, too late)
    FAILED = "failed"  # no invoice could be made: the buyer pays through the admin
    ALL = (INVOICING, PENDING, PAID, EXPIRED, REVIEW, FAILED)
    OPEN = (INVOICING, PENDING)  # still waiting for the buyer's money


class OrderPayment(Base):
    """One order's invoice. Every status change is a conditional update from explicit source states."""

    __tablename__ = "order_payments"
    __table_args__ = (
        CheckConstraint(one_of("status", PaymentStatus.ALL), name="status_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_order_payments_status_due_at", "status", "due_at"),
    )

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100), unique=True)  # our reference at the provider
    invoice_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    invoice_url: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)  # whole rupiah, = orders.amount_due
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default=PaymentStatus.INVOICING)
    due_at: Mapped[datetime | None] = mapped_column(Timestamp)  # the invoice's expiry at the provider
    paid_at: Mapped[datetime | None] = mapped_column(Timestamp)
    payment_method: Mapped[str | None] = mapped_column(String(40))
    payment_channel: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # invoice job attempts
    claimed_until: Mapped[datetime | None] = mapped_column(Timestamp)  # the invoice job's lease
    last_error: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None] = mapped_column(Timestamp)  # last reconciliation
    stock_key: Mapped[str | None] = mapped_column(String(100))  # warehouse key holding the order's units
    stock_released_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=now)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=now, onupdate=now)

    order: Mapped[Order] = relationship()


class PaymentEvent(Base):
    """The ledger: every payment event, once per `event_key`. Only ever INSERTed (see core.payment_events;
    on PostgreSQL a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)  # None: no order
    provider: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))  # callback | reconciliation | job
    kind: Mapped[str] = mapped_column(String(30))
    invoice_id: Mapped[str | None] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(100))
    provider_status: Mapped[str | None] = mapped_column(String(20))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))  # exactly as reported
    paid_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    detail: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[Any] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(Timestamp, default=now)
