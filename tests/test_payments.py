"""Online payment end to end (docs/design.md, "Orders and payment"), on the real path: the admin closes a
session through the API, the app's dispatcher enqueues the invoice jobs after the commit, a burst RQ
worker (real Redis) runs them with the real `xendit-python` SDK against the loopback fake Xendit, which
records every request; callbacks come in through `POST /webhooks/xendit/invoice` as Xendit posts them.

Demand in every test: buyer A joins S 1 and M 1, buyer B joins M 2, at Rp 150.000 a piece: three orders
(GB1-001 A S, GB1-002 A M, GB1-003 B M x2), two order messages.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from bot.app import create_app
from bot.dashboard.texts import LABELS
from core import invoicing, payment_events
from core.adapters import payment_provider_for
from core.adapters.xendit import parse_callback
from core.clock import now
from core.db import transaction
from core.models import Order, OrderPayment, OutboundMessage, PaymentEvent, PaymentStatus
from core.texts import rupiah
from core.unit_of_work import unit_of_work
from jobs import queues, runtime
from tests import builders
from tests.builders import (
    ADMIN_HEADERS,
    OPERATOR_PASSWORD,
    Dispatched,
    Operator,
    add_join,
    buyer,
    counts,
    inventory,
    text_of,
    tshirt_session,
)
from tests.chat import Phone
from tests.fakes.xendit_server import Reply

pytestmark = pytest.mark.redis

ADMIN_PHONE = "+6281199999999"
CALLBACK = "/webhooks/xendit/invoice"
PRICE = 150_000


@pytest.fixture
def paying(settings, fake_xendit):
    """The test settings with Xendit pointed at the fake (a 1 s read timeout) and an admin to alert."""
    return dataclasses.replace(
        settings,
        xendit_secret_key=fake_xendit.secret_key,
        xendit_callback_token=fake_xendit.callback_token,
        xendit_api_base_url=fake_xendit.base_url,
        xendit_timeout_seconds=1,
        admin_whatsapp=ADMIN_PHONE,
    )


class Shop:
    def __init__(self, settings, fake, redis_conn, db_factory):
        self.settings = settings
        self.fake = fake
        self.db_factory = db_factory
        self.client = create_app(settings).test_client()
        self.queue = queues.queue(queues.DEFAULT, connection=redis_conn)

    def setup(self, *, stock: dict[str, int] | None = None) -> None:
        stock = {"S": 5, "M": 5} if stock is None else stock
        with transaction(self.db_factory) as db:
            product, session = tshirt_session(db, mix={"S": 1, "M": 1}, moq=2, price=PRICE)
            self.a, self.b = buyer(db), buyer(db, language="en")
            add_join(db, session, self.a, "S", 1)
            add_join(db, session, self.a, "M", 1)
            add_join(db, session, self.b, "M", 2)
            self.product = product
        for size, units in stock.items():
            self.api("PUT", f"/inventory/TS-{size}", {"on_hand": units})

    def api(self, method: str, path: str, json=None, status: int = 200) -> dict:
        response = self.client.open(f"/api/v1{path}", method=method, json=json, headers=ADMIN_HEADERS)
        assert response.status_code == status, response.get_json()
        return response.get_json()

    def close(self) -> dict:
        return self.api("POST", "/sessions/GB1/close")

    def work(self) -> None:
        SimpleWorker([self.queue], connection=self.queue.connection).work(burst=True)
        assert self.queue.failed_job_registry.get_job_ids() == []

    def run(self, func: str, *args) -> object:
        job = self.queue.enqueue(func, *args)
        self.work()
        return job.return_value()

    def run_due_retries(self) -> None:
        """RQ's scheduler step at the time the last scheduled retry is due, then the worker."""
        builders.enqueue_due_retries(self.queue)
        self.work()

    def callback(self, cb):
        return self.client.post(CALLBACK, data=cb.body, headers=cb.headers)

    # the database
    def payments(self) -> dict[str, OrderPayment]:
        """order code -> its payment row"""
        with self.db_factory() as db:
            rows = db.execute(
                select(Order.code, OrderPayment).join(OrderPayment, OrderPayment.order_id == Order.id)
            )
            return {code: payment for code, payment in rows}

    def invoice(self, order_code: str) -> str:
        return self.payments()[order_code].invoice_id

    def events(self) -> list[tuple[str, str, str]]:
        """(kind, source, event key) in ledger order"""
        with self.db_factory() as db:
            rows = db.execute(
                select(PaymentEvent.kind, PaymentEvent.source, PaymentEvent.event_key).order_by(
                    PaymentEvent.id
                )
            )
            return [tuple(row) for row in rows]

    def messages(self, kind: str) -> list[OutboundMessage]:
        with self.db_factory() as db:
            return list(
                db.scalars(
                    select(OutboundMessage).where(OutboundMessage.kind == kind).order_by(OutboundMessage.id)
                )
            )

    def order_status(self, code: str) -> str:
        with self.db_factory() as db:
            return db.scalar(select(Order.status).where(Order.code == code))

    def overdue(self, order_code: str) -> None:
        """Move an order's payment deadline into the past (as if 48 hours had gone by)."""
        with transaction(self.db_factory) as db:
            order_id = db.scalar(select(Order.id).where(Order.code == order_code))
            db.execute(
                update(OrderPayment)
                .where(OrderPayment.order_id == order_id)
                .values(due_at=now() - timedelta(minutes=10))
            )


