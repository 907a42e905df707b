"""The outbox send job: `core.delivery` with this process's settings, and RQ's Retry for the backoff."""

from __future__ import annotations

from core import delivery
from jobs import queues, runtime


class RetryLater(Exception):
    """Raised so that RQ schedules the next attempt (`queues.RETRY_INTERVALS`)."""


def send_message(message_id: int) -> str:
    settings = runtime.settings()
    outcome = delivery.send_outbox_message(
        runtime.db_factory(),
        message_id,
        runtime.transport(),
        admin_phone=delivery.alert_recipient(settings),
        max_attempts=queues.MAX_SEND_ATTEMPTS,
    )
    if outcome.alert_ids:
        queues.dispatch_outbox(outcome.alert_ids)
    if outcome.status == delivery.SendStatus.RETRY:
        raise RetryLater(f"outbox message {message_id}, attempt {outcome.attempts}: {outcome.error}")
    return outcome.status
