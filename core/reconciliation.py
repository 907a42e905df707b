"""Reconciliation: ask the provider about invoices still pending past their deadline, in case a callback
was lost, and apply what it says exactly as a callback would (same event keys, so a late callback after
reconciliation, or the other way round, changes nothing twice).

An invoice the provider still calls PENDING after its deadline (the provider late, clocks apart) is
expired at the provider by us, so nobody can pay an order whose units went back to stock; its answer
(EXPIRED) is applied. One the provider no longer knows goes to `review` with an admin alert. A provider
that does not answer leaves the order for the next round.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from core import payment_events
from core.adapters.payments import InvoiceNotFound, PaymentProvider, PaymentProviderError
from core.clock import now
from core.db import transaction
from core.models import OrderPayment, PaymentStatus
from core.settings import Settings
from core.unit_of_work import Dispatch, unit_of_work

log = logging.getLogger(__name__)

GRACE_SECONDS = 300
"""How long after an invoice's deadline its own EXPIRED callback may take before we ask."""
RECHECK_SECONDS = 900
"""An order asked about is asked again at the earliest this much later (a provider that did not answer)."""


def claim_overdue(db_factory: sessionmaker[Session], *, limit: int = 100) -> list[tuple[int, str]]:
    """(order id, invoice id) of pending invoices past their deadline, not asked about recently; each is
    claimed (`checked_at`) so two reconcilers never ask about the same order at once."""
    at = now()
    recheck = at - timedelta(seconds=RECHECK_SECONDS)
    not_recently = or_(OrderPayment.checked_at.is_(None), OrderPayment.checked_at < recheck)
    with transaction(db_factory) as db:
        overdue = (
            select(OrderPayment.order_id)
            .where(
                OrderPayment.status == PaymentStatus.PENDING,
                OrderPayment.invoice_id.is_not(None),
                OrderPayment.due_at < at - timedelta(seconds=GRACE_SECONDS),
                not_recently,
            )
            .order_by(OrderPayment.due_at)
            .limit(limit)
        )
        rows = db.execute(
            update(OrderPayment)
            .where(OrderPayment.order_id.in_(overdue.scalar_subquery()), not_recently)
            .values(checked_at=at)
            .returning(OrderPayment.order_id, OrderPayment.invoice_id)
        ).all()
    return sorted((order_id, invoice_id) for order_id, invoice_id in rows)


def reconcile_payments(
    db_factory: sessionmaker[Session],
    dispatch: Dispatch,
    settings: Settings,
    provider: PaymentProvider,
    *,
    limit: int = 100,
) -> dict[str, int]:
    """One round: ask about each overdue invoice and apply the answer. Returns counts per outcome."""
    counts: Counter[str] = Counter()
    for order_id, invoice_id in claim_overdue(db_factory, limit=limit):
        try:
            info = provider.get_invoice(invoice_id)
            if not (info.paid or info.expired):
                info = provider.expire_invoice(invoice_id)  # past its deadline and still payable
        except InvoiceNotFound:
            with unit_of_work(db_factory, dispatch) as db:
                counts[_missing(db, settings, order_id, invoice_id)] += 1
            continue
        except PaymentProviderError as error:
            log.warning(
                "reconciliation of invoice %s (order %s) left for later: %s", invoice_id, order_id, error
            )
            counts["later"] += 1
            continue
        with unit_of_work(db_factory, dispatch) as db:
            counts[
                payment_events.apply_invoice_event(db, settings, info, source=payment_events.RECONCILIATION)
            ] += 1
    if counts:
        log.info("payment reconciliation: %s", dict(counts))
    return dict(counts)


def _missing(db: Session, settings: Settings, order_id: int, invoice_id: str) -> str:
    recorded = payment_events.record(
        db,
        key=f"{_provider_of(db, order_id)}:invoice:{invoice_id}:MISSING",
        order_id=order_id,
        source=payment_events.RECONCILIATION,
        kind="invoice_missing",
        detail=f"the provider no longer knows invoice {invoice_id}",
    )
    if not recorded:
        return payment_events.DUPLICATE
    if payment_events.move(db, order_id, PaymentStatus.REVIEW, (PaymentStatus.PENDING,)):
        payment_events.alert(
            db, settings, order_id, "payment_problem_missing", key=f"missing:{invoice_id}", invoice=invoice_id
        )
    return payment_events.APPLIED


def _provider_of(db: Session, order_id: int) -> str:
    return db.scalar(select(OrderPayment.provider).where(OrderPayment.order_id == order_id)) or "-"
