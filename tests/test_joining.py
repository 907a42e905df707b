"""The join service on a real database: caps, refusals that write nothing, MOQ transitions, leaving."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from core import joining
from core.clock import now
from core.joining import Refusal
from core.models import (
    Buyer,
    GroupSession,
    OutboundMessage,
    Participant,
    ParticipantStatus,
    SessionStatus,
    SessionVariantCounter,
    Variant,
)
from core.settings import Settings
from tests import builders
from tests.builders import counters


def buyer(db, n: int) -> Buyer:
    b = Buyer(phone=f"+62812000{n:05d}", name=f"Buyer {n}", language="id")
    db.add(b)
    db.flush()
    return b


def confirmed_sums(db, session_id: int) -> dict[str, int]:
    rows = db.execute(
        select(Variant.size, func.sum(Participant.quantity))
        .join(Variant, Variant.id == Participant.variant_id)
        .where(Participant.session_id == session_id, Participant.status == ParticipantStatus.CONFIRMED)
        .group_by(Variant.size)
    )
    return dict(rows.all())


@pytest.fixture
def four_sizes(db):
    product = builders.product(db, builders.FOUR_SIZES)
    session = builders.session(db, product.id, code="GB1", target_moq=16)
    db.commit()
    return session


def step(db, who, size, quantity, code="GB1", wait=False):
    with db.begin_nested():
        try:
            result = joining.join(db, session_code=code, buyer=who, size=size, quantity=quantity, wait=wait)
        except Refusal as refusal:
            return refusal
    return result


def test_four_size_worked_example_through_the_service(db, four_sizes):
    a, b, c, d = (buyer(db, i) for i in range(4))
    assert step(db, a, "M", 5).status == "joined"
    refused = step(db, b, "M", 4)
    assert refused.key == "too_many" and refused.fields["available"] == 3
    assert step(db, b, "M", 3).status == "joined"
    locked = step(db, c, "M", 1)
    assert locked.key == "size_locked"
    assert [(n.size, n.units) for n in locked.fields["catch_up"]] == [("S", 1), ("L", 1), ("XL", 1)]
    assert step(db, c, "S", 5).status == "joined"
    locked = step(db, d, "M", 1)
    assert locked.key == "size_locked"
    assert [(n.size, n.units) for n in locked.fields["catch_up"]] == [("L", 1), ("XL", 1)]
    db.commit()
    assert counters(db, four_sizes.id) == {"M": (8, 0), "S": (5, 0)}
    assert confirmed_sums(db, four_sizes.id) == {"M": 8, "S": 5}
    assert db.scalar(select(func.count(Participant.id))) == 3
    assert db.get(GroupSession, four_sizes.id).ordered_units == 13


def test_refusals_write_nothing(db, four_sizes):
    a = buyer(db, 1)
    db.commit()
    assert step(db, a, "XXL", 1).key == "unknown_size"
    assert step(db, a, "M", 0).key == "quantity_not_positive"
    assert step(db, a, "M", 101).key == "quantity_too_large"
    assert step(db, a, "M", 1, code="NOPE").key == "unknown_session"
    db.commit()
    assert db.scalar(select(func.count(Participant.id))) == 0
    # a counter row of zeros per size, made with the session, and nothing more
    assert (
        db.scalars(select(SessionVariantCounter.ordered_units + SessionVariantCounter.waiting_units)).all()
        == [0] * 4
    )


def test_moq_reached_once_and_back_to_forming_on_leave(db):
    product = builders.product(db, builders.TWO_SIZES)
    session = builders.session(db, product.id, code="GB2", target_moq=8)
    a, b = buyer(db, 1), buyer(db, 2)
    db.commit()
    first = step(db, a, "S", 4, code="GB2")
    assert not first.moq_just_reached
    second = step(db, b, "M", 4, code="GB2")
    assert second.moq_just_reached
    db.commit()
    db.refresh(session)
    assert session.status == SessionStatus.MOQ_REACHED
    reached_at = session.moq_reached_at
    assert reached_at is not None
    keys = sorted(db.scalars(select(OutboundMessage.idempotency_key)))
    # B reads it in the reply to the join that reached it (`moq_just_reached`); A is told by WhatsApp.
    assert keys == [f"moq_reached:{session.id}:{a.id}"]
    # A further join keeps the status and the timestamp, and notifies nobody again.
    assert not step(db, a, "S", 1, code="GB2").moq_just_reached
    db.commit()
    db.refresh(session)
    assert (session.status, session.moq_reached_at) == (SessionStatus.MOQ_REACHED, reached_at)
    assert db.scalar(select(func.count(OutboundMessage.id))) == 1
    # B leaves: 5 units < 8 -> back to forming; units released.
    with db.begin_nested():
        left = joining.leave(db, session_code="GB2", buyer=b)
    db.commit()
    assert (left.released_units, left.withdrawn_units) == (4, 0)
    db.refresh(session)
    assert session.status == SessionStatus.FORMING
    assert session.ordered_units == 5
    assert counters(db, session.id) == {"S": (5, 0)}  # M back to zero
    assert db.scalar(select(Participant.status).where(Participant.buyer_id == b.id)) == ParticipantStatus.LEFT


def test_joins_only_while_open(db):
    product = builders.product(db, builders.TWO_SIZES)
    session = builders.session(db, product.id, code="GB3", target_moq=8)
    a = buyer(db, 1)
    db.commit()
    later = now() + timedelta(hours=2)
    with db.begin_nested(), pytest.raises(Refusal) as expired:
        joining.join(db, session_code="GB3", buyer=a, size="S", quantity=1, at=later)
    assert expired.value.key == "session_closed"
    for status in (SessionStatus.PENDING_STOCK, SessionStatus.FAILED, SessionStatus.CANCELLED):
        db.execute(update(GroupSession).where(GroupSession.id == session.id).values(status=status))
        assert step(db, a, "S", 1, code="GB3").key == "session_closed"
    db.execute(
        update(GroupSession).where(GroupSession.id == session.id).values(status=SessionStatus.MOQ_REACHED)
    )
    assert step(db, a, "S", 1, code="GB3").status == "joined"


def test_leave_requires_a_join_and_an_open_session(db, four_sizes):
    a, b = buyer(db, 1), buyer(db, 2)
    db.commit()
    assert step(db, a, "S", 2).status == "joined"
    with db.begin_nested(), pytest.raises(Refusal) as not_in:
        joining.leave(db, session_code="GB1", buyer=b)
    assert not_in.value.key == "not_in_session"
    db.execute(
        update(GroupSession).where(GroupSession.id == four_sizes.id).values(status=SessionStatus.FAILED)
    )
    with db.begin_nested(), pytest.raises(Refusal) as closed:
        joining.leave(db, session_code="GB1", buyer=a)
    assert closed.value.key == "leave_closed"


def test_product_without_allocations_takes_any_quantity(db):
    product = builders.product(db, None, sku="PLAIN")
    builders.session(db, product.id, code="PLAIN1", target_moq=5)
    a = buyer(db, 1)
    db.commit()
    assert step(db, a, "M", 100, code="PLAIN1").status == "joined"
    assert step(db, a, "M", 100, code="PLAIN1").status == "joined"
    db.commit()
    assert confirmed_sums(db, db.scalar(select(GroupSession.id))) == {"M": 200}


class TestWaitlist:
    """docs/design.md, "Waitlist", waitlist on: C then D admitted exactly when the caps allow."""

    @pytest.fixture
    def session(self, db):
        product = builders.product(db, builders.FOUR_SIZES, waitlist=True)
        session = builders.session(db, product.id, code="WL1", target_moq=40)
        db.commit()
        return session

    def test_four_sizes(self, db, session):
        a, b, c, d, e, f, g, h = (buyer(db, i) for i in range(8))
        db.commit()
        assert step(db, a, "M", 5, "WL1").status == "joined"
        too_many = step(db, b, "M", 4, "WL1")
        assert (too_many.key, too_many.fields["available"], too_many.fields["waitlist"]) == (
            "too_many",
            3,
            True,
        )
        assert step(db, b, "M", 3, "WL1").status == "joined"
        assert step(db, c, "S", 5, "WL1").status == "joined"
        c_wait = step(db, c, "M", 1, "WL1")
        assert (c_wait.status, c_wait.position) == ("waiting", 1)
        d_wait = step(db, d, "M", 1, "WL1")
        assert (d_wait.status, d_wait.position) == ("waiting", 2)
        db.commit()
        assert counters(db, session.id)["M"] == (8, 2)
        assert step(db, e, "L", 1, "WL1").admitted == []
        f_join = step(db, f, "XL", 1, "WL1")
        assert [p.buyer_id for p in f_join.admitted] == [c.id]
        db.commit()
        assert counters(db, session.id)["M"] == (9, 1)
        assert step(db, g, "L", 1, "WL1").admitted == []
        assert [p.buyer_id for p in step(db, h, "XL", 1, "WL1").admitted] == [d.id]
        db.commit()
        assert counters(db, session.id)["M"] == (10, 0)
        assert confirmed_sums(db, session.id) == {"M": 10, "S": 5, "L": 2, "XL": 2}
        told = list(
            db.scalars(
                select(OutboundMessage.to_phone)
                .where(OutboundMessage.kind == "waitlist_admitted")
                .order_by(OutboundMessage.id)
            )
        )
        assert told == [c.phone, d.phone]

    def test_two_sizes_c_admitted_by_own_join_then_d_accepted_at_once(self, db):
        product = builders.product(db, builders.TWO_SIZES, sku="TWO", waitlist=True)
        session = builders.session(db, product.id, code="WL2", target_moq=40)
        a, b, c, d = (buyer(db, i) for i in range(4))
        db.commit()
        step(db, a, "M", 5, "WL2")
        step(db, b, "M", 3, "WL2")
        assert step(db, c, "M", 1, "WL2").status == "waiting"
        own = step(db, c, "S", 5, "WL2")
        assert [p.buyer_id for p in own.admitted] == [c.id]
        assert step(db, d, "M", 1, "WL2").status == "joined"
        db.commit()
        assert counters(db, session.id) == {"M": (10, 0), "S": (5, 0)}

    def test_explicit_wait_and_withdraw(self, db, session):
        a, b = buyer(db, 1), buyer(db, 2)
        db.commit()
        step(db, a, "M", 5, "WL1")
        waiting = step(db, b, "M", 4, "WL1", wait=True)  # 3 free, B waits for all 4
        assert (waiting.status, waiting.position) == ("waiting", 1)
        with db.begin_nested():
            left = joining.leave(db, session_code="WL1", buyer=b)
        db.commit()
        assert (left.released_units, left.withdrawn_units) == (0, 4)
        assert counters(db, session.id)["M"] == (5, 0)
        statuses = list(db.scalars(select(Participant.status).where(Participant.buyer_id == b.id)))
        assert statuses == [ParticipantStatus.WITHDRAWN]

    def test_wait_refused_when_waitlist_off(self, db, four_sizes):
        a = buyer(db, 1)
        db.commit()
        assert step(db, a, "M", 5).status == "joined"
        assert step(db, a, "M", 4, wait=True).key == "waitlist_off"


def test_request_above_t_lots_waits_for_settlement_with_the_waitlist_and_is_refused_without(db):
    product = builders.product(db, builders.TSHIRT_MIX, waitlist=True)
    session = builders.session(db, product.id, code="BIG", target_moq=24)
    a = buyer(db, 1)
    db.commit()
    waiting = step(db, a, "XL", 3, code="BIG")  # 3 > T * a_XL = 2: only settlement can serve it
    assert (waiting.status, waiting.position) == ("waiting", 1)
    db.commit()
    assert counters(db, session.id) == {"XL": (0, 3)}

    off = builders.product(db, builders.TSHIRT_MIX, sku="OFF")
    off_session = builders.session(db, off.id, code="OFF", target_moq=24)
    db.commit()
    refused = step(db, a, "XL", 3, code="OFF", wait=True)
    assert (refused.key, refused.fields["maximum"]) == ("over_max_request", 2)
    db.commit()
    assert counters(db, off_session.id) == {}


def test_a_full_size_under_the_static_rule_waits_for_settlement_with_the_waitlist(db):
    product = builders.product(db, builders.TWO_SIZES, sku="ST", policy="static", waitlist=True)
    session = builders.session(db, product.id, code="ST1", target_moq=24)
    a, b = buyer(db, 1), buyer(db, 2)
    db.commit()
    assert step(db, a, "M", 8, "ST1").status == "joined"  # static cap 2 * 4: M is full for good
    waiting = step(db, b, "M", 1, "ST1")  # no join can open it, but settlement at close can serve it
    assert (waiting.status, waiting.position) == ("waiting", 1)
    assert waiting.view.catch_up("M", 1) is None
    db.commit()
    assert counters(db, session.id)["M"] == (8, 1)


def test_a_buyer_admitted_by_the_join_that_reaches_the_moq_is_told_both_and_the_joiner_once(db):
    product = builders.product(db, builders.TWO_SIZES, sku="MOQ", waitlist=True)
    session = builders.session(db, product.id, code="WLM", target_moq=14)
    a, c = buyer(db, 1), buyer(db, 2)
    db.commit()
    step(db, a, "M", 8, "WLM")
    assert step(db, c, "M", 1, "WLM").status == "waiting"
    reaching = step(db, a, "S", 5, "WLM")  # 13 confirmed + C's 1 M admitted = 14 = MOQ
    assert reaching.moq_just_reached and [p.buyer_id for p in reaching.admitted] == [c.id]
    db.commit()
    keys = set(db.scalars(select(OutboundMessage.idempotency_key)))
    assert f"moq_reached:{session.id}:{c.id}" in keys and f"admitted:{reaching.admitted[0].id}" in keys
    assert f"moq_reached:{session.id}:{a.id}" not in keys  # A was told in the reply to the join


def test_join_notifications_use_their_approved_templates_when_configured(db):
    product = builders.product(db, builders.TWO_SIZES, sku="TPL", waitlist=True)
    builders.session(db, product.id, code="TPL1", target_moq=9)
    a, c = buyer(db, 1), buyer(db, 2)
    db.commit()
    templated = Settings(content_sids={"MOQ_REACHED": "HXmoq", "WAITLIST_ADMITTED": "HXadm"})
    with db.begin_nested():
        joining.join(db, session_code="TPL1", buyer=a, size="M", quantity=8, settings=templated)
    with db.begin_nested():
        assert joining.join(
            db, session_code="TPL1", buyer=c, size="M", quantity=1, settings=templated
        ).status == ("waiting")
    with db.begin_nested():
        joining.join(db, session_code="TPL1", buyer=a, size="S", quantity=1, settings=templated)
    db.commit()
    rows = {m.kind: m for m in db.scalars(select(OutboundMessage))}
    assert (
        rows["waitlist_admitted"].content_sid,
        json.loads(rows["waitlist_admitted"].content_variables),
    ) == (
        "HXadm",
        {"1": "TPL1", "2": "Kaos TPL", "3": "M", "4": "1", "5": "Rp 50.000"},
    )
    assert (rows["moq_reached"].content_sid, json.loads(rows["moq_reached"].content_variables)) == (
        "HXmoq",
        {"1": "TPL1", "2": "Kaos TPL"},
    )
    # the free-text body stays for logs and fallback
    assert "mencapai minimum pesanan" in rows["moq_reached"].body
