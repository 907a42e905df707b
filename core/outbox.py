"""The outbox: messages Laku sends on its own are rows first, sent later by a job.

Writing the row in the same transaction as the change it reports means a notification is never lost
and never doubled: the idempotency key is unique, so a re-run of the same step adds nothing. After the
transaction commits, the caller hands `new_message_ids(db)` to the queue (see `jobs.queues`); rows the
queue never got (Redis down) are picked up by the periodic outbox flush.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.clock import now
from core.models import OutboundMessage, OutboundStatus

_NEW_IDS = "laku_new_outbox_ids"


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
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    stamp = now()
    statement = (
        insert(OutboundMessage)
        .values(
            idempotency_key=key,
            to_phone=to_phone,
            kind=kind,
            body=body,
            content_sid=content_sid,
            content_variables=json.dumps(content_variables, ensure_ascii=False)
            if content_variables
            else None,
            status=OutboundStatus.QUEUED,
            attempts=0,
            session_id=session_id,
            purchase_order_id=purchase_order_id,
            created_at=stamp,
            updated_at=stamp,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboundMessage.id)
    )
    message_id = db.execute(statement).scalar_one_or_none()
    if message_id is not None:
        db.info.setdefault(_NEW_IDS, []).append(message_id)
    return message_id


def new_message_ids(db: Session) -> list[int]:
    """Ids added by this session since the last call; hand them to the queue after commit."""
    return db.info.pop(_NEW_IDS, [])


def queued_message_ids(db: Session, older_than_seconds: int = 0, limit: int = 500) -> list[int]:
    """Messages still waiting to be sent (for the periodic flush after a Redis outage)."""
    from datetime import timedelta

    cutoff = now() - timedelta(seconds=older_than_seconds)
    rows = db.execute(
        select(OutboundMessage.id)
        .where(OutboundMessage.status == OutboundStatus.QUEUED, OutboundMessage.created_at <= cutoff)
        .order_by(OutboundMessage.id)
        .limit(limit)
    )
    return list(rows.scalars())
