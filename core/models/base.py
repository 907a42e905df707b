"""The declarative base, the naming convention and the status vocabularies every model shares.

Status columns are plain strings checked by constraints (`one_of`), so PostgreSQL and SQLite behave alike
and Alembic sees no enum drift. Times are stored in UTC (`Timestamp`); money is whole rupiah (integers).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, MetaData, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Timestamp = DateTime(timezone=True)


class ExactDecimal(TypeDecorator[Decimal]):
    """A decimal kept exactly as written (0.1 stays 0.1): NUMERIC(10, 4) on PostgreSQL, and its text on
    SQLite, whose NUMERIC columns hold binary floats (0.1000000000000000055...)."""

    impl = Numeric(10, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(24))
        return dialect.type_descriptor(Numeric(10, 4))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = Decimal(str(value))
        return format(number, "f") if dialect.name == "sqlite" else number

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's SQL: `column` holds one of `values`."""
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


class OutboundStatus:
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"  # accepted by the provider
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNDELIVERED = "undelivered"
    ALL = (QUEUED, SENDING, SENT, DELIVERED, READ, FAILED, UNDELIVERED)
