"""Expiry and fulfilment end to end (see docs/design.md, "Expiry (warehouse first)" and "Messages and the outbox"), on the real RQ path.

Buyers and the factory talk to the real Flask app through signed Twilio webhooks; the admin uses the
JSON API; every outbound message goes outbox row -> RQ job (real Redis, a burst `SimpleWorker` on the
`default` queue) -> the real twilio client -> a loopback fake Twilio. The expiry sweep itself is an RQ
job (`jobs.expiry.sweep_expired_sessions`) run by the same worker, which therefore also sends what the
sweep enqueued.

Every message is counted twice: per (phone, kind) in the outbox, and per (phone, kind) of what the fake
Twilio received (matched to the outbox through the provider SID), so "told exactly once" means once in
our database and once on the wire.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.app import create_app
from core import joining, sweep
from core.clock import as_utc, now
from core.db import transaction
from core.models import (
    Buyer,
    GroupSession,
    Order,
    OutboundMessage,
    OutboundStatus,
    Participant,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    SessionStatus,
    Variant,
    WarehouseInventory,
)
from core.warehouse import BuiltinWarehouse
from jobs import queues, runtime
from tests import builders
from tests.builders import ADMIN_HEADERS as ADMIN
from tests.chat import WEBHOOK, Phone, reply_text, sign

pytestmark = pytest.mark.redis


FACTORY = "+6281100000001"
A, B, C, D = "+6281300000001", "+6281300000002", "+6281300000003", "+6281300000004"
BUYERS = (A, B, C, D)
SIZES = ("S", "M", "L", "XL")
MIX = {"S": 2, "M": 5, "L": 4, "XL": 1}  # 12 pcs a lot
PRICE = 50_000
PRODUCT = "Kaos Polos Katun"

# A's, B's, C's and D's joins, in order: always within the caps, MOQ 24 reached by the last one.
JOINS = [
    (A, "M", 5),  # caps S4 M10 L8 XL2 with no orders
    (B, "S", 2),
    (B, "L", 4),
    (C, "XL", 1),
    (C, "L", 4),  # L cap 8 + 4 = 12
    (D, "S", 2),  # S cap 4 + 2 = 6
    (D, "M", 4),  # M cap 10 + 5 = 15
    (A, "XL", 2),  # XL cap 2 + min(2, 1, 2, 1) = 3: 24 units
]
DEMAND = {"S": 4, "M": 9, "L": 8, "XL": 3}
LOTS = 3  # max(ceil(4/2), ceil(9/5), ceil(8/4), ceil(3/1))
INCOMING = {size: LOTS * MIX[size] for size in SIZES}  # S6 M15 L12 XL3 = 36


# --- wiring ---------------------------------------------------------------------------------------------


class SignedPhone(Phone):
    """`tests.chat.Phone`, signing with the auth token the app validates (the fake Twilio's)."""

    def __init__(self, client, number, name, token):
        super().__init__(client, number, name)
        self.token = token
        self.forms: list[dict] = []

    def post(self, form, signature=None):
        if signature is None:
            signature = sign(self.base_url + WEBHOOK, form, self.token)
        return super().post(form, signature)

    def say(self, body: str) -> str:
        form = self.form(body)
        self.forms.append(form)
        response = self.post(form)
        assert response.status_code == 200, response.data
        return reply_text(response)


@pytest.fixture
def wired(settings, fake_twilio, redis_conn):
    """The test database, our Redis database, the fake Twilio's credentials (also the webhook auth
    token), for the web app and, through `runtime.reset`, for the worker's jobs."""
    configured = fake_twilio.settings(settings)
    runtime.reset(configured)
    yield configured
    runtime.reset()


class World:
    def __init__(self, app, wired, fake, redis_conn, db_factory):
        self.client = app.test_client()
        self.settings = wired
        self.fake = fake
        self.db_factory = db_factory
        self.queue = queues.queue(queues.DEFAULT, connection=redis_conn)
        self.phones: dict[str, SignedPhone] = {}

    def phone(self, number: str) -> SignedPhone:
        if number not in self.phones:
            name = "Pabrik" if number == FACTORY else f"Pembeli {number[-1]}"
            self.phones[number] = SignedPhone(self.client, number, name, self.settings.twilio_auth_token)
        return self.phones[number]

    # admin API
    def api(self, method: str, path: str, json=None, status: int = 200):
        return builders.admin(self.client, method, path, json, status)

    def setup(self, *, code: str = "GB1", target_moq: int = 24) -> None:
        factory = self.api(
            "POST",
            "/factories",
            {"name": "Konveksi Bandung", "phone": "0811-0000-0001", "address": "Jl. Industri 1"},
            201,
        )
        assert factory["phone"] == FACTORY
        product = self.api(
            "POST",
            "/products",
            {
                "factory_id": factory["id"],
                "name": PRODUCT,
                "sku": "KP",
                "price": PRICE,
                "grosir_unit_size": 12,
                "variants": [{"size": s, "sku": f"KP-{s}", "units_per_lot": MIX[s]} for s in SIZES],
            },
            201,
        )
        self.api(
            "POST",
            "/sessions",
            {
                "product_id": product["id"],
                "target_moq": target_moq,
                "ends_at": (now() + timedelta(hours=2)).isoformat(),
                "code": code,
            },
            201,
        )

    # the worker
    def work(self) -> None:
        builders.work(self.queue)

    def sweep(self) -> dict:
        return builders.run_job(self.queue, "jobs.expiry.sweep_expired_sessions")

    def scheduled_delays(self) -> list[float]:
        registry = self.queue.scheduled_job_registry
        return [(registry.get_scheduled_time(j) - now()).total_seconds() for j in registry.get_job_ids()]

    def run_due_retries(self) -> None:
        """RQ's scheduler step at the time the last scheduled retry is due, then the worker."""
        builders.enqueue_due_retries(self.queue)
        self.work()

    # the database
    def expire(self, code: str = "GB1") -> None:
        with transaction(self.db_factory) as db:
            db.execute(
                update(GroupSession)
                .where(GroupSession.code == code)
                .values(starts_at=now() - timedelta(hours=3), ends_at=now() - timedelta(minutes=1))
            )

    def session(self, code: str = "GB1") -> GroupSession:
        with self.db_factory() as db:
            return db.scalar(select(GroupSession).where(GroupSession.code == code))

    def outbox(self) -> list[OutboundMessage]:
        with self.db_factory() as db:
            return list(db.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))

    def inventory(self) -> dict[str, tuple[int, int]]:
        """size -> (on_hand, reserved)"""
        with self.db_factory() as db:
            rows = db.execute(
                select(Variant.size, WarehouseInventory.on_hand, WarehouseInventory.reserved).join(
                    WarehouseInventory, WarehouseInventory.variant_id == Variant.id
                )
            )
            return {size: (on_hand, reserved) for size, on_hand, reserved in rows}

    def orders(self) -> list[tuple[str, str, str, int, int]]:
        """(order code, buyer phone, size, quantity, amount due) in participant order."""
        with self.db_factory() as db:
            rows = db.execute(
                select(Order.code, Buyer.phone, Variant.size, Order.quantity, Order.amount_due)
                .join(Buyer, Buyer.id == Order.buyer_id)
                .join(Variant, Variant.id == Order.variant_id)
                .order_by(Order.participant_id)
            )
            return [tuple(row) for row in rows]

    def snapshot(self) -> dict:
        """Every row fulfilment could change (the inbound log aside)."""
        # one session at a time: on SQLite each holds the write lock (BEGIN IMMEDIATE) until it ends
        rows = {
            "orders": self.orders(),
            "inventory": self.inventory(),
            "outbox": [(m.idempotency_key, m.status, m.attempts) for m in self.outbox()],
        }
        with self.db_factory() as db:
            return rows | {
                "sessions": [
                    (s.code, s.status, s.ordered_units, s.factory_whatsapp_sent, s.factory_notified_at)
                    for s in db.scalars(select(GroupSession).order_by(GroupSession.id))
                ],
                "participants": [
                    (p.id, p.status, p.quantity)
                    for p in db.scalars(select(Participant).order_by(Participant.id))
                ],
                "purchase_orders": [
                    (p.code, p.status, p.lots, p.eta, p.tracking, p.received_at)
                    for p in db.scalars(select(PurchaseOrder).order_by(PurchaseOrder.id))
                ],
                "po_lines": db.scalar(select(func.count()).select_from(PurchaseOrderLine)),
            }

    # what was told to whom
    def told(self) -> Counter:
        """(phone, kind) -> rows in the outbox."""
        return Counter((m.to_phone, m.kind) for m in self.outbox())

    def received(self) -> Counter:
        """(phone, kind) -> messages the fake Twilio accepted, matched to the outbox by provider SID."""
        by_sid = {m.provider_sid: m for m in self.outbox() if m.provider_sid}
        counted: Counter = Counter()
        for request in self.fake.accepted:
            message = by_sid[request["sid"]]  # every accepted message is an outbox row
            assert request["To"] == f"whatsapp:{message.to_phone}"
            assert request["Body"] == message.body
            counted[(message.to_phone, message.kind)] += 1
        return counted

    def bodies(self, kind: str) -> dict[str, str]:
        """phone -> the body of its one message of `kind`."""
        rows = [m for m in self.outbox() if m.kind == kind]
        assert len({m.to_phone for m in rows}) == len(rows)
        return {m.to_phone: m.body for m in rows}

    def join_all(self, joins=JOINS) -> list[str]:
        return [self.phone(who).say(f"IKUT GB1 {size} {qty}") for who, size, qty in joins]


