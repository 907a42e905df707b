"""Payment events: the append-only ledger, and what a paid or expired invoice does to its order.

Every event is one ledger row with a unique key, inserted first in the unit of work that acts on it
(`INSERT ... ON CONFLICT (event_key) DO NOTHING`): no row back means the event was seen before, and
nothing changes again. A callback, its redeliveries, a manual resend from the provider's dashboard and
the same state found by reconciliation share one key (`InvoiceInfo.event_key`), so whichever comes first
acts and the others are recorded nowhere. Two deliveries at the same moment queue on the unique index.
The ledger is only ever inserted into: nothing here updates or deletes it (on PostgreSQL a trigger
refuses both).

- Paid, for the amount and currency due: the order is paid and the buyer gets a receipt.
- Paid, but not for what is due, or after the order expired: recorded, `review`, the admin alerted, the
  buyer told the payment is being checked. Never marked paid.
- Expired while unpaid: the order expires, the buyer is told nothing is owed, and a follow-up job gives
  its units back to the warehouse (`release_order_stock`; never inside the callback's request, an
  external warehouse may be slow).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core import notifications
from core.adapters import warehouse_for
from core.adapters.payments import InvoiceInfo
from core.clock import format_wib, now
from core.models import (
    Buyer,
    GroupSession,
    Order,
    OrderPayment,
    OrderStatus,
    PaymentEvent,
    PaymentStatus,
    Product,
    Variant,
)
from core.settings import Settings
from core.texts import render, rupiah
from core.transitions import rows_changed
from core.unit_of_work import follow_up
from core.warehouse import StockLine, Warehouse

log = logging.getLogger(__name__)

CALLBACK, RECONCILIATION, JOB = "callback", "reconciliation", "job"
"""Where an event came from (`payment_events.source`)."""
APPLIED, DUPLICATE, RECORDED, UNKNOWN = "applied", "duplicate", "recorded", "unknown_invoice"
"""What `apply_invoice_event` did: changed the order; nothing (seen before); only wrote the ledger;
wrote the ledger for an invoice that matches no order."""
RELEASE_ORDER_STOCK = "release_order_stock"
"""The follow-up (and job) that gives an expired order's units back: `(order id,)`."""

_PAYABLE = (PaymentStatus.INVOICING, PaymentStatus.PENDING, PaymentStatus.FAILED)


def record(
    db: Session,
    *,
    key: str,
    order_id: int | None,
    source: str,
    kind: str,
    info: InvoiceInfo | None = None,
    detail: str | None = None,
) -> bool:
    """Insert one ledger row, once per `key`. False when the key was recorded before (a duplicate)."""
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    values: dict[str, Any] = {
        "event_key": key,
        "order_id": order_id,
        "provider": info.provider if info else "laku",
        "source": source,
        "kind": kind,
        "detail": detail,
        "payload": dict(info.raw) if info else {},
        "received_at": now(),
    }
    if info is not None:
        values |= {
            "invoice_id": info.id,
            "external_id": info.external_id,
            "provider_status": info.status,
            "amount": info.amount,
            "paid_amount": info.paid_amount,
            "currency": info.currency,
        }
    statement = insert(PaymentEvent).values(**values).on_conflict_do_nothing(index_elements=["event_key"])
    return db.execute(statement.returning(PaymentEvent.id)).scalar_one_or_none() is not None


def move(db: Session, order_id: int, to: str, from_states: tuple[str, ...], **values: object) -> bool:
    """An order's payment changes status: one conditional update from explicit source states."""
    return 1 == rows_changed(
        db,
        update(OrderPayment)
        .where(OrderPayment.order_id == order_id, OrderPayment.status.in_(from_states))
        .values(status=to, updated_at=now(), **values)
        .execution_options(synchronize_session="fetch"),
    )


def order_parts(db: Session, order_id: int) -> tuple[Order, GroupSession, Product, Buyer, Variant]:
    order = db.get(Order, order_id)
    assert order is not None
    session = db.get(GroupSession, order.session_id)
    buyer = db.get(Buyer, order.buyer_id)
    variant = db.get(Variant, order.variant_id)
    assert session is not None and buyer is not None and variant is not None
    product = db.get(Product, session.product_id)
    assert product is not None
    return order, session, product, buyer, variant


