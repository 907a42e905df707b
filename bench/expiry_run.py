"""One timed expiry run: N real RQ workers, N sweep jobs (`jobs.expiry.sweep_expired_sessions`, the job
`rq cron` runs), everything measured from outside.

- **Time**: the span of the outbox rows the sweep wrote (`outbound_messages.created_at`, stamped by the
  product as it closes each session), first to last; every session writes at least one. Worker start-up
  and the work horses' imports fall outside it. RQ's own start and end of each job are kept too.
- **Pace**: each session's last outbox row, in order: ms per session over the first and the last tenth
  of the sessions closed, so a sweep that slows down as the backlog shrinks shows.
- **CPU**: the work horses' (reaped children of the worker processes, from `/proc`), less what the same
  workers' horses used for a sweep with nothing due just before (imports, connecting: the baseline), and
  their PostgreSQL backends' (sampled from `/proc`); the rest of the machine's meanwhile (*other load*).
- **Database**: lock waits (`pg_stat_activity`, sampled every 0.1 s), and PostgreSQL's own counters for
  the run (table scans, rows written, deadlocks), read once the workers have disconnected.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.common import activity_delta, engine, rnd, table_activity
from bench.processes import ActivitySampler, RqWorkers, cpu_times, product_env, wait_for_jobs

BENCH_QUEUE = "bench-expiry"
SWEEP_JOB = "jobs.expiry.sweep_expired_sessions"
SWEEP_JOB_TIMEOUT = 300  # what jobs/cron.py gives the sweep


def still_due(url: str) -> int:
    with engine(url).connect() as connection:
        count = connection.execute(
            text("SELECT count(*) FROM sessions WHERE status IN ('forming', 'moq_reached')")
        ).scalar()
    return int(count or 0)


def wait_disconnected(url: str, timeout: float = 10.0) -> None:
    """Until no other client is connected to the database (its backends have reported their counters)."""
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        with engine(url).connect() as connection:
            others = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
            ).scalar()
        if not others:
            return
        time.sleep(0.1)


def outbox_timeline(url: str) -> dict[str, Any]:
    """Per session, when its last outbox row was written; the span and the pace at both ends."""
    with engine(url).connect() as connection:
        stamps = connection.execute(
            text(
                "SELECT extract(epoch FROM max(created_at)) FROM outbound_messages "
                "WHERE session_id IS NOT NULL GROUP BY session_id ORDER BY 1"
            )
        ).scalars()
        first = connection.execute(
            text("SELECT extract(epoch FROM min(created_at)) FROM outbound_messages")
        ).scalar()
    times = [float(t) for t in stamps]
    if len(times) < 2 or first is None:
        return {"sessions": len(times), "seconds": None}
    tenth = max(2, len(times) // 10)
    return {
        "sessions": len(times),
        "seconds": times[-1] - float(first),
        "first_tenth_ms_per_session": 1000 * (times[tenth - 1] - times[0]) / (tenth - 1),
        "last_tenth_ms_per_session": 1000 * (times[-1] - times[-tenth]) / (tenth - 1),
    }


def collect(jobs: list, connection) -> tuple[list[dict], list[dict]]:
    """Each finished job's sweep result with RQ's start and end of it; the others as failures."""
    from rq.job import Job, JobStatus

    returns, failures = [], []
    for job in jobs:
        job = Job.fetch(job.id, connection=connection)
        if job.get_status() == JobStatus.FINISHED:
            returns.append(
                {
                    "result": job.return_value(),
                    "started": job.started_at.timestamp(),
                    "ended": job.ended_at.timestamp(),
                }
            )
        else:
            failures.append(
                {"job": job.id, "status": str(job.get_status()), "exc": (job.exc_info or "")[-2000:]}
            )
    return returns, failures


def timed_run(
    url: str,
    redis_url: str,
    workers: int,
    sessions: int,
    tag: str,
    logdir: Path,
    timeout: float,
    prepare: Callable[[], None],
    job: str = SWEEP_JOB,
    done_key: str = "closed",
    left_due: Callable[[str], int] = still_due,
) -> dict:
    """Start `workers` RQ workers on the empty database and let each sweep once (nothing is due: the
    baseline); `prepare()` seeds the due sessions; then enqueue as many sweep jobs at once (the sweep loops
    until nothing is claimable, so N jobs keep N workers busy, as overlapping cron runs would). Sessions
    every worker left for later (`left_due`) get one more sweep job, not timed: the next cron tick.
    `job` is the sweep (the expiry sweep, or the reminder sweep whose result names its sessions under
    `done_key`)."""
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(redis_url)
    connection.flushdb()
    pool = RqWorkers(product_env(DATABASE_URL=url, REDIS_URL=redis_url), BENCH_QUEUE, workers, tag, logdir)
    follow_up: dict[str, Any] = {"left_due_after_timed_sweep": None}
    try:
        queue = Queue(BENCH_QUEUE, connection=connection)

        def enqueue(n: int, what: str):
            return queue.enqueue(
                job,
                job_timeout=SWEEP_JOB_TIMEOUT,
                result_ttl=3600,
                failure_ttl=3600,
                description=f"bench expiry {what} {n + 1}/{workers}",
            )

        pool.wait_idle(connection, 60)
        horses_before = pool.children_cpu()
        idle = [enqueue(n, "baseline sweep") for n in range(workers)]
        if not wait_for_jobs(idle, 60):
            raise TimeoutError("the baseline sweep (nothing due) did not finish in 60 s")
        pool.wait_idle(connection, 15)
        baseline_cpu = pool.children_cpu() - horses_before
        prepare()
        counters_before = table_activity(url)
        horses_before = pool.children_cpu()
        sampler = ActivitySampler(url)
        cpu_before = cpu_times()
        enqueued_at = time.time()
        jobs = [enqueue(n, "sweep") for n in range(workers)]
        finished = wait_for_jobs(jobs, timeout, tick=sampler.sample)
        wall = time.time() - enqueued_at
        cpu_after = cpu_times()
        activity = sampler.close(workers)
        if finished:
            pool.wait_idle(connection, 15)  # each worker has reaped its work horse
        horse_cpu = pool.children_cpu() - horses_before
        work_cpu = max(0.0, horse_cpu - baseline_cpu)
        returns, failures = collect(jobs, connection)
        all_returns = list(returns)
        if finished and (left := left_due(url)):
            follow_up["left_due_after_timed_sweep"] = left
            extra = [enqueue(0, "follow-up sweep")]
            started = time.perf_counter()
            wait_for_jobs(extra, 120)
            follow_up["follow_up_seconds"] = rnd(time.perf_counter() - started)
            more, more_failures = collect(extra, connection)
            follow_up["follow_up_closed"] = sum(len(r["result"][done_key]) for r in more)
            all_returns += more
            failures += more_failures
        elif finished:
            follow_up["left_due_after_timed_sweep"] = 0
    finally:
        pool.stop()
        connection.close()
    wait_disconnected(url)
    counters = activity_delta(counters_before, table_activity(url))
    busy = (cpu_after[0] - cpu_before[0]) / os.sysconf("SC_CLK_TCK")
    total = cpu_after[1] - cpu_before[1]
    run: dict[str, Any] = {
        "sessions": sessions,
        "workers": workers,
        "timed_out": not finished,
        "failed_jobs": failures,
        "enqueue_to_done_seconds": rnd(wall),
        "machine_cpu_busy_pct": rnd(100 * (cpu_after[0] - cpu_before[0]) / total if total else 0.0, 1),
        "machine_cpu_steal_pct": rnd(100 * (cpu_after[2] - cpu_before[2]) / total if total else 0.0, 1),
        "worker_cpu_seconds": rnd(horse_cpu),
        "worker_baseline_cpu_seconds": rnd(baseline_cpu),
        # CPU used by everything else on the machine (other users, PostgreSQL's background processes, this
        # process polling), in cores: the noise indicator of the run
        "other_load_cores": rnd(
            (busy - horse_cpu - activity["backend_cpu_seconds"]) / wall if wall > 0 else 0.0, 2
        ),
        "postgres": activity,
        "database_counters": counters,
        **follow_up,
        "loadavg_after": list(os.getloadavg()),
    }
    timeline = outbox_timeline(url) if finished else {"seconds": None}
    if finished and len(returns) == workers and timeline["seconds"]:
        seconds = timeline["seconds"]
        start = min(r["started"] for r in returns)
        run.update(
            seconds=rnd(seconds),
            sessions_per_s=rnd(sessions / seconds, 1),
            ms_per_session=rnd(1000 * seconds / sessions),
            first_tenth_ms_per_session=rnd(timeline["first_tenth_ms_per_session"]),
            last_tenth_ms_per_session=rnd(timeline["last_tenth_ms_per_session"]),
            job_seconds=rnd(max(r["ended"] for r in returns) - start),
            per_worker=[
                {
                    "closed": len(r["result"][done_key]),
                    "left_for_later": len(r["result"]["retry_later"]),
                    "job_seconds": rnd(r["ended"] - r["started"]),
                    "late_start_ms": rnd(1000 * (r["started"] - start), 1),
                }
                for r in returns
            ],
            worker_cpu_ms_per_session=rnd(1000 * work_cpu / sessions),
            postgres_cpu_ms_per_session=rnd(1000 * activity["backend_cpu_seconds"] / sessions),
            per_session={
                key: rnd(counters[key] / sessions, 2)
                for key in ("table_scans", "rows_inserted", "rows_updated")
            },
        )
    run["_returns"] = all_returns
    return run
