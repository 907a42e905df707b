"""The sending rate shared by every process: at most `TWILIO_MAX_MPS` sends from one sender in any
one-second window, however many workers run.

The window is the `limits` library's moving window in Redis (a Lua script keeps the time of each of the
last N sends in a list, so "N in any second" holds exactly, not per clock-aligned second as a fixed window
would allow twice N across a boundary). Within a process one thread at a time asks, and sends start at
least 1/N s apart, so a process never bursts its share and the provider sees an even stream. The clock is
each process's own (`time.time()`): workers on several hosts need synchronised clocks (NTP).
"""

from __future__ import annotations

import threading
import time

from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis import Redis, RedisError

from core.delivery import SenderStopped

_NAMESPACE = "laku-send"


class SendRateLimit:
    """`limit()` blocks until this process may start one send; raises SenderStopped when Redis cannot
    be reached (no send starts without the shared count)."""

    def __init__(self, connection: Redis, sender: str, per_second: int):
        storage = RedisStorage("redis://", connection_pool=connection.connection_pool)
        self._limiter = MovingWindowRateLimiter(storage)
        self._item = RateLimitItemPerSecond(per_second, 1)
        self._sender = sender
        self.key = storage.prefixed_key(self._item.key_for(_NAMESPACE, sender))
        """The Redis list of the last `per_second` admitted sends' times (what the benchmark watches)."""
        self._spacing = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            pause = self._next - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            try:
                while not self._limiter.hit(self._item, _NAMESPACE, self._sender):
                    reset_at, _ = self._limiter.get_window_stats(self._item, _NAMESPACE, self._sender)
                    time.sleep(min(max(reset_at - time.time(), 0.001), self._spacing))
            except RedisError as error:
                raise SenderStopped(f"the shared send rate cannot be checked: {error}") from error
            # A steady cadence: the next start is one spacing after this one was due, not after it began
            # (Redis' answer time would otherwise slow every process below the limit).
            self._next = max(self._next + self._spacing, time.monotonic() - self._spacing)
