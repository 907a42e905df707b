"""One timed delivery: the outbox rows already committed, N real `rq worker --with-scheduler` processes
send them through the real twilio client to a fake Twilio running as a process of its own
(`python -m tests.fakes.twilio_server`, answering after 150-250 ms, optionally refusing a share of
messages once with 429/500). Everything is measured from outside:

- **Rate**: rows `sent` per second, from the first row's `created_at` to the last `sent_at`, and
  *sustained* over the middle 80 % of acceptances (start-up and the retry tail left out).
- **Latency**: `sent_at - created_at` per row (row creation to Twilio's acceptance recorded).
- **Limit**: the most sends the product admitted in any one-second window, read from the shared limit's
  own Redis list (the times of the last N admitted sends, sampled every 50 ms by a thread of its own, so
  every admission is seen);
  beside it, the most requests the fake received in any one-second window (every request, refused ones
  too), which adds the time between admitting a send and its arrival (thread scheduling in both
  processes) and so can exceed the limit by a few on a busy machine.
- **Exactly once**: accepted requests per (recipient, text) against outbox rows per (recipient, text):
  duplicates must be 0.
- **Order**: per recipient, the order the fake received its messages against the outbox order.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import text

from bench.common import ROOT, engine, percentile, rnd
from bench.processes import RqWorkers, free_port, product_env, stop

SEND_QUEUE = "default"  # where the product enqueues its drain jobs (jobs.queues.SEND_QUEUE)
ACCOUNT_SID = "AC" + "0" * 31 + "1"  # the fake's defaults (tests/fakes/twilio_server.py)
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
SENDER = "whatsapp:+14155238886"


class FakeTwilioProcess:
    def __init__(self, log_path: Path, latency: tuple[float, float], refuse_share: float, seed: int = 7):
        self.port = free_port()
        command = [
            sys.executable,
            "-m",
            "tests.fakes.twilio_server",
            "--port",
            str(self.port),
            "--latency",
            f"{latency[0]},{latency[1]}",
            "--refuse-share",
            str(refuse_share),
            "--seed",
            str(seed),
        ]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self.records()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the fake Twilio did not start; see {log_path}")

    def records(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_fake/records", timeout=30) as answer:
            return json.loads(answer.read())

    def env(self, max_mps: int) -> dict[str, str]:
        return {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_WHATSAPP_FROM": SENDER,
            "TWILIO_API_BASE_URL": self.url,
            "TWILIO_MAX_MPS": str(max_mps),
        }

    def stop(self) -> None:
        stop(self.process, grace=5)


def unsent(url: str) -> int:
    with engine(url).connect() as connection:
        return int(
            connection.execute(
                text("SELECT count(*) FROM outbound_messages WHERE status IN ('queued', 'sending')")
            ).scalar()
            or 0
        )


def busiest_second(stamps: list[float]) -> int:
    """The most stamps in any window [t, t + 1 s)."""
    stamps = sorted(stamps)
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def deliver(
    url: str,
    redis_url: str,
    workers: int,
    tag: str,
    logdir: Path,
    *,
    latency: tuple[float, float] = (0.15, 0.25),
    refuse_share: float = 0.0,
    max_mps: int = 80,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Start the fake Twilio and `workers` RQ workers on the send queue, wait until no row is unsent (or
    `timeout`), and measure. The drains were enqueued by whatever committed the rows."""
    fake = FakeTwilioProcess(logdir / f"{tag}-twilio.log", latency, refuse_share)
    env = product_env(DATABASE_URL=url, REDIS_URL=redis_url, **fake.env(max_mps))
    pool = RqWorkers(env, SEND_QUEUE, workers, tag, logdir, scheduler=True)
    sampler = AdmissionSampler(redis_url, admissions_key(redis_url, max_mps))
    started = time.time()
    try:
        limit = started + timeout
        while time.time() < limit and unsent(url):
            time.sleep(0.5)
        finished = not unsent(url)
        wall = time.time() - started
        records = fake.records()
    finally:
        admitted = sampler.stop()
        pool.stop()
        fake.stop()
    result = {"finished": finished, "wall_seconds": rnd(wall), **measure(url, records, max_mps)}
    result["admitted_sends_seen"] = len(admitted)
    result["busiest_second_admitted"] = busiest_second([float(t) for t in admitted])
    return result


