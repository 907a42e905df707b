"""Expiry benchmark: real RQ workers close due sessions, with one worker and with two.

`python -m bench.expiry` runs the **main** section (1,000 and 10,000 due sessions, 1 and 2 workers, and the
deadline reminders of 10,000 open sessions whose slot is due, `bench/expiry_reminders.py`; about seven
minutes); `--experiments` runs the **experiments** section (a hot catalogue where both workers lock the same
inventory rows, and the cost per closed session by outcome; about three minutes). The main section's first
runs of the small size then deliver what the sweep wrote (`bench/outbound_run.py`: the same workers' count,
a fake Twilio at 150-250 ms, TWILIO_MAX_MPS 80), so the block shows how long buyers wait for the messages,
not only how fast they are written. Each writes its
section of `bench/results/expiry.json` (keeping the other) and the block in bench/README.md; `--quick` is
a smoke run of both with tiny sizes, written to `bench/results/quick/`.

Per run: the benchmark's own database (`laku_bench_expiry`, migrated once per command, dropped at the
end) is emptied and seeded (`bench/expiry_data.py`); N `rq worker` processes sweep it with the product's
own job (`bench/expiry_run.py`, which says how time is measured from outside); the result is checked
(`bench/expiry_checks.py`) and summarised (`bench/expiry_report.py`). Nothing is sent during the sweep: the
drain job the sweep's dispatcher enqueues waits in the send queue, which the sweeping workers do not take.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench import common, expiry_reminders
from bench.expiry_checks import verify
from bench.expiry_data import MIX, OUTCOME_SHARES, OUTCOMES, SECOND_JOIN_SHARE, plan_sessions, seed
from bench.expiry_report import profile_row, render, summarise
from bench.expiry_run import SWEEP_JOB, SWEEP_JOB_TIMEOUT, timed_run
from bench.outbound_run import deliver

NAME = "expiry"
SCHEMA_VERSION = 2
SEED = 20240611
DB_NAME = "laku_bench_expiry"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
log = common.logger(NAME)


@dataclass(frozen=True)
class Params:
    sizes: tuple[int, ...]  # main: due sessions, the first the small size, the last the large one
    products: int  # main: stocked products, and as many without stock
    workers: tuple[int, ...]
    extra_repetitions: int  # main: more (reversed-order) pairs of the small size, if time is left
    hot_sessions: int  # experiments: few products, so both workers lock the same inventory rows
    hot_products: int
    hot_repetitions: int
    buyers_per_session: tuple[int, int]
    profile_sessions: int  # experiments: per outcome, sessions of 2-4 buyers ...
    profile_large_sessions: int  # ... and of 24-32 buyers
    profile_large_buyers: tuple[int, int]
    deadline_seconds: float  # the whole command; optional runs are skipped when it is near
    reminder_sessions: int  # main: open sessions whose reminder slot is due, swept by the reminder job


FULL = Params((1000, 10_000), 50, (1, 2), 2, 500, 10, 2, (2, 4), 150, 30, (24, 32), 480, 10_000)
QUICK = Params((100, 200), 50, (1, 2), 0, 100, 10, 1, (2, 4), 20, 0, (24, 32), 90, 200)


@dataclass(frozen=True)
class RunSpec:
    scenario: str  # main | reminders | hot | profile
    sessions: int
    products: int
    workers: int
    rep: int
    essential: bool = False
    only: str | None = None  # profile: every session with this outcome
    buyers: tuple[int, int] | None = None  # profile: buyers per session, if not the default
    profile_set: str = ""  # profile: typical or large sessions

    @property
    def group(self) -> str:
        return f"{self.scenario} {self.sessions} {self.workers}w"

    @property
    def label(self) -> str:
        extra = f" {self.only}" if self.only else ""
        return f"{self.group}{extra} rep {self.rep}"


def schedule(params: Params, section: str) -> list[RunSpec]:
    """`main`: 1 and 2 workers at both sizes (essential; the large size first, while the time budget is
    fresh), the reminder sweep with 1 and 2 workers (essential), then more pairs of the small size in
    reversed order if time is left. `experiments`: the hot
    catalogue with 1 and 2 workers, alternating which runs first; then one run per outcome and set."""
    lo, hi = min(params.workers), max(params.workers)
    if section == "main":
        runs = [
            RunSpec("main", n, params.products, w, 1, True)
            for n in reversed(params.sizes)
            for w in params.workers
        ]
        runs += [
            RunSpec("reminders", params.reminder_sessions, params.products, w, 1, True)
            for w in params.workers
        ]
        for rep in range(2, 2 + params.extra_repetitions):
            order = params.workers if rep % 2 else tuple(reversed(params.workers))
            runs += [RunSpec("main", params.sizes[0], params.products, w, rep) for w in order]
        return runs
    runs = []
    for rep in range(1, params.hot_repetitions + 1):
        pair = [RunSpec("hot", params.hot_sessions, params.hot_products, w, rep, rep == 1) for w in (lo, hi)]
        runs += pair if rep % 2 else pair[::-1]
    for label, count, buyers in (
        ("typical", params.profile_sessions, params.buyers_per_session),
        ("large", params.profile_large_sessions, params.profile_large_buyers),
    ):
        if count:
            runs += [
                RunSpec("profile", count, params.products, lo, 1, True, o, buyers, label) for o in OUTCOMES
            ]
    return runs


def run_section(
    section: str, params: Params, url: str, redis_url: str, left, logdir: Path
) -> tuple[list, list]:
    runs: list[dict] = []
    skipped: list[str] = []
    plans: dict[tuple, Any] = {}
    ms_per_session = 15.0  # first guess for the time budget; then what the 1-worker runs show
    for spec in schedule(params, section):
        estimate = spec.sessions * ms_per_session / 1000 * (1 if spec.workers == 1 else 0.8) + 6
        if not spec.essential and left() < estimate:
            skipped.append(spec.label)
            log(f"skipping {spec.label}: {left():.0f} s left, about {estimate:.0f} s needed")
            continue
        buyers = spec.buyers or params.buyers_per_session
        key = (spec.sessions, spec.products, buyers, spec.only)
        reminding = spec.scenario == "reminders"
        key = (*key, reminding)
        if key not in plans and reminding:
            plans[key] = expiry_reminders.plan_reminders(spec.sessions, SEED, buyers, spec.products)
        elif key not in plans:
            plans[key] = plan_sessions(
                spec.sessions, SEED, buyers, spec.products, tag=spec.only or "", only=spec.only
            )
            e = plans[key].expected()
            log(
                f"{spec.scenario} {spec.sessions:,} sessions over {2 * spec.products} products: "
                f"{e['by_outcome']}, {e['participants']:,} joins, {e['messages']:,} messages expected"
            )
        plan = plans[key]
        seeded: list[float] = []

        def prepare(plan: Any = plan, seeded: list[float] = seeded, reminding: bool = reminding) -> None:
            started = time.perf_counter()
            (expiry_reminders.seed if reminding else seed)(url, plan)
            seeded.append(time.perf_counter() - started)
            common.vacuum_analyze(url)

        common.empty_tables(url)
        tag = f"bx{os.getpid()}-{section[0]}{len(runs) + 1}"
        # an essential run, once started, may take as long as its job may (cut short, it measures nothing);
        # an optional one gets what is left of the budget, at least a minute
        timeout = (
            SWEEP_JOB_TIMEOUT + 10 if spec.essential else min(SWEEP_JOB_TIMEOUT + 10, max(60.0, left() + 60))
        )
        if reminding:
            job = dict(
                job=expiry_reminders.REMINDER_JOB,
                done_key="reminded",
                left_due=expiry_reminders.still_to_remind,
            )
        else:
            job = {}
        run = timed_run(url, redis_url, spec.workers, spec.sessions, tag, logdir, timeout, prepare, **job)
        returns = run.pop("_returns")
        run["retried"] = sum(len(r["result"]["retry_later"]) for r in returns)
        run.update(scenario=spec.scenario, products=spec.products, rep=spec.rep, group=spec.group)
        run.update(only=spec.only, profile_set=spec.profile_set, buyers_per_session=list(buyers))
        run["seed_seconds"] = common.rnd(seeded[0])
        run["messages"] = plan.expected()["messages"]
        run["mean_buyers"] = statistics.fmean(s.buyers for s in plan.sessions)
        run["checks"] = (expiry_reminders.verify if reminding else verify)(url, redis_url, plan, returns)
        run["checks_ok"] = (
            all(c["ok"] for c in run["checks"].values()) and not run["timed_out"] and not run["failed_jobs"]
        )
        if spec.scenario == "main" and spec.rep == 1 and spec.sessions == params.sizes[0]:
            sweep_seconds = run.get("seconds") or 0.0
            run["delivery"] = deliver(url, redis_url, spec.workers, f"{tag}-send", logdir, timeout=300)
            run["delivery"]["sweep_seconds"] = sweep_seconds
            log(
                f"{spec.label}: delivered {run['delivery']['sent']:,} of {run['delivery']['messages']:,} "
                f"messages, {run['delivery']['messages_per_s']} msg/s, duplicates {run['delivery']['duplicates']}"
            )
            run["checks_ok"] = (
                run["checks_ok"] and run["delivery"]["finished"] and not run["delivery"]["duplicates"]
            )
        runs.append(run)
        if spec.workers == 1 and spec.scenario == "main" and run.get("ms_per_session"):
            ms_per_session = run["ms_per_session"]
        failed = [k for k, c in run["checks"].items() if not c["ok"]]
        verdict = "ok" if run["checks_ok"] else f"FAILED {failed} {run['failed_jobs']}"
        log(
            f"{spec.label}: {run.get('seconds')} s, {run.get('sessions_per_s')} sessions/s, lock waits "
            f"{run['postgres']['lock_wait_share']}, deadlocks {run['database_counters']['deadlocks']}, left due "
            f"{run.get('left_due_after_timed_sweep')}, other load {run['other_load_cores']} cores, checks {verdict}"
        )
        if run["failed_jobs"] or run["timed_out"]:
            for f in sorted(logdir.glob(f"{tag}-*.log")):
                log(f"{f.name}:\n{f.read_text()[-3000:]}")
    return runs, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.expiry", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run of both sections, tiny sizes")
    parser.add_argument(
        "--experiments", action="store_true", help="run the experiments section (hot catalogue, per outcome)"
    )
    parser.add_argument("--sizes", help="main scenario sizes, comma-separated (default 1000,10000)")
    parser.add_argument("--products", type=int, help="main: stocked products, and as many without stock")
    parser.add_argument("--repetitions", type=int, help="extra pairs of the small size if time allows")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", common.DEFAULT_ADMIN_URL),
        help="an existing database, used for CREATE/DROP DATABASE",
    )
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a Redis DB of its own: it is flushed")
    parser.add_argument("--out", type=Path, help="results directory (default bench/results)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args(argv)

    changes: dict[str, Any] = {}
    if args.sizes:
        changes["sizes"] = tuple(int(s) for s in args.sizes.split(","))
    if args.products:
        changes["products"] = args.products
    if args.repetitions is not None:
        changes["extra_repetitions"] = args.repetitions
    params = replace(QUICK if args.quick else FULL, **changes)
    sections = ("main", "experiments") if args.quick else ("experiments",) if args.experiments else ("main",)
    directory = common.output_dir(args.quick, args.out)
    started = time.monotonic()

    def left() -> float:
        return params.deadline_seconds - (time.monotonic() - started)

    log(
        f"{' + '.join(sections)} ({'quick' if args.quick else 'full'}); database {DB_NAME}, Redis {args.redis_url}"
    )
    report = common.read_results(NAME, directory) or {}
    if report.get("schema_version") != SCHEMA_VERSION or args.quick:
        report = {}
    report.update(schema_version=SCHEMA_VERSION, benchmark=NAME)
    url = common.create_database(args.postgres_url, DB_NAME)
    try:
        for section in sections:
            section_started = time.monotonic()
            entry: dict[str, Any] = {
                "mode": "quick" if args.quick else "full",
                "command": " ".join(
                    ["python -m bench.expiry", *(argv if argv is not None else sys.argv[1:])]
                ),
                "date": common.utc_now(),
                "machine": common.machine_facts(url, args.redis_url),
                "parameters": {
                    **asdict(params),
                    "job": SWEEP_JOB,
                    "reminder_job": expiry_reminders.REMINDER_JOB,
                    "reminder_outcome_shares": expiry_reminders.OUTCOME_SHARES,
                    "reminder_opted_out_share": expiry_reminders.OPTED_OUT_SHARE,
                    "job_timeout_seconds": SWEEP_JOB_TIMEOUT,
                    "outcome_shares": OUTCOME_SHARES,
                    "lot_mix": MIX,
                    "second_join_share": SECOND_JOIN_SHARE,
                    "seed": SEED,
                    "redis_url": args.redis_url,
                    "database": DB_NAME,
                },
            }
            with tempfile.TemporaryDirectory(prefix="bench-expiry-") as logdir:
                runs, skipped = run_section(section, params, url, args.redis_url, left, Path(logdir))
            timed = [r for r in runs if r["scenario"] != "profile"]
            entry.update(
                runs=timed, skipped_runs=skipped, summary=summarise(timed, params.workers, params.sizes)
            )
            entry["profile"] = [profile_row(r) for r in runs if r["scenario"] == "profile"]
            entry["checks_passed"] = bool(runs) and all(r["checks_ok"] for r in runs)
            entry["machine"]["load_average_at_end"] = common.load_average()
            entry["total_seconds"] = common.rnd(time.monotonic() - section_started, 1)
            report[section] = entry
    finally:
        if not args.keep_db:
            common.drop_database(args.postgres_url, DB_NAME)
        common.flush_redis(args.redis_url)
    markdown = render(report)
    print(markdown, flush=True)
    path = common.publish(NAME, report, markdown, directory)
    log(f"wrote {path}")
    return 0 if all(report[s]["checks_passed"] for s in sections) else 1


if __name__ == "__main__":
    sys.exit(main())
