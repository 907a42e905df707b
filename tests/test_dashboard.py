"""The dashboard's pages and actions through Flask's test client, signed in as an operator: the same
validation and the same core operations as the admin API, refusals shown next to the field or as a
flash message, nothing written by a refused request."""

from __future__ import annotations

import html
import pathlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.dashboard import sessions as session_pages
from bot.dashboard.texts import LABELS, TEXTS
from core import outbox
from core.clock import WIB, as_utc, now
from core.db import transaction
from core.delivery import send_outbox_message
from core.models import (
    Buyer,
    GroupSession,
    InboundMessage,
    OutboundMessage,
    OutboundStatus,
    Product,
    PurchaseOrder,
)
from core.session_rows import find_session
from tests.builders import (
    ADMIN_HEADERS,
    TSHIRT_MIX,
    add_join,
    buyer,
    counts,
    factory,
    inventory,
    make_session,
    on_hand_by_sku,
    participants,
    product,
    session_json,
    text_of,
)
from tests.chat import talk

TEMPLATES = "bot/dashboard/templates/dashboard"
A, B, C, D, E, F, G = (f"+628130000000{n}" for n in range(1, 8))


def field_error(page: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{re.escape(field)}-error">([^<]*)</p>', page)
    assert match, f"no error next to {field}"
    return html.unescape(match.group(1))


def refused_unchanged(dashboard, db_factory, action: str, shown_on: str, message: str) -> None:
    """POST `action` again: the refusal is flashed on `shown_on` and no row changed."""
    before = counts(db_factory)
    dashboard.post(action)
    assert message in text_of(dashboard.page(shown_on))
    assert counts(db_factory) == before


def joined(db_factory, *joins, code="GB1"):
    with transaction(db_factory) as db:
        session = find_session(db, code)
        for size, quantity, *status in joins:
            add_join(db, session, buyer(db), size, quantity, *status)


# --- sessions ----------------------------------------------------------------------------------------------


def test_sessions_page_shows_running_sessions_with_progress_and_lot_bars(dashboard, db_factory):
    make_session(db_factory, TSHIRT_MIX, target_moq=20, waitlist=True)
    joined(db_factory, ("M", 5), ("L", 4), ("S", 2), ("M", 5), ("M", 2, "waiting"))
    page = text_of(dashboard.page("/admin/"))
    assert "Sedang berjalan 1" in page
    assert "16 dari minimum 20 pcs · 2 pcs antre" in page
    assert "M: 10 dari batas 10 (5/lot) · 2 antre · terkunci" in page
    assert "XL: 0 dari batas 2 (1/lot) · sisa 2" in page
    assert re.search(r"sisa 0 jam 59 menit|sisa 59 menit \d+ detik|sisa 1 jam 0 menit", page)


def test_lot_bars_measure_every_size_in_lots_of_its_own():
    payload = {
        "lead_lots": 2,
        "sizes": [
            {
                "size": "S",
                "allocation": 2,
                "ordered": 2,
                "cap": 4,
                "waiting": 0,
                "available": 2,
                "locked": False,
            },
            {
                "size": "M",
                "allocation": 5,
                "ordered": 5,
                "cap": 10,
                "waiting": 5,
                "available": 5,
                "locked": False,
            },
        ],
    }
    bars = session_pages.lot_bars(payload)
    s, m = bars.sizes
    assert s.ordered_pct == m.ordered_pct == 50.0  # one lot each, of the two lots M's waiting line reaches
    assert m.waiting_pct == 50.0
    assert s.cap_pct == m.cap_pct == 100.0
    assert bars.lot_ticks == [50.0, 100.0]


def test_lot_bars_of_a_product_without_lots_count_units():
    payload = {
        "lead_lots": 2,
        "sizes": [
            {
                "size": "S",
                "allocation": None,
                "ordered": 3,
                "cap": None,
                "waiting": 0,
                "available": None,
                "locked": False,
            },
            {
                "size": "M",
                "allocation": None,
                "ordered": 6,
                "cap": None,
                "waiting": 0,
                "available": None,
                "locked": False,
            },
        ],
    }
    bars = session_pages.lot_bars(payload)
    assert [bar.ordered_pct for bar in bars.sizes] == [50.0, 100.0]
    assert bars.lot_ticks == [] and bars.sizes[0].cap_pct is None


def test_session_page_shows_buyers_waiting_line_and_messages(dashboard, db_factory):
    make_session(db_factory, TSHIRT_MIX, target_moq=20, waitlist=True)
    joined(db_factory, ("M", 10), ("M", 1, "waiting"), ("M", 2, "waiting"))
    page = text_of(dashboard.page("/admin/sessions/gb1"))
    assert "Pembeli 1" in page and "Antrean 2" in page
    assert "#1" in page and "#2" in page
    assert "Tutup sekarang" in page and "Batalkan sesi" in page
    # no orders yet: the payment totals (all zero) are not shown
    assert "Pembayaran" not in page
    # settlement as if it closed now: 10 confirmed + 3 waiting cannot reach 20, nothing is ordered
    assert "Penyelesaian jika ditutup sekarang" in page
    assert "Lot dipesan 0" in page and "Pcs antre tak terlayani (R) 3" in page
    assert "Permintaan antre tidak diterima 2" in page
    assert dashboard.get("/admin/sessions/NOPE").status_code == 404


def test_settlement_and_payments_render_when_the_session_json_has_them(dashboard, db_factory, monkeypatch):
    """The settlement and the payment totals arrive as keys of the API's session JSON;
    the page shows whatever they hold."""
    make_session(db_factory, TSHIRT_MIX)
    real = session_pages.session_payload

    def with_sections(db, session):
        return real(db, session) | {
            "settlement": {"lots": 3, "admitted_units": {"M": 3, "L": 2}, "excess": 8, "refused_units": 0},
            "payments": {"paid": {"orders": 2, "amount": 90_000}, "pending": {"orders": 1, "amount": 45_000}},
        }

    monkeypatch.setattr(session_pages, "session_payload", with_sections)
    page = text_of(dashboard.page("/admin/sessions/GB1"))
    assert "Penyelesaian jika ditutup sekarang" in page
    assert "Lot dipesan 3" in page
    assert "Pcs antre yang diterima per ukuran M 3 L 2" in page
    assert "Sisa di gudang (E) 8" in page and "Pcs antre tak terlayani (R) 0" in page
    assert "Pembayaran Status Pesanan Jumlah Lunas 2 Rp 90.000 Menunggu bayar 1 Rp 45.000" in page


def shown(value) -> str:
    """A value of a JSON section as the page writes it (`data_list`): mappings as key value pairs."""
    if isinstance(value, dict):  # per size: in the lot mix's order (the API's JSON sorts its keys)
        keys = sorted(value, key=lambda key: list(TSHIRT_MIX).index(key) if key in TSHIRT_MIX else -1)
        return " ".join(f"{LABELS['id'].get(key, key)} {shown(value[key])}" for key in keys)
    if isinstance(value, bool):
        return "ya" if value else "tidak"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a cost of 8.0 reads 8
    return "–" if value is None else str(value)


def test_settlement_with_real_waiting_requests_shows_the_api_numbers_then_the_close_does_them(
    dashboard, db_factory
):
    """docs/design.md's first settlement example, through signed webhooks: 22 units confirmed (M, L, S
    locked), E 3 M, F 2 L, G 1 S waiting. The page's settlement is the API's; closing it orders those lots
    and admits those requests."""
    make_session(db_factory, TSHIRT_MIX, target_moq=24, waitlist=True)
    say = talk(dashboard.client)
    for phone, text in (
        (A, "IKUT GB1 M 10"),
        (B, "IKUT GB1 L 8"),
        (C, "IKUT GB1 S 4"),
        (E, "IKUT GB1 M 3"),
        (F, "IKUT GB1 L 2"),
        (G, "IKUT GB1 S 1"),
    ):
        say(phone, text)
    preview = session_json(dashboard.client)["settlement"]
    assert (preview["reached"], preview["lots"], preview["excess"], preview["refused_units"]) == (
        True,
        3,
        8,
        0,
    )
    assert (preview["admitted_requests"], preview["not_admitted_requests"], preview["cost"]) == (3, 0, 8.0)
    page = text_of(dashboard.page("/admin/sessions/GB1"))
    assert "Antrean 3" in page
    section = page.split("Penyelesaian jika ditutup sekarang", 1)[1].split("Pembeli", 1)[0]
    for key, value in preview.items():  # each of the API's numbers under its label
        assert f" {LABELS['id'][key]} {shown(value)} " in f" {section} ", key

    dashboard.post("/admin/sessions/GB1/close", page="/admin/sessions/GB1/close")
    closed = session_json(dashboard.client)
    assert closed["settlement"] is None and closed["status"] == "pending_stock"
    page = text_of(dashboard.page("/admin/sessions/GB1"))
    assert (
        "Sesi GB1 ditutup: pesanan PO-GB1-1 dikirim ke pabrik. Antrean: 3 permintaan diterima, 0 tidak diterima."
        in page
    )
    assert "Penyelesaian jika ditutup sekarang" not in page  # decided: the section is gone, as in the API
    assert "Antrean 0" in page and page.count("Terkonfirmasi") == 6
    assert f"PO-GB1-1 Diminta Konveksi Bandung · {preview['lots']} lot · 36 pcs" in page


def test_session_page_shows_the_friends_each_sharer_brought_in(dashboard, db_factory):
    make_session(db_factory, TSHIRT_MIX)
    assert "Ajakan teman 0 Belum ada teman yang ikut lewat tautan ajakan." in text_of(
        dashboard.page("/admin/sessions/GB1")
    )
    say = talk(dashboard.client)
    say(A, "IKUT GB1 M 1")
    say(D, "IKUT GB1 S 1")
    with db_factory() as db:
        tag_a, tag_d = (db.scalar(select(Buyer.referral_tag).where(Buyer.phone == p)) for p in (A, D))
    say(B, f"IKUT GB1 M 1 REF-{tag_a}")
    say(C, f"IKUT GB1 L 1 REF-{tag_a}")
    say(E, f"IKUT GB1 L 1 REF-{tag_d}")
    say(F, f"IKUT GB1 L 1 REF-{tag_a}")

    referrals = session_json(dashboard.client)["referrals"]
    assert referrals == {
        "count": 4,
        "top_sharers": [
            {"phone": A, "name": "Pembeli 1", "count": 3},
            {"phone": D, "name": "Pembeli 4", "count": 1},
        ],
    }
    page = text_of(dashboard.page("/admin/sessions/GB1"))
    assert (
        "Ajakan teman 4 4 teman ikut lewat tautan ajakan pembeli; pengajak teratas: Pengajak Teman ikut "
        f"Pembeli 1 {A} 3 Pembeli 4 {D} 1"
    ) in page
    dashboard.post("/admin/language", {"language": "en", "next": "/admin/sessions/GB1"})
    assert "Friends brought in 4 4 friends joined through buyers' share links" in text_of(
        dashboard.page("/admin/sessions/GB1")
    )


def test_close_now_is_confirmed_first_then_runs_the_core_close(dashboard, db_factory, dispatched):
    make_session(db_factory, TSHIRT_MIX, target_moq=11)
    joined(db_factory, ("M", 5), ("L", 4), ("S", 2))
    confirm = text_of(dashboard.page("/admin/sessions/GB1/close"))
    assert "Tutup sesi GB1 sekarang?" in confirm
    with db_factory() as db:
        assert db.scalar(select(GroupSession.status)) == "forming"  # the confirmation page changes nothing

    response = dashboard.post("/admin/sessions/GB1/close", page="/admin/sessions/GB1/close")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/sessions/GB1"
    page = text_of(dashboard.page("/admin/sessions/GB1"))
    assert "Sesi GB1 ditutup: pesanan PO-GB1-1 dikirim ke pabrik." in page
    with db_factory() as db:
        assert db.scalar(select(GroupSession.status)) == "pending_stock"
        assert db.scalar(select(PurchaseOrder.lots)) == 1
    assert dispatched  # the buyers' and the factory's messages went to the queue after the commit

    refused_unchanged(
        dashboard,
        db_factory,
        "/admin/sessions/GB1/close",
        "/admin/sessions/GB1",
        "Sesi GB1 tidak bisa ditutup: session GB1 is already pending_stock",
    )


def test_cancel_runs_the_core_cancel_and_refusals_are_flashed(dashboard, db_factory):
    make_session(db_factory, TSHIRT_MIX)
    joined(db_factory, ("M", 2))
    dashboard.post("/admin/sessions/GB1/cancel")
    assert "Sesi GB1 dibatalkan. Pembeli diberi tahu." in text_of(dashboard.page("/admin/"))
    with db_factory() as db:
        assert db.scalar(select(GroupSession.status)) == "cancelled"
    dashboard.post("/admin/sessions/GB1/cancel")
    assert "tidak bisa dibatalkan: session GB1 is cancelled and can no longer be cancelled" in text_of(
        dashboard.page("/admin/")
    )
    dashboard.post("/admin/sessions/NOPE/cancel")
    assert "Sesi NOPE tidak bisa dibatalkan: no session NOPE" in text_of(dashboard.page("/admin/"))


# --- catalog -------------------------------------------------------------------------------------------


def product_form(factory_id: int, **changes) -> dict:
    form = {
        "factory_id": str(factory_id),
        "name": "Kaos Polos",
        "sku": "KAOS",
        "price": "45000",
        "grosir_unit_size": "12",
        "lead_lots": "2",
        "allocation_policy": "lot_balanced",
        "waitlist_enabled": "on",
        "variants-0-size": "S",
        "variants-0-units_per_lot": "2",
        "variants-1-size": "M",
        "variants-1-units_per_lot": "5",
        "variants-2-size": "L",
        "variants-2-units_per_lot": "4",
        "variants-3-size": "XL",
        "variants-3-units_per_lot": "2",
    }
    form.update(changes)
    return form


@pytest.fixture
def factory_id(db_factory) -> int:
    with transaction(db_factory) as db:
        return factory(db).id


def test_an_uneven_mix_is_refused_next_to_the_lot_size_as_the_api_refuses_it(
    dashboard, db_factory, factory_id
):
    before = counts(db_factory)
    response = dashboard.post("/admin/catalog/products/new", product_form(factory_id))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    message = field_error(page, "grosir_unit_size")
    assert message == "allocations sum to 13 units but grosir_unit_size is 12"
    api = dashboard.client.post(
        "/api/v1/products",
        headers=ADMIN_HEADERS,
        json={
            "factory_id": factory_id,
            "name": "Kaos Polos",
            "sku": "KAOS",
            "price": 45000,
            "grosir_unit_size": 12,
            "variants": [
                {"size": s, "sku": f"KAOS-{s}", "units_per_lot": u}
                for s, u in (("S", 2), ("M", 5), ("L", 4), ("XL", 2))
            ],
        },
    )
    assert api.status_code == 422 and api.json["error"] == f"grosir_unit_size: {message}"
    assert 'value="XL"' in page and 'id="variants-3-units_per_lot"' in page  # what was typed stays
    assert counts(db_factory) == before


def test_a_product_is_created_with_its_lot_mix_then_its_session_form_follows(
    dashboard, db_factory, factory_id
):
    response = dashboard.post(
        "/admin/catalog/products/new", product_form(factory_id, **{"variants-3-units_per_lot": "1"})
    )
    assert response.status_code == 302
    with db_factory() as db:
        product = db.scalar(select(Product))
        assert product.grosir_unit_size == 12 and product.waitlist_enabled
        assert [(v.size, v.sku) for v in product.variants] == [
            ("S", "KAOS-S"),
            ("M", "KAOS-M"),
            ("L", "KAOS-L"),
            ("XL", "KAOS-XL"),
        ]
    assert response.headers["Location"] == f"/admin/catalog/sessions/new?product_id={product.id}"
    assert f'<option value="{product.id}" selected>' in dashboard.page(response.headers["Location"])


def test_product_field_errors_name_the_row_they_came_from(dashboard, db_factory, factory_id):
    form = product_form(
        factory_id,
        price="lima ribu",
        name="",
        **{"variants-0-size": "", "variants-0-units_per_lot": "", "variants-1-units_per_lot": "0"},
    )
    page = dashboard.post("/admin/catalog/products/new", form).get_data(as_text=True)
    assert field_error(page, "price") == "harus bilangan bulat"
    assert field_error(page, "name") == "wajib diisi"
    assert (
        field_error(page, "variants-1-units_per_lot") == "harus lebih dari 0"
    )  # row 1, though row 0 is blank
    no_sizes = {k: v for k, v in product_form(factory_id).items() if not k.startswith("variants-")}
    page = dashboard.post("/admin/catalog/products/new", no_sizes).get_data(as_text=True)
    assert field_error(page, "variants") == "isi paling sedikit satu ukuran"
    assert counts(db_factory)["products"] == 0


def test_factory_form_uses_the_core_phone_check(dashboard, db_factory):
    short = dashboard.post("/admin/catalog/factories/new", {"name": "Maju", "phone": "12"})
    assert field_error(short.get_data(as_text=True), "phone") == "paling sedikit 5 karakter"
    bad = dashboard.post("/admin/catalog/factories/new", {"name": "Maju", "phone": "12345"})
    assert field_error(bad.get_data(as_text=True), "phone") == "not a valid phone number: '12345'"
    response = dashboard.post("/admin/catalog/factories/new", {"name": "Maju", "phone": "0811 0000 0009"})
    assert response.status_code == 302
    assert "Pabrik Maju disimpan." in text_of(dashboard.page("/admin/catalog/"))
    again = dashboard.post("/admin/catalog/factories/new", {"name": "Lagi", "phone": "+62 811-0000-0009"})
    assert (
        field_error(again.get_data(as_text=True), "phone")
        == "a factory with phone +6281100000009 already exists"
    )


def test_session_form_reads_the_deadline_in_wib(dashboard, db_factory, factory_id):
    with transaction(db_factory) as db:
        product_id = product(db, TSHIRT_MIX, factory_id=factory_id).id
    ends = (now() + timedelta(days=2)).astimezone(WIB).replace(second=0, microsecond=0)
    form = {
        "product_id": str(product_id),
        "target_moq": "24",
        "ends_at": ends.strftime("%Y-%m-%dT%H:%M"),
        "code": "kaos9",
    }
    response = dashboard.post("/admin/catalog/sessions/new", form)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/sessions/KAOS9"
    with db_factory() as db:
        assert as_utc(db.scalar(select(GroupSession.ends_at))) == ends
    past = dict(
        form, code="KAOS10", ends_at=(now() - timedelta(hours=1)).astimezone(WIB).strftime("%Y-%m-%dT%H:%M")
    )
    page = dashboard.post("/admin/catalog/sessions/new", past).get_data(as_text=True)
    assert field_error(page, "ends_at") == "must be after starts_at"  # core.catalog's words, as the API's
    taken = dashboard.post("/admin/catalog/sessions/new", form).get_data(as_text=True)
    assert field_error(taken, "code") == "session KAOS9 already exists"
    bad = dashboard.post("/admin/catalog/sessions/new", dict(form, ends_at="besok", target_moq="")).get_data(
        as_text=True
    )
    assert field_error(bad, "target_moq") == "wajib diisi"
    assert field_error(bad, "ends_at").startswith("Input should be a valid datetime")
    assert counts(db_factory)["sessions"] == 1


# --- stock -------------------------------------------------------------------------------------------


def test_receive_a_purchase_order_then_see_the_orders(dashboard, db_factory):
    make_session(db_factory, TSHIRT_MIX, target_moq=11)
    joined(db_factory, ("M", 5), ("L", 4), ("S", 2))
    dashboard.post("/admin/sessions/GB1/close")
    stock = text_of(dashboard.page("/admin/stock/"))
    assert "PO-GB1-1 " in stock and "1 lot: S 2, M 5, L 4, XL 1" in stock and "Diminta" in stock
    response = dashboard.post("/admin/stock/purchase-orders/PO-GB1-1/receive", page="/admin/stock/")
    assert response.headers["Location"] == "/admin/stock/"
    assert "Pesanan PO-GB1-1 diterima: 3 pesanan pembeli dibuat untuk sesi GB1." in text_of(
        dashboard.page("/admin/stock/")
    )
    session = text_of(dashboard.page("/admin/sessions/GB1"))
    assert "Pesanan pembeli 3" in session and "Rp 250.000" in session
    assert on_hand_by_sku(db_factory)["TS-XL"] == 1  # the lot's one XL nobody ordered stays in the warehouse
    refused_unchanged(
        dashboard,
        db_factory,
        "/admin/stock/purchase-orders/PO-GB1-1/receive",
        "/admin/stock/",
        "tidak bisa diterima: purchase order PO-GB1-1 was already received",
    )


def test_inventory_is_edited_per_size_with_the_api_validation(dashboard, db_factory):
    make_session(db_factory, TSHIRT_MIX)
    dashboard.post("/admin/stock/inventory/TS-M", {"on_hand": "7"})
    assert "Stok TS-M: 7 pcs." in text_of(dashboard.page("/admin/stock/"))
    dashboard.post("/admin/stock/inventory/TS-M", {"on_hand": "-1"})
    assert "Stok TS-M tidak diubah: paling sedikit 0" in text_of(dashboard.page("/admin/stock/"))
    dashboard.post("/admin/stock/inventory/TS-M", {"on_hand": "tujuh"})
    assert "Stok TS-M tidak diubah: harus bilangan bulat" in text_of(dashboard.page("/admin/stock/"))
    dashboard.post("/admin/stock/inventory/NOPE", {"on_hand": "1"})
    assert "Stok NOPE tidak diubah: no variant with SKU NOPE" in text_of(dashboard.page("/admin/stock/"))
    with db_factory() as db:
        assert inventory(db, db.scalar(select(Product)))["M"] == (7, 0)


# --- messages ----------------------------------------------------------------------------------------


class Accepting:
    def send(self, to, body, content_sid=None, content_variables=None):
        return "SM-retried"


def message(db_factory, key: str, status: str, minutes_ago: float = 0) -> int:
    with transaction(db_factory) as db:
        message_id = outbox.enqueue(db, key=key, to_phone="+628120000001", kind="order_created", body="Halo")
        db.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id)
            .values(
                status=status,
                attempts=6,
                last_error="gave up after 6 attempts: 503",
                updated_at=now() - timedelta(minutes=minutes_ago),
            )
        )
    return message_id