@pytest.fixture
def shop(paying, fake_xendit, redis_conn, db_factory):
    runtime.reset(paying)
    yield Shop(paying, fake_xendit, redis_conn, db_factory)
    runtime.reset()


def invoiced(shop: Shop) -> None:
    shop.setup()
    assert shop.close()["status"] == "orders_created"
    shop.work()


# --- invoices -----------------------------------------------------------------------------------------


def test_each_order_gets_one_invoice_and_each_buyer_one_message_with_every_link(shop, fake_xendit):
    shop.setup()
    assert shop.close()["orders"] == 3
    assert shop.messages("order_created") == []  # the message waits for the invoices
    assert [p.status for p in shop.payments().values()] == [PaymentStatus.INVOICING] * 3

    shop.work()

    payments = shop.payments()
    assert {code: (p.status, p.amount) for code, p in payments.items()} == {
        "GB1-001": ("pending", PRICE),
        "GB1-002": ("pending", PRICE),
        "GB1-003": ("pending", 2 * PRICE),
    }
    creates = [c["json"] for c in fake_xendit.creates]
    assert sorted((c["external_id"], c["amount"]) for c in creates) == sorted(
        (p.external_id, p.amount) for p in payments.values()
    )
    assert {c["description"] for c in creates} == {
        "Kaos TS, ukuran S ×1 (sesi GB1, pesanan GB1-001)",
        "Kaos TS, ukuran M ×1 (sesi GB1, pesanan GB1-002)",
        "Kaos TS, size M ×2 (session GB1, order GB1-003)",
    }
    assert {c["customer"]["mobile_number"] for c in creates} == {shop.a.phone, shop.b.phone}
    assert {c["invoice_duration"] for c in creates} == {48 * 3600}
    assert all(c["currency"] == "IDR" and c["items"][0]["price"] == PRICE for c in creates)
    assert all(p.due_at is not None and p.invoice_url.endswith(p.invoice_id) for p in payments.values())

    [to_a, to_b] = shop.messages("order_created")
    assert (to_a.to_phone, to_b.to_phone) == (shop.a.phone, shop.b.phone)
    assert "• GB1-001: S x1 = Rp 150.000\n  Bayar sebelum " in to_a.body
    assert f": {payments['GB1-001'].invoice_url}\n• GB1-002: M x1 = Rp 150.000\n  Bayar sebelum " in to_a.body
    assert f": {payments['GB1-002'].invoice_url}\nTotal tagihan: Rp 300.000." in to_a.body
    assert (
        "• GB1-003: M x2 = Rp 300.000\n  Pay by " in to_b.body
        and payments["GB1-003"].invoice_url in to_b.body
    )
    assert [kind for kind, _, _ in shop.events()] == ["invoice_created"] * 3
    # each order's units are held under its own key: the warehouse holds exactly the demand
    with shop.db_factory() as db:
        assert inventory(db, shop.product) == {"S": (5, 1), "M": (5, 3)}

    # the job again (a duplicate enqueue, a retry after success): nothing more at Xendit or for the buyer
    shop.run("jobs.payments.create_order_invoices", to_a.session_id, shop.a.id)
    assert len(fake_xendit.creates) == 3 and len(shop.messages("order_created")) == 2