@pytest.fixture
def world(wired, fake_twilio, redis_conn, db_factory) -> World:
    return World(create_app(wired), wired, fake_twilio, redis_conn, db_factory)


def each(kinds: dict[str, int], phones=BUYERS) -> Counter:
    return Counter({(phone, kind): n for phone in phones for kind, n in kinds.items()})


MOQ_TOLD = each({"moq_reached": 1}, phones=(B, C, D))
"""A's last join reaches the MOQ: A reads it in the reply; the others are told by WhatsApp, once."""


# --- the whole loop -------------------------------------------------------------------------------------


def run_whole_loop(world: World) -> None:
    """Join -> MOQ -> expiry with an empty warehouse -> PO to the factory -> SIAP/KIRIM -> receive."""
    world.setup()
    assert (
        world.phone(A).say("ALAMAT Jl. Mawar 1, Depok") == "📍 Alamat pengiriman disimpan: Jl. Mawar 1, Depok"
    )
    replies = world.join_all()
    assert all(r.startswith("✅ Tercatat: ") for r in replies)
    assert [r.split("Terkumpul ")[1].split(" pcs")[0] for r in replies] == [
        "5/24",
        "7/24",
        "11/24",
        "12/24",
        "16/24",
        "18/24",
        "22/24",
        "24/24",
    ]
    assert "🎉 Minimum tercapai!" in replies[-1] and not any("minimum" in r.lower() for r in replies[:-1])
    world.work()
    assert world.session().status == SessionStatus.MOQ_REACHED
    assert world.told() == world.received() == MOQ_TOLD

    # the time is up: the sweep job closes the session against an empty warehouse
    world.expire()
    assert world.sweep() == {"closed": {"GB1": SessionStatus.PENDING_STOCK}, "retry_later": {}}


