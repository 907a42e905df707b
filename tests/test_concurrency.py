"""No oversell under concurrent joins, on real PostgreSQL (the claim is made for production)."""

from __future__ import annotations

import random
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import delete, func, select

from core import db as core_db
from core import joining
from core.allocation import size_availability
from core.catalog import product_allocations
from core.db import transaction
from core.joining import Refusal
from core.models import (
    Buyer,
    GroupSession,
    InboundMessage,
    OutboundMessage,
    Participant,
    ParticipantStatus,
    Product,
    SessionVariantCounter,
    Variant,
)
from tests import builders

pytestmark = pytest.mark.usefixtures("requires_postgres")


def make_buyers(db_factory, count: int) -> list[Buyer]:
    with transaction(db_factory) as db:
        buyers = [Buyer(phone=f"+62813{i:07d}", language="id") for i in range(count)]
        db.add_all(buyers)
    return buyers


def run_concurrently(db_factory, jobs, threads: int = 16):
    """Run `(kind, buyer, size, qty)` jobs in parallel, each in its own transaction."""
    start = threading.Event()

    def run(job):
        kind, who, size, quantity = job
        start.wait(timeout=10)
        try:
            with transaction(db_factory) as db:
                if kind == "leave":
                    joining.leave(db, session_code="HOT", buyer=db.merge(who))
                else:
                    joining.join(
                        db,
                        session_code="HOT",
                        buyer=db.merge(who),
                        size=size,
                        quantity=quantity,
                        wait=kind == "wait",
                    )
            return "ok"
        except Refusal as refusal:
            return refusal.key

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(run, job) for job in jobs]
        start.set()  # release them together, so they really contend for the session lock
        return [future.result() for future in futures]


def assert_counters_match_rows(db, session_id: int) -> dict[str, int]:
    ordered = dict(
        db.execute(
            select(Variant.size, SessionVariantCounter.ordered_units)
            .join(Variant, Variant.id == SessionVariantCounter.variant_id)
            .where(SessionVariantCounter.session_id == session_id)
        ).all()
    )
    rows = dict(
        db.execute(
            select(Variant.size, func.sum(Participant.quantity))
            .join(Variant, Variant.id == Participant.variant_id)
            .where(Participant.session_id == session_id, Participant.status == ParticipantStatus.CONFIRMED)
            .group_by(Variant.size)
        ).all()
    )
    assert {k: v for k, v in ordered.items() if v} == rows
    session = db.get(GroupSession, session_id)
    assert session.ordered_units == sum(rows.values())
    return rows


def test_fifty_concurrent_joins_for_three_free_units(db_factory):
    with transaction(db_factory) as db:
        product = builders.product(db, builders.TWO_SIZES)
        builders.session(db, product.id, code="HOT", target_moq=100)
    buyers = make_buyers(db_factory, 51)
    with transaction(db_factory) as db:  # M 5/8: exactly 3 available
        joining.join(db, session_code="HOT", buyer=db.merge(buyers[50]), size="M", quantity=5)

    outcomes = run_concurrently(db_factory, [("join", b, "M", 1) for b in buyers[:50]], threads=25)

    assert outcomes.count("ok") == 3
    assert outcomes.count("size_locked") == 47
    with db_factory() as db:
        session_id = db.scalar(select(GroupSession.id))
        assert assert_counters_match_rows(db, session_id) == {"M": 8}
        assert db.scalar(select(func.count(Participant.id))) == 4


def replay_in_commit_order(db, session_id: int) -> None:
    """Joins hold the session lock from before their insert to commit, so id order is commit order:
    replaying confirmed joins in that order through the pure rule must accept every one of them."""
    product = db.scalar(select(Product).join(GroupSession).where(GroupSession.id == session_id))
    allocations = product_allocations(product)
    size_of = {v.id: v.size for v in product.variants}
    ordered: dict[str, int] = {}
    for participant in db.scalars(
        select(Participant).where(Participant.session_id == session_id).order_by(Participant.id)
    ):
        if participant.status != ParticipantStatus.CONFIRMED:
            continue
        size = size_of[participant.variant_id]
        state = size_availability(size, allocations, ordered, product.lead_lots)
        assert participant.quantity <= state.available, (size, participant.quantity, state)
        ordered[size] = ordered.get(size, 0) + participant.quantity


