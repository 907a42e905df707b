"""`python -m jobs.supervise <command> [args...]`: run a command, and start it again whenever it exits.

The Procfile runs the worker and the clock under it. An `rq worker` or `rq cron` that loses Redis for a
while may exit (RQ gives up on some Redis errors); started again, it waits for Redis and carries on. So
after an outage every process comes back by itself: under `make run` (honcho stops every process when
one exits, and this one does not exit) and on any platform or supervisor. Restarts come after 1, 2, 4,
then every 8 seconds; a command that ran for a minute counts as healthy again. SIGTERM and SIGINT are
passed on to the command once, and then this exits with the command's status (no restart).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

RESTART_DELAYS = (1, 2, 4, 8)
HEALTHY_AFTER_SECONDS = 60


def supervise(command: list[str]) -> int:
    child: subprocess.Popen | None = None
    stopping = False

    def stop(signum: int, _frame) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failures = 0
    while True:
        started = time.monotonic()
        # Its own process group: a Ctrl-C in the terminal reaches it once, through `stop`.
        child = subprocess.Popen(command, process_group=0)
        status = child.wait()
        if stopping:
            return status
        ran = time.monotonic() - started
        failures = 1 if ran >= HEALTHY_AFTER_SECONDS else failures + 1
        delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS)) - 1]
        print(
            f"supervise: {' '.join(command[:2])} exited with status {status} after {ran:.0f} s; "
            f"starting it again in {delay} s",
            file=sys.stderr,
            flush=True,
        )
        restart_at = time.monotonic() + delay
        while time.monotonic() < restart_at:
            if stopping:
                return status
            time.sleep(0.1)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m jobs.supervise <command> [args...]")
    sys.exit(supervise(sys.argv[1:]))