def alert(
    db: Session, settings: Settings, order_id: int, problem: str, *, key: str, **fields: object
) -> None:
    """Tell the admin (`ADMIN_WHATSAPP`) about a payment problem of one order, once per `key`."""
    order, session, _, buyer, _ = order_parts(db, order_id)
    text = render("id", problem, **fields)
    log.error("payment of order %s (session %s): %s", order.code, session.code, text)
    _notify_admin(
        db,
        settings,
        notifications.PAYMENT_ALERT,
        key,
        session_id=session.id,
        order=order.code,
        code=session.code,
        buyer=buyer.phone,
        problem=text,
    )


def _notify_admin(
    db: Session,
    settings: Settings,
    notice: notifications.Notice,
    key: str,
    session_id: int | None = None,
    **fields: Any,
) -> None:
    admin = settings.admin_whatsapp
    if admin:
        notifications.notify(
            db,
            settings,
            notice,
            key=f"payment_alert:{key}",
            to_phone=admin,
            language="id",
            session_id=session_id,
            **fields,
        )


def _tell_buyer(
    db: Session, settings: Settings, notice: notifications.Notice, order_id: int, **fields: object
) -> None:
    order, session, product, buyer, variant = order_parts(db, order_id)
    mine: dict[str, Any] = {
        name: value(buyer.language) if callable(value) else value for name, value in fields.items()
    }
    notifications.notify(
        db,
        settings,
        notice,
        key=f"{notice.kind}:{order.id}",
        to_phone=buyer.phone,
        language=buyer.language,
        session_id=session.id,
        code=session.code,
        product=product.name,
        order=order.code,
        size=variant.size,
        quantity=order.quantity,
        **mine,
    )


