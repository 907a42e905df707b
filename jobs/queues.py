"""Queue names, and waking the outbox's senders after a commit.

Two queues, and every worker listens to both, periodic first (`rq worker periodic default`): the clock's
jobs (expiry sweep, re-check, reminders, outbox flush) never wait behind sending.

Sending is not one job per message. The outbox rows are the queue (`core.outbox.claim_due`); a *drain*
job (`jobs.send.drain_outbox`) sends whatever is due, many messages at once, and ends when nothing is.
After a commit, `dispatch_outbox` only makes sure a drain will look: one atomic Redis script sets a
"poked" flag and, when no drain holds a lease, reserves one and the caller enqueues it. A drain about to
end checks the flag in the same atomic way (`DrainLease.keep_going`), so a message committed while the
last drain was finishing is never left behind. A drain renews its lease while it runs; a drain whose
process died stops counting when its lease runs out. Redis losing all of this loses no message: the periodic
`flush_outbox` wakes a sender for anything due and not taken, asks about rows a dead sender left
`sending`, and a retry's time is in its row, not in Redis.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from datetime import UTC, datetime

from redis import Redis
from rq import Queue
from rq.exceptions import DuplicateJobError

from core import delivery, outbox
from core.db import transaction
from core.settings import Settings
from jobs import runtime

log = logging.getLogger(__name__)

PERIODIC = "periodic"
DEFAULT = "default"
SEND_QUEUE = DEFAULT
QUEUE_NAMES = (PERIODIC, DEFAULT)
"""Every queue a worker must listen to, in the order it takes them (`rq worker periodic default`)."""

RETRY_INTERVALS = delivery.RETRY_INTERVALS
MAX_SEND_ATTEMPTS = delivery.DEFAULT_MAX_ATTEMPTS
DRAIN_JOB = "jobs.send.drain_outbox"
DRAIN_SECONDS = 10
"""A drain hands on to a fresh job after this long, so its worker looks at the periodic queue."""
DRAIN_JOB_TIMEOUT = 120
SENDERS = 2
"""At most this many drains at once (one per worker on a small deployment; the rate limit is shared)."""
LEASE_SECONDS = 20
"""A running drain renews its lease; a dead one stops counting after this."""
QUEUED_LEASE_SECONDS = 60
"""A drain waiting in the queue counts this long before another may be started."""
FLUSH_AFTER_SECONDS = 10
STALE_SENDING_SECONDS = 180
"""A row `sending` this long belongs to a dead sender (a send takes at most TWILIO_TIMEOUT_SECONDS plus
a lookup; the drain job's timeout is DRAIN_JOB_TIMEOUT)."""

_POKED = "laku:outbox:poked"
_DRAINS = "laku:outbox:drains"

# KEYS: poked flag, drains (sorted set: token -> lease end). ARGV: poke (0/1), new token, its lease, the
# most drains. Drops expired leases; reserves a lease for the new token if fewer than the most are live.
_START = """
if ARGV[1] == '1' then redis.call('SET', KEYS[1], '1') end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
return 1
"""
# KEYS as above. ARGV: token, lease. Renews the lease.
_RENEW = """
local clock = redis.call('TIME')
redis.call('ZADD', KEYS[2], tonumber(clock[1]) + tonumber(ARGV[2]), ARGV[1])
return 1
"""
# KEYS as above. ARGV: token. 0 = poked meanwhile, look again (flag consumed); 1 = lease given up.
_FINISH = """
if redis.call('GET', KEYS[1]) then redis.call('DEL', KEYS[1]) return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


def queue(name: str = DEFAULT, connection=None) -> Queue:
    return Queue(name, connection=connection if connection is not None else runtime.redis())


def _script(connection: Redis, source: str, token: str, *args) -> int:
    return int(connection.eval(source, 2, _POKED, _DRAINS, token, *args))


def reserve_drain(connection: Redis, *, poke: bool = True, most: int = 1) -> str | None:
    """A lease for a new drain if fewer than `most` hold one (`poke`: and flag that something new is
    due, so a live drain looks again before it ends). Returns the new drain's token, or None."""
    token = secrets.token_hex(8)
    reserved = connection.eval(_START, 2, _POKED, _DRAINS, int(poke), token, QUEUED_LEASE_SECONDS, most)
    return token if int(reserved) else None


def start_drain(connection: Redis, *, poke: bool = True, most: int = 1) -> str | None:
    """`reserve_drain`, and enqueue the drain it reserved."""
    token = reserve_drain(connection, poke=poke, most=most)
    if token is not None:
        enqueue_drain(connection, token)
    return token


def enqueue_drain(connection: Redis, token: str) -> None:
    queue(SEND_QUEUE, connection).enqueue(
        DRAIN_JOB,
        token,
        job_timeout=DRAIN_JOB_TIMEOUT,
        result_ttl=600,
        description=f"drain the outbox {token}",
    )


def wake_at(connection: Redis, due: datetime) -> None:
    """A drain when the next retry is due (RQ's scheduler, `rq worker --with-scheduler`). RQ schedules to
    the whole second, so the wake-up is the second after `due`, never before it; one per second at most.
    A lost one is covered by the flush."""
    at = datetime.fromtimestamp(math.floor(due.timestamp()) + 1, UTC)
    try:
        queue(SEND_QUEUE, connection).enqueue_at(
            at,
            DRAIN_JOB,
            None,
            job_id=f"outbox-wake-{int(at.timestamp())}",
            unique=True,
            job_timeout=DRAIN_JOB_TIMEOUT,
            result_ttl=0,
            failure_ttl=600,
            description="drain the outbox: a retry is due",
        )
    except DuplicateJobError:
        pass


class DrainLease:
    """A running drain's side of the coordination above; Redis trouble never stops a drain midway."""

    def __init__(self, connection: Redis, token: str):
        self.connection = connection
        self.token = token
        self._renewed = 0.0
        self._helped = 0.0

    def renew(self, seconds: int = LEASE_SECONDS) -> None:
        self._renewed = time.monotonic()
        try:
            _script(self.connection, _RENEW, self.token, seconds)
        except Exception as error:  # noqa: BLE001
            log.warning("outbox drain %s could not renew its lease: %s", self.token, error)

    def keep_going(self) -> bool:
        """Idle: True if a message arrived meanwhile (look again), else give the lease up."""
        try:
            return not _script(self.connection, _FINISH, self.token)
        except Exception as error:  # noqa: BLE001 - the flush and the lease's expiry cover this
            log.warning("outbox drain %s could not check for new messages: %s", self.token, error)
            return False

    def heartbeat(self) -> None:
        """Renew the lease now and then while the drain runs."""
        if time.monotonic() - self._renewed > LEASE_SECONDS / 4:
            self.renew()

    def on_backlog(self) -> None:
        """More is due than this drain has room for: start another drain (at most SENDERS), now and then."""
        if time.monotonic() - self._helped < 2:
            return
        self._helped = time.monotonic()
        try:
            start_drain(self.connection, poke=False, most=SENDERS)
        except Exception as error:  # noqa: BLE001
            log.warning("outbox drain %s could not start a helper: %s", self.token, error)


def dispatch_outbox(message_ids: list[int], *, settings: Settings | None = None, connection=None) -> int:
    """After the transaction that added `message_ids` committed: make sure a drain will send them.

    Redis is `connection`, else the one of `settings` (the web app passes its own), else the runtime's.
    Returns how many messages were handed on (0 with Redis unreachable). Never raises, and waits at most
    about 2 s for Redis (`runtime.redis_for`): the periodic flush sends whatever this could not hand on.
    """
    if not message_ids:
        return 0
    try:
        if connection is None:
            connection = runtime.redis_for(settings.effective_redis_url) if settings else runtime.redis()
        start_drain(connection)
    except Exception:  # noqa: BLE001 - callers are web requests and jobs that must not fail on Redis
        log.exception("could not dispatch outbox messages %s; the outbox flush will retry", list(message_ids))
        return 0
    return len(set(message_ids))


def dispatch(message_ids: list[int]) -> object:
    """A job's dispatcher for `core.unit_of_work`: the runtime's Redis."""
    return dispatch_outbox(message_ids)


def flush_outbox() -> int:
    """Periodic job: rows a dead sender left `sending` are queued again (the provider is asked about them
    before any resend), and a sender is woken if anything has been due for FLUSH_AFTER_SECONDS without one
    taking it (Redis was down, a drain died). Returns how many messages it woke a sender for."""
    db_factory = runtime.db_factory()
    with transaction(db_factory) as db:
        stale = delivery.requeue_stale_sending(db, STALE_SENDING_SECONDS)
    with db_factory() as db:
        overdue = outbox.due_count(db, FLUSH_AFTER_SECONDS)
    if stale:
        log.warning("outbox messages %s were left sending by a dead sender; asking before resending", stale)
    if not (stale or overdue):
        return 0
    try:
        start_drain(runtime.redis())
    except Exception as error:  # noqa: BLE001 - the next flush tries again
        log.warning(
            "outbox flush: %s messages waiting, no sender could be woken: %s", overdue + len(stale), error
        )
        return 0
    log.info("outbox flush: %s messages waiting, a sender is on it", overdue + len(stale))
    return overdue + len(stale)
