"""Writing one join: the participant row, its size's counter and the session's total.

On PostgreSQL this is one statement, a data-modifying CTE:

    WITH ins AS (INSERT INTO participants ... RETURNING id),
         ctr AS (UPDATE session_variant_counters SET ordered_units = ordered_units + :o, ...),
         ses AS (UPDATE sessions SET ordered_units = ordered_units + :o WHERE ... AND :o <> 0)
    SELECT id FROM ins

run under the session lock the caller holds (`core.session_rows.lock_for_join`), after the caller checked
the cap. The counter row exists (every session has one per size) and is locked by this transaction, so the
increments apply to the values the caller decided with. The participant is then put in the ORM session as
a persistent row, and the view takes the new counts as committed (`SessionView.counted`), so nothing is
written twice. On SQLite (the embedded default) the same three writes go through the ORM, in the same
transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, bindparam, text
from sqlalchemy.orm import Session, make_transient_to_detached

from core.models import Participant, ParticipantStatus
from core.session_view import SessionView

_JOIN = (
    text(
        "WITH ins AS ("
        " INSERT INTO participants"
        " (session_id, buyer_id, variant_id, quantity, unit_price, total, status, requested_at, joined_at)"
        " VALUES (:session_id, :buyer_id, :variant_id, :quantity, :unit_price, :total, :status,"
        " :requested_at, :joined_at)"
        " RETURNING id),"
        " ctr AS ("
        " UPDATE session_variant_counters"
        " SET ordered_units = ordered_units + :ordered, waiting_units = waiting_units + :waiting"
        " WHERE session_id = :session_id AND variant_id = :variant_id),"
        " ses AS ("
        " UPDATE sessions SET ordered_units = ordered_units + :ordered"
        " WHERE id = :session_id AND :ordered <> 0)"
        " SELECT id FROM ins"
    )
    .bindparams(
        bindparam("requested_at", type_=Participant.__table__.c.requested_at.type),
        bindparam("joined_at", type_=Participant.__table__.c.joined_at.type),
        bindparam("ordered", type_=Integer),
        bindparam("waiting", type_=Integer),
    )
    .columns(id=Integer)
)


def write_participant(
    db: Session,
    view: SessionView,
    buyer_id: int,
    variant_id: int,
    quantity: int,
    status: str,
    at: datetime,
) -> Participant:
    """Write one join (`confirmed`) or waiting request with its counter and session total; the caller holds
    the session lock and checked the cap."""
    confirmed = status == ParticipantStatus.CONFIRMED
    session = view.session
    ordered, waiting = (quantity, 0) if confirmed else (0, quantity)
    values = {
        "session_id": session.id,
        "buyer_id": buyer_id,
        "variant_id": variant_id,
        "quantity": quantity,
        "unit_price": session.price,
        "total": quantity * session.price,
        "status": status,
        "requested_at": at,
        "joined_at": at if confirmed else None,
    }
    if db.get_bind().dialect.name != "postgresql" or variant_id not in view.counters:
        participant = Participant(**values)
        db.add(participant)
        view.count(db, variant_id, ordered=ordered, waiting=waiting)
        db.flush()
        return participant
    db.flush()  # anything the ORM still holds goes first, so the counts below are the database's
    new_id = db.execute(_JOIN, {**values, "ordered": ordered, "waiting": waiting}).scalar_one()
    participant = Participant(id=new_id, left_at=None, **values)
    make_transient_to_detached(participant)
    db.add(participant)  # persistent as written: the ORM has nothing to write for it
    view.counted(variant_id, ordered=ordered, waiting=waiting)
    return participant
