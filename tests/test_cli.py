"""`flask laku ...`: demo data, setup commands and the terminal chat against a real loopback server."""

from __future__ import annotations

import json
import socket
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.models import (
    Buyer,
    Factory,
    GrosirVariantAllocation,
    GroupSession,
    InboundMessage,
    Order,
    Participant,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Variant,
    WarehouseInventory,
)
from tests.builders import counts, on_hand_by_sku
from tests.chat import Phone


def mixes(db_factory) -> dict[str, dict[str, int]]:
    with db_factory() as db:
        rows = db.execute(
            select(Product.sku, Variant.size, GrosirVariantAllocation.units_per_lot)
            .join(Variant, Variant.product_id == Product.id)
            .join(GrosirVariantAllocation, GrosirVariantAllocation.variant_id == Variant.id)
            .order_by(Variant.id)
        )
        result: dict[str, dict[str, int]] = {}
        for sku, size, units in rows:
            result.setdefault(sku, {})[size] = units
        return result


DEMO_COUNTS = {
    "factories": 1,
    "products": 2,
    "variants": 8,
    "grosir_variant_allocations": 8,
    "warehouse_inventory": 8,
    "sessions": 2,
    "session_variant_counters": 8,  # one per size of each session, from its creation
}


def test_demo_creates_one_factory_two_products_two_sessions_once(cli, db_factory):
    result = cli("demo")
    assert result.exit_code == 0, result.output
    assert result.output == "Demo sessions created: KAOS1, FLANEL1\n"
    after_first = counts(db_factory)
    assert {name: after_first[name] for name in DEMO_COUNTS} == DEMO_COUNTS
    assert sum(after_first.values()) == sum(DEMO_COUNTS.values())
    assert mixes(db_factory) == {
        "KAOS30S": {"S": 2, "M": 5, "L": 4, "XL": 1},
        "FLANEL": {"S": 4, "M": 4, "L": 4, "XL": 4},
    }
    with db_factory() as db:
        assert db.scalars(select(Factory.phone)).all() == ["+6281100000001"]
        sessions = {s.code: s for s in db.scalars(select(GroupSession))}
        products = {p.id: p for p in db.scalars(select(Product))}
    assert sorted(sessions) == ["FLANEL1", "KAOS1"]
    assert (products[sessions["KAOS1"].product_id].sku, sessions["KAOS1"].target_moq) == ("KAOS30S", 24)
    assert (products[sessions["FLANEL1"].product_id].sku, sessions["FLANEL1"].target_moq) == ("FLANEL", 16)
    assert {s.status for s in sessions.values()} == {"forming"}
    assert {(p.sku, p.grosir_unit_size) for p in products.values()} == {("KAOS30S", 12), ("FLANEL", 16)}

    again = cli("demo")
    assert again.exit_code == 0, again.output
    assert again.output == "Demo data already loaded.\n"
    assert counts(db_factory) == after_first


def test_chat_against_a_real_server(cli, db_factory, server):
    assert cli("demo").exit_code == 0
    result = cli("chat", "--url", server, "-m", "MENU", "-m", "IKUT KAOS1 M 2")
    assert result.exit_code == 0, result.output
    output = result.output
    assert "+6281234567890> MENU\n" in output
    assert "bot> Halo Sari! Laku Grosir: beli bareng per grosir, harga pabrik." in output
    assert (
        "• IKUT <kode> <ukuran> [jumlah]: ikut sesi (contoh: IKUT KAOS1 M 2)" in output
    )  # the demo's soonest open session
    assert "+6281234567890> IKUT KAOS1 M 2\n" in output
    assert (
        "bot> ✅ Tercatat: 2 pcs Kaos Polos Cotton Combed 30s ukuran M di sesi KAOS1, total Rp 90.000"
        in output
    )
    assert "[403]" not in output and "[400]" not in output
    with db_factory() as db:
        rows = db.execute(
            select(
                Buyer.phone,
                Buyer.name,
                GroupSession.code,
                Variant.size,
                Participant.quantity,
                Participant.status,
            )
            .join(Participant, Participant.buyer_id == Buyer.id)
            .join(GroupSession, GroupSession.id == Participant.session_id)
            .join(Variant, Variant.id == Participant.variant_id)
        ).all()
    assert [tuple(row) for row in rows] == [("+6281234567890", "Sari", "KAOS1", "M", 2, "confirmed")]
    assert counts(db_factory)["inbound_messages"] == 2


