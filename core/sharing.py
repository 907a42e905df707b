"""Share links and referral credit (see docs/design.md, "Reminders and sharing").

A buyer's share link opens WhatsApp with a join to the bot already typed, carrying the buyer's referral
tag: `https://wa.me/<bot number>?text=IKUT%20KAOS1%20REF-7K2Q9A`. A friend who sends it and joins the
session credits the sharer: once per friend and session (the friend's first participation in it), never
the sharer's own joins. INFO, the join reply and reminders carry the link, unless the buyer turned share
prompts off (BERHENTI/STOP, `core.buyer_preferences`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import Integer, bindparam, func, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import texts
from core.clock import now
from core.models import Buyer, GroupSession, Participant, Referral
from core.session_rows import find_session, normal_code
from core.settings import Settings
from core.understanding import new_referral_tag, share_text

TAG_ATTEMPTS = 8
TOP_SHARERS = 10


def referral_tag(db: Session, buyer: Buyer) -> str:
    """The buyer's tag, the same for good; a new one the first time a link is made for the buyer.

    Set with one conditional UPDATE (`WHERE referral_tag IS NULL`, and no other buyer has the tag) that
    returns the tag it set: when two transactions give the same buyer a tag at once, the second sets
    nothing, finds the first's and uses it, so a link already sent never goes stale."""
    if buyer.referral_tag:
        return buyer.referral_tag
    for _ in range(TAG_ATTEMPTS):
        tag = new_referral_tag()
        taken = select(Buyer.id).where(Buyer.referral_tag == tag).exists()
        stored = db.execute(
            update(Buyer)
            .where(Buyer.id == buyer.id, Buyer.referral_tag.is_(None), ~taken)
            .values(referral_tag=tag)
            .returning(Buyer.referral_tag)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if stored is None:  # a tag given meanwhile, or (30 random bits: once in a great while) a taken tag
            stored = db.scalar(select(Buyer.referral_tag).where(Buyer.id == buyer.id))
        if stored is not None:
            set_committed_value(buyer, "referral_tag", stored)
            return stored
    raise RuntimeError(f"no free referral tag after {TAG_ATTEMPTS} attempts")


def share_link(settings: Settings, code: str, tag: str | None, language: str) -> str:
    """`https://wa.me/<bot number digits>?text=<IKUT <code> REF-<tag>, URL-encoded>`."""
    return f"https://wa.me/{settings.share_number}?text={quote(share_text(code, tag, language), safe='')}"


def wants_prompts(buyer: Buyer) -> bool:
    """False once the buyer sent BERHENTI/STOP: no reminders, no share links (until MULAI/START)."""
    return buyer.opted_out_at is None


def share_line(db: Session, buyer: Buyer, code: str, language: str, settings: Settings) -> str:
    """The share prompt under INFO and the join reply ("📣 Ajak teman ikut KAOS1: <link>"), or "" for a
    buyer who turned prompts off."""
    if not wants_prompts(buyer):
        return ""
    link = share_link(settings, code, referral_tag(db, buyer), language)
    return texts.render(language, "share_line", code=code, link=link)


def with_share_line(
    reply: str, db: Session, buyer: Buyer, code: str, language: str, settings: Settings
) -> str:
    line = share_line(db, buyer, code, language, settings)
    return f"{reply}\n{line}" if line else reply


def join_mark(db: Session, buyer: Buyer, code: str | None) -> int:
    """Where the buyer's participations in the session `code` stand before a join (their last id, 0 for
    none): `after_join` reads what the join wrote, however it wrote it (one size, several, a guided flow)."""
    last = db.scalar(
        select(func.max(Participant.id))
        .join(GroupSession, GroupSession.id == Participant.session_id)
        .where(GroupSession.code == normal_code(code), Participant.buyer_id == buyer.id)
    )
    return int(last or 0)


def after_join(
    db: Session,
    buyer: Buyer,
    code: str | None,
    referral: str | None,
    mark: int,
    reply: str,
    language: str,
    settings: Settings,
) -> str:
    """What sharing adds to a join's reply: with a referral tag, the sharer's credit for the rows this join
    wrote (those after `mark`, see `join_mark`); then the buyer's own share prompt under the reply.

    Called after a join that did not raise, so the session `code` exists: without a referral tag nothing is
    read (the share prompt needs only the code and the buyer's tag)."""
    if not referral:
        return with_share_line(reply, db, buyer, normal_code(code), language, settings)
    session = find_session(db, code)
    if session is None:
        return reply
    if referral:
        joined = db.scalars(
            select(Participant).where(
                Participant.session_id == session.id, Participant.buyer_id == buyer.id, Participant.id > mark
            )
        ).all()
        if joined:
            credit_referral(db, session=session, buyer=buyer, tag=referral, joined=joined)
    return with_share_line(reply, db, buyer, session.code, language, settings)


# The same SQL on PostgreSQL and SQLite: a second credit for the same friend and session adds nothing.
_INSERT = (
    text(
        "INSERT INTO referrals (session_id, sharer_id, referred_id, created_at) "
        "VALUES (:session_id, :sharer_id, :referred_id, :stamp) "
        "ON CONFLICT (session_id, referred_id) DO NOTHING RETURNING id"
    )
    .bindparams(bindparam("stamp", type_=Referral.__table__.c.created_at.type))
    .columns(id=Integer)
)


def credit_referral(
    db: Session, *, session: GroupSession, buyer: Buyer, tag: str, joined: Iterable[Participant] = ()
) -> bool:
    """Credit the owner of `tag` with `buyer`'s join of `session`; True if credited now.

    Not credited: an unknown tag, the buyer's own tag, or a buyer who took part in the session before
    (any participation but `joined`, the rows of the join being credited, whether the caller credits
    before or after writing them); a second credit for the same buyer and session adds nothing."""
    sharer_id = db.scalar(select(Buyer.id).where(Buyer.referral_tag == tag.upper()))
    if sharer_id is None or sharer_id == buyer.id:
        return False
    just_now = [p.id for p in joined]
    earlier = select(Participant.id).where(
        Participant.session_id == session.id, Participant.buyer_id == buyer.id
    )
    if just_now:
        earlier = earlier.where(Participant.id.not_in(just_now))
    if db.scalar(earlier.limit(1)) is not None:
        return False
    credited = db.execute(
        _INSERT,
        {"session_id": session.id, "sharer_id": sharer_id, "referred_id": buyer.id, "stamp": now()},
    ).scalar_one_or_none()
    return credited is not None


def friends_referred(db: Session, buyer: Buyer) -> int:
    """How many friends joined a session through the buyer's link (for STATUS)."""
    return int(
        db.scalar(select(func.count()).select_from(Referral).where(Referral.sharer_id == buyer.id)) or 0
    )


@dataclass(frozen=True)
class Sharer:
    phone: str
    name: str | None
    count: int


@dataclass(frozen=True)
class ReferralSummary:
    count: int
    top_sharers: list[Sharer]


def session_referrals(db: Session, session_id: int, top: int = TOP_SHARERS) -> ReferralSummary:
    """Referrals of one session, and its `top` sharers (most friends first, then who shared first)."""
    rows = db.execute(
        select(Buyer.phone, Buyer.name, func.count(Referral.id))
        .join(Referral, Referral.sharer_id == Buyer.id)
        .where(Referral.session_id == session_id)
        .group_by(Buyer.id, Buyer.phone, Buyer.name)
        .order_by(func.count(Referral.id).desc(), func.min(Referral.id))
    ).all()
    return ReferralSummary(
        count=sum(count for *_, count in rows),
        top_sharers=[Sharer(phone, name, count) for phone, name, count in rows[:top]],
    )


@dataclass(frozen=True)
class ReferralRow:
    sharer_phone: str
    referred_phone: str
    created_at: datetime


def referral_rows(db: Session, session_id: int) -> list[ReferralRow]:
    """Every referral of a session, oldest first (the admin's list)."""
    sharer, referred = Buyer.__table__.alias("sharer"), Buyer.__table__.alias("referred")
    rows = db.execute(
        select(sharer.c.phone, referred.c.phone, Referral.created_at)
        .join(sharer, sharer.c.id == Referral.sharer_id)
        .join(referred, referred.c.id == Referral.referred_id)
        .where(Referral.session_id == session_id)
        .order_by(Referral.id)
    ).all()
    return [ReferralRow(*row) for row in rows]
