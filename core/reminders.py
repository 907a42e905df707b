"""Deadline reminders: at each of `REMINDER_HOURS` before a session's deadline (24 and 3 by default),
one WhatsApp per buyer who can still make a difference (see docs/design.md, "Reminders and sharing").

- Confirmed buyers of a session still short of its minimum: how many units are missing.
- Buyers whose requests wait: which sizes, by how many units, would let each request in.
- Not to buyers who sent BERHENTI/STOP; nothing for a session at its minimum where nobody waits.
- Each reminder carries the buyer's share link. Inside WhatsApp's 24 hours after the buyer's last
  message it is free text, later the `REMINDER` template (`TWILIO_CONTENT_SID_REMINDER`).

The clock runs `sweep_reminders` every minute. Sessions are claimed like the expiry sweep claims them (in
batches, `FOR UPDATE SKIP LOCKED`, oldest first, from a partial index) on `next_reminder_at`: when the
sweep should next look at the session. A look sends the latest slot that is due (a slot missed while the
clock was down still goes if the deadline has not passed, but never two at once) and moves
`next_reminder_at` to the next slot, or clears it. The outbox key `reminder:<session>:<hours>:<buyer>`
makes each reminder once per buyer, session and slot, whatever the number of workers or reruns.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import allocation, notifications, sharing, texts
from core.buyer_replies import describe_catch_up
from core.clock import as_utc, format_wib, now
from core.models import Buyer, GroupSession, Participant, ParticipantStatus, SessionStatus
from core.session_rows import claim_sessions, participants
from core.session_view import SessionView, is_open, load_view
from core.settings import Settings
from core.unit_of_work import Dispatch, no_dispatch, savepoint, unit_of_work

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
"""WhatsApp takes free text only this long after the person's last message."""


# --- the schedule, pure ---------------------------------------------------------------------------------


def slot_times(starts_at: datetime, ends_at: datetime, hours: Iterable[int]) -> list[tuple[int, datetime]]:
    """(hours before the deadline, when) of each slot, earliest first. A slot before the session's start
    does not exist for it (a session open for 2 hours has no "24 hours left")."""
    starts, ends = as_utc(starts_at), as_utc(ends_at)
    slots = [(h, ends - timedelta(hours=h)) for h in sorted(set(hours), reverse=True)]
    return [(h, when) for h, when in slots if when >= starts]


def due_slot(starts_at: datetime, ends_at: datetime, hours: Iterable[int], at: datetime) -> int | None:
    """The latest slot whose time has come by `at` (None: none yet, or the deadline passed)."""
    if at >= as_utc(ends_at):
        return None
    due = [h for h, when in slot_times(starts_at, ends_at, hours) if when <= at]
    return due[-1] if due else None


def next_look(starts_at: datetime, ends_at: datetime, hours: Iterable[int], at: datetime) -> datetime | None:
    """When the next slot after `at` falls due (None: no slot left before the deadline)."""
    if at >= as_utc(ends_at):
        return None
    later = [when for _, when in slot_times(starts_at, ends_at, hours) if when > at]
    return later[0] if later else None


# --- what a buyer is told, pure but for the rows it reads ---------------------------------------------------


def _waiting_news(view: SessionView, request: Participant, ahead: int, language: str) -> str:
    """What lets one waiting request in: the catch-up it needs once the requests ahead of it in its size's
    line are in (the line is first come, first served)."""
    size = request.variant.size
    ordered = dict(view.ordered)
    ordered[size] = ordered.get(size, 0) + ahead
    needs = allocation.catch_up_needed(
        size,
        request.quantity,
        view.allocations,
        ordered,
        view.product.lead_lots,
        view.product.allocation_policy,
    )
    fields = {"size": size, "quantity": request.quantity}
    if not needs:  # None: no catch-up ever lets it in (too large, the static rule); settlement decides
        return texts.render(language, "reminder_waiting_at_close", **fields)
    return texts.render(language, "reminder_waiting", catch_up=describe_catch_up(language, needs), **fields)


def reminder_news(view: SessionView, joins: list[Participant], ahead: dict[int, int], language: str) -> str:
    """One buyer's news: the units missing (a session short of its minimum), then each waiting request.
    Empty when there is nothing to say (a session at its minimum and nothing waiting)."""
    session = view.session
    lines = []
    missing = session.target_moq - session.ordered_units
    if missing > 0:
        lines.append(
            texts.render(
                language,
                "reminder_missing",
                missing=missing,
                units=session.ordered_units,
                moq=session.target_moq,
            )
        )
    for join in joins:
        if join.status == ParticipantStatus.WAITING:
            lines.append(_waiting_news(view, join, ahead[join.id], language))
    return "\n".join(lines)


def _units_ahead(waiting: list[Participant]) -> dict[int, int]:
    """Waiting request id -> units of older requests for the same size (admitted first)."""
    ahead: dict[int, int] = {}
    line: dict[int, int] = defaultdict(int)
    for request in sorted(waiting, key=lambda p: p.id):
        ahead[request.id] = line[request.variant_id]
        line[request.variant_id] += request.quantity
    return ahead


# --- one session, and the sweep ---------------------------------------------------------------------------


def in_window(buyer: Buyer, at: datetime) -> bool:
    return buyer.last_inbound_at is not None and at - as_utc(buyer.last_inbound_at) < WINDOW


