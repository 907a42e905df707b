"""Typed SQLAlchemy 2 models: the whole data model of SPEC section 3.

Money is whole rupiah (integers). Times are stored in UTC. Status columns are plain strings checked by
constraints, so PostgreSQL and SQLite behave alike and Alembic sees no enum drift.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.clock import now

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class SessionStatus:
    FORMING = "forming"
    MOQ_REACHED = "moq_reached"
    PENDING_STOCK = "pending_stock"
    STOCK_RECEIVED = "stock_received"
    ORDERS_CREATED = "orders_created"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ALL = (FORMING, MOQ_REACHED, PENDING_STOCK, STOCK_RECEIVED, ORDERS_CREATED, FAILED, CANCELLED)
    JOINABLE = (FORMING, MOQ_REACHED)


class ParticipantStatus:
    CONFIRMED = "confirmed"
    WAITING = "waiting"
    LEFT = "left"  # confirmed units released by the buyer
    WITHDRAWN = "withdrawn"  # a waiting request the buyer took back
    NOT_ADMITTED = "not_admitted"  # still waiting when the session closed
    ALL = (CONFIRMED, WAITING, LEFT, WITHDRAWN, NOT_ADMITTED)


class PurchaseOrderStatus:
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    SHIPPED = "shipped"
    RECEIVED = "received"
    ALL = (REQUESTED, CONFIRMED, DECLINED, SHIPPED, RECEIVED)


class AllocationPolicyName:
    LOT_BALANCED = "lot_balanced"
    STATIC = "static"
    RAW_UNIT = "raw_unit"
    ALL = (LOT_BALANCED, STATIC, RAW_UNIT)


class OutboundStatus:
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"  # accepted by the provider
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNDELIVERED = "undelivered"
    ALL = (QUEUED, SENDING, SENT, DELIVERED, READ, FAILED, UNDELIVERED)


class Factory(Base):
    __tablename__ = "factories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=now)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_non_negative"),
        CheckConstraint("grosir_unit_size IS NULL OR grosir_unit_size > 0", name="unit_size_positive"),
        CheckConstraint("lead_lots >= 1", name="lead_lots_positive"),
        CheckConstraint(_in("allocation_policy", AllocationPolicyName.ALL), name="allocation_policy_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    factory_id: Mapped[int] = mapped_column(ForeignKey("factories.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    price: Mapped[int] = mapped_column(BigInteger)
    grosir_unit_size: Mapped[int | None] = mapped_column(Integer)
    lead_lots: Mapped[int] = mapped_column(Integer, default=2)
    allocation_policy: Mapped[str] = mapped_column(String(20), default=AllocationPolicyName.LOT_BALANCED)
    waitlist_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=now)

    factory: Mapped[Factory] = relationship()
    variants: Mapped[list[Variant]] = relationship(back_populates="product", order_by="Variant.id")
    allocations: Mapped[list[GrosirVariantAllocation]] = relationship(
        back_populates="product", order_by="GrosirVariantAllocation.variant_id"
    )


class Variant(Base):
    __tablename__ = "variants"
    __table_args__ = (UniqueConstraint("product_id", "size", name="uq_variants_product_size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    size: Mapped[str] = mapped_column(String(20))
    sku: Mapped[str] = mapped_column(String(64), unique=True)

    product: Mapped[Product] = relationship(back_populates="variants")


class GrosirVariantAllocation(Base):
    """Units of one size in one grosir lot. A product's allocations sum to its `grosir_unit_size`."""

    __tablename__ = "grosir_variant_allocations"
    __table_args__ = (CheckConstraint("units_per_lot > 0", name="units_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"), unique=True)
    units_per_lot: Mapped[int] = mapped_column(Integer)

    product: Mapped[Product] = relationship(back_populates="allocations")
    variant: Mapped[Variant] = relationship()


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


class GroupSession(Base):
    """A time-limited group-buying session (table `sessions`)."""

    __tablename__ = "sessions"
    __table_args__ = (
        CheckConstraint(_in("status", SessionStatus.ALL), name="status_known"),
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
        CheckConstraint(_in("status", ParticipantStatus.ALL), name="status_known"),
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


class WarehouseInventory(Base):
    __tablename__ = "warehouse_inventory"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_non_negative"),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"), unique=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=now, onupdate=now)


class PurchaseOrder(Base):
    __tablename__ = "purchase_orders"
    __table_args__ = (
        CheckConstraint(_in("status", PurchaseOrderStatus.ALL), name="status_known"),
        CheckConstraint("lots > 0", name="lots_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), unique=True)
    factory_id: Mapped[int] = mapped_column(ForeignKey("factories.id"), index=True)
    lots: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=PurchaseOrderStatus.REQUESTED)
    eta: Mapped[str | None] = mapped_column(String(100))
    tracking: Mapped[str | None] = mapped_column(String(200))
    decline_reason: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(Timestamp, default=now)
    confirmed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    declined_at: Mapped[datetime | None] = mapped_column(Timestamp)
    shipped_at: Mapped[datetime | None] = mapped_column(Timestamp)
    received_at: Mapped[datetime | None] = mapped_column(Timestamp)
    reminded_at: Mapped[datetime | None] = mapped_column(Timestamp)

    session: Mapped[GroupSession] = relationship()
    factory: Mapped[Factory] = relationship()
    lines: Mapped[list[PurchaseOrderLine]] = relationship(
        back_populates="purchase_order", order_by="PurchaseOrderLine.variant_id"
    )


class PurchaseOrderLine(Base):
    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        UniqueConstraint("purchase_order_id", "variant_id", name="uq_po_lines_po_variant"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    quantity: Mapped[int] = mapped_column(Integer)

    purchase_order: Mapped[PurchaseOrder] = relationship(back_populates="lines")
    variant: Mapped[Variant] = relationship()


class Order(Base):
    """One order per confirmed participant (unique), created once stock is there."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    amount_due: Mapped[int] = mapped_column(BigInteger)
    delivery_address: Mapped[str | None] = mapped_column(Text)
    needs_address: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="created")
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=now)

    participant: Mapped[Participant] = relationship()


class Shipment(Base):
    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    pickup_task_id: Mapped[str | None] = mapped_column(String(100))
    tracking: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=now)


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


class OutboundMessage(Base):
    """The outbox: every message Laku sends on its own, sent by an RQ job, once per idempotency key."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        CheckConstraint(_in("status", OutboundStatus.ALL), name="status_known"),
        Index("ix_outbound_messages_status_created", "status", "created_at"),
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
