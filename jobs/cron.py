"""`rq cron jobs/cron.py` (the Procfile's `clock`): the periodic jobs, declared as data with stable names.

Intervals come from the environment once, when the clock process loads this file. Every periodic job goes
to the `periodic` queue, which workers take before the sending queue.
"""

from __future__ import annotations

from rq import cron

from core.settings import Settings
from jobs.expiry import recheck_pending_stock, remind_factories, sweep_expired_sessions
from jobs.payments import reconcile_payments, resume_payment_work
from jobs.queues import PERIODIC, flush_outbox
from jobs.reminders import send_deadline_reminders

_settings = Settings.from_env()

PENDING_STOCK_RECHECK_SECONDS = 300
FACTORY_REMINDER_CHECK_SECONDS = 900
OUTBOX_FLUSH_SECONDS = 15
"""Cheap (two indexed queries): a message nobody woke a sender for waits at most about this long."""
PAYMENT_WORK_SECONDS = 60
PAYMENT_RECONCILIATION_SECONDS = 900
REMINDER_SWEEP_SECONDS = 60

JOBS = (
    (sweep_expired_sessions, _settings.expiry_sweep_seconds, "expiry-sweep"),
    (send_deadline_reminders, REMINDER_SWEEP_SECONDS, "deadline-reminders"),
    (recheck_pending_stock, PENDING_STOCK_RECHECK_SECONDS, "pending-stock-recheck"),
    (remind_factories, FACTORY_REMINDER_CHECK_SECONDS, "factory-reminders"),
    (flush_outbox, OUTBOX_FLUSH_SECONDS, "outbox-flush"),
    # online payment (no-ops without XENDIT_SECRET_KEY)
    (resume_payment_work, PAYMENT_WORK_SECONDS, "payment-work"),
    (reconcile_payments, PAYMENT_RECONCILIATION_SECONDS, "payment-reconciliation"),
)

for _func, _interval, _name in JOBS:
    # Overlapping runs are safe (sessions and reminders are claimed exclusively); the timeout only stops
    # a run that hangs.
    cron.register(
        _func, queue_name=PERIODIC, interval=_interval, name=_name, job_timeout=max(_interval, 60) * 5
    )