def test_a_lost_answer_and_the_retried_job_make_one_invoice_and_one_message(shop, fake_xendit):
    shop.setup()
    shop.close()
    fake_xendit.script(Reply(), "timeout")  # A's first look-up is answered; its create is carried out,
    # but the answer never comes

    shop.work()

    assert len(fake_xendit.creates) == len(fake_xendit.invoices) == 3  # GB1-001's answer was lost
    lost = shop.payments()["GB1-001"]
    assert (lost.status, lost.invoice_id, lost.attempts) == ("invoicing", None, 1)
    assert "xendit network" in lost.last_error
    assert shop.payments()["GB1-002"].status == "pending"  # A's other order went on
    assert [m.to_phone for m in shop.messages("order_created")] == [shop.b.phone]  # A waits for the link
    assert len(shop.queue.scheduled_job_registry.get_job_ids()) == 1  # RQ's retry of A's job

    shop.run_due_retries()

    assert len(fake_xendit.creates) == 3  # the retry looked the order up and found the lost invoice
    found = shop.payments()["GB1-001"]
    assert (
        found.status == "pending" and found.invoice_id == fake_xendit.invoices_for(found.external_id)[0]["id"]
    )
    assert sorted(kind for kind, _, _ in shop.events()) == [
        "invoice_created",
        "invoice_created",
        "invoice_found",
    ]
    [_, to_a] = shop.messages("order_created")
    assert to_a.to_phone == shop.a.phone and found.invoice_url in to_a.body


def _one_order_from_stock(settings, db_factory):
    """Session GB1 closed through the admin API with one buyer's 2 M served from stock: one order,
    GB1-001, whose invoice has not been made yet (its job is left in the Dispatched)."""
    with transaction(db_factory) as db:
        _, session = tshirt_session(db, mix={"S": 1, "M": 1}, moq=2, price=PRICE)
        someone = buyer(db)
        add_join(db, session, someone, "M", 2)
    client = create_app(settings, dispatch=Dispatched()).test_client()
    client.put("/api/v1/inventory/TS-M", json={"on_hand": 2}, headers=ADMIN_HEADERS)
    client.post("/api/v1/sessions/GB1/close", headers=ADMIN_HEADERS)
    return session, someone


