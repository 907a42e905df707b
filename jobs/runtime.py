"""Per-process resources for jobs, built on first use (never at import) and cached.

RQ imports job modules in the worker and in every process that enqueues, so nothing here may touch the
network or the environment at import time. Tests change the environment (or pass Settings) and call
`reset()`.
"""

from __future__ import annotations

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.orm import Session, sessionmaker

from core import db as core_db
from core.adapters import transport_for
from core.delivery import Transport
from core.settings import Settings
from jobs.throttle import SendRateLimit

REDIS_TIMEOUT_SECONDS = 0.5
"""Connecting and each answer. A hanging Redis costs a caller at most four of these (the handshake and
the command, each tried twice): about 2 s."""

_settings: Settings | None = None
_override: Settings | None = None
_redis: dict[str, Redis] = {}
_transport: Transport | None = None
_send_limit: SendRateLimit | None = None


def settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = _override or Settings.from_env()
    return _settings


def db_factory() -> sessionmaker[Session]:
    return core_db.session_factory(settings().database_url)


def redis() -> Redis:
    """The RQ connection for `settings()`."""
    return redis_for(settings().effective_redis_url)


def redis_for(url: str) -> Redis:
    """A cached connection per URL, for enqueueing and the outbox's coordination (never for an RQ
    worker's own blocking wait, which uses its own connection). Short connect and read timeouts and a
    single retry, so a Redis that is down or hangs fails a caller within about 2 s instead of holding a
    web request (callers of `dispatch_outbox` rely on it; redis-py's default waits forever)."""
    if url not in _redis:
        _redis[url] = Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
    return _redis[url]


def transport() -> Transport:
    """Twilio when credentials are set, else the console."""
    global _transport
    if _transport is None:
        _transport = transport_for(settings())
    return _transport


def send_limit() -> SendRateLimit:
    """`TWILIO_MAX_MPS` for this process's sender, shared through the runtime's Redis."""
    global _send_limit
    if _send_limit is None:
        current = settings()
        sender = current.twilio_whatsapp_from or "console"
        _send_limit = SendRateLimit(redis(), sender, current.twilio_max_mps)
    return _send_limit


def reset(settings: Settings | None = None) -> None:
    """Forget cached resources; with `settings`, use them instead of the environment (tests)."""
    global _settings, _override, _transport, _send_limit
    for connection in _redis.values():
        connection.close()
    _redis.clear()
    _settings = None
    _override = settings
    _transport = None
    _send_limit = None