def test_whole_loop_from_joins_to_orders_through_the_factory(world, fake_twilio):
    run_whole_loop(world)

    # exactly one WhatsApp to the factory: product, PO code, lots and units per size
    factory_messages = [m for m in fake_twilio.messages if m["To"] == f"whatsapp:{FACTORY}"]
    assert len(factory_messages) == 1 and factory_messages[0]["response_status"] == 201
    body = factory_messages[0]["Body"]
    assert body.startswith("PESANAN PO-GB1-1 dari Laku Grosir\n")
    assert f"Produk: {PRODUCT}\n" in body
    assert "Jumlah: 3 grosir (12 pcs per grosir)\n" in body
    assert "Per ukuran:\n• S: 6 pcs\n• M: 15 pcs\n• L: 12 pcs\n• XL: 3 pcs\nTotal: 36 pcs" in body
    assert "SIAP PO-GB1-1" in body and "TOLAK PO-GB1-1" in body and "KIRIM PO-GB1-1" in body

    session = world.session()
    assert (session.status, session.grosir_units_needed, session.warehouse_has_stock) == (
        SessionStatus.PENDING_STOCK,
        LOTS,
        False,
    )
    po_row = next(m for m in world.outbox() if m.kind == "factory_po")
    assert po_row.status == OutboundStatus.SENT and po_row.provider_sid == factory_messages[0]["sid"]
    assert session.factory_whatsapp_sent is True
    assert as_utc(session.factory_notified_at) == as_utc(po_row.sent_at)  # stamped on acceptance
    po = world.api("GET", "/purchase-orders/PO-GB1-1")
    assert (po["status"], po["lots"], po["factory_whatsapp_sent"]) == ("requested", LOTS, True)
    assert {line["size"]: line["quantity"] for line in po["lines"]} == INCOMING
    assert world.inventory() == {size: (0, 0) for size in SIZES}  # nothing held: the lots cover it all
    expected = MOQ_TOLD + each({"waiting_for_stock": 1}) + Counter({(FACTORY, "factory_po"): 1})
    assert world.told() == world.received() == expected
    assert all("Belum ada yang perlu dibayar" in b for b in world.bodies("waiting_for_stock").values())

    # the factory answers in the same chat
    factory = world.phone(FACTORY)
    assert factory.say("SIAP PO-GB1-1 Jumat") == (
        "Terima kasih! Pesanan PO-GB1-1 dikonfirmasi, perkiraan siap Jumat. "
        "Balas KIRIM PO-GB1-1 <no. resi> saat barang dikirim."
    )
    world.work()
    expected += each({"factory_confirmed": 1})
    assert world.told() == world.received() == expected
    assert all("Perkiraan siap: Jumat." in b for b in world.bodies("factory_confirmed").values())
    assert (
        factory.say("KIRIM PO-GB1-1 RESI123")
        == "Terima kasih! Pesanan PO-GB1-1 tercatat dikirim (resi RESI123)."
    )
    world.work()
    expected += each({"stock_shipped": 1})
    assert world.told() == world.received() == expected
    assert all("(resi RESI123)" in b for b in world.bodies("stock_shipped").values())
    po = world.api("GET", "/purchase-orders/PO-GB1-1")
    assert (po["status"], po["eta"], po["tracking"]) == ("shipped", "Jumat", "RESI123")
    assert world.session().status == SessionStatus.PENDING_STOCK

    # the goods arrive
    received = world.api("POST", "/purchase-orders/PO-GB1-1/receive")
    assert (received["status"], received["orders_created"]) == ("received", 8)
    assert received["leftover"] == {"S": 2, "M": 6, "L": 4, "XL": 0}
    world.work()

    session = world.session()
    assert session.status == SessionStatus.ORDERS_CREATED
    assert session.stock_received_at is not None and session.orders_created_at is not None
    assert world.orders() == [
        (f"GB1-{n:03d}", who, size, qty, qty * PRICE) for n, (who, size, qty) in enumerate(JOINS, 1)
    ]
    # leftover stays free in the warehouse: on_hand - reserved == k * a_v - d_v
    assert world.inventory() == {size: (INCOMING[size], DEMAND[size]) for size in SIZES}
    assert {s: on - held for s, (on, held) in world.inventory().items()} == {"S": 2, "M": 6, "L": 4, "XL": 0}

    expected += each({"order_created": 1})
    assert world.told() == world.received() == expected
    assert sum(expected.values()) == 20 == len(fake_twilio.messages) == len(fake_twilio.accepted)
    assert {m.status for m in world.outbox()} == {OutboundStatus.SENT}
    orders_text = world.bodies("order_created")
    assert (
        "• GB1-001: M x5 = Rp 250.000\n• GB1-008: XL x2 = Rp 100.000\nTotal tagihan: Rp 350.000."
        in (orders_text[A])
    )
    assert "Dikirim ke: Jl. Mawar 1, Depok" in orders_text[A]
    assert all("ALAMAT <alamat lengkap>" in orders_text[p] for p in (B, C, D))
    # B sends the address afterwards: the orders waiting for one get it, and B is told so.
    reply = world.phone(B).say("ALAMAT Jl. Kenanga 7, Bogor")
    assert reply.endswith("Alamat ini dipakai untuk 2 pesanan Anda yang menunggu alamat.")
    with world.db_factory() as db:
        rows = db.execute(
            select(Order.needs_address, Order.delivery_address).join(Buyer).where(Buyer.phone == B)
        ).all()
    assert len(rows) == 2 and set(rows) == {(False, "Jl. Kenanga 7, Bogor")}