def test_after_the_last_attempt_the_order_says_pay_through_the_admin_and_the_admin_is_alerted(
    paying, fake_xendit, db_factory
):
    session, someone = _one_order_from_stock(paying, db_factory)
    provider = payment_provider_for(paying)
    dispatched = Dispatched()

    def attempt():
        return invoicing.create_order_invoices(
            db_factory, dispatched, paying, provider, session.id, someone.id, max_attempts=2
        )

    fake_xendit.script(503, 503)  # the look-up of attempt 1, then of attempt 2
    assert attempt().retry == ["GB1-001"]
    assert attempt().as_dict() == {"made": [], "failed": ["GB1-001"], "retry": [], "told": True}
    assert attempt().as_dict() == {"made": [], "failed": [], "retry": [], "told": False}  # nothing left

    assert fake_xendit.creates == []
    with db_factory() as db:
        payment = db.scalar(select(OrderPayment))
        assert (payment.status, payment.attempts) == ("failed", 2)
        [order_message] = db.scalars(select(OutboundMessage).where(OutboundMessage.kind == "order_created"))
        [alert] = db.scalars(select(OutboundMessage).where(OutboundMessage.kind == "admin_alert"))
    assert (
        "GB1-001: M x2 = Rp 300.000\n  Link pembayaran belum tersedia; admin kami menghubungi"
        in order_message.body
    )
    assert (
        alert.to_phone == ADMIN_PHONE
        and "gave up after 2 attempts" in alert.body
        and "Rp 300.000" in alert.body
    )
    assert [kind for kind, *_ in _ledger(db_factory)] == ["invoice_failed"]
    assert sorted(dispatched) == sorted([order_message.id, alert.id])


def _ledger(db_factory):
    with db_factory() as db:
        return db.execute(select(PaymentEvent.kind, PaymentEvent.order_id).order_by(PaymentEvent.id)).all()


def test_an_unexpected_error_is_tried_again_then_given_up(paying, db_factory):
    session, someone = _one_order_from_stock(paying, db_factory)

    class Broken:
        def ensure_invoice(self, request):
            raise RuntimeError("a bug")

    def attempt():
        return invoicing.create_order_invoices(
            db_factory, Dispatched(), paying, Broken(), session.id, someone.id, max_attempts=2
        ).as_dict()

    assert attempt() == {"made": [], "failed": [], "retry": ["GB1-001"], "told": False}
    assert attempt() == {"made": [], "failed": ["GB1-001"], "retry": [], "told": True}
    with db_factory() as db:
        assert db.scalar(select(OrderPayment.last_error)) == "gave up after 2 attempts: a bug"


def test_a_refused_request_fails_at_once(shop, fake_xendit):
    shop.setup()
    shop.close()
    fake_xendit.script((400, "API_VALIDATION_ERROR", "mobile_number is invalid"))  # A's first look-up
    shop.work()
    assert (
        shop.payments()["GB1-001"].status == "failed"
        and "API_VALIDATION_ERROR" in shop.payments()["GB1-001"].last_error
    )
    assert shop.queue.scheduled_job_registry.get_job_ids() == []  # nothing to retry
    [alert] = shop.messages("admin_alert")
    assert "GB1-001" in alert.body and "API_VALIDATION_ERROR" in alert.body


def test_orders_made_when_the_purchase_order_arrives_get_invoices_and_their_own_holds(shop, fake_xendit):
    shop.setup(stock={"S": 0, "M": 1})  # short of S 1 and M 2: two lots of S1 + M1; M 1 held at close
    assert shop.close()["status"] == "pending_stock"
    with shop.db_factory() as db:
        assert inventory(db, shop.product) == {"S": (0, 0), "M": (1, 1)}

    received = shop.api("POST", "/purchase-orders/PO-GB1-1/receive")
    assert received["orders_created"] == 3
    shop.work()

    assert len(fake_xendit.creates) == 3 and len(shop.messages("order_created")) == 2
    with shop.db_factory() as db:  # the close hold went back and came again, one hold per order
        assert inventory(db, shop.product) == {"S": (2, 1), "M": (3, 3)}
        assert sorted(db.scalars(select(OrderPayment.stock_key))) == [
            "order-GB1-001",
            "order-GB1-002",
            "order-GB1-003",
        ]


# --- callbacks ----------------------------------------------------------------------------------------