class BuyerBusy(Exception):
    """A buyer without a referral tag is writing to us right now (their message holds their row)."""


def _tag(db: Session, buyer: Buyer) -> str:
    """The buyer's tag, given now if need be, without waiting for the buyer's row: a message of that buyer
    locks it first and may then wait for this session's lock, which the sweep holds, so waiting could
    deadlock. A busy buyer leaves the session for the next sweep (one minute later)."""
    if buyer.referral_tag is None:
        free = select(Buyer.id).where(Buyer.id == buyer.id).with_for_update(skip_locked=True)
        if db.scalar(free) is None:
            raise BuyerBusy(f"buyer {buyer.id} is busy; the session is left for the next sweep")
    return sharing.referral_tag(db, buyer)


def _next_look_at(session: GroupSession, hours: tuple[int, ...], at: datetime) -> datetime | None:
    if session.status not in SessionStatus.JOINABLE:
        return None
    if at < as_utc(session.starts_at):
        return as_utc(session.starts_at)
    return next_look(session.starts_at, session.ends_at, hours, at)


def remind_session(db: Session, session: GroupSession, settings: Settings, at: datetime) -> int | None:
    """Look at one claimed session: send the due slot's reminders and schedule the next look.

    Returns the messages added, or None when no slot was due (or the session is no longer open)."""
    hours = settings.reminder_hours
    slot = due_slot(session.starts_at, session.ends_at, hours, at) if is_open(session, at) else None
    session.next_reminder_at = _next_look_at(session, hours, at)
    if slot is None:
        return None
    # At its minimum a session has news only for the waiting requests (often none: one cheap query).
    short = session.ordered_units < session.target_moq
    statuses = (
        (ParticipantStatus.CONFIRMED, ParticipantStatus.WAITING) if short else (ParticipantStatus.WAITING,)
    )
    joins = participants(db, session.id, *statuses)
    if not joins:
        return 0
    waiting = [p for p in joins if p.status == ParticipantStatus.WAITING]
    view = load_view(db, session)
    ahead = _units_ahead(waiting)
    by_buyer: dict[int, list[Participant]] = defaultdict(list)
    for join in joins:
        by_buyer[join.buyer_id].append(join)
    free_text = dataclasses.replace(settings, content_sids={})  # inside the 24 hours: no template
    sent = 0
    for buyer_joins in by_buyer.values():
        buyer = buyer_joins[0].buyer
        if not sharing.wants_prompts(buyer):
            continue
        news = reminder_news(view, buyer_joins, ahead, buyer.language)
        if not news:
            continue
        message_id = notifications.notify(
            db,
            free_text if in_window(buyer, at) else settings,
            notifications.REMINDER,
            key=f"reminder:{session.id}:{slot}:{buyer.id}",
            to_phone=buyer.phone,
            language=buyer.language,
            session_id=session.id,
            code=session.code,
            product=view.product.name,
            ends=format_wib(session.ends_at, buyer.language),
            news=news,
            link=sharing.share_link(settings, session.code, _tag(db, buyer), buyer.language),
        )
        sent += message_id is not None
    return sent


def claim_sessions_to_remind(
    db: Session, at: datetime, limit: int = 20, exclude: Iterable[int] = ()
) -> list[GroupSession]:
    """Lock up to `limit` sessions whose next look is due, oldest first (`claim_sessions`, from the partial
    index `ix_sessions_next_reminder_at`)."""
    return claim_sessions(
        db,
        GroupSession.next_reminder_at.is_not(None),
        GroupSession.next_reminder_at <= at,
        order_by=(GroupSession.next_reminder_at, GroupSession.id),
        limit=limit,
        exclude=exclude,
    )


@dataclass
class ReminderSweepResult:
    reminded: dict[str, int] = field(default_factory=dict)  # session code -> reminders added at its slot
    retry_later: dict[str, str] = field(default_factory=dict)  # session code -> error

    def as_dict(self) -> dict:
        return {"reminded": dict(self.reminded), "retry_later": dict(self.retry_later)}


def sweep_reminders(
    db_factory: sessionmaker[Session],
    settings: Settings,
    *,
    at: datetime | None = None,
    batch_size: int = 20,
    dispatch: Dispatch = no_dispatch,
) -> ReminderSweepResult:
    """Look at every session whose next look is due, a batch per unit of work (its reminders dispatched
    after its commit). A session that fails is rolled back to its savepoint and left for the next sweep."""
    at = at or now()
    result = ReminderSweepResult()
    left: set[int] = set()
    while True:
        with unit_of_work(db_factory, dispatch) as db:
            batch = claim_sessions_to_remind(db, at, batch_size, exclude=left)
            if not batch:
                return result
            for session in batch:
                code = session.code
                try:
                    with savepoint(db):
                        sent = remind_session(db, session, settings, at)
                except BuyerBusy as error:
                    log.info("reminders for session %s: %s", code, error)
                    left.add(session.id)
                    result.retry_later[code] = str(error)
                    continue
                except Exception as error:  # noqa: BLE001 - one broken session must not stop the others
                    log.exception("reminders for session %s failed", code)
                    left.add(session.id)
                    result.retry_later[code] = f"{type(error).__name__}: {error}"
                    continue
                if sent is not None:
                    result.reminded[code] = sent
