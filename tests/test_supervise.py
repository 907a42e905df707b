"""`jobs.supervise` (the Procfile's worker and clock run under it): a command that exits is started again,
and a SIGTERM stops the command and the supervisor, without a restart."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from core.settings import PROJECT_ROOT


def test_a_command_that_exits_is_started_again_and_sigterm_stops_both(tmp_path):
    runs = tmp_path / "runs"
    child = (
        "import pathlib, signal, sys, time\n"
        f"log = pathlib.Path({str(runs)!r})\n"
        "log.write_text(log.read_text() + 'started\\n' if log.exists() else 'started\\n')\n"
        "if len(log.read_text().splitlines()) < 2: sys.exit(3)  # the first run fails at once\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "time.sleep(30)\n"
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "jobs.supervise", sys.executable, "-c", child],
        cwd=PROJECT_ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (runs.exists() and len(runs.read_text().splitlines()) >= 2):
            time.sleep(0.05)
        assert runs.read_text().splitlines() == ["started", "started"]  # restarted after 1 s
        time.sleep(0.3)
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=10) == 0  # the command's own status: it stopped cleanly
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    assert "exited with status 3" in supervisor.stderr.read()
    time.sleep(1.5)
    assert runs.read_text().splitlines() == ["started", "started"]  # and not started again