def test_a_paid_callback_marks_the_order_paid_and_thanks_the_buyer_once(shop, fake_xendit):
    invoiced(shop)
    paid = fake_xendit.pay(shop.invoice("GB1-003"), payment_channel="QRIS", payment_method="QR_CODE")

    response = shop.callback(paid)

    assert response.status_code == 200 and response.get_json()["result"] == "applied"
    payment = shop.payments()["GB1-003"]
    assert (payment.status, payment.payment_channel) == ("paid", "QRIS") and payment.paid_at is not None
    assert shop.order_status("GB1-003") == "paid"
    [receipt] = shop.messages("payment_received")
    assert receipt.to_phone == shop.b.phone
    assert receipt.body.startswith(
        "✅ Payment received, thank you!\nOrder GB1-003 (session GB1, Kaos TS): M x2\n"
    )
    assert (
        "Paid: Rp 300.000, " in receipt.body
        and "by QRIS" in receipt.body
        and payment.invoice_id in receipt.body
    )

    # Xendit delivers it again, and again later: answered 200, nothing changes twice
    before = counts(shop.db_factory)
    for _ in range(2):
        again = shop.callback(paid)
        assert again.status_code == 200 and again.get_json()["result"] == "duplicate"
    assert counts(shop.db_factory) == before
    assert [k for k, _, _ in shop.events()].count("paid") == 1


def test_an_expired_callback_expires_the_order_returns_its_units_and_tells_the_buyer(shop, fake_xendit):
    invoiced(shop)
    with shop.db_factory() as db:
        assert inventory(db, shop.product) == {"S": (5, 1), "M": (5, 3)}

    response = shop.callback(fake_xendit.expire(shop.invoice("GB1-002")))  # A's M 1
    assert response.get_json()["result"] == "applied"
    shop.work()  # the follow-up gives the units back

    assert shop.payments()["GB1-002"].status == "expired" and shop.payments()["GB1-002"].stock_released_at
    assert shop.order_status("GB1-002") == "expired"
    with shop.db_factory() as db:
        assert inventory(db, shop.product) == {"S": (5, 1), "M": (5, 2)}  # exactly its one M is free again
    [told] = shop.messages("payment_expired")
    assert (
        told.to_phone == shop.a.phone
        and "GB1-002" in told.body
        and "Tidak ada yang perlu dibayar" in told.body
    )

    assert shop.callback(fake_xendit.expire(shop.invoice("GB1-002"))).get_json()["result"] == "duplicate"
    shop.run("jobs.payments.release_order_stock", shop.payments()["GB1-002"].order_id)  # a stray repeat
    with shop.db_factory() as db:
        assert inventory(db, shop.product) == {"S": (5, 1), "M": (5, 2)}
    assert len(shop.messages("payment_expired")) == 1


@pytest.mark.parametrize(
    ("token", "status"),
    [("", 403), ("not-the-token", 403), ("fake-callback-token-0123456789abcdeX", 403)],
)
def test_a_callback_without_the_right_token_is_refused_and_nothing_is_stored(
    shop, fake_xendit, token, status
):
    invoiced(shop)
    before = counts(shop.db_factory)
    response = shop.callback(fake_xendit.pay(shop.invoice("GB1-001"), token=token))
    assert response.status_code == status and response.get_json() == {"error": "invalid callback token"}
    assert counts(shop.db_factory) == before and shop.payments()["GB1-001"].status == "pending"


