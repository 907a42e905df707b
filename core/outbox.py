"""The outbox: messages Laku sends on its own are rows first, sent later by a job.

Writing the row in the same transaction as the change it reports means a notification is never lost
and never doubled: the idempotency key is unique, so a re-run of the same step adds nothing. After the
transaction commits, `core.unit_of_work` hands `new_message_ids(db)` to the queue (see `jobs.queues`);
rows the queue never got (Redis down) are picked up by the periodic outbox flush.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, bindparam, or_, select, text, update
from sqlalchemy.orm import Session

from core.clock import now
from core.errors import Conflict, NotFound
from core.models import OutboundMessage, OutboundStatus

_NEW_IDS = "laku_new_outbox_ids"

# The same SQL on PostgreSQL and SQLite (3.35+: ON CONFLICT ... DO NOTHING and RETURNING). Written as text()
# because SQLAlchemy caches its compiled form; the dialects' insert().on_conflict_do_nothing() constructs
# have no cache key (SQLAlchemy issue #10445) and were compiled again for every message.
_INSERT = (
    text(
        "INSERT INTO outbound_messages (idempotency_key, to_phone, kind, body, content_sid, content_variables, "
        "status, attempts, session_id, purchase_order_id, created_at, updated_at) "
        "VALUES (:key, :to_phone, :kind, :body, :content_sid, :content_variables, :status, 0, :session_id, "
        ":purchase_order_id, :stamp, :stamp) "
        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
    )
    .bindparams(bindparam("stamp", type_=OutboundMessage.__table__.c.created_at.type))
    .columns(id=Integer)
)


def enqueue(
    db: Session,
    *,
    key: str,
    to_phone: str,
    kind: str,
    body: str,
    content_sid: str | None = None,
    content_variables: dict[str, Any] | None = None,
    session_id: int | None = None,
    purchase_order_id: int | None = None,
) -> int | None:
    """Add a message to the outbox once per `key`. Returns its id, or None if the key was already used."""
    message_id = db.execute(
        _INSERT,
        {
            "key": key,
            "to_phone": to_phone,
            "kind": kind,
            "body": body,
            "content_sid": content_sid,
            "content_variables": json.dumps(content_variables, ensure_ascii=False)
            if content_variables
            else None,
            "status": OutboundStatus.QUEUED,
            "session_id": session_id,
            "purchase_order_id": purchase_order_id,
            "stamp": now(),
        },
    ).scalar_one_or_none()
    if message_id is not None:
        db.info.setdefault(_NEW_IDS, []).append(message_id)
    return message_id


def new_message_ids(db: Session) -> list[int]:
    """Ids added by this session since the last call; hand them to the queue after commit
    (`core.unit_of_work` does)."""
    return db.info.pop(_NEW_IDS, [])


def message_ids_mark(db: Session) -> int:
    """How many new ids this session holds now (see `forget_message_ids_since`)."""
    return len(db.info.get(_NEW_IDS, []))


def forget_message_ids_since(db: Session, mark: int) -> None:
    """Drop the ids added after `mark`: their savepoint rolled back, so the rows never existed."""
    del db.info.get(_NEW_IDS, [])[mark:]


def queued_message_ids(db: Session, older_than_seconds: int = 0, limit: int = 500) -> list[int]:
    """Messages still waiting to be sent (for the periodic flush after a Redis outage)."""
    cutoff = now() - timedelta(seconds=older_than_seconds)
    rows = db.execute(
        select(OutboundMessage.id)
        .where(OutboundMessage.status == OutboundStatus.QUEUED, OutboundMessage.created_at <= cutoff)
        .order_by(OutboundMessage.id)
        .limit(limit)
    )
    return list(rows.scalars())


# --- the operator's retry -------------------------------------------------------------------------------

RETRYABLE = (OutboundStatus.FAILED, OutboundStatus.UNDELIVERED)
STUCK_AFTER = timedelta(minutes=15)
"""A message `queued` or `sending` this long is stuck (the queue or a worker lost it); the periodic flush
should have moved it well before (`jobs.queues`: 30 s and 10 min)."""


def _retryable(at: datetime):
    return or_(
        OutboundMessage.status.in_(RETRYABLE),
        and_(
            OutboundMessage.status.in_((OutboundStatus.QUEUED, OutboundStatus.SENDING)),
            OutboundMessage.updated_at < at - STUCK_AFTER,
        ),
    )


def failed_or_stuck(db: Session, limit: int = 100, at: datetime | None = None) -> list[OutboundMessage]:
    """Messages an operator may send again, newest change first."""
    query = select(OutboundMessage).where(_retryable(at or now()))
    return list(db.scalars(query.order_by(OutboundMessage.updated_at.desc()).limit(limit)))


def retry_message(db: Session, message_id: int, at: datetime | None = None) -> None:
    """Put a failed or stuck message back to `queued` with a fresh count of attempts, and hand it to the
    queue when the caller's unit of work commits. `last_error` keeps the error until the next attempt
    replaces or clears it. One conditional update: a message sent meanwhile is left alone (Conflict)."""
    at = at or now()
    moved = db.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == message_id, _retryable(at))
        .values(status=OutboundStatus.QUEUED, attempts=0, updated_at=at)
        .returning(OutboundMessage.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if moved is None:
        status = db.scalar(select(OutboundMessage.status).where(OutboundMessage.id == message_id))
        if status is None:
            raise NotFound("message", f"no outbound message {message_id}")
        raise Conflict(
            "message", f"message {message_id} is {status}; only failed or stuck messages are retried"
        )
    db.info.setdefault(_NEW_IDS, []).append(message_id)