def test_enough_stock_creates_orders_at_once_without_the_factory(world, fake_twilio):
    world.setup()
    for size, units in {"S": 10, "M": 9, "L": 20, "XL": 3}.items():
        assert world.api("PUT", f"/inventory/KP-{size}", {"on_hand": units}) == {
            "sku": f"KP-{size}",
            "on_hand": units,
            "reserved": 0,
            "available": units,
        }
    world.join_all()
    world.expire()

    assert world.sweep() == {"closed": {"GB1": SessionStatus.ORDERS_CREATED}, "retry_later": {}}

    session = world.session()
    assert (session.status, session.warehouse_has_stock, session.grosir_units_needed) == (
        SessionStatus.ORDERS_CREATED,
        True,
        None,
    )
    assert session.factory_whatsapp_sent is False and session.factory_notified_at is None
    with world.db_factory() as db:
        assert db.scalar(select(func.count()).select_from(PurchaseOrder)) == 0
    assert len(world.orders()) == len(JOINS)
    assert world.inventory() == {"S": (10, 4), "M": (9, 9), "L": (20, 8), "XL": (3, 3)}  # reserved == demand
    assert world.told() == world.received() == MOQ_TOLD + each({"order_created": 1})
    assert not [m for m in fake_twilio.messages if m["To"] == f"whatsapp:{FACTORY}"]
    assert len(fake_twilio.messages) == 7


