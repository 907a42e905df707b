"""Closing sessions warehouse first: failed, orders from stock, purchase orders for lots; the sweep; the
admin's close now and cancel (see docs/design.md, "Expiry (warehouse first)")."""

from __future__ import annotations

import json
import threading
import time

import fakeredis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rq.cron import CronScheduler
from sqlalchemy import func, select

from core import closing, purchase_orders
from core import sweep as core_sweep
from core.clock import as_utc, now
from core.db import transaction
from core.errors import Conflict, NotFound
from core.models import (
    Order,
    OutboundMessage,
    Participant,
    ParticipantStatus,
    PurchaseOrder,
    PurchaseOrderStatus,
    SessionStatus,
)
from core.outbox import new_message_ids
from core.settings import Settings
from core.stock_plan import StockPlan, plan_stock
from core.transitions import transition
from core.warehouse import BuiltinWarehouse
from jobs import expiry, runtime
from tests import builders
from tests.builders import (
    DownWarehouse,
    add_join,
    buyer,
    close,
    counters,
    demand_s3_m7_l4_xl1,
    expire,
    inventory,
    messages,
    po_lines,
    reload,
    set_stock,
    sweep,
    tshirt_session,
)

MIX = builders.TSHIRT_MIX  # 2 S + 5 M + 4 L + 1 XL

# --- transitions ----------------------------------------------------------------------------------------


def test_transition_is_one_conditional_update_and_safe_to_repeat(db, settings):
    _, session = tshirt_session(db)
    assert transition(db, session.id, SessionStatus.MOQ_REACHED, (SessionStatus.FORMING,))
    assert not transition(db, session.id, SessionStatus.MOQ_REACHED, (SessionStatus.FORMING,))
    assert not transition(db, session.id, SessionStatus.FAILED, (SessionStatus.FORMING,))
    assert transition(db, session.id, SessionStatus.FAILED, closing.DUE_STATES, closed_at=now())
    assert reload(db, session).status == SessionStatus.FAILED
    assert session.closed_at is not None


def test_claim_takes_only_due_forming_and_moq_reached_sessions(db, settings):
    product = builders.product(db, MIX)
    due_forming = builders.session(db, product.id, code="GB1")
    due_moq = builders.session(db, product.id, code="GB2")
    not_due = builders.session(db, product.id, code="GB3")
    done = builders.session(db, product.id, code="GB4")
    for s in (due_forming, due_moq, done):
        expire(db, s)
    transition(db, due_moq.id, SessionStatus.MOQ_REACHED, (SessionStatus.FORMING,))
    transition(db, done.id, SessionStatus.FAILED, (SessionStatus.FORMING,))
    db.commit()
    claimed = core_sweep.claim_due_sessions(db, now(), 10)
    assert {s.code for s in claimed} == {"GB1", "GB2"}
    assert not_due.code not in {s.code for s in claimed}
    assert [s.code for s in core_sweep.claim_due_sessions(db, now(), 10, exclude=[due_forming.id])] == ["GB2"]
    db.rollback()


# --- MOQ not reached ------------------------------------------------------------------------------------


def test_moq_missed_fails_the_session_and_tells_each_buyer_once_that_nothing_is_owed(
    db, db_factory, settings
):
    product, session = tshirt_session(db, moq=24)
    a, b = buyer(db), buyer(db, language="en")
    add_join(db, session, a, "M", 3)
    add_join(db, session, a, "L", 2)
    add_join(db, session, b, "S", 2)
    expire(db, session)
    db.commit()

    dispatched: list[list[int]] = []
    result = sweep(db, db_factory, settings, dispatch=dispatched.append)
    assert result.as_dict() == {"closed": {"GB1": "failed"}, "retry_later": {}}

    session = reload(db, session)
    assert session.status == SessionStatus.FAILED
    assert session.closed_at is not None
    sent = messages(db)
    assert [(m.kind, m.to_phone) for m in sent] == [("session_failed", a.phone), ("session_failed", b.phone)]
    assert [m.idempotency_key for m in sent] == [
        f"moq_failed:{session.id}:{a.id}",
        f"moq_failed:{session.id}:{b.id}",
    ]
    assert "tidak ada yang perlu dibayar" in sent[0].body and "7/24" in sent[0].body
    assert "you owe nothing" in sent[1].body
    assert dispatched == [[m.id for m in sent]]
    assert db.scalar(select(func.count()).select_from(PurchaseOrder)) == 0
    assert db.scalar(select(func.count()).select_from(Order)) == 0

    # re-running changes nothing
    assert sweep(db, db_factory, settings).as_dict() == {"closed": {}, "retry_later": {}}
    assert closing.close_session(db, session, BuiltinWarehouse(db), settings).result == "not_due"
    db.commit()
    assert len(messages(db)) == 2