def test_random_concurrent_mix_never_exceeds_a_cap(db_factory):
    rng = random.Random(20261125)
    with transaction(db_factory) as db:
        product = builders.product(db, builders.TSHIRT_MIX)
        builders.session(db, product.id, code="HOT", target_moq=1000)
    buyers = make_buyers(db_factory, 120)
    sizes = list(builders.TSHIRT_MIX)
    weights = [1, 4, 2, 1]  # M wanted far more than the lot mix allows
    jobs = [("join", b, rng.choices(sizes, weights)[0], rng.randint(1, 3)) for b in buyers]

    outcomes = run_concurrently(db_factory, jobs)

    assert set(outcomes) <= {"ok", "size_locked", "too_many", "over_max_request"}  # 3 XL > 2 lots of XL
    with db_factory() as db:
        session_id = db.scalar(select(GroupSession.id))
        final = assert_counters_match_rows(db, session_id)
        replay_in_commit_order(db, session_id)
        assert sum(final.values()) == sum(
            q for (_, _, _, q), o in zip(jobs, outcomes, strict=True) if o == "ok"
        )


def setup_waitlist_session(db_factory, count: int):
    with transaction(db_factory) as db:
        product = builders.product(db, builders.FOUR_SIZES, waitlist=True)
        builders.session(db, product.id, code="HOT", target_moq=1000)
    return make_buyers(db_factory, count)


def random_requests(rng, buyers):
    sizes = list(builders.FOUR_SIZES)
    return [
        ("wait" if index % 3 == 0 else "join", who, rng.choices(sizes, [1, 5, 2, 1])[0], rng.randint(1, 4))
        for index, who in enumerate(buyers)
    ]


def assert_waitlist_consistent(db, session_id: int) -> None:
    """Waiting counters equal waiting rows; each admitted request was admitted and told exactly once."""
    waiting_rows = dict(
        db.execute(
            select(Variant.size, func.sum(Participant.quantity))
            .join(Variant, Variant.id == Participant.variant_id)
            .where(Participant.status == ParticipantStatus.WAITING)
            .group_by(Variant.size)
        ).all()
    )
    waiting_counters = dict(
        db.execute(
            select(Variant.size, SessionVariantCounter.waiting_units).join(
                Variant, Variant.id == SessionVariantCounter.variant_id
            )
        ).all()
    )
    assert {k: v for k, v in waiting_counters.items() if v} == waiting_rows
    # A direct join is stamped joined_at == requested_at; an admission later than the request.
    admitted = set(
        db.scalars(
            select(Participant.id).where(
                Participant.joined_at.is_not(None), Participant.joined_at != Participant.requested_at
            )
        )
    )
    told = [
        int(key.split(":")[1])
        for key in db.scalars(
            select(OutboundMessage.idempotency_key).where(OutboundMessage.kind == "waitlist_admitted")
        )
    ]
    assert sorted(told) == sorted(admitted)


def test_concurrent_joins_and_waits_stay_within_caps_and_admit_once(db_factory):
    buyers = setup_waitlist_session(db_factory, 100)
    jobs = random_requests(random.Random(7), buyers)

    outcomes = run_concurrently(db_factory, jobs)

    assert set(outcomes) <= {"ok", "too_many"}
    with db_factory() as db:
        session_id = db.scalar(select(GroupSession.id))
        final = assert_counters_match_rows(db, session_id)
        assert_waitlist_consistent(db, session_id)
        # Without leaves caps only grow, so every size must still be within its cap at the end.
        product = db.scalar(select(Product))
        allocations = product_allocations(product)
        for size in allocations:
            assert final.get(size, 0) <= size_availability(size, allocations, final, product.lead_lots).cap


