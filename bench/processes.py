"""The product's own processes, started the way the Procfile starts them, and watched from outside.

- `Gunicorn`: the web process on a free loopback port.
- `RqWorkers`: `rq worker -c jobs.rq_settings` processes on a queue of the benchmark's own.
- `ActivitySampler`: what the benchmark database's backends are doing (`pg_stat_activity`) and how much
  CPU they use (`/proc`), polled while a run goes on.
- `cpu_times`, `process_cpu`: CPU of the whole machine and of one process, from `/proc`.

Every process is started in a session of its own and stopped by its id (TERM, then KILL), never by name.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

from sqlalchemy import text

from bench.common import ROOT, engine, rnd

# ---------------------------------------------------------------------------------------------------------
# /proc
# ---------------------------------------------------------------------------------------------------------


def cpu_times() -> tuple[int, int, int]:
    """(busy, total, steal) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    steal = values[7] if len(values) > 7 else 0
    return sum(values) - idle, sum(values), steal


def process_cpu(pid: int) -> tuple[float, float] | None:
    """(own, reaped children) CPU seconds of a process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def stop(process: subprocess.Popen, grace: float = 15.0) -> None:
    """TERM; after `grace` seconds KILL the process and its own children (e.g. an RQ work horse)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        orphans = children(process.pid)  # read while it is alive: its own children, nothing else
        process.kill()
        for pid in orphans:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_shell_line(command: str, cwd: Path, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """A Procfile-style command line run by bash, in a process group of its own, output appended to
    `log_path` (`stop_group` ends the group, whatever the line started)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_group(process: subprocess.Popen, grace: float = 20.0) -> None:
    """TERM (bin/web passes it on to gunicorn and nginx); then whatever is left of the process group the
    process was started in (its own id) is killed."""
    stop(process, grace=grace)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_until_answering(
    process: subprocess.Popen, port: int, path: str, timeout: float, what: str, log_path: Path
) -> float:
    """Seconds until `GET path` on 127.0.0.1:`port` answers 200; raises when `process` exits first or
    after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
                if answer.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{what}: {path} did not answer within {timeout} s; see {log_path}")


def web_env(env: dict[str, str], port: int) -> dict[str, str]:
    """`env` for a web process started as the Procfile starts it (`bin/web`), on loopback `port`: this
    Python's scripts first on PATH, the web sizing left to the command line."""
    env = {k: v for k, v in env.items() if k not in ("WEB_CONCURRENCY", "WEB_THREADS", "WEB_PROXY")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(PORT=str(port), WEB_HOST="127.0.0.1")
    return env


def product_env(**overrides: str) -> dict[str, str]:
    """This environment without Twilio or warehouse settings (nothing may leave the machine)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "WAREHOUSE_")) and k not in ("ADMIN_WHATSAPP",)
    }
    env.setdefault("SECRET_KEY", secrets.token_hex(32))  # the app refuses to start on PostgreSQL without one
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **overrides)
    return env


# ---------------------------------------------------------------------------------------------------------
# gunicorn
# ---------------------------------------------------------------------------------------------------------


class Gunicorn:
    """gunicorn serving `app` (an import string) on a free loopback port."""

    def __init__(
        self, app: str, env: dict[str, str], log_path: Path, workers: int, worker_class: str, threads: int
    ):
        self.port = free_port()
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--worker-class",
            worker_class,
            "--threads",
            str(threads),
            "--timeout",
            "30",
            "--keep-alive",
            "10",
            "--log-level",
            "warning",
            app,
        ]
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, path: str, timeout: float = 30.0) -> None:
        wait_until_answering(self.process, self.port, path, timeout, "gunicorn", self.log_path)

    def stop(self) -> None:
        stop(self.process, grace=20)

    def log_problems(self) -> dict:
        lines = self.log_path.read_text(errors="replace").splitlines()
        problems = [line for line in lines if re.search(r"Traceback|\bERROR\b|CRITICAL|WORKER TIMEOUT", line)]
        return {"lines": len(lines), "problem_lines": len(problems), "examples": problems[:5]}


# ---------------------------------------------------------------------------------------------------------
# RQ workers
# ---------------------------------------------------------------------------------------------------------


class RqWorkers:
    """`count` RQ workers as the Procfile runs them (`rq worker -c jobs.rq_settings`, `scheduler`: with
    `--with-scheduler`), on `queue`."""

    def __init__(
        self, env: dict[str, str], queue: str, count: int, tag: str, logdir: Path, scheduler: bool = False
    ):
        rq = str(Path(sys.executable).with_name("rq"))
        extra = ["--with-scheduler"] if scheduler else []
        self.names = [f"{tag}-w{n + 1}" for n in range(count)]
        self.processes: list[subprocess.Popen] = []
        for name in self.names:
            with open(logdir / f"{name}.log", "wb") as log:
                self.processes.append(
                    subprocess.Popen(
                        [rq, "worker", *extra, "-c", "jobs.rq_settings", "--name", name, queue],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        self.queue = queue
        self.logs = [logdir / f"{name}.log" for name in self.names]

    def wait_idle(self, connection, timeout: float) -> None:
        """Until every worker is registered and idle (after a job: its work horse has been reaped)."""
        from rq import Queue, Worker

        queue = Queue(self.queue, connection=connection)
        limit = time.monotonic() + timeout
        while time.monotonic() < limit:
            workers = {w.name: w for w in Worker.all(connection=connection, queue=queue)}
            if set(self.names) <= set(workers) and all(workers[n].get_state() == "idle" for n in self.names):
                return
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"an RQ worker exited; see {self.logs}")
            time.sleep(0.05)
        raise TimeoutError(f"RQ workers {self.names} not idle after {timeout} s")

    def children_cpu(self) -> float:
        """CPU seconds of the work horses these workers have reaped so far."""
        return sum(cpu[1] for p in self.processes if (cpu := process_cpu(p.pid)) is not None)

    def stop(self) -> None:
        """Warm shutdown (idle workers exit at once); a worker still busy after 15 s is killed, with its
        work horse."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            stop(process)


def wait_for_jobs(jobs: list, timeout: float, every: float = 0.1, tick=None) -> bool:
    """Until every job has ended (finished, failed, stopped, canceled); `tick()` runs between polls."""
    from rq.job import JobStatus

    done = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        if all(job.get_status(refresh=True) in done for job in jobs):
            return True
        if tick:
            tick()
        time.sleep(every)
    return False


# ---------------------------------------------------------------------------------------------------------
# PostgreSQL backends, seen from outside
# ---------------------------------------------------------------------------------------------------------


class ActivitySampler:
    """Polls pg_stat_activity (and /proc for backend CPU) of one database while a run goes on."""

    def __init__(self, url: str):
        self.engine = engine(url, isolation_level="AUTOCOMMIT")
        self.connection = self.engine.connect()
        self.before = set(self._rows_by_pid())
        self.samples = 0
        self.states: Counter[str] = Counter()
        self.waits: Counter[str] = Counter()
        self.cpu: dict[int, float] = {}

    def _rows_by_pid(self) -> dict[int, tuple]:
        rows = self.connection.execute(
            text(
                "SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )
        )
        return {row[0]: tuple(row[1:]) for row in rows}

    def sample(self) -> None:
        self.samples += 1
        for pid, (state, wait_type, wait_event) in self._rows_by_pid().items():
            if pid in self.before:
                continue
            self.states[state or "unknown"] += 1
            if state == "active":
                self.waits[f"{wait_type}:{wait_event}" if wait_type else "running (no wait)"] += 1
            cpu = process_cpu(pid)
            if cpu is not None:
                self.cpu[pid] = cpu[0]

    def close(self, clients: int) -> dict:
        """`clients`: how many connections were expected busy (the lock-wait share is per client)."""
        self.connection.close()
        self.engine.dispose()
        locks = sum(n for k, n in self.waits.items() if k.startswith("Lock:"))
        return {
            "samples": self.samples,
            "backends_seen": len(self.cpu),
            "backend_state_samples": dict(self.states.most_common()),
            "active_wait_samples": dict(self.waits.most_common(8)),
            "lock_wait_share": rnd(locks / (self.samples * clients) if self.samples else 0.0),
            "backend_cpu_seconds": rnd(sum(self.cpu.values())),
        }