def test_a_session_with_no_joins_fails_quietly(db, db_factory, settings):
    _, session = tshirt_session(db)
    expire(db, session)
    db.commit()
    sweep(db, db_factory, settings)
    assert reload(db, session).status == SessionStatus.FAILED
    assert messages(db) == []


# --- enough stock ---------------------------------------------------------------------------------------


def test_enough_stock_reserves_it_and_creates_one_order_per_join_without_a_factory_message(
    db, db_factory, settings
):
    product, session = tshirt_session(db, moq=15)
    a, b, c, d = demand_s3_m7_l4_xl1(db, session)
    a.address = None  # no address yet: the order is flagged and the buyer asked for it
    transition(db, session.id, SessionStatus.MOQ_REACHED, (SessionStatus.FORMING,), moq_reached_at=now())
    set_stock(db, product, S=5, M=7, L=10, XL=1)
    expire(db, session)
    db.commit()

    result = sweep(db, db_factory, settings)
    assert result.as_dict()["closed"] == {"GB1": "orders_created"}

    session = reload(db, session)
    assert session.status == SessionStatus.ORDERS_CREATED
    assert session.warehouse_has_stock is True
    assert session.warehouse_check_at is not None and session.orders_created_at is not None
    assert session.closed_at is not None
    assert inventory(db, product) == {"S": (5, 3), "M": (7, 7), "L": (10, 4), "XL": (1, 1)}
    orders = db.scalars(select(Order).order_by(Order.id)).all()
    assert [(o.code, o.buyer_id, o.quantity, o.amount_due) for o in orders] == [
        ("GB1-001", a.id, 3, 150_000),
        ("GB1-002", b.id, 5, 250_000),
        ("GB1-003", b.id, 2, 100_000),
        ("GB1-004", c.id, 4, 200_000),
        ("GB1-005", d.id, 1, 50_000),
    ]
    assert [(o.needs_address, o.delivery_address) for o in orders[:2]] == [
        (True, None),
        (False, "Jl. Mawar 1, Depok"),
    ]
    assert messages(db, "factory_po") == []
    assert db.scalar(select(func.count()).select_from(PurchaseOrder)) == 0
    sent = messages(db, "order_created")
    assert [m.to_phone for m in sent] == [a.phone, b.phone, c.phone, d.phone]
    assert "GB1-001: S x3 = Rp 150.000" in sent[0].body
    assert "ALAMAT <alamat lengkap>" in sent[0].body
    assert "GB1-002: M x5 = Rp 250.000" in sent[1].body and "GB1-003: M x2 = Rp 100.000" in sent[1].body
    assert "Total tagihan: Rp 350.000" in sent[1].body
    assert "Dikirim ke: Jl. Mawar 1, Depok" in sent[1].body and "ALAMAT" not in sent[1].body

    # a second sweep, or closing the same session again, adds nothing
    sweep(db, db_factory, settings)
    assert close(db, settings, session).result == "not_due"
    assert db.scalar(select(func.count()).select_from(Order)) == 5
    assert len(messages(db)) == 4
    assert inventory(db, product)["M"] == (7, 7)


def one_buyers_order(db, settings, **buyer_details):
    """One buyer joins S 1 and M 1 (Rp 150.000 each), both in stock; the session closes. Their message."""
    product, session = tshirt_session(db, mix={"S": 1, "M": 1}, moq=2, price=150_000)
    someone = buyer(db, **buyer_details)
    add_join(db, session, someone, "S", 1)
    add_join(db, session, someone, "M", 1)
    set_stock(db, product, S=1, M=1)
    expire(db, session)
    close(db, settings, session)
    [message] = messages(db)
    return someone, message


def test_order_message_is_in_the_buyers_language(db, settings):
    _, message = one_buyers_order(db, settings, language="en", address=None)
    assert message.body.startswith("Your order for session GB1 (Kaos TS) is ready:")
    assert "Amount due: Rp 300.000." in message.body
    assert "Reply: ADDRESS <full address>" in message.body


def test_without_a_payment_provider_the_order_states_the_amount_due_only(db, settings):
    product, session = tshirt_session(db, mix={"S": 1, "M": 1}, moq=2, price=150_000)
    someone = buyer(db, address="Jl. Mawar 1, Depok")
    add_join(db, session, someone, "S", 2)
    set_stock(db, product, S=2, M=0)
    expire(db, session)
    close(db, settings, session)
    [message] = messages(db)
    assert "Total tagihan: Rp 300.000." in message.body and "Bayar" not in message.body


