"""Reading a session's rows: the one way to lock a session, its product, its joins, buyers and demand.

Every change to a session (a join, a leave, a close, a cancel, a receipt) first locks the session row
with `lock_session` (`SELECT ... FOR UPDATE`; SQLite serialises writers with `BEGIN IMMEDIATE`, see
`core.db`), so the session is always locked before its purchase order or inventory rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, selectinload

from core.clock import now
from core.models import (
    Buyer,
    GroupSession,
    Participant,
    ParticipantStatus,
    Product,
    SessionStatus,
    SessionVariantCounter,
    Variant,
)
from core.product_lots import product_lots


def normal_code(code: str | None) -> str:
    """Session and purchase order codes are stored upper-case; people type them any way."""
    return (code or "").strip().upper()


def lock_session(
    db: Session, *, session_id: int | None = None, code: str | None = None
) -> GroupSession | None:
    """Lock one session row by id or by code and load it fresh; None when there is none (the caller
    decides what that means: a refusal for a buyer, NotFound for the admin)."""
    query = select(GroupSession).with_for_update().execution_options(populate_existing=True)
    if session_id is not None:
        query = query.where(GroupSession.id == session_id)
    else:
        query = query.where(GroupSession.code == normal_code(code))
    return db.scalar(query)


_LOCK_FOR_JOIN = (
    select(GroupSession, Product.catalog_version, SessionVariantCounter)
    .join(Product, Product.id == GroupSession.product_id)
    .join(SessionVariantCounter, SessionVariantCounter.session_id == GroupSession.id)
    .where(GroupSession.code == bindparam("code"))
    .order_by(SessionVariantCounter.variant_id)
    .with_for_update(of=[GroupSession, SessionVariantCounter])
    .execution_options(populate_existing=True)
)
"""Built once: every join runs it (`lock_for_join`)."""


def lock_for_join(db: Session, code: str) -> tuple[GroupSession, int, list[SessionVariantCounter]] | None:
    """Lock a session for a join and read what the join decides with, in one statement: the session row,
    its product's `catalog_version` (`core.product_lots`) and its per-size counters, all locked
    (`FOR UPDATE OF sessions, session_variant_counters`, in variant order). None: no such session.

    Every session has a counter row per size from its creation (`core.catalog.create_session`), and no
    counter row is ever deleted. That is what makes the one statement safe under concurrency: a join that
    waits for another's lock gets, once it has it, the newest version of every row it locks (PostgreSQL
    re-reads locked rows that changed meanwhile), and the set of counter rows cannot have grown. A session
    made without its counters (data from before, hand-made rows) is given them here and read again under
    the lock it now holds, once. SQLite runs write transactions one at a time (`BEGIN IMMEDIATE`), so a
    plain SELECT there reads the same."""
    code = normal_code(code)
    rows = db.execute(_LOCK_FOR_JOIN, {"code": code}).all()
    if rows:
        session, version = rows[0][0], rows[0][1]
        counters = [row[2] for row in rows]
        if len(counters) == len(product_lots(db, session.product_id, version).variants):
            return session, version, counters
    else:
        found = lock_session(db, code=code)
        if found is None:
            return None
        session = found
    ensure_counters(db, session)
    version = db.scalar(select(Product.catalog_version).where(Product.id == session.product_id))
    counters = list(
        db.scalars(
            select(SessionVariantCounter)
            .where(SessionVariantCounter.session_id == session.id)
            .order_by(SessionVariantCounter.variant_id)
            .execution_options(populate_existing=True)
        )
    )
    return session, int(version or 0), counters


def ensure_counters(db: Session, session: GroupSession) -> None:
    """Give `session` a counter row (0 confirmed, 0 waiting) for each size of its product that has none."""
    db.flush()
    have = set(
        db.scalars(
            select(SessionVariantCounter.variant_id).where(SessionVariantCounter.session_id == session.id)
        )
    )
    for variant_id in db.scalars(select(Variant.id).where(Variant.product_id == session.product_id)):
        if variant_id not in have:
            db.add(
                SessionVariantCounter(
                    session_id=session.id, variant_id=variant_id, ordered_units=0, waiting_units=0
                )
            )
    db.flush()


def claim_sessions(
    db: Session, *conditions: Any, order_by: tuple[Any, ...], limit: int, exclude: Iterable[int] = ()
) -> list[GroupSession]:
    """Lock up to `limit` sessions meeting `conditions`, in `order_by` order, for a sweep (expiry,
    reminders) to work on in this transaction.

    PostgreSQL: `FOR UPDATE SKIP LOCKED`, so two sweepers take disjoint sessions and each holds its own
    until it commits. SQLite ignores the clause, but its write transactions (BEGIN IMMEDIATE) run one at a
    time, so the second sweeper only sees what the first left. `exclude` skips sessions this sweep already
    tried and left for later."""
    query = (
        select(GroupSession)
        .where(*conditions)
        .order_by(*order_by)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    excluded = list(exclude)
    if excluded:
        query = query.where(GroupSession.id.not_in(excluded))
    return list(db.scalars(query))


def find_session(db: Session, code: str | None) -> GroupSession | None:
    """A session by code, without a lock (for reading); None when there is none."""
    return db.scalar(select(GroupSession).where(GroupSession.code == normal_code(code)))


def open_sessions(db: Session, at: datetime | None = None, limit: int = 10) -> list[GroupSession]:
    """Sessions taking joins now, the soonest to end first."""
    at = at or now()
    return list(
        db.scalars(
            select(GroupSession)
            .where(
                GroupSession.status.in_(SessionStatus.JOINABLE),
                GroupSession.ends_at > at,
                GroupSession.starts_at <= at,
            )
            .order_by(GroupSession.ends_at)
            .limit(limit)
        )
    )


def product_with_lots(db: Session, product_id: int) -> Product:
    """A session's product with its sizes, lot allocations and factory loaded."""
    product = db.scalar(
        select(Product)
        .where(Product.id == product_id)
        .options(
            selectinload(Product.variants), selectinload(Product.allocations), selectinload(Product.factory)
        )
    )
    assert product is not None
    return product


