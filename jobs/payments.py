"""Payment jobs (docs/design.md, "Orders and payment"): thin wrappers around `core`.

- `create_order_invoices(session, buyer)`: a follow-up of the unit of work that created the orders
  (`jobs.dispatch`), retried with backoff by RQ (`dispatch.INVOICE_RETRY_INTERVALS`) on a transient failure.
- `release_order_stock(order)`: a follow-up of an order that expired unpaid.
- `resume_payment_work()` (periodic): the same two for work whose job was lost (Redis down at the
  commit, a dead worker).
- `reconcile_payments()` (periodic): ask the provider about invoices pending past their deadline.

All of them do nothing without online payment (no `XENDIT_SECRET_KEY`).
"""

from __future__ import annotations

import logging

from core import invoicing, payment_events, reconciliation
from core.adapters import payment_provider_for
from core.adapters.payments import PaymentProvider
from core.settings import Settings
from core.unit_of_work import FollowUp, unit_of_work
from core.warehouse import WarehouseUnavailable
from jobs import queues, runtime
from jobs.dispatch import INVOICE_RETRY_INTERVALS, dispatch, enqueue_follow_up

log = logging.getLogger(__name__)

MAX_INVOICE_ATTEMPTS = len(INVOICE_RETRY_INTERVALS) + 1

_provider: tuple[Settings, PaymentProvider] | None = None


class RetryLater(Exception):
    """Raised so that RQ schedules the job's next attempt."""


def provider() -> PaymentProvider:
    """The configured provider, made once per process and settings (never at import: building the SDK's
    configuration touches its loggers)."""
    global _provider
    settings = runtime.settings()
    if _provider is None or _provider[0] is not settings:
        made = payment_provider_for(settings)
        assert made is not None, "no payment provider configured"
        _provider = (settings, made)
    return _provider[1]


def create_order_invoices(session_id: int, buyer_id: int) -> dict:
    settings = runtime.settings()
    if not settings.online_payment:
        return {}
    outcome = invoicing.create_order_invoices(
        runtime.db_factory(),
        dispatch,
        settings,
        provider(),
        session_id,
        buyer_id,
        max_attempts=MAX_INVOICE_ATTEMPTS,
    )
    if outcome.retry:
        raise RetryLater(f"invoices of session {session_id}, buyer {buyer_id}: {outcome.as_dict()}")
    return outcome.as_dict()


def release_order_stock(order_id: int) -> bool:
    settings = runtime.settings()
    try:
        with unit_of_work(runtime.db_factory(), dispatch) as db:
            return payment_events.release_order_stock(db, settings, order_id)
    except WarehouseUnavailable as error:
        raise RetryLater(f"units of order {order_id} not released yet: {error}") from error


def resume_payment_work() -> int:
    """Periodic: re-enqueue invoice jobs and stock releases whose job was lost. Returns how many."""
    settings = runtime.settings()
    if not settings.online_payment:
        return 0
    with runtime.db_factory()() as db:
        work = [FollowUp(invoicing.ORDER_INVOICES, pair) for pair in invoicing.invoices_to_resume(db)]
        work += [
            FollowUp(payment_events.RELEASE_ORDER_STOCK, (order_id,))
            for order_id in payment_events.stock_to_release(db)
        ]
    queue = queues.queue(queues.DEFAULT)
    enqueued = sum(enqueue_follow_up(queue, item) for item in work)
    if enqueued:
        log.info("payment work resumed: %s of %s", enqueued, [f"{w.name}{w.args}" for w in work])
    return enqueued


def reconcile_payments() -> dict[str, int]:
    """Periodic: invoices pending past their deadline, asked about in case a callback was lost."""
    settings = runtime.settings()
    if not settings.online_payment:
        return {}
    return reconciliation.reconcile_payments(runtime.db_factory(), dispatch, settings, provider())
