"""Time-driven fulfilment jobs (run by `rq cron`, see jobs/cron.py): thin wrappers around `core`.

Each job opens its own transactions, and hands the outbox messages it created to the queue only after
they are committed. Nothing here is imported by `core`.
"""

from __future__ import annotations

import logging

from core import factory_replies, fulfilment
from core.db import transaction
from core.outbox import new_message_ids
from core.warehouse import WarehouseUnavailable

log = logging.getLogger(__name__)


def _dispatch(message_ids: list[int]) -> int:
    if not message_ids:
        return 0
    from jobs.queues import dispatch_outbox  # lazy: RQ machinery only when there is something to send

    return dispatch_outbox(message_ids)


def sweep_expired_sessions() -> dict:
    """Close every session whose time is up (each exactly once, whichever worker gets it)."""
    from jobs import runtime

    result = fulfilment.sweep_due_sessions(runtime.db_factory(), runtime.settings(), on_commit=_dispatch)
    if result.closed or result.retry_later:
        log.info("expiry sweep: %s", result.as_dict())
    return result.as_dict()


def recheck_pending_stock() -> list[str]:
    """External warehouse only: sessions waiting for factory stock move on once the stock is there.

    With the built-in warehouse, stock arrives through the admin's PO receive instead, so this is a no-op.
    """
    from jobs import runtime

    settings = runtime.settings()
    if not settings.warehouse_service_url:
        return []
    try:
        with transaction(runtime.db_factory()) as db:
            moved = fulfilment.recheck_pending_stock(db, settings)
            ids = new_message_ids(db)
    except WarehouseUnavailable as error:
        log.warning("pending stock re-check skipped: %s", error)
        return []
    _dispatch(ids)
    if moved:
        log.info("stock arrived for sessions %s", moved)
    return moved


def remind_factories() -> list[str]:
    """One reminder per purchase order the factory has not answered for `FACTORY_REMINDER_HOURS`."""
    from jobs import runtime

    with transaction(runtime.db_factory()) as db:
        reminded = factory_replies.remind_unanswered_purchase_orders(db, runtime.settings())
        ids = new_message_ids(db)
    _dispatch(ids)
    if reminded:
        log.info("factory reminders sent for %s", reminded)
    return reminded
