"""Queue names and handing outbox messages to RQ.

One RQ job per outbox message, with the stable id `send-<message id>`: enqueueing uses RQ 3's
`unique=True` (an atomic check-and-save in Redis), so a message whose job is still queued, running or
waiting for a retry is never enqueued twice. A leftover finished or failed job with that id is removed
first, so a message put back to `queued` can always be sent again. The outbox row, not Redis, decides
whether anything is actually sent (`core.delivery` claims the row), so a lost or duplicated job is
harmless and a Redis outage loses nothing: `flush_outbox` re-dispatches what is still waiting.
"""

from __future__ import annotations

import logging

from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from core import delivery, outbox
from core.db import transaction
from core.settings import Settings
from jobs import runtime

log = logging.getLogger(__name__)

DEFAULT = "default"
SEND_QUEUE = DEFAULT
QUEUE_NAMES = (DEFAULT,)
"""Every queue a worker must listen to (`rq worker --with-scheduler default`)."""

SEND_JOB = "jobs.send.send_message"
RETRY_INTERVALS = (5, 30, 120, 600, 1800)
"""Seconds between send attempts after a transient failure (429, 5xx, network)."""
MAX_SEND_ATTEMPTS = len(RETRY_INTERVALS) + 1
SEND_JOB_TIMEOUT = 60
FLUSH_AFTER_SECONDS = 30
STALE_SENDING_SECONDS = 600
"""A row `sending` this long belongs to a dead worker (far above SEND_JOB_TIMEOUT)."""

_PENDING = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def queue(name: str = DEFAULT, connection=None) -> Queue:
    return Queue(name, connection=connection if connection is not None else runtime.redis())


def send_job_id(message_id: int) -> str:
    return f"send-{message_id}"


def dispatch_outbox(message_ids: list[int], *, settings: Settings | None = None, connection=None) -> int:
    """Enqueue a send job per outbox id (after the transaction that added them committed).

    Redis is `connection`, else the one of `settings` (the web app passes its own), else the runtime's.

    Returns how many jobs were enqueued; ids whose job is already pending do not count. Never raises:
    with Redis down it logs and returns what it managed, and the periodic flush sends the rest.
    """
    if not message_ids:
        return 0
    enqueued = 0
    try:
        if connection is None and settings is not None:
            connection = runtime.redis_for(settings.effective_redis_url)
        send_queue = queue(SEND_QUEUE, connection)
        for message_id in dict.fromkeys(message_ids):
            enqueued += _enqueue_send(send_queue, message_id)
    except Exception:  # noqa: BLE001 - callers are web requests and jobs that must not fail on Redis
        log.exception(
            "could not dispatch outbox messages %s (enqueued %s); the outbox flush will retry",
            list(message_ids),
            enqueued,
        )
    return enqueued


def dispatch(message_ids: list[int]) -> object:
    """A job's dispatcher for `core.unit_of_work`: the runtime's Redis."""
    return dispatch_outbox(message_ids)


def _enqueue_send(send_queue: Queue, message_id: int) -> bool:
    job_id = send_job_id(message_id)
    for _ in range(2):
        try:
            send_queue.enqueue(
                SEND_JOB,
                message_id,
                job_id=job_id,
                unique=True,
                retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
                job_timeout=SEND_JOB_TIMEOUT,
                failure_ttl=7 * 24 * 3600,
                description=f"send outbox message {message_id}",
            )
            return True
        except DuplicateJobError:
            try:
                existing = Job.fetch(job_id, connection=send_queue.connection)
            except NoSuchJobError:
                continue  # it just expired: try again
            if existing.get_status(refresh=False) in _PENDING:
                return False
            existing.delete()  # finished or failed earlier; the outbox row says it must go again
    return False


def flush_outbox() -> int:
    """Periodic job: re-dispatch messages still waiting (Redis was down, a job was lost) and rows left
    `sending` by a dead worker. Messages waiting for a retry keep their scheduled job (not re-sent early)."""
    db_factory = runtime.db_factory()
    with transaction(db_factory) as db:
        stale = delivery.requeue_stale_sending(db, STALE_SENDING_SECONDS)
    with db_factory() as db:
        waiting = outbox.queued_message_ids(db, older_than_seconds=FLUSH_AFTER_SECONDS)
    if stale:
        log.warning("outbox messages %s were stuck sending; dispatching them again", stale)
    message_ids = sorted(set(waiting) | set(stale))
    dispatched = dispatch_outbox(message_ids)
    if dispatched:
        log.info("outbox flush dispatched %s of %s waiting messages", dispatched, len(message_ids))
    return dispatched
