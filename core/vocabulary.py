"""The open sessions' codes and sizes, which the parser reads messages with (`core.understanding.Vocabulary`).

One query (sessions joined to their product's sizes). Every message needs it and it changes only when a
session opens or closes, so a web process keeps it for `CONVERSATION_VOCABULARY_SECONDS` (5 by default;
0 reads it each time), per database. A session created in this process is seen at once (`forget`);
another process sees it within those seconds. It only helps reading: a code typed exactly is read without
it, and every join is checked against the session itself under its lock.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import now
from core.models import GroupSession, SessionStatus, Variant
from core.understanding import Vocabulary

_cache: dict[str, tuple[float, Vocabulary]] = {}
_lock = threading.Lock()


def open_vocabulary(db: Session, max_age_seconds: float = 5) -> Vocabulary:
    """The vocabulary of the sessions open now, at most `max_age_seconds` old."""
    key = str(db.get_bind().engine.url)
    clock = time.monotonic()
    cached = _cache.get(key)
    if cached is not None and clock - cached[0] < max_age_seconds:
        return cached[1]
    vocabulary = _load(db)
    with _lock:
        _cache[key] = (clock, vocabulary)
    return vocabulary


def forget() -> None:
    """Read the vocabulary again on the next message (a session was created or changed here)."""
    with _lock:
        _cache.clear()


def _load(db: Session) -> Vocabulary:
    at = now()
    rows = db.execute(
        select(GroupSession.code, Variant.size)
        .join(Variant, Variant.product_id == GroupSession.product_id)
        .where(
            GroupSession.status.in_(SessionStatus.JOINABLE),
            GroupSession.ends_at > at,
            GroupSession.starts_at <= at,
        )
        .order_by(GroupSession.ends_at, GroupSession.id, Variant.id)
    )
    sessions: dict[str, list[str]] = {}
    for code, size in rows:
        sessions.setdefault(code, []).append(size)
    return Vocabulary.of(sessions)
