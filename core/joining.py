"""Joining, waiting and leaving a session: the cap check and the writes in one transaction.

Concurrency: every change to a session's joins first locks the session row (`core.session_rows`:
`SELECT ... FOR UPDATE` on PostgreSQL; SQLite serialises writers with `BEGIN IMMEDIATE`). A join locks the
session and its per-size counters and reads them, with the product's catalog version, in one statement
(`lock_for_join`); under that lock the rule is applied, and the participant row, the counters and the
waitlist admissions are written (`core.join_rows`), so no interleaving of joins and leaves can oversell a
size.

Every refusal of a join raises `Refusal` before anything is written, so a join needs no savepoint (its
caller renders the refusal); `leave` runs inside one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import allocation, notifications, texts
from core.allocation import WaitingRequest
from core.clock import as_utc, now
from core.join_rows import write_participant
from core.models import (
    Buyer,
    GroupSession,
    Participant,
    ParticipantStatus,
    Product,
    SessionStatus,
)
from core.product_lots import VariantLots
from core.session_rows import lock_for_join, lock_session, normal_code, waiting_position
from core.session_view import SessionView, is_open, load_view
from core.settings import Settings
from core.transitions import transition

MAX_QUANTITY = 100  # per request; larger asks are almost always typos (e.g. "IKUT GB1 M 1000")


class Refusal(Exception):
    """A request refused with a reason the buyer can read (`key` in the text catalogue)."""

    def __init__(self, key: str, **fields):
        super().__init__(key)
        self.key = key
        self.fields = fields


@dataclass
class JoinResult:
    status: str  # "joined" or "waiting"
    participant: Participant
    view: SessionView
    moq_just_reached: bool = False
    position: int | None = None  # place in line, for "waiting"
    admitted: list[Participant] = field(default_factory=list)


@dataclass
class LeaveResult:
    released_units: int
    withdrawn_units: int
    view: SessionView
    admitted: list[Participant] = field(default_factory=list)


def _lock_session(db: Session, code: str) -> GroupSession:
    session = lock_session(db, code=code)
    if session is None:
        raise Refusal("unknown_session", code=normal_code(code))
    return session


def _variant(view: SessionView, size: str) -> VariantLots:
    wanted = size.strip().upper()
    for variant in view.product.variants:
        if variant.size == wanted:
            return variant
    raise Refusal("unknown_size", size=wanted, code=view.session.code, sizes=", ".join(view.sizes))


def _check_quantity(quantity: int) -> None:
    if quantity <= 0:
        raise Refusal("quantity_not_positive")
    if quantity > MAX_QUANTITY:
        raise Refusal("quantity_too_large", maximum=MAX_QUANTITY)


def _open_session(db: Session, code: str, at: datetime) -> tuple[GroupSession, SessionView]:
    locked = lock_for_join(db, code)
    if locked is None:
        raise Refusal("unknown_session", code=normal_code(code))
    session, catalog_version, counters = locked
    if not is_open(session, at):
        if session.status in SessionStatus.JOINABLE and as_utc(session.starts_at) > at:
            raise Refusal("session_not_started", code=session.code)
        raise Refusal("session_closed", code=session.code)
    return session, load_view(db, session, catalog_version=catalog_version, counters=counters)


def join(
    db: Session,
    *,
    session_code: str,
    buyer: Buyer,
    size: str,
    quantity: int = 1,
    wait: bool = False,
    at: datetime | None = None,
    settings: Settings | None = None,
) -> JoinResult:
    """Join `quantity` units of `size`, or (waitlist on) wait: for a locked size, or for settlement at close
    when no join during the session can make room (larger than `T*a_v`); a refusal is raised.

    `wait=True` is the buyer's explicit `ANTRE`: wait for the whole request even if part of it is free.
    `settings` choose the notification templates (none given: free text).
    """
    _check_quantity(quantity)
    [outcome] = join_lines(
        db,
        session_code=session_code,
        buyer=buyer,
        lines=[(size, quantity)],
        wait=wait,
        at=at,
        settings=settings,
    )
    if isinstance(outcome, Refusal):
        raise outcome
    return outcome


def join_lines(
    db: Session,
    *,
    session_code: str,
    buyer: Buyer,
    lines: Sequence[tuple[str, int]],
    wait: bool = False,
    at: datetime | None = None,
    settings: Settings | None = None,
) -> list[JoinResult | Refusal]:
    """Several sizes of one session in one go (`IKUT KAOS1 M 2, L 1`), under one lock: each size is checked
    against its own cap in the order written, so each line is joined, waits, or is refused on its own (a
    refused line writes nothing). A session that is unknown or closed refuses the whole request (raised).
    """
    at = at or now()
    settings = settings or Settings()
    session, view = _open_session(db, session_code, at)
    outcomes: list[JoinResult | Refusal] = []
    for size, quantity in lines:
        try:
            _check_quantity(quantity)
            outcomes.append(_place(db, view, buyer, size, quantity, wait, at))
        except Refusal as refusal:
            outcomes.append(refusal)
    joined = [o for o in outcomes if isinstance(o, JoinResult) and o.status == "joined"]
    if joined:
        admitted = _admit_waiting(db, view, at, settings)
        # After admissions, so buyers admitted by this join are among those told the MOQ is reached; the
        # joining buyer reads it in the reply (`moq_just_reached`), so is not told again by WhatsApp.
        moq_just_reached = _after_confirmed_change(db, session, at, settings, told=buyer.id)
        for outcome in outcomes:
            if isinstance(outcome, JoinResult):
                if outcome.participant.status == ParticipantStatus.CONFIRMED:
                    outcome.status = "joined"  # a line that waited may be let in by a later one
                outcome.moq_just_reached, outcome.admitted = moq_just_reached, admitted
    return outcomes


def _place(
    db: Session, view: SessionView, buyer: Buyer, size: str, quantity: int, wait: bool, at: datetime
) -> JoinResult:
    """One size of a join, under the session lock: joined, waiting, or a `Refusal` (nothing written)."""
    session, product = view.session, view.product
    variant = _variant(view, size)
    state = view.states[variant.size]
    if state.accepts(quantity):
        participant = add_participant(db, view, buyer, variant, quantity, ParticipantStatus.CONFIRMED, at)
        return JoinResult("joined", participant, view)

    # No request above T*a_v ever fits while the session runs (available_v <= T*a_v): only settlement at
    # close can serve it (docs/design.md, "Waitlist").
    largest = (
        allocation.max_request(variant.size, view.allocations, product.lead_lots) if view.allocations else 0
    )
    too_large = bool(view.allocations) and quantity > largest
    waitlist_possible = product.waitlist_enabled and bool(view.allocations)
    if waitlist_possible and (wait or state.locked or too_large):
        # Waits whole; one no join can make room for (too large, a static full size) is settled at close.
        participant = add_participant(db, view, buyer, variant, quantity, ParticipantStatus.WAITING, at)
        position = waiting_position(db, participant)
        return JoinResult("waiting", participant, view, position=position)

    if too_large:
        raise Refusal(
            "over_max_request",
            size=variant.size,
            code=session.code,
            maximum=largest,
            available=state.available or 0,
        )
    if wait and not waitlist_possible:
        raise Refusal("waitlist_off", code=session.code, size=variant.size, available=state.available or 0)
    if state.locked:
        catch_up = view.catch_up(variant.size, 1)
        if catch_up is None:
            raise Refusal("size_full_for_good", size=variant.size, code=session.code)
        raise Refusal("size_locked", size=variant.size, code=session.code, catch_up=catch_up)
    raise Refusal(
        "too_many",
        size=variant.size,
        code=session.code,
        available=state.available,
        quantity=quantity,
        waitlist=waitlist_possible,
    )


def add_participant(
    db: Session,
    view: SessionView,
    buyer: Buyer,
    variant: VariantLots,
    quantity: int,
    status: str,
    at: datetime,
) -> Participant:
    """Write one join (`confirmed`) or waiting request, counted in the view, under the session lock the
    caller holds; the caps are the caller's to check."""
    return write_participant(db, view, buyer.id, variant.id, quantity, status, at)