def test_repeated_sweeps_webhooks_and_receive_change_nothing(world, fake_twilio):
    run_whole_loop(world)
    factory = world.phone(FACTORY)
    first = [factory.say("SIAP PO-GB1-1 Jumat"), factory.say("KIRIM PO-GB1-1 RESI123")]
    world.work()
    world.api("POST", "/purchase-orders/PO-GB1-1/receive")
    world.work()
    before, sent = world.snapshot(), len(fake_twilio.messages)
    assert sent == 20  # as the whole loop counted them

    # the sweep again: nothing is due
    assert world.sweep() == {"closed": {}, "retry_later": {}}
    # Twilio redelivers the factory's two messages (same MessageSid): the same replies, nothing changes
    for form, reply in zip(factory.forms, first, strict=True):
        response = factory.post(dict(form))
        assert response.status_code == 200
        assert reply_text(response) == reply
    # the factory taps the buttons again (new messages): answered, nothing changes
    assert factory.say("SIAP PO-GB1-1 Senin") == (
        "Pesanan PO-GB1-1 sudah diterima di gudang kami. Terima kasih! Tidak ada yang diubah."
    )
    assert factory.say("KIRIM PO-GB1-1 RESI999") == (
        "Pesanan PO-GB1-1 sudah diterima di gudang kami. Terima kasih! Tidak ada yang diubah."
    )
    # a second receive is refused
    response = world.client.post("/api/v1/purchase-orders/PO-GB1-1/receive", headers=ADMIN)
    assert response.status_code == 409 and response.is_json
    assert response.get_json()["field"] == "code"
    assert response.get_json()["error"].startswith("code: purchase order PO-GB1-1 was already received")
    world.work()

    assert world.snapshot() == before
    assert len(fake_twilio.messages) == sent


def test_moq_not_reached_fails_and_tells_each_buyer_once_that_nothing_is_owed(world, fake_twilio):
    world.setup()
    world.join_all([(A, "M", 5), (B, "S", 2), (A, "L", 4)])
    world.expire()

    assert world.sweep() == {"closed": {"GB1": SessionStatus.FAILED}, "retry_later": {}}

    session = world.session()
    assert session.status == SessionStatus.FAILED and session.closed_at is not None
    assert world.told() == world.received() == each({"session_failed": 1}, phones=(A, B))
    for body in world.bodies("session_failed").values():
        assert "(11/24 pcs)" in body and "tidak ada yang perlu dibayar" in body
    assert world.orders() == [] and world.inventory() == {size: (0, 0) for size in SIZES}
    with world.db_factory() as db:
        assert db.scalar(select(func.count()).select_from(PurchaseOrder)) == 0
    assert world.sweep() == {"closed": {}, "retry_later": {}}
    assert len(fake_twilio.messages) == 2


def test_factory_message_rate_limited_then_accepted_is_sent_once(world, fake_twilio):
    world.setup()
    world.join_all()
    world.work()  # the three "MOQ reached" messages go first
    fake_twilio.script(429)  # the next request, the purchase order, is rate limited
    world.expire()

    assert world.sweep() == {"closed": {"GB1": SessionStatus.PENDING_STOCK}, "retry_later": {}}

    po_row = next(m for m in world.outbox() if m.kind == "factory_po")
    assert (po_row.status, po_row.attempts, po_row.provider_sid) == (OutboundStatus.QUEUED, 1, None)
    assert "429" in po_row.last_error
    session = world.session()
    assert session.status == SessionStatus.PENDING_STOCK
    assert (session.factory_whatsapp_sent, session.factory_notified_at) == (False, None)
    assert world.api("GET", "/purchase-orders/PO-GB1-1")["factory_whatsapp_sent"] is False
    [delay] = world.scheduled_delays()  # RQ's first backoff step
    assert 2 <= delay <= queues.RETRY_INTERVALS[0] + 0.5
    assert world.received() == MOQ_TOLD + each({"waiting_for_stock": 1})

    world.run_due_retries()

    to_factory = [m for m in fake_twilio.messages if m["To"] == f"whatsapp:{FACTORY}"]
    assert [m["response_status"] for m in to_factory] == [429, 201]
    po_row = next(m for m in world.outbox() if m.kind == "factory_po")
    assert (po_row.status, po_row.attempts, po_row.last_error) == (OutboundStatus.SENT, 2, None)
    assert po_row.provider_sid == to_factory[1]["sid"]
    session = world.session()
    assert session.factory_whatsapp_sent is True
    assert as_utc(session.factory_notified_at) == as_utc(po_row.sent_at)
    expected = MOQ_TOLD + each({"waiting_for_stock": 1}) + Counter({(FACTORY, "factory_po"): 1})
    assert world.told() == world.received() == expected
    assert world.scheduled_delays() == []


