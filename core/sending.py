"""Draining the outbox at the provider's rate: claim due rows in batches, send them from a pool of threads.

One drain is one process's sender (an RQ job runs it, see `jobs.send`). It claims due rows with
`core.outbox.claim_due` (the oldest unsent one per recipient; concurrent drains skip each other's rows),
keeps at most `threads` messages in flight, and records each answer in its own short transaction
(`core.delivery.deliver`). Waiting for the provider is what a send mostly does, so threads are enough:
one process keeps dozens of requests open while `pace()` (the limit shared by every process, see
`jobs.throttle`) decides when each may start.

A drain stops when nothing is due and `keep_going()` says no new message arrived meanwhile, when its time
is up (so a worker also gets to periodic work; the caller hands on), or when `pace()` raises SenderStopped
(the shared limit is unreachable: claimed rows are given back unsent). Rows it holds when its process
dies stay `sending` until the outbox flush asks the provider about them (`core.delivery`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from core import outbox
from core.db import transaction
from core.delivery import (
    DEFAULT_MAX_ATTEMPTS,
    SenderStopped,
    SendOutcome,
    SendStatus,
    Transport,
    deliver,
)
from core.settings import Settings
from core.unit_of_work import Dispatch, no_dispatch

log = logging.getLogger(__name__)


class StopReason:
    IDLE = "idle"  # nothing due
    TIME = "time"  # its time was up with work left: hand on to a new drain
    UNAVAILABLE = "unavailable"  # the shared rate limit cannot be reached


@dataclass
class DrainReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    claims: int = 0
    stopped: str = StopReason.IDLE

    def as_dict(self) -> dict:
        return {"stopped": self.stopped, "claims": self.claims, **dict(self.outcomes)}


def drain(
    db_factory: sessionmaker[Session],
    transport: Transport,
    settings: Settings,
    *,
    pace: Callable[[], None],
    dispatch: Dispatch = no_dispatch,
    threads: int | None = None,
    max_seconds: float = 10.0,
    keep_going: Callable[[], bool] = lambda: False,
    on_backlog: Callable[[], object] = lambda: None,
    heartbeat: Callable[[], object] = lambda: None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> DrainReport:
    """Send due outbox rows until none is due (see the module docstring). `on_backlog()` is called when a
    claim found more due rows than there was room for (another drain could help), `heartbeat()` on every
    turn of the loop (at least every 0.2 s)."""
    threads = threads or settings.outbox_send_threads
    deadline = time.monotonic() + max_seconds
    stopped = threading.Event()
    report = DrainReport()

    def guarded_pace() -> None:
        if stopped.is_set():
            raise SenderStopped("the drain is stopping")
        try:
            pace()
        except SenderStopped:
            stopped.set()
            raise

    def send(claimed: outbox.Claimed) -> SendOutcome:
        try:
            return deliver(
                db_factory,
                claimed,
                transport,
                settings,
                dispatch=dispatch,
                max_attempts=max_attempts,
                pace=guarded_pace,
            )
        except Exception:  # noqa: BLE001 - one message's trouble does not stop the others
            # The row stays `sending`: the flush later asks the provider about it, never resends blindly.
            log.exception("outbox message %s: sending failed unexpectedly", claimed.id)
            return SendOutcome(claimed.id, SendStatus.SKIPPED, claimed.attempts, error="unexpected error")

    with ThreadPoolExecutor(threads, thread_name_prefix="send") as pool:
        in_flight: set[Future[SendOutcome]] = set()
        try:
            while True:
                heartbeat()
                room = threads - len(in_flight)
                claiming = not stopped.is_set() and time.monotonic() < deadline
                # Claim in batches (a quarter of the pool at least) rather than one row per finished send.
                if claiming and (room >= max(1, threads // 4) or not in_flight):
                    with transaction(db_factory) as db:
                        claimed = outbox.claim_due(db, room)
                    report.claims += 1
                    in_flight |= {pool.submit(send, row) for row in claimed}
                    if len(claimed) == room:
                        on_backlog()
                if not in_flight:
                    if stopped.is_set():
                        report.stopped = StopReason.UNAVAILABLE
                    elif time.monotonic() >= deadline:
                        report.stopped = StopReason.TIME
                    elif keep_going():
                        continue
                    break
                done, in_flight = wait(in_flight, timeout=0.2, return_when=FIRST_COMPLETED)
                report.outcomes.update(future.result().status for future in done)
        except BaseException:
            stopped.set()  # sends in flight finish and are recorded; the rest are given back
            raise
    return report