def allocations_by_variant(product: Product) -> dict[int, int]:
    """Variant id -> units per lot (empty for a product without grosir lots)."""
    return {a.variant_id: a.units_per_lot for a in product.allocations}


def participants(db: Session, session_id: int, *statuses: str) -> list[Participant]:
    """Joins in any of `statuses`, oldest request first, with their buyer and size loaded."""
    return list(
        db.scalars(
            select(Participant)
            .where(Participant.session_id == session_id, Participant.status.in_(statuses))
            .options(selectinload(Participant.buyer), selectinload(Participant.variant))
            .order_by(Participant.requested_at, Participant.id)
        )
    )


def buyers_of(
    db: Session, session_id: int, statuses: tuple[str, ...] = (ParticipantStatus.CONFIRMED,)
) -> list[Buyer]:
    """Each buyer with a join in `statuses`, once, in buyer order."""
    return list(
        db.scalars(
            select(Buyer)
            .where(
                Buyer.id.in_(
                    select(Participant.buyer_id).where(
                        Participant.session_id == session_id, Participant.status.in_(statuses)
                    )
                )
            )
            .order_by(Buyer.id)
        )
    )


def demand(db: Session, session_id: int) -> dict[int, int]:
    """Confirmed units per variant id."""
    rows = db.execute(
        select(Participant.variant_id, func.sum(Participant.quantity))
        .where(Participant.session_id == session_id, Participant.status == ParticipantStatus.CONFIRMED)
        .group_by(Participant.variant_id)
    )
    return {variant_id: int(units) for variant_id, units in rows}


def buyer_participations(db: Session, buyer: Buyer, limit: int = 15) -> list[Participant]:
    """A buyer's joins and waiting requests, newest first (for STATUS)."""
    return list(
        db.scalars(
            select(Participant)
            .where(Participant.buyer_id == buyer.id)
            .order_by(Participant.id.desc())
            .limit(limit)
        )
    )


def waiting_position(db: Session, participant: Participant) -> int:
    """A waiting request's place in its size's line (1 = next)."""
    return int(
        db.scalar(
            select(func.count(Participant.id)).where(
                Participant.session_id == participant.session_id,
                Participant.variant_id == participant.variant_id,
                Participant.status == ParticipantStatus.WAITING,
                Participant.id <= participant.id,
            )
        )
        or 0
    )