# --- no or partial stock: a purchase order for whole lots -----------------------------------------------


def test_empty_warehouse_orders_whole_lots_with_one_factory_message(db, db_factory, settings):
    product, session = tshirt_session(db, moq=15)
    buyers = demand_s3_m7_l4_xl1(db, session)
    expire(db, session)
    db.commit()

    result = sweep(db, db_factory, settings)
    assert result.as_dict()["closed"] == {"GB1": "pending_stock"}
    assert result.closed[0].purchase_order_code == "PO-GB1-1" and result.closed[0].lots == 2

    session = reload(db, session)
    assert session.status == SessionStatus.PENDING_STOCK
    assert session.grosir_units_needed == 2
    assert session.warehouse_has_stock is False and session.warehouse_check_at is not None
    assert session.factory_whatsapp_sent is False and session.factory_notified_at is None  # set on delivery
    po = db.scalar(select(PurchaseOrder))
    assert (po.code, po.lots, po.status, po.session_id) == ("PO-GB1-1", 2, "requested", session.id)
    assert po_lines(db, po) == {"S": 4, "M": 10, "L": 8, "XL": 2}
    assert inventory(db, product) == {"S": (0, 0), "M": (0, 0), "L": (0, 0), "XL": (0, 0)}  # nothing held

    [factory_message] = messages(db, "factory_po")
    assert factory_message.idempotency_key == f"factory_po:{po.id}"
    assert factory_message.to_phone == builders.FACTORY_PHONE
    assert (factory_message.session_id, factory_message.purchase_order_id) == (session.id, po.id)
    assert factory_message.content_sid is None
    body = factory_message.body
    for part in (
        "PESANAN PO-GB1-1",
        "Produk: Kaos TS",
        "Jumlah: 2 grosir (12 pcs per grosir)",
        "• S: 4 pcs\n• M: 10 pcs\n• L: 8 pcs\n• XL: 2 pcs",
        "Total: 24 pcs",
        "SIAP PO-GB1-1 <perkiraan siap>",
        "TOLAK PO-GB1-1 <alasan>",
        "KIRIM PO-GB1-1 <no. resi>",
    ):
        assert part in body
    waiting = messages(db, "waiting_for_stock")
    assert [m.to_phone for m in waiting] == [b.phone for b in buyers]
    assert "Stok sedang kami pesan dari pabrik" in waiting[0].body
    assert db.scalar(select(func.count()).select_from(Order)) == 0

    # re-running changes nothing: still one PO, one factory message
    sweep(db, db_factory, settings)
    assert close(db, settings, session).result == "not_due"
    assert db.scalar(select(func.count()).select_from(PurchaseOrder)) == 1
    assert len(messages(db, "factory_po")) == 1 and len(messages(db)) == 5


def test_partial_stock_orders_only_the_lots_for_the_shortfall_and_holds_what_the_lots_do_not_cover(
    db, settings
):
    product, session = tshirt_session(db, moq=15)
    demand_s3_m7_l4_xl1(db, session)
    set_stock(db, product, S=2, M=6, L=4, XL=1)  # short: S 1, M 1 -> one lot
    expire(db, session)
    outcome = close(db, settings, session)

    assert (outcome.result, outcome.lots) == ("pending_stock", 1)
    po = db.scalar(select(PurchaseOrder))
    assert po_lines(db, po) == {"S": 2, "M": 5, "L": 4, "XL": 1}
    assert reload(db, session).grosir_units_needed == 1
    # held now: demand the lot does not cover (S 3-2=1, M 7-5=2); the rest comes from the lot
    assert inventory(db, product) == {"S": (2, 1), "M": (6, 2), "L": (4, 0), "XL": (1, 0)}
    assert "Jumlah: 1 grosir" in messages(db, "factory_po")[0].body

    received = purchase_orders.receive_purchase_order(db, "po-gb1-1", settings)
    db.commit()
    assert received.orders == 5
    assert received.leftover == {"S": 0, "M": 0, "L": 0, "XL": 0}
    # every unit of demand reserved; free stock is what it was plus the lot minus the demand
    assert inventory(db, product) == {"S": (4, 3), "M": (11, 7), "L": (8, 4), "XL": (2, 1)}


