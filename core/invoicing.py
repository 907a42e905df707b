"""Each order's invoice: a row when the order is made, the invoice at the provider made by a job after the
commit, then the buyer's one order message with every link (see docs/design.md, "Orders and payment").

Order of events, per buyer and session:

1. `open_invoices` (inside the transaction that creates the orders): one `order_payments` row per order,
   `invoicing`, with its `external_id`; a follow-up `order_invoices(session, buyer)` for after the commit.
   No order message yet, no call to the provider inside the transaction.
2. The job (`create_order_invoices`) claims the buyer's `invoicing` rows (a lease, so two workers never
   ask the provider for the same order at once), then, outside any transaction, `ensure_invoice` for each:
   the provider is asked for an invoice under the order's stored `external_id` first and creates one only
   if it has none, so a retried job, or one whose answer was lost, never makes a second invoice.
3. Each outcome is recorded in its own unit of work: `pending` with the link and deadline (ledger
   `invoice_created`/`invoice_found`); a transient failure leaves the row `invoicing` for the job's retry;
   a permanent failure, or the last attempt failing, makes it `failed` and alerts the admin.
4. The unit of work that leaves none of the buyer's rows `invoicing` writes the order message: each order
   with its link and deadline, or, for a `failed` one, that the admin will be in touch about paying.

`invoices_to_resume` finds rows whose job was lost (Redis down at the commit, a dead worker) for the
periodic job.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from core import payment_events
from core.adapters.payments import (
    CURRENCY,
    XENDIT,
    EnsuredInvoice,
    InvoiceLine,
    InvoiceRequest,
    PaymentProvider,
    PermanentPaymentError,
    TransientPaymentError,
    new_external_id,
)
from core.clock import now
from core.db import transaction
from core.models import Buyer, GroupSession, Order, OrderPayment, PaymentStatus, Product, Variant
from core.order_messages import tell_buyer
from core.settings import Settings
from core.texts import render, rupiah
from core.unit_of_work import Dispatch, follow_up, unit_of_work

log = logging.getLogger(__name__)

ORDER_INVOICES = "order_invoices"
"""The follow-up (and job) that makes a buyer's invoices in a session: `(session id, buyer id)`."""
LEASE_SECONDS = 90
"""A claim's lease: longer than one provider call (connect + read timeout) with room to spare."""
IDLE_SECONDS = 60
"""The periodic job resumes rows untouched this long (and unclaimed): their own job was lost."""


def open_invoices(
    db: Session, session: GroupSession, orders: Sequence[Order], stock_keys: Mapping[int, str], at: datetime
) -> set[int]:
    """An `invoicing` row per order with something to pay, and the invoice follow-up for each buyer.
    Returns the buyers whose message now waits for the invoice job."""
    buyers: set[int] = set()
    for order in orders:
        if order.amount_due <= 0:
            continue  # nothing to pay: no invoice
        db.add(
            OrderPayment(
                order_id=order.id,
                provider=XENDIT,
                external_id=new_external_id(order.code),
                amount=order.amount_due,
                currency=CURRENCY,
                status=PaymentStatus.INVOICING,
                stock_key=stock_keys.get(order.id),
                created_at=at,
                updated_at=at,
            )
        )
        buyers.add(order.buyer_id)
    db.flush()
    for buyer_id in sorted(buyers):
        follow_up(db, ORDER_INVOICES, session.id, buyer_id)
    return buyers


@dataclass
class InvoiceJobOutcome:
    made: list[str] = field(default_factory=list)  # order codes now `pending`
    failed: list[str] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)  # transient failure: the job tries again later
    told: bool = False

    def as_dict(self) -> dict:
        return {"made": self.made, "failed": self.failed, "retry": self.retry, "told": self.told}


@dataclass(frozen=True)
class _Claimed:
    order_id: int
    order_code: str
    attempts: int
    request: InvoiceRequest | None
    problem: str | None = None  # the request could not even be built


def create_order_invoices(
    db_factory: sessionmaker[Session],
    dispatch: Dispatch,
    settings: Settings,
    provider: PaymentProvider,
    session_id: int,
    buyer_id: int,
    *,
    max_attempts: int,
) -> InvoiceJobOutcome:
    """The invoice job for one buyer's orders in one session (see the module's docstring). Safe to run any
    number of times: rows already past `invoicing`, or claimed by another worker, are left alone."""
    outcome = InvoiceJobOutcome()
    for item in _claim(db_factory, settings, session_id, buyer_id):
        if item.request is None:
            _fail(db_factory, dispatch, settings, item, item.problem or "no invoice request", outcome)
            continue
        try:
            ensured = provider.ensure_invoice(item.request)
        except PermanentPaymentError as error:
            _fail(db_factory, dispatch, settings, item, str(error), outcome)
            continue
        except Exception as error:  # noqa: BLE001 - transient, or a bug: tried again, then given up
            if not isinstance(error, TransientPaymentError):
                log.exception("invoice for order %s: unexpected error", item.order_code)
            reason = str(error) or type(error).__name__
            if item.attempts >= max_attempts:
                reason = f"gave up after {item.attempts} attempts: {reason}"
                _fail(db_factory, dispatch, settings, item, reason, outcome)
            else:
                _retry_later(db_factory, item, reason)
                outcome.retry.append(item.order_code)
            continue
        extra = _close_duplicates(provider, ensured)
        with unit_of_work(db_factory, dispatch) as db:
            outcome.told |= _record_invoice(db, settings, item, ensured, extra)
        outcome.made.append(item.order_code)
    return outcome