def test_failed_and_stuck_messages_are_listed_and_sent_again(dashboard, db_factory, settings, dispatched):
    failed = message(db_factory, "a", OutboundStatus.FAILED)
    stuck = message(db_factory, "b", OutboundStatus.QUEUED, minutes_ago=30)
    fresh = message(db_factory, "c", OutboundStatus.QUEUED, minutes_ago=1)
    sent = message(db_factory, "d", OutboundStatus.SENT)
    page = dashboard.page("/admin/messages/")
    assert f'id="message-{failed}"' in page and f'id="message-{stuck}"' in page
    assert f'id="message-{fresh}"' not in page and f'id="message-{sent}"' not in page
    assert "gave up after 6 attempts: 503" in page

    dashboard.post(f"/admin/messages/{failed}/retry")
    assert f"Pesan {failed} masuk antrean kirim lagi." in text_of(dashboard.page("/admin/messages/"))
    assert dispatched == [failed]  # handed to the queue after the commit
    with db_factory() as db:
        row = db.get(OutboundMessage, failed)
        assert (row.status, row.attempts, row.last_error) == ("queued", 0, "gave up after 6 attempts: 503")
    outcome = send_outbox_message(db_factory, failed, Accepting(), settings)
    assert (outcome.status, outcome.attempts) == ("sent", 1)

    dashboard.post(f"/admin/messages/{sent}/retry")
    assert f"Pesan {sent} tidak dikirim ulang: message {sent} is sent" in text_of(
        dashboard.page("/admin/messages/")
    )
    dashboard.post(f"/admin/messages/{stuck}/retry")
    assert dispatched == [failed, stuck]