def test_content_sid_sends_the_factory_po_as_a_template_with_button_payloads(db, database_url):
    settings = Settings(
        database_url=database_url, content_sids={"FACTORY_PO": "HXfactory", "WAITING_FOR_STOCK": "HXwait"}
    )
    product, session = tshirt_session(db, moq=15)
    demand_s3_m7_l4_xl1(db, session)
    expire(db, session)
    close(db, settings, session)
    [message] = messages(db, "factory_po")
    assert message.content_sid == "HXfactory"
    assert json.loads(message.content_variables) == {
        "1": "Kaos TS",
        "2": "PO-GB1-1",
        "3": "2",
        "4": "S: 4 pcs, M: 10 pcs, L: 8 pcs, XL: 2 pcs",  # no line breaks in template variables
        "5": "24",
        "6": "SIAP PO-GB1-1",
        "7": "TOLAK PO-GB1-1",
        "8": "KIRIM PO-GB1-1",
    }
    assert "PESANAN PO-GB1-1" in message.body  # the free text stays as the record
    waiting = messages(db, "waiting_for_stock")
    assert {m.content_sid for m in waiting} == {"HXwait"}
    assert json.loads(waiting[0].content_variables) == {"1": "GB1", "2": "Kaos TS"}


def test_product_without_lots_orders_exactly_the_shortfall(db, settings):
    product = builders.product(db, None, sku="TOTE")  # S/M/L, no grosir lots
    session = builders.session(db, product.id, code="GB7", target_moq=6)
    a, b = buyer(db), buyer(db)
    add_join(db, session, a, "S", 3)
    add_join(db, session, b, "M", 4)
    set_stock(db, product, S=1, M=4)
    expire(db, session)
    outcome = close(db, settings, session)
    assert outcome.result == "pending_stock"
    po = db.scalar(select(PurchaseOrder))
    assert (po.lots, po_lines(db, po)) == (1, {"S": 2})
    assert reload(db, session).grosir_units_needed is None
    assert inventory(db, product) == {"S": (1, 1), "M": (4, 4), "L": (0, 0)}
    body = messages(db, "factory_po")[0].body
    assert "grosir" not in body and "• S: 2 pcs" in body and "Total: 2 pcs" in body

    purchase_orders.receive_purchase_order(db, po.code, settings)
    db.commit()
    assert reload(db, session).status == SessionStatus.ORDERS_CREATED
    assert inventory(db, product) == {"S": (3, 3), "M": (4, 4), "L": (0, 0)}


# --- receiving the factory's stock ----------------------------------------------------------------------


def test_receive_creates_orders_and_leaves_the_excess_in_the_warehouse_once(db, settings):
    product, session = tshirt_session(db, moq=15)
    demand_s3_m7_l4_xl1(db, session)
    expire(db, session)
    close(db, settings, session)
    before = len(messages(db))

    outcome = purchase_orders.receive_purchase_order(db, "PO-GB1-1", settings)
    db.commit()
    assert (outcome.orders, outcome.leftover) == (5, {"S": 1, "M": 3, "L": 4, "XL": 1})
    session = reload(db, session)
    assert session.status == SessionStatus.ORDERS_CREATED
    assert session.stock_received_at is not None and session.orders_created_at is not None
    po = db.scalar(select(PurchaseOrder))
    assert po.status == PurchaseOrderStatus.RECEIVED and po.received_at is not None
    assert inventory(db, product) == {"S": (4, 3), "M": (10, 7), "L": (8, 4), "XL": (2, 1)}
    assert len(messages(db, "order_created")) == 4
    assert len(messages(db)) == before + 4

    with pytest.raises(Conflict) as error:
        purchase_orders.receive_purchase_order(db, "PO-GB1-1", settings)
    assert error.value.field == "code" and "already received" in error.value.message
    db.rollback()
    assert inventory(db, product)["M"] == (10, 7)
    assert db.scalar(select(func.count()).select_from(Order)) == 5

    # the excess serves the next session from stock
    session2 = builders.session(db, product.id, code="GB2", target_moq=2)
    add_join(db, session2, buyer(db), "M", 3)
    expire(db, session2)
    assert close(db, settings, session2).result == "orders_created"
    assert inventory(db, product)["M"] == (10, 10)


def test_receive_unknown_po_is_not_found(db, settings):
    with pytest.raises(NotFound):
        purchase_orders.receive_purchase_order(db, "PO-NOPE-1", settings)


# --- warehouse down -------------------------------------------------------------------------------------