def test_concurrent_joins_waits_and_leaves_keep_counters_exact(db_factory):
    rng = random.Random(11)
    buyers = setup_waitlist_session(db_factory, 90)
    jobs = random_requests(rng, buyers)
    jobs[60:60] = [("leave", who, None, None) for who in rng.sample(buyers[:60], 15)]

    outcomes = run_concurrently(db_factory, jobs)

    assert set(outcomes) <= {"ok", "too_many", "not_in_session"}
    with db_factory() as db:
        session_id = db.scalar(select(GroupSession.id))
        assert_counters_match_rows(db, session_id)
        assert_waitlist_consistent(db, session_id)


# ------------------------------------------------------- the whole webhook path: one statement locks it all


def signed_join(settings, number: str, text: str, sid: str | None = None):
    from core.conversation import Inbound, receive
    from core.unit_of_work import no_dispatch

    inbound = Inbound(sid or "SM" + secrets.token_hex(16), f"whatsapp:{number}", text, "Pembeli")
    return receive(core_db.session_factory(settings.database_url), no_dispatch, inbound, settings)


@pytest.mark.parametrize("counters", ["made with the session", "missing (older data)"])
def test_last_units_of_a_size_rushed_through_the_webhook_path(db_factory, settings, counters):
    """24 buyers ask for the last 3 units of M at once through `receive` (what the webhook calls): the session,
    its catalog version and its counters are locked by one statement, so exactly the cap is admitted, the
    counters equal the sums of the confirmed rows, and nobody deadlocks (every request is answered)."""
    with transaction(db_factory) as db:
        product = builders.product(db, builders.FOUR_SIZES)
        session = builders.session(db, product.id, code="HOT", target_moq=100)
        early = make_buyers(db_factory, 1)[0]
    with transaction(db_factory) as db:  # M 5 of 8: 3 available
        joining.join(db, session_code="HOT", buyer=db.merge(early), size="M", quantity=5)
        if counters.startswith("missing"):  # only sizes joined had a counter row: the join adds the others
            db.execute(delete(SessionVariantCounter).where(SessionVariantCounter.ordered_units == 0))
    replies = builders.race(
        *[lambda n=n: signed_join(settings, f"+62815{n:07d}", "IKUT HOT M 1") for n in range(24)]
    )
    texts = [reply.text for reply in replies]
    assert sum(text.startswith("✅ Tercatat") for text in texts) == 3
    assert sum(text.startswith("Maaf") or text.startswith("🔒") for text in texts) == 21, texts[:3]
    with db_factory() as db:
        assert assert_counters_match_rows(db, session.id) == {"M": 8}
        assert db.scalar(select(func.count()).select_from(SessionVariantCounter)) == 4
        replay_in_commit_order(db, session.id)
        assert db.scalar(select(func.count(InboundMessage.id))) == 24


def test_one_message_delivered_several_times_at_once_is_handled_once(db_factory, settings):
    """The same MessageSid arriving on eight connections at once: one join, one inbound row, and every
    delivery answered with the same reply (all but one marked as a duplicate)."""
    with transaction(db_factory) as db:
        product = builders.product(db, builders.FOUR_SIZES)
        builders.session(db, product.id, code="HOT", target_moq=100)
    for round_ in range(3):
        sid = "SM" + secrets.token_hex(16)
        number = f"+62816{round_:07d}"
        replies = builders.race(
            *[lambda number=number, sid=sid: signed_join(settings, number, "IKUT HOT M 1", sid)] * 8
        )
        assert {reply.text for reply in replies} == {replies[0].text}
        assert replies[0].text.startswith("✅ Tercatat: 1 pcs")
        assert sum(not reply.duplicate for reply in replies) == 1
        with db_factory() as db:
            assert (
                db.scalar(select(func.count(InboundMessage.id)).where(InboundMessage.message_sid == sid)) == 1
            )
            assert db.scalar(select(func.count(Participant.id)).join(Buyer).where(Buyer.phone == number)) == 1
    with db_factory() as db:
        session_id = db.scalar(select(GroupSession.id))
        assert assert_counters_match_rows(db, session_id) == {"M": 3}