def test_inbound_messages_are_found_by_phone(dashboard, db_factory):
    with transaction(db_factory) as db:
        for sid, phone, body in (
            ("SM1", "+6281234567890", "IKUT GB1 M 2"),
            ("SM2", "+6285700001111", "MENU"),
        ):
            db.add(InboundMessage(message_sid=sid, from_phone=f"whatsapp:{phone}", body=body, reply="ok"))
    assert "IKUT GB1 M 2" in (found := text_of(dashboard.page("/admin/messages/?phone=0812-3456-7890")))
    assert "MENU" not in found
    assert "MENU" in text_of(dashboard.page("/admin/messages/?phone=5700"))
    assert "Tidak ada pesan masuk yang cocok." in text_of(
        dashboard.page("/admin/messages/?phone=tanpa+angka")
    )
    everything = text_of(dashboard.page("/admin/messages/"))
    assert "IKUT GB1 M 2" in everything and "MENU" in everything


# --- language and words --------------------------------------------------------------------------------


def test_english_on_request(dashboard, db_factory):
    make_session(db_factory, TSHIRT_MIX)
    dashboard.post("/admin/language", {"language": "en", "next": "/admin/sessions/GB1"})
    page = text_of(dashboard.page("/admin/sessions/GB1"))
    assert "0 of the 24 pcs minimum" in page and "Close now" in page
    assert '<html lang="en">' in dashboard.page("/admin/")


def test_every_text_exists_in_both_languages_and_every_key_used_exists():
    assert set(TEXTS["id"]) == set(TEXTS["en"])
    assert set(LABELS["id"]) == set(LABELS["en"])
    used = set()
    for template in pathlib.Path(TEMPLATES).glob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_.]+)'", template.read_text()))
    for source in pathlib.Path("bot/dashboard").glob("*.py"):
        used |= set(re.findall(r'\bt\(\s*"([a-z_]+\.[a-z_.]+)"', source.read_text()))
    assert {key for key in used if not key.endswith(".")} <= set(TEXTS["id"])


def test_participants_are_unchanged_by_reading_pages(dashboard, db_factory):
    make_session(db_factory, TSHIRT_MIX)
    joined(db_factory, ("M", 2))
    before = counts(db_factory)
    for path in ("/admin/", "/admin/sessions/GB1", "/admin/stock/", "/admin/catalog/", "/admin/messages/"):
        dashboard.page(path)
    assert counts(db_factory) == before
    assert len(participants(db_factory, "GB1")) == 1