class AdmissionSampler:
    """Reads the shared limit's list (the times of the last N admitted sends) every 50 ms in a thread of
    its own, so that a slow database poll in the main loop never leaves a gap: at 80 sends a second the
    list turns over in one second."""

    def __init__(self, redis_url: str, key: str) -> None:
        self.admitted: set[bytes] = set()
        self._connection = Redis.from_url(redis_url)
        self._key = key
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="admissions", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self.admitted.update(self._connection.lrange(self._key, 0, -1))
            self._stopped.wait(0.05)

    def stop(self) -> set[bytes]:
        self._stopped.set()
        self._thread.join()
        self.admitted.update(self._connection.lrange(self._key, 0, -1))
        self._connection.close()
        return self.admitted


def admissions_key(redis_url: str, max_mps: int) -> str:
    """The shared limit's Redis list for the fake's sender (jobs.throttle, `limits`' moving window)."""
    from jobs.throttle import SendRateLimit

    connection = Redis.from_url(redis_url)
    try:
        return SendRateLimit(connection, SENDER, max_mps).key
    finally:
        connection.close()


def measure(url: str, records: dict[str, Any], max_mps: int) -> dict[str, Any]:
    with engine(url).connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, to_phone, body, status, attempts, extract(epoch FROM created_at), "
                "extract(epoch FROM sent_at) FROM outbound_messages ORDER BY id"
            )
        ).all()
    requests = records["messages"]
    accepted = [r for r in requests if r.get("response_status") == 201]

    def key(to: str, body: str) -> tuple[str, str]:
        return to.removeprefix("whatsapp:"), body

    received = Counter(key(r.get("To", ""), r.get("Body", "")) for r in accepted)
    written = Counter(key(r.to_phone, r.body) for r in rows)
    sent = [r for r in rows if r.status == "sent"]
    created = min(float(r[5]) for r in rows) if rows else 0.0
    done = sorted(float(r[6]) for r in sent)
    latencies = [float(r[6]) - float(r[5]) for r in sent]
    middle = done[len(done) // 10 : max(len(done) // 10 + 2, len(done) * 9 // 10)]
    order_of: dict[tuple[str, str], int] = {}
    for r in rows:
        order_of.setdefault(key(r.to_phone, r.body), r.id)
    arrivals: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for request in accepted:
        to, body = key(request.get("To", ""), request.get("Body", ""))
        arrivals[to].append((request["received_at"], order_of.get((to, body), 0)))
    out_of_order = sum(
        1 for got in arrivals.values() if [n for _, n in sorted(got)] != sorted(n for _, n in got)
    )
    return {
        "messages": len(rows),
        "sent": len(sent),
        "not_sent": len(rows) - len(sent),
        "by_status": dict(Counter(r.status for r in rows)),
        "attempts": dict(Counter(int(r.attempts) for r in rows)),
        "requests": len(requests),
        "refused_requests": sum(1 for r in requests if r.get("response_status") not in (201, None)),
        "lookups": len(records.get("lookups", [])),
        "duplicates": sum(max(0, n - written[k]) for k, n in received.items() if k in written),
        "accepted_not_in_outbox": sum(1 for k in received if k not in written),
        "recipients_out_of_order": out_of_order,
        "seconds": rnd(done[-1] - created) if done else None,
        "messages_per_s": rnd(len(sent) / (done[-1] - created), 1) if done and done[-1] > created else None,
        "sustained_per_s": rnd((len(middle) - 1) / (middle[-1] - middle[0]), 1)
        if len(middle) > 2 and middle[-1] > middle[0]
        else None,
        "latency_p50_s": rnd(percentile(latencies, 50)) if latencies else None,
        "latency_p99_s": rnd(percentile(latencies, 99)) if latencies else None,
        "limit": max_mps,
        "busiest_second_requests": busiest_second([r["received_at"] for r in requests]),
        "busiest_second_accepted": busiest_second([r["received_at"] for r in accepted]),
    }
