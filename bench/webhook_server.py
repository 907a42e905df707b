"""The webhook benchmark's servers: the Procfile's own `web` line, and the code before the join work.

- `ProcfileWeb`: the `web` line of the repository's Procfile, as committed (`bin/web gunicorn ...`: nginx in
  front of gunicorn when nginx is installed), with `PORT` and `WEB_HOST=127.0.0.1` set and
  `WEB_CONCURRENCY`/`WEB_THREADS` unset, so the Procfile's own counts are what is measured. The only change
  is the app: `bench.webhook_app:create_bench_app()` (the real app plus `/bench/ping`) instead of
  `bot.app:create_app()`. `overrides` (environment, e.g. `WEB_THREADS=8`) and `access_log=False` serve the
  candidate comparison (`--candidates`).
- `Baseline`: a `git worktree` of the baseline commit (main before the join work), on its own database,
  seeded by its own code and served by the same Procfile line from that tree, so only the code differs.

Every process is started in a session of its own and stopped by its id (`bench.processes.stop`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bench.common import ROOT
from bench.faults_web import procfile_command
from bench.processes import free_port, start_shell_line, stop_group, wait_until_answering, web_env

APP = "'bot.app:create_app()'"
BENCH_APP = "'bench.webhook_app:create_bench_app()'"
BASELINE_COMMIT = "517a9ab"
"""main before the join work: 21/17 statements per plain join."""


def web_command(access_log: bool = True) -> str:
    command = procfile_command("web", ROOT / "Procfile")
    if APP not in command:
        raise ValueError(f"the Procfile's web line does not serve {APP}: {command}")
    command = command.replace(APP, BENCH_APP)
    if not access_log:
        command = command.replace(" --access-logfile -", "")
    return command


class ProcfileWeb:
    """The Procfile's web line serving the benchmark app from `root`, on a free loopback port."""

    def __init__(
        self,
        root: Path,
        env: dict[str, str],
        log_path: Path,
        overrides: dict[str, str] | None = None,
        access_log: bool = True,
    ):
        self.port = free_port()
        self.log_path = log_path
        env = web_env(env, self.port)
        env.update(PYTHONPATH=str(root), **(overrides or {}))
        self.command = web_command(access_log)
        self.overrides = dict(overrides or {})
        self.nginx = shutil.which("nginx", path=env["PATH"]) is not None and env.get("WEB_PROXY") != "none"
        self.process = start_shell_line(self.command, root, env, log_path)

    def describe(self) -> str:
        settings = " ".join(f"{k}={v}" for k, v in self.overrides.items())
        return f"{settings} {self.command}".strip()

    def wait_ready(self, path: str, timeout: float = 40.0) -> None:
        wait_until_answering(self.process, self.port, path, timeout, "the web process", self.log_path)

    def stop(self) -> None:
        stop_group(self.process)

    def log_problems(self) -> dict:
        lines = self.log_path.read_text(errors="replace").splitlines()
        problems = [line for line in lines if re.search(r"Traceback|\bERROR\b|CRITICAL|WORKER TIMEOUT", line)]
        return {"lines": len(lines), "problem_lines": len(problems), "examples": problems[:5]}


class Baseline:
    """The baseline commit checked out in `workdir` (a detached `git worktree`, removed by `close`)."""

    def __init__(self, workdir: Path, commit: str = BASELINE_COMMIT):
        self.root = workdir / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(self.root), commit],
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.commit = subprocess.run(
            ["git", "-C", str(self.root), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
        ).stdout.strip()

    def python(self, code: str, env: dict[str, str], timeout: float = 600) -> object:
        """Run `code` with the baseline's modules (its own `core`, `bench`), return what it prints as JSON."""
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.root,
            env={**env, "PYTHONPATH": str(self.root)},
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    def close(self) -> None:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(self.root)],
            check=False,
            capture_output=True,
            timeout=60,
        )
