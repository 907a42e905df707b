"""The outbox: messages Laku sends on its own are rows first, sent later by a job.

Writing the row in the same transaction as the change it reports means a notification is never lost
and never doubled: the idempotency key is unique, so a re-run of the same step adds nothing. After the
transaction commits, `core.unit_of_work` hands `new_message_ids(db)` to the queue (see `jobs.queues`),
which wakes a sender; rows nobody woke a sender for (Redis down) are found by the periodic outbox flush.

The row is the queue: `claim_due` hands a sender the due rows, at most one per recipient and always the
recipient's oldest unsent one, so a buyer reads messages in the order their events happened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, bindparam, case, func, or_, select, text, update
from sqlalchemy.orm import Session, aliased

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
        "status, attempts, session_id, purchase_order_id, created_at, updated_at, next_attempt_at) "
        "VALUES (:key, :to_phone, :kind, :body, :content_sid, :content_variables, :status, 0, :session_id, "
        ":purchase_order_id, :stamp, :stamp, :stamp) "
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


def due_count(db: Session, overdue_seconds: float = 0) -> int:
    """Queued messages whose time came at least `overdue_seconds` ago (a retry waiting for its backoff
    is not due; one whose backoff has passed is)."""
    cutoff = now() - timedelta(seconds=overdue_seconds)
    count = db.scalar(
        select(func.count())
        .select_from(OutboundMessage)
        .where(OutboundMessage.status == OutboundStatus.QUEUED, OutboundMessage.next_attempt_at <= cutoff)
    )
    return int(count or 0)


def next_attempt_at(db: Session) -> datetime | None:
    """When the earliest retry still waiting for its backoff is due (None: none is). Rows due already
    are not counted: they are waiting behind an earlier message to the same recipient, and go once it has."""
    return db.scalar(
        select(func.min(OutboundMessage.next_attempt_at)).where(
            OutboundMessage.status == OutboundStatus.QUEUED, OutboundMessage.next_attempt_at > now()
        )
    )


@dataclass(frozen=True)
class Claimed:
    """A row a sender now holds (`sending`), with what it needs to send it."""

    id: int
    to_phone: str
    body: str
    content_sid: str | None
    content_variables: str | None
    attempts: int
    unconfirmed_since: datetime | None


_earlier = aliased(OutboundMessage)


def claim_due(db: Session, limit: int) -> list[Claimed]:
    """Claim up to `limit` due rows (`queued` -> `sending`, attempts + 1), oldest first, and only the
    oldest unsent row of each recipient: a later message waits while an earlier one is queued (even for
    a retry's backoff) or being sent. PostgreSQL skips rows another sender has locked (SKIP LOCKED), so
    concurrent senders claim different rows; SQLite runs one writer at a time anyway."""
    stamp = now()
    earlier_unsent = (
        select(_earlier.id)
        .where(
            _earlier.to_phone == OutboundMessage.to_phone,
            _earlier.id < OutboundMessage.id,
            _earlier.status.in_((OutboundStatus.QUEUED, OutboundStatus.SENDING)),
        )
        .exists()
    )
    due = (
        select(OutboundMessage.id)
        .where(
            OutboundMessage.status == OutboundStatus.QUEUED,
            OutboundMessage.next_attempt_at <= stamp,
            ~earlier_unsent,
        )
        .order_by(OutboundMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return _claim(db, stamp, OutboundMessage.id.in_(due.scalar_subquery()))


def claim(db: Session, message_id: int) -> Claimed | None:
    """Claim this one row if it is queued, whatever its next attempt time (an explicit "send it now")."""
    claimed = _claim(db, now(), OutboundMessage.id == message_id)
    return claimed[0] if claimed else None


def _claim(db: Session, stamp: datetime, *where: ColumnElement[bool]) -> list[Claimed]:
    rows = db.execute(
        update(OutboundMessage)
        .where(OutboundMessage.status == OutboundStatus.QUEUED, *where)
        .values(status=OutboundStatus.SENDING, attempts=OutboundMessage.attempts + 1, updated_at=stamp)
        .returning(
            OutboundMessage.id,
            OutboundMessage.to_phone,
            OutboundMessage.body,
            OutboundMessage.content_sid,
            OutboundMessage.content_variables,
            OutboundMessage.attempts,
            OutboundMessage.unconfirmed_since,
        )
        .execution_options(synchronize_session=False)
    )
    return sorted((Claimed(*row) for row in rows), key=lambda claimed: claimed.id)


# --- the operator's retry -------------------------------------------------------------------------------

RETRYABLE = (OutboundStatus.FAILED, OutboundStatus.UNDELIVERED)
STUCK_AFTER = timedelta(minutes=15)
"""A message `queued` or `sending` this long is stuck (no sender took it, or one died with it); the periodic
flush should have moved it well before (`jobs.queues`)."""


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
    """Put a failed or stuck message back to `queued`, due now, with a fresh count of attempts, and hand it
    to the sender when the caller's unit of work commits. A row stuck `sending` may have reached the
    provider, so it goes back as an unconfirmed attempt: the provider is asked before it is sent again
    (as `core.delivery.requeue_stale_sending` does). `last_error` keeps the error until the next attempt
    replaces or clears it. One conditional update: a message sent meanwhile is left alone (Conflict)."""
    at = at or now()
    moved = db.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == message_id, _retryable(at))
        .values(
            status=OutboundStatus.QUEUED,
            attempts=0,
            next_attempt_at=at,
            unconfirmed_since=case(
                (OutboundMessage.status == OutboundStatus.SENDING, OutboundMessage.updated_at),
                else_=OutboundMessage.unconfirmed_since,
            ),
            updated_at=at,
        )
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
