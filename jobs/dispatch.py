"""What a unit of work hands on after its commit (`core.unit_of_work`): outbox ids to the send jobs
(`jobs.queues.dispatch_outbox`), and follow-ups to the job each names.

Follow-up jobs have stable ids (`<name>-<args>`), so a follow-up asked for twice, or again by its
periodic job while the first is queued or waiting for a retry, runs once. Like sending, enqueueing is an
optimisation: with Redis down the work stays in the database and its periodic job finds it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from core.invoicing import ORDER_INVOICES
from core.payment_events import RELEASE_ORDER_STOCK
from core.settings import Settings
from core.unit_of_work import FollowUp
from jobs import queues, runtime

log = logging.getLogger(__name__)

_WAITING = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


@dataclass(frozen=True)
class FollowUpJob:
    func: str
    retry_intervals: tuple[int, ...] = ()
    timeout: int = 120


INVOICE_RETRY_INTERVALS = (60, 120, 300, 600, 1200)
"""Seconds between invoice attempts after a transient failure. The first is far above the read timeout,
so a create whose answer was lost has landed at the provider before the retry looks it up."""

FOLLOW_UP_JOBS = {
    ORDER_INVOICES: FollowUpJob("jobs.payments.create_order_invoices", INVOICE_RETRY_INTERVALS),
    RELEASE_ORDER_STOCK: FollowUpJob("jobs.payments.release_order_stock", (30, 120, 600, 1800)),
}


def follow_up_job_id(follow_up: FollowUp) -> str:
    return "-".join((follow_up.name.replace("_", "-"), *(str(arg) for arg in follow_up.args)))


def enqueue_follow_up(queue: Queue, follow_up: FollowUp) -> bool:
    """Enqueue the job of `follow_up` unless one with its id is still waiting or running. A finished or
    failed job of that id is replaced (the caller found the work still to do)."""
    job = FOLLOW_UP_JOBS.get(follow_up.name)
    if job is None:
        log.error("no job for follow-up %s", follow_up)
        return False
    job_id = follow_up_job_id(follow_up)
    try:
        existing = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        existing = None
    if existing is not None:
        if existing.get_status(refresh=False) in _WAITING:
            return False
        existing.delete()
    try:
        queue.enqueue(
            job.func,
            *follow_up.args,
            job_id=job_id,
            unique=True,
            retry=Retry(max=len(job.retry_intervals), interval=list(job.retry_intervals))
            if job.retry_intervals
            else None,
            job_timeout=job.timeout,
            failure_ttl=7 * 24 * 3600,
            description=f"{follow_up.name}{follow_up.args}",
        )
    except DuplicateJobError:
        return False  # enqueued meanwhile by someone else
    return True


class QueueDispatch:
    """The dispatcher for `core.unit_of_work`: on the Redis of `settings`, else the runtime's."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings

    def __call__(self, message_ids: list[int]) -> object:
        if self.settings is None:
            return queues.dispatch(message_ids)
        return queues.dispatch_outbox(message_ids, settings=self.settings)

    def follow_up(self, follow_ups: list[FollowUp]) -> int:
        """Never raises: with Redis down the periodic jobs find the work in the database."""
        enqueued = 0
        try:
            connection = (
                runtime.redis_for(self.settings.effective_redis_url) if self.settings else runtime.redis()
            )
            queue = queues.queue(queues.DEFAULT, connection)
            for item in follow_ups:
                enqueued += enqueue_follow_up(queue, item)
        except Exception:  # noqa: BLE001 - callers are web requests and jobs that must not fail on Redis
            log.exception("could not enqueue follow-ups %s; their periodic job will", follow_ups)
        return enqueued


dispatch = QueueDispatch()
"""The jobs' dispatcher (the runtime's Redis)."""