def test_warehouse_down_changes_nothing_and_the_next_sweep_retries(db, db_factory, settings):
    product, session = tshirt_session(db, moq=15)
    demand_s3_m7_l4_xl1(db, session)
    late = buyer(db)
    add_join(db, session, late, "M", 1, status="waiting")
    doomed = builders.session(db, product.id, code="GB2", target_moq=50)  # fails: needs no warehouse
    add_join(db, doomed, buyer(db), "S", 1)
    other = builders.session(db, product.id, code="GB3", target_moq=1)  # would need the warehouse too
    add_join(db, other, buyer(db), "S", 1)
    for s in (session, doomed, other):
        expire(db, s)
    db.commit()
    DownWarehouse.calls = 0

    result = sweep(db, db_factory, settings, warehouse=lambda _db: DownWarehouse())
    assert result.as_dict() == {
        "closed": {"GB2": "failed"},
        "retry_later": {"GB1": "warehouse: connection refused", "GB3": "warehouse: connection refused"},
    }
    assert DownWarehouse.calls == 1  # one outage costs one call per sweep
    session = reload(db, session)
    assert session.status == SessionStatus.FORMING
    assert session.last_error == "warehouse: connection refused"
    assert session.closed_at is None and session.warehouse_check_at is None
    assert db.scalar(select(Participant.status).where(Participant.buyer_id == late.id)) == "waiting"
    assert counters(db, session.id)["M"] == (7, 1)
    assert [m.session_id for m in messages(db)] == [doomed.id]  # only the failed session's buyer
    assert db.scalar(select(func.count()).select_from(PurchaseOrder)) == 0

    result = sweep(db, db_factory, settings)
    assert result.as_dict()["closed"] == {"GB1": "pending_stock", "GB3": "pending_stock"}
    session = reload(db, session)
    assert (session.status, session.last_error) == (SessionStatus.PENDING_STOCK, None)


def test_a_bug_in_one_session_leaves_it_for_later_and_the_others_close(db, db_factory, settings, monkeypatch):
    product = builders.product(db, MIX)
    broken = builders.session(db, product.id, code="GB1", target_moq=1)
    fine = builders.session(db, product.id, code="GB2", target_moq=5)
    add_join(db, broken, buyer(db), "S", 1)
    add_join(db, fine, buyer(db), "S", 1)
    for s in (broken, fine):
        expire(db, s)
    db.commit()
    real = closing.create_purchase_order

    def explode(db_, session, *args):
        if session.code == "GB1":
            raise RuntimeError("boom")
        return real(db_, session, *args)

    monkeypatch.setattr(closing, "create_purchase_order", explode)
    result = sweep(db, db_factory, settings)
    assert result.as_dict() == {"closed": {"GB2": "failed"}, "retry_later": {"GB1": "RuntimeError: boom"}}
    assert reload(db, broken).status == SessionStatus.FORMING
    assert reload(db, broken).last_error == "RuntimeError: boom"


# --- waitlist at close ----------------------------------------------------------------------------------


def test_settlement_counts_free_stock_and_skips_a_request_the_chosen_lots_cannot_hold(
    db, db_factory, settings
):
    product, session = tshirt_session(db, moq=24)
    for size, units in (("S", 4), ("M", 10), ("L", 5), ("XL", 1)):
        add_join(db, session, buyer(db), size, units)  # 20 confirmed
    first, second, third = buyer(db), buyer(db, language="en"), buyer(db)
    w1 = add_join(db, session, first, "M", 3, status="waiting")
    w2 = add_join(db, session, second, "S", 2, status="waiting")
    w3 = add_join(db, session, third, "M", 4, status="waiting")
    set_stock(db, product, S=10, M=11, L=10, XL=10)
    expire(db, session)
    db.commit()

    # Free stock holds S 10, M 11, L 10, XL 10. k = 0 (stock only): M has 1 free unit, S 2 fits: 22 < 24.
    # k = 1: M has 5 + 11 - 10 = 6: w1's 3 fit, w3's 4 then do not: 25 units, E = 12 - 2 = 10, R = 4 (14).
    # k = 2: both M fit: 29 units, E = 24 - 6 = 18, R = 0 (18). Settlement orders 1 lot.
    result = sweep(db, db_factory, settings)
    outcome = result.closed[0]
    assert (outcome.result, outcome.admitted, outcome.not_admitted, outcome.lots) == (
        "pending_stock",
        2,
        1,
        1,
    )
    db.expire_all()
    assert [db.get(Participant, p.id).status for p in (w1, w2, w3)] == [
        "confirmed",
        "confirmed",
        "not_admitted",
    ]
    assert db.get(Participant, w1.id).joined_at is not None
    session = reload(db, session)
    assert (session.ordered_units, session.grosir_units_needed) == (25, 1)
    assert session.moq_reached_at is not None
    assert counters(db, session.id) == {"S": (6, 0), "M": (13, 0), "L": (5, 0), "XL": (1, 0)}
    [po] = db.scalars(select(PurchaseOrder)).all()
    assert (po.lots, po_lines(db, po)) == (1, {"S": 2, "M": 5, "L": 4, "XL": 1})
    # held from stock now: what the lot does not cover (S 4, M 8, L 1)
    assert inventory(db, product) == {"S": (10, 4), "M": (11, 8), "L": (10, 1), "XL": (10, 0)}

    admitted = messages(db, "waitlist_admitted")
    assert [(m.idempotency_key, m.to_phone) for m in admitted] == [
        (f"admitted:{w1.id}", first.phone),
        (f"admitted:{w2.id}", second.phone),
    ]
    assert "3 pcs ukuran M, total Rp 150.000" in admitted[0].body
    assert admitted[1].body.startswith(
        "✅ Session GB1 (Kaos TS) has closed and your waiting request is confirmed"
    )
    [refused] = messages(db, "not_admitted")
    assert (refused.idempotency_key, refused.to_phone) == (f"not_admitted:{w3.id}", third.phone)
    assert "tidak terkonfirmasi" in refused.body and "tidak ada yang perlu dibayar" in refused.body
    assert len(messages(db, "waiting_for_stock")) == 6  # the admitted buyers hear what comes next too


