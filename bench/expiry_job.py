"""The job the expiry benchmark's RQ workers run: `jobs.expiry.sweep_expired_sessions`, unchanged, timed.

`timed_sweep` calls the production job exactly as `rq cron` has it called, after wrapping the module-level
functions the sweep looks up on every call (`core.fulfilment.claim_due_sessions`,
`core.fulfilment.close_session` and `jobs.expiry._dispatch`) with `perf_counter` timers. The wrappers add a
few microseconds per session (against milliseconds of work) and only live in the RQ work horse, which is
forked for this one job and exits after it. `--plain-job` makes the benchmark enqueue
`jobs.expiry.sweep_expired_sessions` itself instead (no breakdown, the same end result).

**What-if runs** (`BENCH_EXPIRY_WHAT_IF`, set by `--what-if`; never in the headline numbers) emulate the
changes proposed in `bench/expiry.md`, in the work horse only, to measure them with the same harness:

- `exclude-failed`: the sweep excludes only the sessions it failed to close, not every session it tried
  (closed sessions are no longer due, so excluding them only makes the claim query longer);
- `sorted-batch`: each claimed batch is closed in product order, so every transaction takes inventory row
  locks in the same (product, variant) order: two workers can still queue behind each other's batch, but
  can no longer deadlock;
- `batch1`: `sweep_due_sessions(batch_size=1)`: one transaction per session, so inventory rows are locked
  for one close instead of a batch of 20 (no lock convoys, no deadlocks between workers);
- `cached-insert`: the outbox row is inserted with a `text()` statement SQLAlchemy can cache (the
  PostgreSQL `insert()` construct with ON CONFLICT is compiled again for every message, SQLAlchemy #10445);
- `partial-index` is DDL: the benchmark creates the proposed index itself before such a run.
"""

from __future__ import annotations

import functools
import os
import time
from collections import Counter
from typing import Any

WHAT_IF_ENV = "BENCH_EXPIRY_WHAT_IF"
JOB_WHAT_IFS = ("exclude-failed", "sorted-batch", "batch1", "cached-insert")
WHAT_IFS = (*JOB_WHAT_IFS, "partial-index")


def timed_sweep() -> dict[str, Any]:
    from core import fulfilment
    from jobs import expiry

    what_if = {w for w in os.environ.get(WHAT_IF_ENV, "").split(",") if w in JOB_WHAT_IFS}
    originals = {
        "claim": fulfilment.claim_due_sessions,
        "close": fulfilment.close_session,
        "sweep": fulfilment.sweep_due_sessions,
        "dispatch": expiry._dispatch,
    }
    claims: list[tuple[int, int, float]] = []  # (len(exclude), sessions claimed, seconds)
    close_seconds: Counter[str] = Counter()
    close_count: Counter[str] = Counter()
    dispatch = {"calls": 0, "messages": 0, "enqueued": 0, "seconds": 0.0}
    failed: set[int] = set()

    def claim(db, now, limit=20, exclude=()):
        if "exclude-failed" in what_if:
            exclude = failed
        started = time.perf_counter()
        rows = originals["claim"](db, now, limit, exclude)
        if "sorted-batch" in what_if:
            rows.sort(key=lambda session: (session.product_id, session.id))
        claims.append((len(exclude), len(rows), time.perf_counter() - started))
        return rows

    def close(*args, **kwargs):
        started = time.perf_counter()
        result = "error"
        try:
            outcome = originals["close"](*args, **kwargs)
            result = outcome.result
            return outcome
        except BaseException:
            failed.add(args[1].id)
            raise
        finally:
            close_seconds[result] += time.perf_counter() - started
            close_count[result] += 1

    def dispatch_timed(message_ids: list[int]) -> int:
        started = time.perf_counter()
        enqueued = originals["dispatch"](message_ids)
        dispatch["seconds"] += time.perf_counter() - started
        dispatch["calls"] += 1
        dispatch["messages"] += len(message_ids)
        dispatch["enqueued"] += enqueued
        return enqueued

    fulfilment.claim_due_sessions = claim  # type: ignore[assignment]
    fulfilment.close_session = close  # type: ignore[assignment]
    expiry._dispatch = dispatch_timed  # type: ignore[assignment]
    if "batch1" in what_if:
        fulfilment.sweep_due_sessions = functools.partial(originals["sweep"], batch_size=1)  # type: ignore[assignment]
    started_wall, started = time.time(), time.perf_counter()
    try:
        result = expiry.sweep_expired_sessions()
    finally:
        seconds = time.perf_counter() - started
        fulfilment.claim_due_sessions = originals["claim"]  # type: ignore[assignment]
        fulfilment.close_session = originals["close"]  # type: ignore[assignment]
        fulfilment.sweep_due_sessions = originals["sweep"]  # type: ignore[assignment]
        expiry._dispatch = originals["dispatch"]  # type: ignore[assignment]
    return {
        "result": result,
        "what_if": sorted(what_if),
        "pid": os.getpid(),
        "started": started_wall,
        "ended": started_wall + seconds,
        "seconds": seconds,
        "claims": claims,
        "close_seconds": dict(close_seconds),
        "close_count": dict(close_count),
        "dispatch": dispatch,
    }
