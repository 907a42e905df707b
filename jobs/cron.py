"""`rq cron jobs.cron` (Procfile `clock`): the periodic jobs, declared as data with stable names.

Intervals come from the environment once, when the clock process loads this file. Every periodic job goes
to the `periodic` queue, which workers take before the sending queue.
"""

from __future__ import annotations

from rq import cron

from core.settings import Settings
from jobs.expiry import recheck_pending_stock, remind_factories, sweep_expired_sessions
from jobs.queues import PERIODIC, flush_outbox

_settings = Settings.from_env()

PENDING_STOCK_RECHECK_SECONDS = 300
FACTORY_REMINDER_CHECK_SECONDS = 900
OUTBOX_FLUSH_SECONDS = 15
"""Cheap (two indexed queries): a message nobody woke a sender for waits at most about this long."""

JOBS = (
    (sweep_expired_sessions, _settings.expiry_sweep_seconds, "expiry-sweep"),
    (recheck_pending_stock, PENDING_STOCK_RECHECK_SECONDS, "pending-stock-recheck"),
    (remind_factories, FACTORY_REMINDER_CHECK_SECONDS, "factory-reminders"),
    (flush_outbox, OUTBOX_FLUSH_SECONDS, "outbox-flush"),
)

for _func, _interval, _name in JOBS:
    # Overlapping runs are safe (sessions and reminders are claimed exclusively); the timeout only stops
    # a run that hangs.
    cron.register(
        _func, queue_name=PERIODIC, interval=_interval, name=_name, job_timeout=max(_interval, 60) * 5
    )
