"""Outbound benchmark: how fast real RQ workers deliver a backlog of outbox messages, at WhatsApp's rate.

`python -m bench.outbound` (`make bench-outbound`): 10,000 messages queued at once (4 per buyer, 2,500
buyers, committed in one transaction and handed to the product's own dispatcher), delivered by 1 worker
(the baseline) and by 2 workers against a fake Twilio answering after 150-250 ms, with TWILIO_MAX_MPS 80;
then 2 workers with 5 % of the messages refused once (429 or 500), and 2 workers with the limit raised to
1,000 (what the machinery could do if WhatsApp allowed it). `--quick`: 600 messages. How each run is
measured is in `bench/outbound_run.py`. Writes `bench/results/outbound.json` and its block in
bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import common
from bench.outbound_run import deliver

NAME = "outbound"
DB_NAME = "laku_bench_outbound"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
log = common.logger(NAME)


@dataclass(frozen=True)
class Params:
    messages: int
    per_buyer: int
    latency: tuple[float, float]
    limit: int
    raised_limit: int
    raised_messages: int
    refuse_share: float
    timeout_seconds: float


FULL = Params(10_000, 4, (0.15, 0.25), 80, 1000, 6_000, 0.05, 600)
QUICK = Params(600, 4, (0.15, 0.25), 80, 1000, 600, 0.05, 120)


@dataclass(frozen=True)
class Run:
    name: str
    workers: int
    limit: int
    messages: int
    refuse_share: float = 0.0


def schedule(params: Params) -> list[Run]:
    return [
        Run("1 worker", 1, params.limit, params.messages),
        Run("2 workers", 2, params.limit, params.messages),
        Run("2 workers, 5 % refused once", 2, params.limit, params.messages, params.refuse_share),
        Run(f"2 workers, limit {params.raised_limit}", 2, params.raised_limit, params.raised_messages),
    ]


def seed(url: str, redis_url: str, messages: int, per_buyer: int) -> None:
    """The backlog, written the product's way: outbox rows in one unit of work, then its dispatcher
    (which enqueues a drain; no worker runs yet). Message k of every buyer, then k + 1, as a
    notification to every buyer of a session would; every body is unique."""
    from core import outbox
    from core.settings import Settings
    from core.unit_of_work import unit_of_work
    from jobs import queues, runtime

    runtime.reset(Settings(database_url=url, redis_url=redis_url))
    buyers = max(1, messages // per_buyer)
    try:
        with unit_of_work(common.sessions(url), queues.dispatch) as db:
            for n in range(messages):
                buyer, step = n % buyers, n // buyers
                outbox.enqueue(
                    db,
                    key=f"bench:{n}",
                    to_phone=f"+62813{buyer:07d}",
                    kind="bench",
                    body=f"Pesan {step + 1} untuk pembeli {buyer}: sesi GB{buyer % 97} (#{n})",
                )
    finally:
        runtime.reset()


def run_one(run: Run, params: Params, url: str, redis_url: str, logdir: Path) -> dict[str, Any]:
    common.empty_tables(url)
    common.flush_redis(redis_url)
    started = time.perf_counter()
    seed(url, redis_url, run.messages, params.per_buyer)
    seeded = time.perf_counter() - started
    result = deliver(
        url,
        redis_url,
        run.workers,
        f"ob{os.getpid()}-{run.workers}w{run.limit}",
        logdir,
        latency=params.latency,
        refuse_share=run.refuse_share,
        max_mps=run.limit,
        timeout=params.timeout_seconds,
    )
    result.update(asdict(run), seed_seconds=common.rnd(seeded), load_after=list(os.getloadavg()))
    result["ok"] = (
        result["finished"]
        and result["duplicates"] == 0
        and result["not_sent"] == 0
        and result["accepted_not_in_outbox"] == 0
        and result["recipients_out_of_order"] == 0
        and result["busiest_second_admitted"] <= run.limit
        and result["admitted_sends_seen"] >= result["requests"]
    )
    log(
        f"{run.name}: {result['messages_per_s']} msg/s (sustained {result['sustained_per_s']}), p50 "
        f"{result['latency_p50_s']} s, p99 {result['latency_p99_s']} s, busiest second admitted "
        f"{result['busiest_second_admitted']}/{run.limit} (at Twilio {result['busiest_second_requests']}), "
        f"duplicates {result['duplicates']}, ok {result['ok']}"
    )
    return result


def render(report: dict) -> str:
    runs = report["runs"]
    base = next((r for r in runs if r["name"] == "1 worker"), None)
    lines = [
        f"Run of {report['date']} ({report['mode']}): {common.machine_line(report['machine'])}.",
        "",
        f"{report['parameters']['messages']:,} messages queued at once, {report['parameters']['per_buyer']} per "
        f"buyer; fake Twilio answering after {report['parameters']['latency'][0] * 1000:.0f}-"
        f"{report['parameters']['latency'][1] * 1000:.0f} ms; real `rq worker --with-scheduler` processes.",
        "",
    ]
    rows = []
    for r in runs:
        rows.append(
            [
                r["name"],
                f"{r['messages']:,}",
                r["limit"],
                common.fmt(r["messages_per_s"], 1),
                common.fmt(r["sustained_per_s"], 1),
                common.fmt(common.ratio(r["sustained_per_s"], base and base["sustained_per_s"]), 2),
                common.fmt(common.ratio(r["sustained_per_s"], r["limit"]), 2),
                common.fmt(r["latency_p50_s"], 1),
                common.fmt(r["latency_p99_s"], 1),
                f"{r['busiest_second_admitted']} / {r['busiest_second_requests']}",
                r["duplicates"],
                r["not_sent"],
                r["refused_requests"],
                r["recipients_out_of_order"],
                "yes" if r["ok"] else "**NO**",
            ]
        )
    lines += common.md_table(
        [
            "run",
            "messages",
            "limit/s",
            "delivered/s",
            "sustained/s",
            "× 1 worker",
            "× limit",
            "p50 s",
            "p99 s",
            "busiest 1 s: admitted / at Twilio",
            "duplicates",
            "not sent",
            "refused",
            "buyers out of order",
            "checks",
        ],
        rows,
    )
    lines += [
        "",
        "Delivered/s: messages over the span from the first row's creation to the last acceptance; "
        "sustained: over the middle 80 % of acceptances. p50/p99: row creation to acceptance (the backlog "
        "waits its turn at the limit, so these grow with the backlog by design). Busiest 1 s: the most "
        "sends the shared limit admitted in any one-second window (from its own Redis list), and the most "
        "requests the fake Twilio received in any one-second window (every request, refused ones too; "
        "this adds the time from admission to arrival).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outbound", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 600 messages")
    parser.add_argument("--messages", type=int, help="messages per run (default 10,000)")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", common.DEFAULT_ADMIN_URL)
    )
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a Redis DB of its own: it is flushed")
    parser.add_argument("--out", type=Path, help="results directory (default bench/results)")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args(argv)
    params = QUICK if args.quick else FULL
    if args.messages:
        params = Params(**{**asdict(params), "messages": args.messages})
    directory = common.output_dir(args.quick, args.out)
    url = common.create_database(args.postgres_url, DB_NAME)
    report: dict[str, Any] = {
        "benchmark": NAME,
        "mode": "quick" if args.quick else "full",
        "command": " ".join(["python -m bench.outbound", *(argv if argv is not None else sys.argv[1:])]),
        "date": common.utc_now(),
        "machine": common.machine_facts(url, args.redis_url),
        "parameters": {**asdict(params), "redis_url": args.redis_url, "database": DB_NAME},
    }
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-outbound-") as logdir:
            report["runs"] = [run_one(r, params, url, args.redis_url, Path(logdir)) for r in schedule(params)]
    finally:
        if not args.keep_db:
            common.drop_database(args.postgres_url, DB_NAME)
        common.flush_redis(args.redis_url)
    report["machine"]["load_average_at_end"] = common.load_average()
    report["total_seconds"] = common.rnd(time.monotonic() - started, 1)
    report["checks_passed"] = all(r["ok"] for r in report["runs"])
    markdown = render(report)
    print(markdown, flush=True)
    log(f"wrote {common.publish(NAME, report, markdown, directory)}")
    return 0 if report["checks_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
