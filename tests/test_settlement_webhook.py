"""Settlement at close through signed WhatsApp webhooks and the admin API (docs/design.md, "Settlement at
close", both worked examples and their variants: excess_weight 0.1, 2 M free in the warehouse).

Products and sessions are made through the admin API, buyers talk to the real Flask app
(`tests.chat.Phone`). Before the close `GET /api/v1/sessions/<code>` shows the settlement as if the
session closed now; the close (`POST .../close`) must then do exactly that, and tell each buyer once:
one outbox row per buyer and event, its id handed to the queue once.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from core import closing
from core import sweep as core_sweep
from core.clock import now
from core.errors import Conflict
from core.models import OutboundMessage, Participant, PurchaseOrder, SessionStatus, WarehouseInventory
from core.session_rows import find_session
from core.unit_of_work import unit_of_work
from core.warehouse import BuiltinWarehouse
from tests import builders
from tests.builders import ADMIN_HEADERS as ADMIN
from tests.builders import participants, session_json
from tests.chat import Phone, talk

FACTORY = "+6281100000001"
A, B, C = "+6281500000001", "+6281500000002", "+6281500000003"
E, F, G, H = "+6281500000005", "+6281500000006", "+6281500000007", "+6281500000008"
SIZES = ("S", "M", "L", "XL")


def tshirt_session(client, *, target_moq: int, excess_weight: object = None) -> None:
    """2 S + 5 M + 4 L + 1 XL (L = 12), T = 2, waitlist on: session GB1 through the admin API."""
    factory = client.post("/api/v1/factories", json={"name": "Konveksi", "phone": FACTORY}, headers=ADMIN)
    product = {
        "factory_id": factory.get_json()["id"],
        "name": "Kaos TS",
        "sku": "TS",
        "price": 50_000,
        "grosir_unit_size": 12,
        "variants": [
            {"size": size, "sku": f"TS-{size}", "units_per_lot": units}
            for size, units in builders.TSHIRT_MIX.items()
        ],
    }
    if excess_weight is not None:
        product["excess_weight"] = excess_weight
    made = client.post("/api/v1/products", json=product, headers=ADMIN)
    assert made.status_code == 201, made.get_json()
    ends = (now() + timedelta(hours=1)).isoformat()
    payload = {"product_id": made.get_json()["id"], "target_moq": target_moq, "ends_at": ends, "code": "GB1"}
    assert client.post("/api/v1/sessions", json=payload, headers=ADMIN).status_code == 201


@pytest.fixture
def say(client):
    return talk(client, named=False)


def sizes(s: int, m: int, l: int, xl: int) -> dict[str, int]:  # noqa: E741 - the size is called L
    return dict(zip(SIZES, (s, m, l, xl), strict=True))


def outbox(db_factory) -> list[tuple[int, str, str, str]]:
    """(id, to, kind, body) in order."""
    with db_factory() as db:
        query = select(
            OutboundMessage.id, OutboundMessage.to_phone, OutboundMessage.kind, OutboundMessage.body
        )
        return [tuple(row) for row in db.execute(query.order_by(OutboundMessage.id))]


def told(db_factory) -> Counter:
    return Counter((to, kind) for _, to, kind, _ in outbox(db_factory))


def body(db_factory, phone: str, kind: str) -> str:
    [text] = [text for _, to, k, text in outbox(db_factory) if (to, k) == (phone, kind)]
    return text


def po_lines(db_factory) -> tuple[int, dict[str, int]]:
    with db_factory() as db:
        [po] = db.scalars(select(PurchaseOrder)).all()
        return po.lots, {line.variant.size: line.quantity for line in po.lines}


def close(client) -> dict:
    response = client.post("/api/v1/sessions/GB1/close", headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def confirmed_22(say) -> None:
    """A 10 M, B 8 L, C 4 S: 22 confirmed units; M, L and S are locked (nobody ordered XL)."""
    for who, size, quantity in ((A, "M", 10), (B, "L", 8), (C, "S", 4)):
        assert say(who, f"IKUT GB1 {size} {quantity}").startswith("✅ Tercatat")


def assert_told_once(db_factory, dispatched, expected: Counter) -> None:
    assert told(db_factory) == expected
    assert sorted(dispatched) == [row[0] for row in outbox(db_factory)]  # each id handed over once


# --- example 1: k = 3 admits E, F and G --------------------------------------------------------------------


def test_first_example_settles_three_lots_and_admits_every_waiting_request(
    client, say, db_factory, dispatched
):
    tshirt_session(client, target_moq=24)
    confirmed_22(say)
    for who, size, quantity in ((E, "M", 3), (F, "L", 2), (G, "S", 1)):
        reply = say(who, f"IKUT GB1 {size} {quantity}")
        assert f"sedang terkunci, jadi permintaan {quantity} pcs Anda masuk antrean (urutan ke-1)" in reply
        assert (
            "setelah 1 pcs XL lagi dipesan" in reply and "paling lambat diputuskan saat sesi tutup" in reply
        )
    view = session_json(client)
    assert (view["units"], view["waiting_units"], view["excess_weight"]) == (22, 6, "1")

    # k = 2 cannot reach 24 (nothing waiting fits beside the confirmed units); k = 3 (S 6, M 15, L 12,
    # XL 3) admits all three: 28 units, E = 36 - 28 = 8, R = 0.
    assert view["settlement"] == {
        "reached": True,
        "lots": 3,
        "admitted_units": sizes(1, 3, 2, 0),
        "excess": 8,
        "refused_units": 0,
        "cost": 8.0,
        "admitted_requests": 3,
        "not_admitted_requests": 0,
        "free_stock": sizes(0, 0, 0, 0),
        "warehouse_error": None,
    }
    assert outbox(db_factory) == []  # watching writes nothing

    assert close(client) == {
        "session_code": "GB1",
        "result": SessionStatus.PENDING_STOCK,
        "status": SessionStatus.PENDING_STOCK,
        "purchase_order_code": "PO-GB1-1",
        "lots": 3,
        "orders": 0,
        "admitted": 3,
        "not_admitted": 0,
    }
    assert po_lines(db_factory) == (3, sizes(6, 15, 12, 3))
    assert [status for *_, status in participants(db_factory)] == ["confirmed"] * 6
    view = session_json(client)
    assert (view["status"], view["units"], view["waiting_units"], view["settlement"]) == (
        SessionStatus.PENDING_STOCK,
        28,
        0,
        None,
    )
    assert_told_once(
        db_factory,
        dispatched,
        Counter(
            {
                **{(who, "waitlist_admitted"): 1 for who in (E, F, G)},
                **{(who, "waiting_for_stock"): 1 for who in (A, B, C, E, F, G)},
                (FACTORY, "factory_po"): 1,
            }
        ),
    )
    assert body(db_factory, E, "waitlist_admitted") == (
        "✅ Sesi GB1 (Kaos TS) sudah ditutup dan antrean Anda terkonfirmasi: 3 pcs ukuran M, total Rp 150.000. "
        "Langkah berikutnya kami kabari lewat WhatsApp."
    )
    assert "2 pcs ukuran L, total Rp 100.000" in body(db_factory, F, "waitlist_admitted")
    assert "1 pcs ukuran S, total Rp 50.000" in body(db_factory, G, "waitlist_admitted")
    assert say(E, "STATUS").splitlines()[1] == (
        "• GB1 Kaos TS M x3 = Rp 150.000: terkonfirmasi (sesi: menunggu stok pabrik)"
    )

    # A second close changes nothing and tells nobody again.
    assert client.post("/api/v1/sessions/GB1/close", headers=ADMIN).status_code == 409
    assert_told_once(db_factory, dispatched, told(db_factory))
    assert len(outbox(db_factory)) == 10


# --- example 2: k = 2 keeps H out; excess_weight 0.1 or 2 M in stock let H in ------------------------------

EXAMPLE_2 = {
    # name: (excess_weight, M on hand, settlement as if closed now, PO lines, H's news)
    "weight 1": (None, 0, (2, sizes(0, 0, 0, 0), 2, 2, 4.0, 0, 1), sizes(4, 10, 8, 2), "not_admitted"),
    "weight 0.1": (
        "0.1",
        0,
        (3, sizes(0, 2, 0, 0), 12, 0, 1.2, 1, 0),
        sizes(6, 15, 12, 3),
        "waitlist_admitted",
    ),
    "2 M in stock": (
        None,
        2,
        (2, sizes(0, 2, 0, 0), 2, 0, 2.0, 1, 0),
        sizes(4, 10, 8, 2),
        "waitlist_admitted",
    ),
}


@pytest.mark.parametrize("variant", EXAMPLE_2)
def test_second_example_and_its_variants(client, say, db_factory, dispatched, variant):
    weight, m_in_stock, expected, lines, h_news = EXAMPLE_2[variant]
    tshirt_session(client, target_moq=20, excess_weight=weight)
    if m_in_stock:
        put = client.put("/api/v1/inventory/TS-M", json={"on_hand": m_in_stock}, headers=ADMIN)
        assert put.status_code == 200
    confirmed_22(say)  # reaches the minimum of 20: A and B are told, C reads it in the reply
    reply = say(H, "IKUT GB1 M 2")
    assert "permintaan 2 pcs Anda masuk antrean (urutan ke-1)" in reply and "1 pcs XL" in reply

    lots, admitted_units, excess, refused, cost, admitted, not_admitted = expected
    assert session_json(client)["settlement"] == {
        "reached": True,
        "lots": lots,
        "admitted_units": admitted_units,
        "excess": excess,
        "refused_units": refused,
        "cost": cost,
        "admitted_requests": admitted,
        "not_admitted_requests": not_admitted,
        "free_stock": sizes(0, m_in_stock, 0, 0),
        "warehouse_error": None,
    }

    outcome = close(client)
    assert (outcome["status"], outcome["lots"], outcome["admitted"], outcome["not_admitted"]) == (
        SessionStatus.PENDING_STOCK,
        lots,
        admitted,
        not_admitted,
    )
    assert po_lines(db_factory) == (lots, lines)
    h_status = "confirmed" if admitted else "not_admitted"
    assert participants(db_factory)[-1] == (H, "M", 2, h_status)
    buyers = (A, B, C, H) if admitted else (A, B, C)
    assert_told_once(
        db_factory,
        dispatched,
        Counter(
            {
                (A, "moq_reached"): 1,
                (B, "moq_reached"): 1,
                (H, h_news): 1,
                **{(who, "waiting_for_stock"): 1 for who in buyers},
                (FACTORY, "factory_po"): 1,
            }
        ),
    )
    if admitted:
        assert "2 pcs ukuran M, total Rp 100.000" in body(db_factory, H, h_news)
    else:
        assert body(db_factory, H, h_news) == (
            "Sesi GB1 (Kaos TS) sudah ditutup. Antrean Anda (M x2) tidak terkonfirmasi, jadi tidak ada yang "
            "perlu dibayar."
        )
    with db_factory() as db:
        held = db.scalar(select(func.sum(WarehouseInventory.reserved)))
    assert held == m_in_stock  # H's 2 M come from stock, held at close; the lots bring the rest


# --- the preview with an external warehouse ----------------------------------------------------------------


def test_the_preview_counts_the_external_warehouses_stock_and_says_when_it_does_not_answer(
    empty_tables, signed_settings, dispatched, fake_warehouse
):
    settings = dataclasses.replace(
        signed_settings, warehouse_service_url=fake_warehouse.url, warehouse_timeout_seconds=1
    )
    client = create_app(settings, dispatch=dispatched).test_client()
    tshirt_session(client, target_moq=20)
    phones = {who: Phone(client, who) for who in (A, B, C, H)}
    for who, text in ((A, "IKUT GB1 M 10"), (B, "IKUT GB1 L 8"), (C, "IKUT GB1 S 4"), (H, "IKUT GB1 M 2")):
        phones[who].send(text)
    fake_warehouse.set_stock({"TS-M": 2})
    preview = session_json(client)["settlement"]
    assert (preview["lots"], preview["admitted_units"]["M"], preview["free_stock"]) == (
        2,
        2,
        sizes(0, 2, 0, 0),
    )

    fake_warehouse.down = True
    preview = session_json(client)["settlement"]
    assert (preview["lots"], preview["admitted_units"]["M"], preview["refused_units"]) == (2, 0, 2)
    assert preview["free_stock"] is None and "503" in preview["warehouse_error"]


# --- two workers closing at once ---------------------------------------------------------------------------


class SlowWarehouse(BuiltinWarehouse):
    """Reads stock slowly while the close holds the session lock, so the other close really waits."""

    def stock(self, product, variants):
        threading.Event().wait(0.3)
        return super().stock(product, variants)


def close_now(db_factory, settings, dispatched):
    with unit_of_work(db_factory, dispatched) as db:
        return closing.close_session_now(db, "GB1", settings, warehouse=SlowWarehouse(db)).result


def close_due(db_factory, settings, dispatched):
    """What one sweep does with one session it holds: lock it and close it (no SKIP LOCKED claim)."""
    with unit_of_work(db_factory, dispatched) as db:
        session = find_session(db, "GB1")
        return closing.close_session(db, session, SlowWarehouse(db), settings).result


def sweep(db_factory, settings, dispatched):
    result = core_sweep.sweep_due_sessions(db_factory, settings, warehouse=SlowWarehouse, dispatch=dispatched)
    return result.as_dict()["closed"].get("GB1", "skipped")


CLOSERS = {"close now": close_now, "close due": close_due, "sweep": sweep}


@pytest.mark.parametrize(
    ("first", "second"), [("close now", "close now"), ("close due", "close due"), ("sweep", "close now")]
)
def test_two_closes_at_once_settle_the_session_once(
    requires_postgres, db, db_factory, settings, dispatched, first, second
):
    product, session = builders.tshirt_session(db, moq=24)
    product.waitlist_enabled = True
    for size, units in (("M", 10), ("L", 8), ("S", 4)):
        builders.add_join(db, session, builders.buyer(db), size, units)
    for size, units in (("M", 3), ("L", 2), ("S", 1)):
        builders.add_join(db, session, builders.buyer(db), size, units, status="waiting")
    if first != "close now" and second != "close now":
        builders.expire(db, session)
    db.commit()

    barrier = threading.Barrier(2)
    results: list[object] = []

    def run(name: str) -> None:
        barrier.wait()
        try:
            results.append(CLOSERS[name](db_factory, settings, dispatched))
        except Conflict as error:  # close now on a session the other one closed
            results.append(f"conflict: {error.field}")
        except Exception as error:  # noqa: BLE001 - shown in the assertion below
            results.append(repr(error))

    threads = [threading.Thread(target=run, args=(name,)) for name in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # Exactly one close settled; the other waited for the session lock and found it closed.
    assert sorted(map(str, results)) in (
        ["conflict: status", SessionStatus.PENDING_STOCK],
        ["not_due", SessionStatus.PENDING_STOCK],
        [SessionStatus.PENDING_STOCK, "skipped"],
    ), results
    with db_factory() as db:
        statuses = Counter(db.scalars(select(Participant.status)))
        assert statuses == Counter({"confirmed": 6})
        assert db.scalar(select(func.count()).select_from(PurchaseOrder)) == 1
        kinds = Counter(db.scalars(select(OutboundMessage.kind)))
    assert kinds == Counter({"waitlist_admitted": 3, "waiting_for_stock": 6, "factory_po": 1})
    assert sorted(dispatched) == sorted(set(dispatched)) and len(dispatched) == 10
    assert po_lines(db_factory) == (3, sizes(6, 15, 12, 3))
