"""The outbox send job: `core.delivery` with this process's settings, and RQ's Retry for the backoff."""

from __future__ import annotations

from core import delivery
from jobs import queues, runtime


class RetryLater(Exception):
    """Raised so that RQ schedules the next attempt (`queues.RETRY_INTERVALS`)."""


def send_message(message_id: int) -> str:
    outcome = delivery.send_outbox_message(
        runtime.db_factory(),
        message_id,
        runtime.transport(),
        runtime.settings(),
        dispatch=queues.dispatch,
        max_attempts=queues.MAX_SEND_ATTEMPTS,
    )
    if outcome.status == delivery.SendStatus.RETRY:
        raise RetryLater(f"outbox message {message_id}, attempt {outcome.attempts}: {outcome.error}")
    return outcome.status