def _find(db: Session, info: InvoiceInfo) -> OrderPayment | None:
    """The order's payment row for an invoice (by invoice id, else by our external_id), locked."""
    for column, value in ((OrderPayment.invoice_id, info.id), (OrderPayment.external_id, info.external_id)):
        row = db.scalar(
            select(OrderPayment)
            .where(column == value)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is not None:
            return row
    return None


def apply_invoice_event(
    db: Session, settings: Settings, info: InvoiceInfo, *, source: str, at: datetime | None = None
) -> str:
    """What an invoice's state means for its order, once per event (see the module's docstring). Runs in
    the caller's unit of work; calls neither the provider nor the warehouse."""
    at = at or now()
    row = _find(db, info)
    if row is None:
        if record(db, key=info.event_key, order_id=None, source=source, kind="unknown_invoice", info=info):
            log.error("payment event for unknown invoice %s (%s)", info.id, info.external_id)
            notice = notifications.PAYMENT_UNKNOWN_ALERT
            _notify_admin(
                db,
                settings,
                notice,
                info.event_key,
                invoice=info.id,
                external_id=info.external_id,
                status=info.status,
            )
            return UNKNOWN
        return DUPLICATE
    if info.paid:
        return _paid(db, settings, row, info, source, at)
    if info.expired:
        return _expired(db, settings, row, info, source)
    fresh = record(db, key=info.event_key, order_id=row.order_id, source=source, kind="status", info=info)
    return RECORDED if fresh else DUPLICATE


def _paid(
    db: Session, settings: Settings, row: OrderPayment, info: InvoiceInfo, source: str, at: datetime
) -> str:
    reason = info.mismatch_with(row.amount, row.currency)
    if reason:
        kind, problem = "mismatch", "payment_problem_mismatch"
    elif row.status == PaymentStatus.EXPIRED:
        kind, problem = "late_payment", "payment_problem_late"
    elif row.status == PaymentStatus.PAID:
        kind, problem = "paid_twice", "payment_problem_paid_twice"
    elif row.status == PaymentStatus.REVIEW:
        kind, problem = "paid_in_review", None
    else:
        kind, problem = "paid", None
    if not record(
        db, key=info.event_key, order_id=row.order_id, source=source, kind=kind, info=info, detail=reason
    ):
        return DUPLICATE
    if kind == "paid":
        move(
            db,
            row.order_id,
            PaymentStatus.PAID,
            _PAYABLE,
            paid_at=info.paid_at or at,
            payment_method=info.payment_method,
            payment_channel=info.payment_channel,
            claimed_until=None,
        )
        _set_order_status(db, row.order_id, OrderStatus.PAID)
        _tell_buyer(
            db,
            settings,
            notifications.PAYMENT_RECEIVED,
            row.order_id,
            amount=rupiah(row.amount),
            paid_at=lambda language: format_wib(info.paid_at or at, language),
            channel=info.payment_channel or info.payment_method or "-",
            reference=info.id,
        )
        return APPLIED
    if problem is None:
        return RECORDED
    alert(db, settings, row.order_id, problem, key=info.event_key, reason=reason, invoice=info.id)
    reviewed = (*_PAYABLE, PaymentStatus.EXPIRED)
    if kind != "paid_twice" and move(db, row.order_id, PaymentStatus.REVIEW, reviewed, claimed_until=None):
        _tell_buyer(db, settings, notifications.PAYMENT_REVIEW, row.order_id)
    return APPLIED


def _expired(db: Session, settings: Settings, row: OrderPayment, info: InvoiceInfo, source: str) -> str:
    ours = row.invoice_id in (None, info.id) and row.status in (
        PaymentStatus.INVOICING,
        PaymentStatus.PENDING,
    )
    kind = "expired" if ours else "expired_ignored"
    if not record(db, key=info.event_key, order_id=row.order_id, source=source, kind=kind, info=info):
        return DUPLICATE
    if not ours or not move(
        db,
        row.order_id,
        PaymentStatus.EXPIRED,
        (PaymentStatus.INVOICING, PaymentStatus.PENDING),
        claimed_until=None,
    ):
        return RECORDED
    _set_order_status(db, row.order_id, OrderStatus.EXPIRED)
    _tell_buyer(db, settings, notifications.PAYMENT_EXPIRED, row.order_id)
    if row.stock_key:
        follow_up(db, RELEASE_ORDER_STOCK, row.order_id)
    return APPLIED


def _set_order_status(db: Session, order_id: int, status: str) -> None:
    db.execute(
        update(Order)
        .where(Order.id == order_id)
        .values(status=status)
        .execution_options(synchronize_session="fetch")
    )


# --- an expired order's units back to free stock --------------------------------------------------------


def release_order_stock(
    db: Session, settings: Settings, order_id: int, *, warehouse: Warehouse | None = None
) -> bool:
    """Give an expired order's units back to the warehouse, once (`stock_released_at`). False when there
    is nothing to do. Raises `WarehouseUnavailable` like every warehouse call; the caller retries."""
    row = db.scalar(
        select(OrderPayment)
        .where(OrderPayment.order_id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None or row.status != PaymentStatus.EXPIRED or row.stock_released_at or not row.stock_key:
        return False
    order, _, product, _, variant = order_parts(db, order_id)
    warehouse = warehouse or warehouse_for(settings, db)
    warehouse.release(product, [StockLine(variant.id, variant.sku, order.quantity)], key=row.stock_key)
    row.stock_released_at = now()
    db.flush()
    log.info("order %s expired: %s x%s back to free stock", order.code, variant.sku, order.quantity)
    return True


def stock_to_release(db: Session, *, limit: int = 200, idle_seconds: int = 60) -> list[int]:
    """Expired orders whose units are still held, untouched for `idle_seconds` (their job was lost)."""
    cutoff = now() - timedelta(seconds=idle_seconds)
    return list(
        db.scalars(
            select(OrderPayment.order_id)
            .where(
                OrderPayment.status == PaymentStatus.EXPIRED,
                OrderPayment.stock_key.is_not(None),
                OrderPayment.stock_released_at.is_(None),
                OrderPayment.updated_at < cutoff,
            )
            .order_by(OrderPayment.order_id)
            .limit(limit)
        )
    )