def _after_confirmed_change(
    db: Session, session: GroupSession, at: datetime, settings: Settings, told: int | None = None
) -> bool:
    """Move between forming and moq_reached as confirmed units cross the MOQ; True if it was reached now.

    Reaching it tells every confirmed buyer by WhatsApp, except `told` (the buyer id whose reply says so)."""
    # The session row is locked, so its status is current: skip the UPDATE when nothing can change.
    if session.ordered_units >= session.target_moq:
        if session.status != SessionStatus.FORMING:
            return False
        reached = transition(
            db, session.id, SessionStatus.MOQ_REACHED, (SessionStatus.FORMING,), moq_reached_at=at
        )
        if reached:
            product = db.get(Product, session.product_id)
            assert product is not None
            notifications.notify_buyers(
                db,
                settings,
                session,
                product,
                notifications.MOQ_REACHED,
                key=f"moq_reached:{session.id}",
                except_buyer_id=told,
            )
        return reached
    if session.status == SessionStatus.MOQ_REACHED:
        transition(db, session.id, SessionStatus.FORMING, (SessionStatus.MOQ_REACHED,))
    return False


def _admit_waiting(db: Session, view: SessionView, at: datetime, settings: Settings) -> list[Participant]:
    """Admit waiting requests that fit now (oldest first), in the caller's transaction.

    Requests larger than `T*a_v` are left to settlement at close and hold up nobody. Loads only the
    requests that could fit, not the whole line (a long line must not slow every join):
    caps never fall when a size gains units, so size v can take at most `cap_v(ordered + waiting) - o_v`
    units now, hence at most that many of its oldest requests (a size's line is first come first served).
    """
    if not view.allocations or not any(view.waiting.values()):
        return []
    session = view.session
    everything_admitted = {
        size: view.ordered.get(size, 0) + view.waiting.get(size, 0) for size in view.allocations
    }
    variant_of = {v.size: v.id for v in view.product.variants}
    waiting: list[Participant] = []
    for size in view.allocations:
        if not view.waiting.get(size):
            continue
        ceiling = allocation.size_availability(
            size,
            view.allocations,
            everything_admitted,
            view.product.lead_lots,
            view.product.allocation_policy,
        )
        most = (ceiling.cap or 0) - view.ordered.get(size, 0)
        if most > 0:
            waiting += db.scalars(
                select(Participant)
                .where(
                    Participant.session_id == session.id,
                    Participant.variant_id == variant_of[size],
                    Participant.status == ParticipantStatus.WAITING,
                    # larger than T*a_v: only settlement can serve it, so it must not hold up the line
                    Participant.quantity
                    <= allocation.max_request(size, view.allocations, view.product.lead_lots),
                )
                .order_by(Participant.id)
                .limit(most)
            )
    if not waiting:
        return []
    waiting.sort(key=lambda p: p.id)
    size_of = {v.id: v.size for v in view.product.variants}
    requests = [WaitingRequest(p.id, size_of[p.variant_id], p.quantity) for p in waiting]
    chosen = allocation.admit_waiting(
        requests, view.allocations, view.ordered, view.product.lead_lots, view.product.allocation_policy
    )
    by_id = {p.id: p for p in waiting}
    admitted = []
    for request in chosen:
        participant = by_id[request.key]
        participant.status = ParticipantStatus.CONFIRMED
        participant.joined_at = at
        view.count(db, participant.variant_id, ordered=participant.quantity, waiting=-participant.quantity)
        admitted.append(participant)
        buyer = db.get(Buyer, participant.buyer_id)
        assert buyer is not None
        notifications.notify(
            db,
            settings,
            notifications.WAITLIST_ADMITTED,
            key=f"admitted:{participant.id}",
            to_phone=buyer.phone,
            language=buyer.language,
            session_id=session.id,
            code=session.code,
            product=view.product.name,
            size=request.size,
            quantity=participant.quantity,
            total=texts.rupiah(participant.total),
        )
    if admitted:
        db.flush()
    return admitted