def test_a_callback_that_is_not_an_invoice_is_a_clear_400(shop, fake_xendit):
    headers = {"x-callback-token": fake_xendit.callback_token, "Content-Type": "application/json"}
    for body, reason in [
        (b"{not json", "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b'{"id": "x", "status": "PAID"}', "external_id"),
        (b'{"id": "x", "external_id": "y", "status": "PAID", "amount": "lots"}', "amount"),
    ]:
        response = shop.client.post(CALLBACK, data=body, headers=headers)
        assert response.status_code == 400 and reason in response.get_json()["error"]
    assert _ledger(shop.db_factory) == []


def test_without_online_payment_the_callback_route_is_not_there(app, client):
    response = client.post(CALLBACK, data=b"{}", headers={"x-callback-token": "anything"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("pay", "reason"),
    [
        ({"paid_amount": 100_000}, "paid amount 100000 is not the 150000 due"),
        ({"currency": "USD"}, "currency USD"),
    ],
)
def test_a_payment_that_does_not_match_the_order_is_recorded_and_alerted_never_paid(
    shop, fake_xendit, pay, reason
):
    invoiced(shop)
    response = shop.callback(fake_xendit.pay(shop.invoice("GB1-001"), **pay))

    assert response.status_code == 200
    assert shop.payments()["GB1-001"].status == "review" and shop.order_status("GB1-001") == "created"
    [(kind, source, _)] = [e for e in shop.events() if e[0] not in ("invoice_created",)]
    assert (kind, source) == ("mismatch", "callback")
    with shop.db_factory() as db:
        assert reason in db.scalar(select(PaymentEvent.detail).where(PaymentEvent.kind == "mismatch"))
    [alert] = shop.messages("admin_alert")
    assert alert.to_phone == ADMIN_PHONE and reason in alert.body and "TIDAK ditandai lunas" in alert.body
    assert shop.messages("payment_received") == []
    [review] = shop.messages("payment_review")
    assert review.to_phone == shop.a.phone and "GB1-001" in review.body


def test_a_payment_after_the_order_expired_goes_to_review(shop, fake_xendit):
    invoiced(shop)
    invoice_id = shop.invoice("GB1-001")
    shop.callback(fake_xendit.expire(invoice_id))
    late = fake_xendit.callback_for(fake_xendit.invoices[invoice_id], status="PAID", paid_amount=PRICE)
    assert shop.callback(late).get_json()["result"] == "applied"
    assert shop.payments()["GB1-001"].status == "review"
    assert [k for k, _, _ in shop.events()][-2:] == ["expired", "late_payment"]
    assert "setelah pesanan kedaluwarsa" in shop.messages("admin_alert")[0].body


def test_a_callback_for_an_invoice_of_no_order_is_recorded_and_alerted(shop, fake_xendit):
    invoiced(shop)
    stranger = fake_xendit.callback_for(
        fake_xendit.invoices[shop.invoice("GB1-001")], id="someone-else", external_id="laku-X-1"
    )
    assert shop.callback(stranger).get_json()["result"] == "unknown_invoice"
    assert shop.callback(stranger).get_json()["result"] == "duplicate"
    with shop.db_factory() as db:
        assert db.scalar(select(PaymentEvent.order_id).where(PaymentEvent.kind == "unknown_invoice")) is None
    [alert] = shop.messages("admin_alert")
    assert "someone-else" in alert.body and "laku-X-1" in alert.body


# --- reconciliation ------------------------------------------------------------------------------------


def test_a_lost_paid_callback_is_recovered_by_reconciliation_and_the_late_callback_changes_nothing(
    shop, fake_xendit
):
    invoiced(shop)
    paid = fake_xendit.pay(shop.invoice("GB1-003"))  # Xendit's callback never arrives
    assert shop.run("jobs.payments.reconcile_payments") == {}  # not past its deadline: not asked about
    shop.overdue("GB1-003")

    assert shop.run("jobs.payments.reconcile_payments") == {"applied": 1}

    assert shop.payments()["GB1-003"].status == "paid"
    assert [(k, s) for k, s, _ in shop.events()][-1] == ("paid", "reconciliation")
    assert len(shop.messages("payment_received")) == 1
    assert fake_xendit.calls("GET", f"/v2/invoices/{shop.invoice('GB1-003')}")
    # the callback turns up after all: same event, nothing changes
    assert shop.callback(paid).get_json()["result"] == "duplicate"
    assert len(shop.messages("payment_received")) == 1
    assert shop.run("jobs.payments.reconcile_payments") == {}  # nothing pending past its deadline


def test_reconciliation_expires_an_invoice_still_open_past_its_deadline(shop, fake_xendit):
    invoiced(shop)
    shop.overdue("GB1-001")
    assert shop.run("jobs.payments.reconcile_payments") == {"applied": 1}
    invoice_id = shop.invoice("GB1-001")
    assert [c["path"] for c in fake_xendit.calls("POST", "/invoices/")] == [f"/invoices/{invoice_id}/expire!"]
    assert fake_xendit.invoices[invoice_id]["status"] == "EXPIRED"
    assert shop.payments()["GB1-001"].status == "expired" and shop.payments()["GB1-001"].stock_released_at
    with shop.db_factory() as db:
        assert inventory(db, shop.product) == {"S": (5, 0), "M": (5, 3)}
    # Xendit's own EXPIRED callback arrives afterwards: the same event
    assert (
        shop.callback(fake_xendit.callback_for(fake_xendit.invoices[invoice_id])).get_json()["result"]
        == "duplicate"
    )


def test_reconciliation_leaves_an_unanswered_question_for_later(shop, fake_xendit):
    invoiced(shop)
    shop.overdue("GB1-001")
    fake_xendit.script(503)
    assert shop.run("jobs.payments.reconcile_payments") == {"later": 1}
    assert shop.payments()["GB1-001"].status == "pending" and shop.payments()["GB1-001"].checked_at
    assert shop.run("jobs.payments.reconcile_payments") == {}  # asked recently: not again at once


def test_lost_invoice_jobs_are_resumed_by_the_periodic_job(shop, fake_xendit):
    shop.setup()
    shop.close()
    shop.queue.empty()  # Redis lost the jobs enqueued after the commit
    assert shop.run("jobs.payments.resume_payment_work") == 0  # just made: their own job may still come
    with transaction(shop.db_factory) as db:
        db.execute(update(OrderPayment).values(updated_at=now() - timedelta(minutes=2)))
    assert shop.run("jobs.payments.resume_payment_work") == 2  # one job per buyer; the burst ran them
    assert len(fake_xendit.creates) == 3 and len(shop.messages("order_created")) == 2


# --- what buyers and the admin see --------------------------------------------------------------------


def test_status_shows_each_orders_payment_state_and_link(shop, fake_xendit):
    invoiced(shop)
    shop.callback(fake_xendit.pay(shop.invoice("GB1-001")))
    shop.callback(fake_xendit.expire(shop.invoice("GB1-002")))

    reply = Phone(shop.client, shop.a.phone).send("STATUS")

    pending = shop.payments()["GB1-003"]
    lines = reply.splitlines()  # newest join first
    assert lines[1] == (
        "• GB1 Kaos TS M x1 = Rp 150.000: pesanan GB1-002, kedaluwarsa (tidak ada tagihan) (sesi: pesanan dibuat)"
    )
    assert lines[2].startswith("• GB1 Kaos TS S x1 = Rp 150.000: pesanan GB1-001, lunas ")
    assert lines[2].endswith(" WIB (sesi: pesanan dibuat)")
    reply_b = Phone(shop.client, shop.b.phone).send("STATUS")
    assert (
        "order GB1-003, unpaid; pay by " in reply_b
        and f": {pending.invoice_url} (session: orders created)" in reply_b
    )


def test_the_admin_sees_paid_pending_and_expired_per_session_with_totals(shop, fake_xendit):
    shop.setup()
    shop.close()
    assert shop.api("GET", "/sessions/GB1")["payments"] == {
        "paid": {"orders": 0, "amount": 0},
        "pending": {"orders": 3, "amount": 600_000},
        "expired": {"orders": 0, "amount": 0},
        "review": {"orders": 0, "amount": 0},
    }
    shop.work()
    shop.callback(fake_xendit.pay(shop.invoice("GB1-003")))
    shop.callback(fake_xendit.expire(shop.invoice("GB1-002")))
    assert shop.api("GET", "/sessions/GB1")["payments"] == {
        "paid": {"orders": 1, "amount": 300_000},
        "pending": {"orders": 1, "amount": 150_000},
        "expired": {"orders": 1, "amount": 150_000},
        "review": {"orders": 0, "amount": 0},
    }


def test_the_dashboard_shows_the_same_payment_totals_as_the_api(shop, fake_xendit, operator):
    shop.setup()
    shop.close()
    shop.work()
    shop.callback(fake_xendit.pay(shop.invoice("GB1-003")))
    shop.callback(fake_xendit.expire(shop.invoice("GB1-002")))
    totals = shop.api("GET", "/sessions/GB1")["payments"]
    dashboard = Operator(shop.client)
    assert dashboard.login(operator, OPERATOR_PASSWORD).status_code == 302
    page = text_of(dashboard.page("/admin/sessions/GB1"))
    assert sorted(totals) == ["expired", "paid", "pending", "review"]
    rows = " ".join(
        f"{LABELS['id'][state]} {totals[state]['orders']} {rupiah(totals[state]['amount'])}"
        for state in ("paid", "pending", "expired", "review")  # the page's order (the API's JSON sorts keys)
    )
    assert f"Pembayaran Status Pesanan Jumlah {rows} " in page
    assert "Lunas 1 Rp 300.000" in rows and "Kedaluwarsa 1 Rp 150.000" in rows


# --- the embedded default, and the ledger --------------------------------------------------------------


def test_without_xendit_nothing_changes_the_order_states_the_amount_due(app, client, dispatched, db_factory):
    with transaction(db_factory) as db:
        product, session = tshirt_session(db, mix={"S": 1, "M": 1}, moq=2, price=PRICE)
        add_join(db, session, buyer(db), "M", 2)
    client.put("/api/v1/inventory/TS-M", json={"on_hand": 2}, headers=ADMIN_HEADERS)
    assert client.post("/api/v1/sessions/GB1/close", headers=ADMIN_HEADERS).get_json()["orders"] == 1
    with db_factory() as db:
        [message] = db.scalars(select(OutboundMessage))
        assert inventory(db, product) == {"S": (0, 0), "M": (2, 2)}
    assert message.body.startswith(
        "Pesanan Anda untuk sesi GB1 (Kaos TS) sudah dibuat:\n• GB1-001: M x2 = Rp 300.000\n"
    )
    assert "Total tagihan: Rp 300.000." in message.body and "Bayar" not in message.body
    assert dispatched == [message.id] and dispatched.follow_ups == []
    assert counts(db_factory)["order_payments"] == counts(db_factory)["payment_events"] == 0
    assert client.get("/api/v1/sessions/GB1", headers=ADMIN_HEADERS).get_json()["payments"]["pending"] == {
        "orders": 0,
        "amount": 0,
    }


def test_the_ledger_refuses_update_and_delete(requires_postgres, shop, fake_xendit):
    invoiced(shop)
    for statement in ("UPDATE payment_events SET kind = 'paid'", "DELETE FROM payment_events"):
        with pytest.raises(DBAPIError, match="append-only ledger"):
            with transaction(shop.db_factory) as db:
                db.execute(text(statement))
    assert len(shop.events()) == 3


def test_two_deliveries_of_one_event_at_the_same_moment_act_once(requires_postgres, shop, fake_xendit):
    invoiced(shop)
    info = parse_callback(fake_xendit.pay(shop.invoice("GB1-001")).body)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def deliver():
        with unit_of_work(shop.db_factory, Dispatched()) as db:
            barrier.wait()
            results.append(payment_events.apply_invoice_event(db, shop.settings, info, source="callback"))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["applied", "duplicate"]
    assert len(shop.messages("payment_received")) == 1
    with shop.db_factory() as db:
        assert (
            db.scalar(select(func.count()).select_from(PaymentEvent).where(PaymentEvent.kind == "paid")) == 1
        )
