"""The web front doors the fault benchmark compares, each started as a deployment starts it.

- `procfile`: the `web` line of the repository's Procfile, exactly, with `PORT` and `WEB_HOST=127.0.0.1`
  set and `WEB_CONCURRENCY`/`WEB_THREADS` unset, so its own defaults are what is measured. With nginx on
  the machine `bin/web` puts nginx in front of gunicorn; the benchmark requires it.
- `old`: the Procfile's web line before the slow-client fix (sync worker class, 2 workers): the baseline.
- `gthread`: the Procfile's line with `WEB_PROXY=none`: the same gunicorn, facing clients directly.
- `gevent`: the old line with `--worker-class gevent` (needs `pip install gevent`): the other candidate.

Every process runs in a session of its own and is stopped by its id (`bench.processes.stop`).
"""

from __future__ import annotations

import re
import shutil
import signal
from pathlib import Path

from bench.common import ROOT
from bench.processes import free_port, start_shell_line, stop_group, wait_until_answering, web_env

OLD_WEB = (
    "gunicorn --bind 0.0.0.0:${PORT:-5000} --workers ${WEB_CONCURRENCY:-2} --timeout 15 "
    "--access-logfile - 'bot.app:create_app()'"
)
"""The Procfile's `web` line before this benchmark existed (sync workers: one request at a time each)."""

CONFIGS = ("old", "procfile", "gthread", "gevent")
DESCRIPTIONS = {
    "old": "old Procfile web: gunicorn sync, 2 workers",
    "procfile": "Procfile web: nginx -> gunicorn gthread, 2 workers x 4 threads",
    "gthread": "Procfile web without nginx: gunicorn gthread 2 x 4",
    "gevent": "gunicorn gevent, 2 workers (old line, other worker class)",
}


def procfile_command(name: str = "web", procfile: Path = ROOT / "Procfile") -> str:
    for line in procfile.read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name:
            return command.strip()
    raise KeyError(f"no {name!r} process in {procfile}")


def on_loopback(command: str) -> str:
    narrowed = command.replace("--bind 0.0.0.0:", "--bind 127.0.0.1:")
    if "--bind 127.0.0.1:" not in narrowed:
        raise ValueError(f"cannot bind this command to loopback: {command}")
    return narrowed


def nginx_available() -> bool:
    return shutil.which("nginx") is not None


class WebFrontDoor:
    """One configuration of `CONFIGS`, listening on `self.port` (127.0.0.1)."""

    def __init__(self, config: str, env: dict[str, str], workdir: Path):
        if config not in CONFIGS:
            raise ValueError(f"unknown configuration {config!r}")
        self.config = config
        self.port = free_port()
        self.log_path = workdir / f"{config}-web.log"
        env = web_env(env, self.port)
        if config in ("procfile", "gthread"):
            self.command = procfile_command()
            if config == "gthread":
                env["WEB_PROXY"] = "none"
        else:
            line = (
                OLD_WEB.replace("--workers", "--worker-class gevent --workers")
                if config == "gevent"
                else OLD_WEB
            )
            self.command = on_loopback(line)
        self.process = start_shell_line(self.command, ROOT, env, self.log_path)

    def wait_ready(self, path: str = "/healthz", timeout: float = 30.0) -> float:
        """Seconds until `path` answers 200 (raises after `timeout`)."""
        return wait_until_answering(self.process, self.port, path, timeout, self.config, self.log_path)

    def stop(self, quick: bool = False) -> None:
        """TERM, or with `quick` INT (bin/web passes either on to gunicorn and nginx); then whatever is
        left of the process group this front door was started in (its own id) is killed."""
        if quick and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        stop_group(self.process)

    def log_counts(self) -> dict[str, int]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return {
            "worker_timeouts": len(re.findall(r"WORKER TIMEOUT", text)),
            "workers_booted": len(re.findall(r"Booting worker", text)),
            "tracebacks": len(re.findall(r"Traceback", text)),
        }