def _buyers_orders(session_id: int, buyer_id: int):
    return select(Order.id).where(Order.session_id == session_id, Order.buyer_id == buyer_id)


def _claim(
    db_factory: sessionmaker[Session], settings: Settings, session_id: int, buyer_id: int
) -> list[_Claimed]:
    at = now()
    with transaction(db_factory) as db:
        claimed = db.execute(
            update(OrderPayment)
            .where(
                OrderPayment.order_id.in_(_buyers_orders(session_id, buyer_id)),
                OrderPayment.status == PaymentStatus.INVOICING,
                or_(OrderPayment.claimed_until.is_(None), OrderPayment.claimed_until < at),
            )
            .values(
                claimed_until=at + timedelta(seconds=LEASE_SECONDS),
                attempts=OrderPayment.attempts + 1,
                updated_at=at,
            )
            .returning(OrderPayment.order_id, OrderPayment.attempts, OrderPayment.external_id)
        ).all()
        return [_claimed(db, settings, *row) for row in sorted(claimed)]


def _claimed(db: Session, settings: Settings, order_id: int, attempts: int, external_id: str) -> _Claimed:
    order, session, product, buyer, variant = payment_events.order_parts(db, order_id)
    language = buyer.language
    try:
        request = InvoiceRequest(
            external_id=external_id,
            amount=order.amount_due,
            description=render(
                language,
                "invoice_description",
                product=product.name,
                size=variant.size,
                quantity=order.quantity,
                code=session.code,
                order=order.code,
            ),
            buyer_phone=buyer.phone,
            buyer_name=buyer.name,
            duration_seconds=settings.payment_deadline_hours * 3600,
            locale=language,
            lines=_lines(product, variant, order),
            metadata={"order": order.code, "session": session.code},
        )
    except ValueError as error:
        return _Claimed(order_id, order.code, attempts, None, f"invalid invoice request: {error}")
    return _Claimed(order_id, order.code, attempts, request)


