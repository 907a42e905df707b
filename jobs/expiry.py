"""Time-driven jobs (run by `rq cron`, see jobs/cron.py): thin wrappers around `core`.

Each job runs its changes as units of work (`core.unit_of_work`): the outbox messages a change created,
and its follow-ups (an order's invoice), are handed to the queue only after they are committed
(`jobs.dispatch`). Nothing here is imported by `core`.
"""

from __future__ import annotations

import logging

from core import factory_replies, purchase_orders, sweep
from core.unit_of_work import unit_of_work
from core.warehouse import WarehouseUnavailable
from jobs import runtime
from jobs.dispatch import dispatch

log = logging.getLogger(__name__)


def sweep_expired_sessions() -> dict:
    """Close every session whose time is up (each exactly once, whichever worker gets it)."""
    result = sweep.sweep_due_sessions(runtime.db_factory(), runtime.settings(), dispatch=dispatch)
    if result.closed or result.retry_later:
        log.info("expiry sweep: %s", result.as_dict())
    return result.as_dict()


def recheck_pending_stock() -> list[str]:
    """External warehouse only: sessions waiting for factory stock move on once the stock is there.

    With the built-in warehouse, stock arrives through the admin's PO receive instead, so this is a no-op.
    """
    settings = runtime.settings()
    if not settings.warehouse_service_url:
        return []
    try:
        with unit_of_work(runtime.db_factory(), dispatch) as db:
            moved = purchase_orders.recheck_pending_stock(db, settings)
    except WarehouseUnavailable as error:
        log.warning("pending stock re-check skipped: %s", error)
        return []
    if moved:
        log.info("stock arrived for sessions %s", moved)
    return moved


def remind_factories() -> list[str]:
    """One reminder per purchase order the factory has not answered for `FACTORY_REMINDER_HOURS`."""
    with unit_of_work(runtime.db_factory(), dispatch) as db:
        reminded = factory_replies.remind_unanswered_purchase_orders(db, runtime.settings())
    if reminded:
        log.info("factory reminders sent for %s", reminded)
    return reminded