def test_chat_shows_the_guided_flow_as_numbered_lists_and_can_tap(cli, db_factory, server):
    assert cli("demo").exit_code == 0
    result = cli(
        "chat", "--url", server, "-m", "IKUT KAOS1", "-m", "2", "-m", "tap IKUT KAOS1 M 3", "-m", "ya"
    )
    assert result.exit_code == 0, result.output
    assert (
        "+6281234567890> IKUT KAOS1\n"
        "bot> Sesi KAOS1: Kaos Polos Cotton Combed 30s, Rp 45.000/pcs. Pilih ukuran:\n"
        "     1. S: sisa 4 pcs\n"
        "     2. M: sisa 10 pcs\n"
        "     3. L: sisa 8 pcs\n"
        "     4. XL: sisa 2 pcs\n"
        "     Balas angkanya (1-4) atau ukurannya, misalnya S.\n"
    ) in result.output
    assert "bot> Sesi KAOS1, ukuran M (sisa 10 pcs). Berapa pcs?\n" in result.output
    assert "+6281234567890> tap IKUT KAOS1 M 3\nbot> Ikut sesi KAOS1: 3 pcs ukuran M, total Rp 135.000." in (
        result.output
    )
    assert "bot> ✅ Tercatat: 3 pcs Kaos Polos Cotton Combed 30s ukuran M di sesi KAOS1" in result.output
    with db_factory() as db:
        payloads = db.scalars(select(InboundMessage.button_payload).order_by(InboundMessage.id)).all()
    assert payloads == [None, None, "IKUT KAOS1 M 3", None]


def test_chat_with_another_phone_and_name(cli, db_factory, server):
    assert cli("demo").exit_code == 0
    result = cli("chat", "--url", server, "--phone", "+62 813 1111 2222", "--name", "Budi", "-m", "HELP")
    assert result.exit_code == 0, result.output
    assert "+6281311112222> HELP\nbot> Hi Budi! Laku Grosir: group buying" in result.output
    with db_factory() as db:
        assert db.execute(select(Buyer.phone, Buyer.name, Buyer.language)).tuples().all() == [
            ("+6281311112222", "Budi", "en")
        ]


def test_chat_with_a_bad_phone_fails_before_sending(cli, db_factory, server):
    result = cli("chat", "--url", server, "--phone", "12", "-m", "MENU")
    assert result.exit_code == 1
    assert result.output == "Error: not a valid phone number: '12'\n"
    assert counts(db_factory)["inbound_messages"] == 0


def test_chat_when_the_bot_is_not_running(cli):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = cli("chat", "--url", f"http://127.0.0.1:{port}", "-m", "MENU")
    assert result.exit_code == 1
    assert f"the bot at http://127.0.0.1:{port} is not answering" in result.output


def test_set_stock(cli, db_factory):
    assert cli("demo").exit_code == 0
    result = cli("set-stock", "KAOS30S-M", "7")
    assert result.exit_code == 0, result.output
    assert result.output == "KAOS30S-M: on hand 7, reserved 0\n"
    stock = on_hand_by_sku(db_factory)
    assert stock["KAOS30S-M"] == 7
    assert sum(stock.values()) == 7
    assert counts(db_factory)["warehouse_inventory"] == 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NOPE", "3"], "Error: sku: no variant with SKU NOPE"),
        (["KAOS30S-M", "--", "-3"], "Error: on_hand: must be zero or more"),
    ],
)
def test_set_stock_errors(cli, db_factory, args, message):
    assert cli("demo").exit_code == 0
    result = cli("set-stock", *args)
    assert result.exit_code == 1
    assert message in result.output
    with db_factory() as db:
        assert db.scalar(select(func.sum(WarehouseInventory.on_hand))) == 0


def test_set_stock_quantity_must_be_a_number(cli):
    result = cli("set-stock", "KAOS30S-M", "lots")
    assert result.exit_code == 2
    assert "'lots' is not a valid integer" in result.output


def test_create_factory(cli, db_factory):
    result = cli(
        "create-factory", "--name", "Konveksi Solo", "--phone", "0813-1111-2222", "--address", "Solo"
    )
    assert result.exit_code == 0, result.output
    assert result.output == "factory 1: Konveksi Solo +6281311112222\n"
    with db_factory() as db:
        assert db.execute(select(Factory.name, Factory.phone, Factory.address)).tuples().all() == [
            ("Konveksi Solo", "+6281311112222", "Solo")
        ]