def _lines(product: Product, variant: Variant, order: Order) -> tuple[InvoiceLine, ...]:
    """One checkout line when the amount is a whole number of unit prices, else none (the amount alone)."""
    if order.quantity > 0 and order.amount_due % order.quantity == 0:
        return (
            InvoiceLine(f"{product.name} {variant.size}", order.quantity, order.amount_due // order.quantity),
        )
    return ()


def _close_duplicates(provider: PaymentProvider, ensured: EnsuredInvoice) -> list[str]:
    """Further invoices under the order's external_id (made despite the look-up): expire the unpaid ones
    so the buyer can pay only one. Returns their ids, for the ledger and the admin."""
    for other in ensured.others:
        if not other.paid:
            try:
                provider.expire_invoice(other.id)
            except (TransientPaymentError, PermanentPaymentError) as error:
                log.warning("could not expire duplicate invoice %s: %s", other.id, error)
    return [other.id for other in ensured.others]


def _lock_buyer(db: Session, order_id: int) -> tuple[int, int]:
    """Lock the payment rows of the order's buyer in its session (in order id order, so two recorders
    queue instead of deadlocking): the check "none left invoicing" then sees the other's commit."""
    order = db.get(Order, order_id)
    assert order is not None
    db.execute(
        select(OrderPayment.order_id)
        .where(OrderPayment.order_id.in_(_buyers_orders(order.session_id, order.buyer_id)))
        .order_by(OrderPayment.order_id)
        .with_for_update()
    ).all()
    return order.session_id, order.buyer_id


def _record_invoice(
    db: Session, settings: Settings, item: _Claimed, ensured: EnsuredInvoice, duplicates: list[str]
) -> bool:
    session_id, buyer_id = _lock_buyer(db, item.order_id)
    info = ensured.invoice
    due = info.expiry_date or now() + timedelta(hours=settings.payment_deadline_hours)
    payment_events.move(
        db,
        item.order_id,
        PaymentStatus.PENDING,
        (PaymentStatus.INVOICING,),
        invoice_id=info.id,
        invoice_url=info.invoice_url,
        due_at=due,
        claimed_until=None,
        last_error=None,
    )
    payment_events.record(
        db,
        key=f"{info.provider}:invoice:{info.id}:CREATED",
        order_id=item.order_id,
        source=payment_events.JOB,
        kind="invoice_created" if ensured.created else "invoice_found",
        info=info,
    )
    if duplicates:
        for other in ensured.others:
            payment_events.record(
                db,
                key=f"{other.provider}:invoice:{other.id}:DUPLICATE",
                order_id=item.order_id,
                source=payment_events.JOB,
                kind="duplicate_invoice",
                info=other,
            )
        payment_events.alert(
            db,
            settings,
            item.order_id,
            "payment_problem_duplicate",
            key=f"duplicate:{info.id}",
            count=len(duplicates) + 1,
            invoices=", ".join([info.id, *duplicates]),
            invoice=info.id,
        )
    if info.paid or info.expired:  # found already settled (its earlier answer was lost long ago)
        payment_events.apply_invoice_event(db, settings, info, source=payment_events.JOB)
    return _tell_if_ready(db, settings, session_id, buyer_id)


def _retry_later(db_factory: sessionmaker[Session], item: _Claimed, reason: str) -> None:
    """Give the lease back, so the job's retry (RQ's backoff) may claim the row again."""
    with transaction(db_factory) as db:
        db.execute(
            update(OrderPayment)
            .where(OrderPayment.order_id == item.order_id, OrderPayment.status == PaymentStatus.INVOICING)
            .values(claimed_until=None, last_error=reason[:2000], updated_at=now())
        )
    log.warning(
        "invoice for order %s, attempt %s failed, will retry: %s", item.order_code, item.attempts, reason
    )


def _fail(
    db_factory: sessionmaker[Session],
    dispatch: Dispatch,
    settings: Settings,
    item: _Claimed,
    reason: str,
    outcome: InvoiceJobOutcome,
) -> None:
    """No invoice for this order: `failed`, the admin alerted; the buyer's message says to pay through
    the admin."""
    log.error("no invoice for order %s: %s", item.order_code, reason)
    with unit_of_work(db_factory, dispatch) as db:
        session_id, buyer_id = _lock_buyer(db, item.order_id)
        if payment_events.move(
            db,
            item.order_id,
            PaymentStatus.FAILED,
            (PaymentStatus.INVOICING,),
            claimed_until=None,
            last_error=reason[:2000],
        ):
            payment_events.record(
                db,
                key=f"invoice-failed:{item.order_id}",
                order_id=item.order_id,
                source=payment_events.JOB,
                kind="invoice_failed",
                detail=reason,
            )
            order = db.get(Order, item.order_id)
            assert order is not None
            payment_events.alert(
                db,
                settings,
                item.order_id,
                "payment_problem_failed",
                key=f"invoice_failed:{item.order_id}",
                reason=reason[:300],
                amount=rupiah(order.amount_due),
            )
        outcome.told |= _tell_if_ready(db, settings, session_id, buyer_id)
    outcome.failed.append(item.order_code)


def _tell_if_ready(db: Session, settings: Settings, session_id: int, buyer_id: int) -> bool:
    """The buyer's order message, once none of their orders in the session waits for its invoice."""
    rows = db.execute(
        select(Order, OrderPayment)
        .outerjoin(OrderPayment, OrderPayment.order_id == Order.id)
        .where(Order.session_id == session_id, Order.buyer_id == buyer_id)
        .order_by(Order.participant_id)
        .execution_options(populate_existing=True)
    ).all()
    if not rows or any(p is not None and p.status == PaymentStatus.INVOICING for _, p in rows):
        return False
    session = db.get(GroupSession, session_id)
    buyer = db.get(Buyer, buyer_id)
    assert session is not None and buyer is not None
    product = db.get(Product, session.product_id)
    assert product is not None
    payments = {order.id: payment for order, payment in rows if payment is not None}
    return (
        tell_buyer(db, settings, session, product, buyer, [order for order, _ in rows], payments) is not None
    )


def invoices_to_resume(db: Session, *, limit: int = 200) -> list[tuple[int, int]]:
    """(session id, buyer id) with rows still `invoicing`, unclaimed and untouched for `IDLE_SECONDS`:
    their job was lost (Redis down at the commit, a dead worker) or ran out of RQ retries."""
    at = now()
    rows = db.execute(
        select(Order.session_id, Order.buyer_id)
        .join(OrderPayment, OrderPayment.order_id == Order.id)
        .where(
            OrderPayment.status == PaymentStatus.INVOICING,
            or_(OrderPayment.claimed_until.is_(None), OrderPayment.claimed_until < at),
            OrderPayment.updated_at < at - timedelta(seconds=IDLE_SECONDS),
        )
        .distinct()
        .order_by(Order.session_id, Order.buyer_id)
        .limit(limit)
    )
    return [(session_id, buyer_id) for session_id, buyer_id in rows]