def test_settlement_from_stock_alone_admits_and_creates_the_orders(db, db_factory, settings):
    product, session = tshirt_session(db, moq=24)
    for size, units in (("S", 4), ("M", 10), ("L", 5), ("XL", 1)):
        add_join(db, session, buyer(db), size, units)
    waiting = [
        add_join(db, session, buyer(db), size, units, status="waiting")
        for size, units in (("M", 3), ("S", 2))
    ]
    set_stock(db, product, S=10, M=20, L=10, XL=10)
    expire(db, session)
    db.commit()
    outcome = sweep(db, db_factory, settings).closed[0]
    assert (outcome.result, outcome.admitted, outcome.not_admitted, outcome.orders) == (
        "orders_created",
        2,
        0,
        6,
    )
    db.expire_all()
    assert [db.get(Participant, p.id).status for p in waiting] == ["confirmed", "confirmed"]
    assert db.scalar(select(func.count()).select_from(PurchaseOrder)) == 0
    assert len(messages(db, "order_created")) == 6  # the admitted buyers get their orders too


def test_waiting_units_that_cannot_reach_the_moq_are_not_admitted_and_the_session_fails(db, settings):
    product, session = tshirt_session(db, moq=24)
    confirmed = buyer(db)
    add_join(db, session, confirmed, "M", 10)
    waiter = buyer(db)
    request = add_join(db, session, waiter, "M", 5, status="waiting")
    expire(db, session)
    outcome = close(db, settings, session)
    assert (outcome.result, outcome.admitted, outcome.not_admitted) == ("failed", 0, 1)
    db.expire_all()
    assert db.get(Participant, request.id).status == ParticipantStatus.NOT_ADMITTED
    assert counters(db, session.id) == {"M": (10, 0)}
    assert [(m.kind, m.to_phone) for m in messages(db)] == [
        ("not_admitted", waiter.phone),
        ("session_failed", confirmed.phone),
    ]


# --- concurrency ----------------------------------------------------------------------------------------


class SlowWarehouse(BuiltinWarehouse):
    """Holds its lock a moment, so two sweepers really overlap."""

    def stock(self, product, variants):
        time.sleep(0.05)
        return super().stock(product, variants)


def test_two_sweepers_at_the_same_moment_close_each_session_once(requires_postgres, db, db_factory, settings):
    product = builders.product(db, MIX)
    set_stock(db, product, S=1000, M=1000, L=1000, XL=1000)
    codes = []
    for n in range(12):
        session = builders.session(db, product.id, code=f"GB{n + 10}", target_moq=3 if n % 3 else 100)
        add_join(db, session, buyer(db), "M", 2)
        add_join(db, session, buyer(db), "S", 1)
        expire(db, session)
        codes.append(session.code)
    db.commit()

    barrier = threading.Barrier(2)
    results: list[core_sweep.SweepResult] = []
    errors: list[BaseException] = []

    def sweeper():
        try:
            barrier.wait()
            results.append(
                core_sweep.sweep_due_sessions(db_factory, settings, warehouse=SlowWarehouse, batch_size=3)
            )
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    closed = [o.session_code for r in results for o in r.closed]
    assert sorted(closed) == sorted(codes)  # every session once, none twice
    assert all(r.retry_later == {} for r in results)
    assert all(len(r.closed) > 0 for r in results), "both sweepers should have taken a share"
    assert db.scalar(select(func.count()).select_from(Order)) == 8 * 2
    assert db.scalar(select(func.count()).select_from(OutboundMessage)) == 12 * 2
    assert inventory(db, product)["M"] == (1000, 16)


