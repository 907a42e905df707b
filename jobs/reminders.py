"""The deadline reminders job (run by `rq cron`, see jobs/cron.py): a thin wrapper around `core.reminders`."""

from __future__ import annotations

import logging

from core import reminders
from jobs import queues, runtime

log = logging.getLogger(__name__)


def send_deadline_reminders() -> dict:
    """Reminders for every session whose slot (`REMINDER_HOURS` before its deadline) has come, once each."""
    result = reminders.sweep_reminders(runtime.db_factory(), runtime.settings(), dispatch=queues.dispatch)
    if result.reminded or result.retry_later:
        log.info("deadline reminders: %s", result.as_dict())
    return result.as_dict()