@pytest.mark.parametrize(
    ("phone", "problem"),
    [
        ("12", "not a valid phone number"),
        ("not-a-phone", "not a phone number"),
        ("+1 555 0100", "not a valid phone number"),
        ("0813111122229999", "not a valid phone number"),
    ],
)
def test_create_factory_with_a_bad_phone_exits_non_zero_and_writes_nothing(cli, db_factory, phone, problem):
    result = cli("create-factory", "--name", "Konveksi Solo", "--phone", phone)
    assert result.exit_code == 1
    assert result.output == f"Error: phone: {problem}: {phone!r}\n"
    assert counts(db_factory)["factories"] == 0


def test_create_factory_twice_with_the_same_phone(cli, db_factory):
    assert cli("create-factory", "--name", "A", "--phone", "081311112222").exit_code == 0
    result = cli("create-factory", "--name", "B", "--phone", "+62 813-1111-2222")
    assert result.exit_code == 1
    assert "Error: phone: a factory with phone +6281311112222 already exists" in result.output
    assert counts(db_factory)["factories"] == 1


def test_create_factory_needs_a_name(cli, db_factory):
    result = cli("create-factory", "--name", "  ", "--phone", "081311112222")
    assert result.exit_code == 1
    assert "Error: name: must not be empty" in result.output
    assert counts(db_factory)["factories"] == 0


def product_spec(tmp_path, factory_id: int, **changes) -> str:
    spec = {
        "factory_id": factory_id,
        "name": "Kaos Solo",
        "sku": "SOLO",
        "price": 40_000,
        "grosir_unit_size": 8,
        "variants": [
            {"size": "M", "sku": "SOLO-M", "units_per_lot": 4},
            {"size": "L", "sku": "SOLO-L", "units_per_lot": 4},
        ],
        **changes,
    }
    path = tmp_path / "product.json"
    path.write_text(json.dumps(spec))
    return str(path)


def test_create_product_with_its_excess_weight(cli, db_factory, tmp_path):
    assert cli("create-factory", "--name", "A", "--phone", "081311112222").exit_code == 0
    result = cli("create-product", product_spec(tmp_path, 1, excess_weight=0.1))
    assert result.exit_code == 0, result.output
    assert result.output == "product 1: Kaos Solo (SOLO)\n"
    with db_factory() as db:
        assert db.execute(select(Product.sku, Product.excess_weight)).tuples().all() == [
            ("SOLO", Decimal("0.1"))
        ]


def test_create_product_with_a_bad_excess_weight_names_the_field_and_writes_nothing(
    cli, db_factory, tmp_path
):
    assert cli("create-factory", "--name", "A", "--phone", "081311112222").exit_code == 0
    result = cli("create-product", product_spec(tmp_path, 1, excess_weight=-2))
    assert result.exit_code == 1
    assert "excess_weight" in result.output and "must be from 0 to 1000" in result.output
    assert counts(db_factory)["products"] == 0


def test_close_receive_and_cancel_from_the_command_line(cli, app, db_factory):
    assert cli("demo").exit_code == 0
    client = app.test_client()
    # KAOS1: 2 S + 5 M + 4 L + 1 XL a lot, MOQ 24: two lots' worth of joins from two buyers
    for number, joins in (("+6281200000011", ["S 4", "M 10"]), ("+6281200000012", ["L 8", "XL 2"])):
        phone = Phone(client, number)
        for join in joins:
            assert "Tercatat" in phone.send(f"IKUT KAOS1 {join}")

    closed = cli("close", "kaos1")
    assert closed.exit_code == 0, closed.output
    assert closed.output.strip() == "session KAOS1: pending_stock"
    with db_factory() as db:
        lines = dict(
            db.execute(
                select(Variant.size, PurchaseOrderLine.quantity).join(
                    Variant, Variant.id == PurchaseOrderLine.variant_id
                )
            ).all()
        )
        po_code = db.scalar(select(PurchaseOrder.code))
    assert lines == {"S": 4, "M": 10, "L": 8, "XL": 2}

    received = cli("receive-po", po_code)
    assert received.exit_code == 0, received.output
    assert received.output.strip() == f"purchase order {po_code}: received, 4 orders for KAOS1"
    again = cli("receive-po", po_code)
    assert again.exit_code != 0 and "already" in again.output

    cancelled = cli("cancel", "FLANEL1")
    assert cancelled.exit_code == 0 and cancelled.output.strip() == "session FLANEL1: cancelled"
    assert cli("cancel", "NOPE1").exit_code != 0
    with db_factory() as db:
        statuses = dict(db.execute(select(GroupSession.code, GroupSession.status)).all())
        assert statuses == {"KAOS1": "orders_created", "FLANEL1": "cancelled"}
        assert db.scalar(select(func.count(Order.id))) == 4