# --- two sweeps racing (PostgreSQL) -----------------------------------------------------------------------


class SlowWarehouse(BuiltinWarehouse):
    """The built-in warehouse, a little slow to answer, so the two sweeps overlap for sure."""

    def stock(self, product, variants):
        time.sleep(0.02)
        return super().stock(product, variants)


def test_two_sweeps_racing_close_each_session_exactly_once(requires_postgres, settings, db_factory):
    due, failing = 16, 4
    with transaction(db_factory) as db:
        product = builders.product(db, MIX, sku="KP", waitlist=False)
        buyers = [Buyer(phone=f"+62813100000{i:02d}", language="id") for i in range(2)]
        db.add_all(buyers)
        db.flush()
        for n in range(due + failing):
            builders.session(db, product.id, code=f"R{n:02d}", target_moq=12)
            joining.join(db, session_code=f"R{n:02d}", buyer=buyers[0], size="M", quantity=5)
            joining.join(db, session_code=f"R{n:02d}", buyer=buyers[1], size="L", quantity=4)
            if n < due:
                joining.join(db, session_code=f"R{n:02d}", buyer=buyers[1], size="S", quantity=4)
        db.execute(
            update(GroupSession).values(
                starts_at=now() - timedelta(hours=3), ends_at=now() - timedelta(minutes=1)
            )
        )
    with db_factory() as db:
        joined = db.scalar(select(func.count()).select_from(OutboundMessage))
    assert joined == due  # "MOQ reached" to the first buyer of each session that reached 13 units; the
    # second one's join reached it, so they read it in the reply

    dispatched: list[list[int]] = [[], []]

    def sweeper(index: int):
        return lambda: sweep.sweep_due_sessions(
            db_factory, settings, warehouse=SlowWarehouse, batch_size=3, dispatch=dispatched[index].extend
        )

    results = builders.race(sweeper(0), sweeper(1))

    closed = [[o.session_code for o in result.closed] for result in results]
    assert all(codes for codes in closed)  # both sweeps did part of the work...
    assert sorted(closed[0] + closed[1]) == [f"R{n:02d}" for n in range(due + failing)]  # ...each once
    assert all(result.retry_later == {} for result in results)
    assert set(dispatched[0]).isdisjoint(dispatched[1])

    with db_factory() as db:
        statuses = Counter(db.scalars(select(GroupSession.status)))
        assert statuses == {SessionStatus.PENDING_STOCK: due, SessionStatus.FAILED: failing}
        per_session = Counter(db.scalars(select(PurchaseOrder.session_id)))
        assert len(per_session) == due and set(per_session.values()) == {1}
        assert db.scalar(select(func.count()).select_from(PurchaseOrderLine)) == 4 * due
        assert set(db.scalars(select(PurchaseOrder.lots))) == {2}  # S4 M5 L4 -> 2 lots
        assert set(db.scalars(select(PurchaseOrder.status))) == {PurchaseOrderStatus.REQUESTED}
        keys = list(db.scalars(select(OutboundMessage.idempotency_key)))
        assert len(keys) == len(set(keys))
        kinds = Counter(db.scalars(select(OutboundMessage.kind)))
        assert kinds == {
            "moq_reached": due,
            "factory_po": due,
            "waiting_for_stock": 2 * due,
            "session_failed": 2 * failing,
        }
        swept = set(db.scalars(select(OutboundMessage.id).where(OutboundMessage.kind != "moq_reached")))
        assert sorted(dispatched[0] + dispatched[1]) == sorted(swept)  # each handed to the queue once
        assert db.scalar(select(func.count()).select_from(Order)) == 0