def leave(
    db: Session,
    *,
    session_code: str,
    buyer: Buyer,
    at: datetime | None = None,
    settings: Settings | None = None,
) -> LeaveResult:
    """Release all of a buyer's units in a session and withdraw their waiting requests."""
    at = at or now()
    settings = settings or Settings()
    session = _lock_session(db, session_code)
    mine = list(
        db.scalars(
            select(Participant).where(
                Participant.session_id == session.id,
                Participant.buyer_id == buyer.id,
                Participant.status.in_((ParticipantStatus.CONFIRMED, ParticipantStatus.WAITING)),
            )
        )
    )
    if not mine:
        raise Refusal("not_in_session", code=session.code)
    if not is_open(session, at):
        raise Refusal("leave_closed", code=session.code)
    view = load_view(db, session)
    released = withdrawn = 0
    for participant in mine:
        participant.left_at = at
        if participant.status == ParticipantStatus.CONFIRMED:
            participant.status = ParticipantStatus.LEFT
            released += participant.quantity
            view.count(db, participant.variant_id, ordered=-participant.quantity)
        else:
            participant.status = ParticipantStatus.WITHDRAWN
            withdrawn += participant.quantity
            view.count(db, participant.variant_id, waiting=-participant.quantity)
    db.flush()
    # Released units raise caps; a withdrawn request may have been blocking the line for its size.
    admitted = _admit_waiting(db, view, at, settings)
    _after_confirmed_change(db, session, at, settings)
    return LeaveResult(released, withdrawn, view, admitted)