def test_sweep_is_not_doubled_on_sqlite_either(db, db_factory, settings):
    """SQLite serialises write transactions; two sweepers still close each session once."""
    product = builders.product(db, MIX)
    set_stock(db, product, S=100, M=100, L=100, XL=100)
    for n in range(4):
        session = builders.session(db, product.id, code=f"GB{n + 1}", target_moq=2)
        add_join(db, session, buyer(db), "M", 2)
        expire(db, session)
    db.commit()
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(core_sweep.sweep_due_sessions(db_factory, settings)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(o.session_code for r in results for o in r.closed) == ["GB1", "GB2", "GB3", "GB4"]
    assert db.scalar(select(func.count()).select_from(Order)) == 4


# --- admin: close now, cancel ---------------------------------------------------------------------------


def test_close_now_ends_joining_and_processes_at_once(db, settings):
    product, session = tshirt_session(db, moq=2)
    add_join(db, session, buyer(db), "M", 2)
    set_stock(db, product, M=2)
    db.commit()
    outcome = closing.close_session_now(db, "gb1", settings)
    db.commit()
    assert outcome.result == "orders_created"
    session = reload(db, session)
    assert as_utc(session.ends_at) <= now()
    with pytest.raises(Conflict):
        closing.close_session_now(db, "GB1", settings)


def test_closing_a_session_that_is_still_open_is_refused(db, settings):
    _, session = tshirt_session(db)
    with pytest.raises(Conflict) as error:
        closing.close_session(db, session, BuiltinWarehouse(db), settings)
    assert error.value.field == "ends_at"


def test_cancel_tells_every_buyer_nothing_is_owed(db, settings):
    _, session = tshirt_session(db, moq=24)
    a, b = buyer(db), buyer(db)
    add_join(db, session, a, "M", 2)
    add_join(db, session, a, "S", 1)
    waiting = add_join(db, session, b, "M", 9, status="waiting")
    closing.cancel_session(db, "GB1", settings)
    db.commit()
    session = reload(db, session)
    assert session.status == SessionStatus.CANCELLED and session.cancelled_at is not None
    assert db.get(Participant, waiting.id).status == ParticipantStatus.NOT_ADMITTED
    assert counters(db, session.id)["M"] == (2, 0)
    sent = messages(db)
    assert [(m.kind, m.to_phone) for m in sent] == [
        ("session_cancelled", a.phone),
        ("session_cancelled", b.phone),
    ]
    assert "dibatalkan oleh admin" in sent[0].body and "Tidak ada yang perlu dibayar" in sent[0].body
    with pytest.raises(Conflict):
        closing.cancel_session(db, "GB1", settings)
    db.rollback()
    assert len(messages(db)) == 2


def test_cancel_while_waiting_for_stock_gives_back_the_held_units_and_tells_the_factory(db, settings):
    product, session = tshirt_session(db, moq=15)
    demand_s3_m7_l4_xl1(db, session)
    set_stock(db, product, S=2, M=6, L=4, XL=1)
    expire(db, session)
    close(db, settings, session)
    assert inventory(db, product)["M"] == (6, 2)
    closing.cancel_session(db, "GB1", settings)
    db.commit()
    assert inventory(db, product) == {"S": (2, 0), "M": (6, 0), "L": (4, 0), "XL": (1, 0)}
    [factory_message] = messages(db, "factory_po_cancelled")
    assert factory_message.to_phone == builders.FACTORY_PHONE and "DIBATALKAN" in factory_message.body
    with pytest.raises(Conflict):
        purchase_orders.receive_purchase_order(db, "PO-GB1-1", settings)


def test_new_message_ids_of_a_rolled_back_close_are_not_dispatched(db, db_factory, settings):
    _, session = tshirt_session(db, moq=2)
    add_join(db, session, buyer(db), "M", 1)
    add_join(db, session, buyer(db), "M", 1, status="waiting")
    expire(db, session)
    db.commit()
    dispatched: list[list[int]] = []
    core_sweep.sweep_due_sessions(
        db_factory, settings, warehouse=lambda _db: DownWarehouse(), dispatch=dispatched.append
    )
    assert dispatched == []
    with transaction(db_factory) as other:
        assert new_message_ids(other) == []
    assert messages(db) == []


# --- the jobs -------------------------------------------------------------------------------------------


def test_sweep_job_closes_due_sessions_and_dispatches_after_commit(db, settings, monkeypatch):
    _, session = tshirt_session(db, moq=24)
    add_join(db, session, buyer(db), "M", 2)
    expire(db, session)
    db.commit()
    dispatched: list[list[int]] = []

    def dispatch(ids):
        with runtime.db_factory()() as other:  # committed, so another connection sees them
            assert other.scalar(select(func.count()).select_from(OutboundMessage)) == len(ids)
        dispatched.append(ids)
        return len(ids)

    monkeypatch.setattr("jobs.queues.dispatch_outbox", dispatch)
    runtime.reset(settings)
    try:
        assert expiry.sweep_expired_sessions() == {"closed": {"GB1": "failed"}, "retry_later": {}}
        assert expiry.sweep_expired_sessions() == {"closed": {}, "retry_later": {}}
    finally:
        runtime.reset()
    assert len(dispatched) == 1 and len(dispatched[0]) == 1


def test_cron_config_registers_the_periodic_jobs(monkeypatch):
    monkeypatch.setenv("EXPIRY_SWEEP_SECONDS", "30")
    scheduler = CronScheduler(connection=fakeredis.FakeRedis())
    scheduler.load_config_from_file("jobs/cron.py")
    assert {(job.name, job.func_name, job.interval, job.queue_name) for job in scheduler.get_jobs()} == {
        ("expiry-sweep", "jobs.expiry.sweep_expired_sessions", 30, "periodic"),
        ("deadline-reminders", "jobs.reminders.send_deadline_reminders", 60, "periodic"),
        ("pending-stock-recheck", "jobs.expiry.recheck_pending_stock", 300, "periodic"),
        ("factory-reminders", "jobs.expiry.remind_factories", 900, "periodic"),
        ("outbox-flush", "jobs.queues.flush_outbox", 15, "periodic"),
        ("payment-work", "jobs.payments.resume_payment_work", 60, "periodic"),
        ("payment-reconciliation", "jobs.payments.reconcile_payments", 900, "periodic"),
    }


# --- the stock plan, pure -------------------------------------------------------------------------------


def test_plan_stock_worked_examples():
    a = {1: 2, 2: 5, 3: 4, 4: 1}  # S M L XL
    d = {1: 3, 2: 7, 3: 4, 4: 1}
    assert plan_stock(d, {}, a) == StockPlan(2, {1: 4, 2: 10, 3: 8, 4: 2}, {})
    assert plan_stock(d, {1: 2, 2: 6, 3: 4, 4: 1}, a) == StockPlan(1, {1: 2, 2: 5, 3: 4, 4: 1}, {1: 1, 2: 2})
    enough = plan_stock(d, {1: 3, 2: 9, 3: 4, 4: 5}, a)
    assert enough.from_stock and enough.hold == d
    assert plan_stock({1: 3, 2: 4}, {1: 1, 2: 4}, {}) == StockPlan(0, {1: 2}, {1: 1, 2: 4})


@given(
    data=st.lists(
        st.tuples(st.integers(1, 6), st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=5
    ),
    grosir=st.booleans(),
)
def test_plan_stock_properties(data, grosir):
    """Whole lots, as few as cover the shortfall; held units exist; held + from the lots = demand."""
    allocations = {v: a for v, (a, _, _) in enumerate(data)} if grosir else {}
    demand = {v: d for v, (_, d, _) in enumerate(data)}
    free = {v: s for v, (_, _, s) in enumerate(data)}
    plan = plan_stock(demand, free, allocations)
    shortfall = {v: max(0, demand[v] - free[v]) for v in demand}
    if not any(shortfall.values()):
        assert plan.from_stock and plan.lots == 0 and plan.hold == {v: d for v, d in demand.items() if d}
        return
    for v, d in demand.items():
        held, arriving = plan.hold.get(v, 0), plan.incoming.get(v, 0)
        assert 0 <= held <= free[v]
        assert held + min(d, arriving) == d
        assert arriving >= shortfall[v]
    if grosir:
        assert plan.incoming == {v: plan.lots * a for v, a in allocations.items()}
        assert any(
            shortfall[v] > (plan.lots - 1) * a for v, a in allocations.items()
        )  # one lot fewer falls short
    else:
        assert plan.incoming == {v: u for v, u in shortfall.items() if u}
