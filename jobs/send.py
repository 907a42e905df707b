"""The outbox's sender job: `core.sending.drain` with this process's resources and the drain's lease.

`drain_outbox(token)` runs as the drain that `jobs.queues` reserved under `token`; `drain_outbox(None)`
is a scheduled wake-up for a retry and runs only if no other drain holds a lease.
"""

from __future__ import annotations

import logging

from core import outbox, sending
from jobs import queues, runtime

log = logging.getLogger(__name__)


def drain_outbox(token: str | None = None) -> dict:
    connection = runtime.redis()
    if token is None:
        token = queues.reserve_drain(connection)
        if token is None:
            return {"stopped": "another drain is running"}
    lease = queues.DrainLease(connection, token)
    lease.renew()
    db_factory = runtime.db_factory()
    report = sending.drain(
        db_factory,
        runtime.transport(),
        runtime.settings(),
        pace=runtime.send_limit(),
        dispatch=queues.dispatch,
        max_seconds=queues.DRAIN_SECONDS,
        keep_going=lease.keep_going,
        on_backlog=lease.on_backlog,
        heartbeat=lease.heartbeat,
        max_attempts=queues.MAX_SEND_ATTEMPTS,
    )
    try:
        if report.stopped == sending.StopReason.TIME:
            lease.renew(queues.QUEUED_LEASE_SECONDS)
            queues.enqueue_drain(connection, token)  # behind whatever else is queued
        elif report.stopped == sending.StopReason.IDLE:
            with db_factory() as db:
                due = outbox.next_attempt_at(db)
            if due is not None:
                queues.wake_at(connection, due)
    except Exception as error:  # noqa: BLE001 - the flush wakes a sender for anything left due
        log.warning("outbox drain %s could not hand on: %s", token, error)
    result = report.as_dict()
    if result.get("claims", 0) > 1 or report.outcomes:
        log.info("outbox drain %s: %s", token, result)
    return result


def send_message(message_id: int) -> str:
    """A job left in Redis by a version that queued one job per message: the drain sends it now."""
    queues.dispatch([message_id])
    return "handed to the outbox drain"
