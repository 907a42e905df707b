"""The admin JSON API (without purchase orders and close, see test_admin_operations.py): auth, validation,
no partial writes."""

from __future__ import annotations

import dataclasses
import os
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from core.clock import now
from core.db import transaction
from core.models import GrosirVariantAllocation, Product, WarehouseInventory
from tests import builders
from tests.builders import ADMIN_HEADERS as AUTH
from tests.builders import ADMIN_TOKEN as TOKEN
from tests.builders import counts, on_hand_by_sku
from tests.chat import Phone

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")


def post(client, path, payload, headers=AUTH):
    return client.post(f"/api/v1{path}", json=payload, headers=headers)


def future(hours: float = 24) -> str:
    return (now() + timedelta(hours=hours)).isoformat()


@pytest.fixture
def factory_id(client) -> int:
    response = post(client, "/factories", {"name": "Konveksi Maju", "phone": "0811-0000-0001"})
    assert response.status_code == 201, response.json
    return response.json["id"]


def tshirt(factory_id: int, **changes) -> dict:
    payload = {
        "factory_id": factory_id,
        "name": "Kaos Polos",
        "sku": "KAOS",
        "price": 45_000,
        "grosir_unit_size": 12,
        "variants": [
            {"size": "S", "sku": "KAOS-S", "units_per_lot": 2},
            {"size": "M", "sku": "KAOS-M", "units_per_lot": 5},
            {"size": "L", "sku": "KAOS-L", "units_per_lot": 4},
            {"size": "XL", "sku": "KAOS-XL", "units_per_lot": 1},
        ],
    }
    payload.update(changes)
    return payload


@pytest.fixture
def product_id(client, factory_id) -> int:
    response = post(client, "/products", tshirt(factory_id))
    assert response.status_code == 201, response.json
    return response.json["id"]


def assert_error(response, status: int, field: str | None):
    assert response.status_code == status, (response.status_code, response.data)
    assert response.mimetype == "application/json"
    assert response.json["field"] == field
    assert isinstance(response.json["error"], str) and response.json["error"]


# ------------------------------------------------------------------------------------------------ auth


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
    ],
)
def test_missing_or_wrong_token_is_401_json(client, db_factory, headers):
    response = post(client, "/factories", {"name": "F", "phone": "081311112222"}, headers=headers)
    assert_error(response, 401, "Authorization")
    assert_error(client.get("/api/v1/sessions/GB1", headers=headers), 401, "Authorization")
    assert_error(client.get("/api/v1/messages", headers=headers), 401, "Authorization")
    assert counts(db_factory)["factories"] == 0


def test_bearer_scheme_is_case_insensitive(client):
    response = client.get("/api/v1/messages", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200


def test_admin_api_is_disabled_without_admin_token(settings, db_factory):
    client = create_app(
        dataclasses.replace(settings, admin_token=None), dispatch=lambda ids: None
    ).test_client()
    response = post(client, "/factories", {"name": "F", "phone": "081311112222"})
    assert response.status_code == 403
    assert response.json == {
        "error": "the admin API is disabled: set ADMIN_TOKEN to enable it",
        "field": None,
    }
    assert client.get("/api/v1/messages", headers=AUTH).status_code == 403
    assert counts(db_factory)["factories"] == 0


# ------------------------------------------------------------------------------------------- factories


def test_create_factory_normalises_the_phone(client, db_factory):
    response = post(
        client, "/factories", {"name": " Konveksi Maju ", "phone": "0813-1111-2222", "address": "Bandung"}
    )
    assert response.status_code == 201
    assert response.json == {
        "id": 1,
        "name": "Konveksi Maju",
        "phone": "+6281311112222",
        "address": "Bandung",
    }
    assert counts(db_factory)["factories"] == 1


@pytest.mark.parametrize(
    "phone", ["+6281311112222", "whatsapp:+6281311112222", "+62 813 1111 2222", "081311112222"]
)
def test_duplicate_factory_phone_in_any_format_is_409(client, db_factory, phone):
    assert post(client, "/factories", {"name": "A", "phone": "081311112222"}).status_code == 201
    response = post(client, "/factories", {"name": "B", "phone": phone})
    assert_error(response, 409, "phone")
    assert "+6281311112222" in response.json["error"]
    assert counts(db_factory)["factories"] == 1


@pytest.mark.parametrize("phone", ["12345", "0812", "not a phone", "+1 555", "081311112222999999"])
def test_bad_factory_phone_is_422(client, db_factory, phone):
    assert_error(post(client, "/factories", {"name": "A", "phone": phone}), 422, "phone")
    assert counts(db_factory)["factories"] == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"phone": "081311112222"}, "name"),
        ({"name": "A"}, "phone"),
        ({"name": "", "phone": "081311112222"}, "name"),
        ({"name": "   ", "phone": "081311112222"}, "name"),
        ({"name": 5, "phone": "081311112222"}, "name"),
        ({"name": "A", "phone": 81311112222}, "phone"),
        ({"name": "A", "phone": "081311112222", "address": ["x"]}, "address"),
        ({"name": "A", "phone": "081311112222", "email": "a@b.c"}, "email"),
        ({"name": "A" * 201, "phone": "081311112222"}, "name"),
    ],
)
def test_factory_validation(client, db_factory, payload, field):
    assert_error(post(client, "/factories", payload), 422, field)
    assert counts(db_factory)["factories"] == 0


# -------------------------------------------------------------------------------------------- products


def test_create_product_with_variants_and_allocations(client, db_factory, factory_id):
    response = post(client, "/products", tshirt(factory_id))
    assert response.status_code == 201
    body = response.json
    assert {k: body[k] for k in ("factory_id", "name", "sku", "price", "grosir_unit_size", "lead_lots")} == {
        "factory_id": factory_id,
        "name": "Kaos Polos",
        "sku": "KAOS",
        "price": 45_000,
        "grosir_unit_size": 12,
        "lead_lots": 2,
    }
    assert (body["allocation_policy"], body["waitlist_enabled"]) == ("lot_balanced", True)
    assert [(v["size"], v["sku"], v["units_per_lot"]) for v in body["variants"]] == [
        ("S", "KAOS-S", 2),
        ("M", "KAOS-M", 5),
        ("L", "KAOS-L", 4),
        ("XL", "KAOS-XL", 1),
    ]
    c = counts(db_factory)
    assert (c["products"], c["variants"], c["grosir_variant_allocations"], c["warehouse_inventory"]) == (
        1,
        4,
        4,
        4,
    )
    with db_factory() as db:
        assert db.scalar(select(func.sum(GrosirVariantAllocation.units_per_lot))) == 12
        assert db.scalar(select(func.sum(WarehouseInventory.on_hand))) == 0


def test_product_without_allocations_is_allowed(client, db_factory, factory_id):
    payload = tshirt(factory_id, grosir_unit_size=None, variants=[{"size": "all", "sku": "KAOS-ALL"}])
    response = post(client, "/products", payload)
    assert response.status_code == 201
    assert response.json["variants"][0]["size"] == "ALL"
    assert response.json["variants"][0]["units_per_lot"] is None
    c = counts(db_factory)
    assert (c["products"], c["variants"], c["grosir_variant_allocations"]) == (1, 1, 0)


NO_PRODUCT_ROWS = {"products": 0, "variants": 0, "grosir_variant_allocations": 0, "warehouse_inventory": 0}


def product_rows(db_factory) -> dict[str, int]:
    c = counts(db_factory)
    return {name: c[name] for name in NO_PRODUCT_ROWS}


@pytest.mark.parametrize("unit_size", [11, 13, 1])
def test_allocations_not_summing_to_the_lot_size_is_422_and_writes_nothing(
    client, db_factory, factory_id, unit_size
):
    response = post(client, "/products", tshirt(factory_id, grosir_unit_size=unit_size))
    assert_error(response, 422, "grosir_unit_size")
    assert f"allocations sum to 12 units but grosir_unit_size is {unit_size}" in response.json["error"]
    assert product_rows(db_factory) == NO_PRODUCT_ROWS


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"grosir_unit_size": None}, 422, "grosir_unit_size"),
        ({"factory_id": 999}, 404, "factory_id"),
        ({"price": "1000"}, 422, "price"),
        ({"price": 1.5}, 422, "price"),
        ({"price": 45000.0}, 422, "price"),
        ({"price": True}, 422, "price"),
        ({"price": -1}, 422, "price"),
        ({"price": None}, 422, "price"),
        ({"factory_id": True}, 422, "factory_id"),
        ({"factory_id": "1"}, 422, "factory_id"),
        ({"grosir_unit_size": False}, 422, "grosir_unit_size"),
        ({"grosir_unit_size": "12"}, 422, "grosir_unit_size"),
        ({"lead_lots": 0}, 422, "lead_lots"),
        ({"lead_lots": 2.0}, 422, "lead_lots"),
        ({"waitlist_enabled": "yes"}, 422, "waitlist_enabled"),
        ({"waitlist_enabled": 1}, 422, "waitlist_enabled"),
        ({"allocation_policy": "greedy"}, 422, "allocation_policy"),
        ({"name": ""}, 422, "name"),
        ({"sku": ["KAOS"]}, 422, "sku"),
        ({"variants": []}, 422, "variants"),
        ({"variants": "S,M"}, 422, "variants"),
        ({"colour": "red"}, 422, "colour"),
    ],
)
def test_product_validation_names_the_field_and_writes_nothing(
    client, db_factory, factory_id, changes, status, field
):
    assert_error(post(client, "/products", {**tshirt(factory_id), **changes}), status, field)
    assert product_rows(db_factory) == NO_PRODUCT_ROWS


@pytest.mark.parametrize(
    ("given", "shown", "stored"),
    [
        (0.1, "0.1", Decimal("0.1")),
        ("0.1", "0.1", Decimal("0.1")),
        (4, "4", Decimal(4)),
        ("0.25", "0.25", Decimal("0.25")),
        (0, "0", Decimal(0)),
        ("1000", "1000", Decimal(1000)),
        (0.0001, "0.0001", Decimal("0.0001")),
    ],
)
def test_excess_weight_is_kept_exactly_as_written(client, db_factory, factory_id, given, shown, stored):
    response = post(client, "/products", tshirt(factory_id, excess_weight=given))
    assert response.status_code == 201
    assert response.json["excess_weight"] == shown
    with db_factory() as db:
        assert db.scalar(select(Product.excess_weight)) == stored  # 0.1, not 0.1000000000000000055...


def test_excess_weight_defaults_to_one(client, factory_id):
    assert post(client, "/products", tshirt(factory_id)).json["excess_weight"] == "1"


@pytest.mark.parametrize(
    "weight",
    [-1, "-0.5", 1000.5, "1e9", "0.00001", 0.30000000000000004, "abc", "", True, None, [1], "NaN", "inf"],
)
def test_bad_excess_weight_is_422_naming_the_field(client, db_factory, factory_id, weight):
    assert_error(post(client, "/products", tshirt(factory_id, excess_weight=weight)), 422, "excess_weight")
    assert product_rows(db_factory) == NO_PRODUCT_ROWS


@pytest.mark.parametrize(
    ("variant_changes", "field"),
    [
        ({"units_per_lot": "2"}, "variants.0.units_per_lot"),
        ({"units_per_lot": True}, "variants.0.units_per_lot"),
        ({"units_per_lot": 2.0}, "variants.0.units_per_lot"),
        ({"units_per_lot": 0}, "variants.0.units_per_lot"),
        ({"size": "S M"}, "variants.0.size"),
        ({"size": ""}, "variants.0.size"),
        ({"sku": None}, "variants.0.sku"),
        ({"colour": "red"}, "variants.0.colour"),
    ],
)
def test_variant_validation_names_the_field_and_writes_nothing(
    client, db_factory, factory_id, variant_changes, field
):
    payload = tshirt(factory_id)
    payload["variants"][0].update(variant_changes)
    assert_error(post(client, "/products", payload), 422, field)
    assert product_rows(db_factory) == NO_PRODUCT_ROWS


def test_mixed_allocations_and_duplicate_sizes_are_refused(client, db_factory, factory_id):
    payload = tshirt(factory_id)
    del payload["variants"][1]["units_per_lot"]
    assert_error(post(client, "/products", payload), 422, "variants")
    payload = tshirt(factory_id)
    payload["variants"][1]["size"] = "s"
    assert_error(post(client, "/products", payload), 422, "variants")
    payload = tshirt(factory_id)
    payload["variants"][1]["sku"] = "KAOS-S"
    assert_error(post(client, "/products", payload), 422, "variants")
    assert product_rows(db_factory) == NO_PRODUCT_ROWS


def test_duplicate_sku_is_409_and_writes_nothing(client, db_factory, factory_id):
    assert post(client, "/products", tshirt(factory_id)).status_code == 201
    before = product_rows(db_factory)
    assert before == {"products": 1, "variants": 4, "grosir_variant_allocations": 4, "warehouse_inventory": 4}
    # same product SKU, fresh variant SKUs
    again = tshirt(factory_id)
    for variant in again["variants"]:
        variant["sku"] += "-2"
    assert_error(post(client, "/products", again), 409, "sku")
    # fresh product SKU, one variant SKU taken
    again = tshirt(factory_id, sku="KAOS2")
    for variant in again["variants"][1:]:
        variant["sku"] += "-2"
    response = post(client, "/products", again)
    assert_error(response, 409, "sku")
    assert "KAOS-S" in response.json["error"]
    # a variant SKU equal to an existing product SKU
    again = tshirt(factory_id, sku="KAOS3")
    for variant in again["variants"]:
        variant["sku"] += "-3"
    again["variants"][0]["sku"] = "KAOS"
    assert_error(post(client, "/products", again), 409, "sku")
    assert product_rows(db_factory) == before


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{not json", "application/json"),
        ("", "application/json"),
        ("[1, 2]", "application/json"),
        ('"a string"', "application/json"),
        ("null", "application/json"),
        ("42", "application/json"),
        ('{"name": "A", "phone": "081311112222"}', "text/plain"),
        ("name=A&phone=081311112222", "application/x-www-form-urlencoded"),
        (None, None),
    ],
)
@pytest.mark.parametrize("path", ["/factories", "/products", "/sessions"])
def test_body_that_is_not_a_json_object_is_400_naming_body(client, db_factory, data, content_type, path):
    kwargs = {} if data is None else {"data": data, "content_type": content_type}
    response = client.post(f"/api/v1{path}", headers=AUTH, **kwargs)
    assert_error(response, 400, "body")
    assert all(value == 0 for value in counts(db_factory).values())


def test_put_inventory_body_must_be_json_too(client, db_factory, product_id):
    response = client.put("/api/v1/inventory/KAOS-M", data="on_hand=5", headers=AUTH)
    assert_error(response, 400, "body")


# -------------------------------------------------------------------------------------------- sessions


def test_create_session_and_read_it_back(client, db_factory, product_id):
    ends = (now() + timedelta(hours=48)).replace(microsecond=0)
    payload = {"product_id": product_id, "target_moq": 24, "ends_at": ends.isoformat(), "code": "kaos1"}
    response = post(client, "/sessions", payload)
    assert response.status_code == 201
    created = response.json
    assert (created["code"], created["status"], created["price"], created["target_moq"]) == (
        "KAOS1",
        "forming",
        45_000,
        24,
    )
    assert created["ends_at"] == ends.isoformat()
    assert counts(db_factory)["sessions"] == 1

    got = client.get("/api/v1/sessions/kaos1", headers=AUTH)
    assert got.status_code == 200
    body = got.json
    assert body == created
    assert (body["units"], body["waiting_units"], body["moq_reached"], body["moq_reached_at"]) == (
        0,
        0,
        False,
        None,
    )
    for name in (
        "warehouse_check_at",
        "factory_notified_at",
        "stock_received_at",
        "orders_created_at",
        "closed_at",
    ):
        assert body[name] is None
    assert body["starts_at"] is not None and body["created_at"] is not None
    assert body["product"] == {"id": product_id, "name": "Kaos Polos", "sku": "KAOS"}
    assert (body["lead_lots"], body["allocation_policy"], body["waitlist_enabled"]) == (
        2,
        "lot_balanced",
        True,
    )
    assert (body["factory_whatsapp_sent"], body["grosir_units_needed"], body["warehouse_has_stock"]) == (
        False,
        None,
        None,
    )
    assert body["sizes"] == [
        {
            "size": "S",
            "allocation": 2,
            "ordered": 0,
            "cap": 4,
            "available": 4,
            "locked": False,
            "waiting": 0,
            "unlocks_after": [],
        },
        {
            "size": "M",
            "allocation": 5,
            "ordered": 0,
            "cap": 10,
            "available": 10,
            "locked": False,
            "waiting": 0,
            "unlocks_after": [],
        },
        {
            "size": "L",
            "allocation": 4,
            "ordered": 0,
            "cap": 8,
            "available": 8,
            "locked": False,
            "waiting": 0,
            "unlocks_after": [],
        },
        {
            "size": "XL",
            "allocation": 1,
            "ordered": 0,
            "cap": 2,
            "available": 2,
            "locked": False,
            "waiting": 0,
            "unlocks_after": [],
        },
    ]


def test_session_after_joins_shows_per_size_state_and_moq(client, db_factory, product_id):
    payload = {
        "product_id": product_id,
        "target_moq": 3,
        "ends_at": future(),
        "code": "KAOS1",
        "price": 40_000,
    }
    assert post(client, "/sessions", payload).status_code == 201
    buyer = Phone(client, "+6281200000001", "Sari")
    assert buyer.send("IKUT KAOS1 XL 2").startswith(
        "✅ Tercatat: 2 pcs Kaos Polos ukuran XL di sesi KAOS1, total Rp 80.000"
    )
    assert buyer.send("IKUT KAOS1 M 1").startswith("✅ Tercatat: 1 pcs")
    body = client.get("/api/v1/sessions/KAOS1", headers=AUTH).json
    assert (body["status"], body["units"], body["target_moq"], body["moq_reached"], body["price"]) == (
        "moq_reached",
        3,
        3,
        True,
        40_000,
    )
    assert body["moq_reached_at"] is not None
    by_size = {s["size"]: s for s in body["sizes"]}
    assert {k: by_size["XL"][k] for k in ("allocation", "ordered", "cap", "available", "locked")} == {
        "allocation": 1,
        "ordered": 2,
        "cap": 2,
        "available": 0,
        "locked": True,
    }
    assert by_size["XL"]["unlocks_after"] == [
        {"size": "S", "units": 2},
        {"size": "M", "units": 4},
        {"size": "L", "units": 4},
    ]
    assert (by_size["M"]["ordered"], by_size["M"]["cap"], by_size["M"]["available"]) == (1, 10, 9)


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"ends_at": "2030-01-01T00:00:00"}, 422, "ends_at"),  # naive
        ({"ends_at": "2030-01-01"}, 422, "ends_at"),
        ({"ends_at": "tomorrow"}, 422, "ends_at"),
        ({"ends_at": None}, 422, "ends_at"),
        ({"ends_at": "2020-01-01T00:00:00+07:00"}, 422, "ends_at"),  # past
        ({"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}, 422, "ends_at"),
        ({"target_moq": 0}, 422, "target_moq"),
        ({"target_moq": "24"}, 422, "target_moq"),
        ({"target_moq": 24.0}, 422, "target_moq"),
        ({"product_id": 999}, 404, "product_id"),
        ({"product_id": False}, 422, "product_id"),
        ({"price": -5}, 422, "price"),
        ({"code": "G"}, 422, "code"),
        ({"code": "GB 1"}, 422, "code"),
        ({"code": 12}, 422, "code"),
        ({"status": "forming"}, 422, "status"),
    ],
)
def test_session_validation(client, db_factory, product_id, changes, status, field):
    payload = {"product_id": product_id, "target_moq": 24, "ends_at": future(), **changes}
    assert_error(post(client, "/sessions", payload), status, field)
    assert counts(db_factory)["sessions"] == 0


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("XL", "reads as a command word or a size"),
        ("IKUT", "reads as a command word or a size"),
        ("M2", "reads as a size and a quantity (M2 is size M, 2 pcs)"),
        ("2XL", "must start with a letter (2XL or 3PCS would read as a size or a quantity)"),
        ("PO-7", "PO- and REF are reserved for purchase orders and referral tags"),
    ],
)
def test_a_session_code_that_would_read_as_something_else_is_refused(
    client, db_factory, product_id, code, problem
):
    # a buyer's "IKUT M2 L 1" must never be taken for a session called M2
    payload = {"product_id": product_id, "target_moq": 24, "ends_at": future(), "code": code}
    response = post(client, "/sessions", payload)
    assert (response.status_code, response.json) == (422, {"error": f"code: {problem}", "field": "code"})
    assert counts(db_factory)["sessions"] == 0


def test_duplicate_session_code_is_409(client, db_factory, product_id):
    payload = {"product_id": product_id, "target_moq": 24, "ends_at": future(), "code": "KAOS1"}
    assert post(client, "/sessions", payload).status_code == 201
    assert_error(post(client, "/sessions", {**payload, "code": "kaos1"}), 409, "code")
    assert counts(db_factory)["sessions"] == 1


def test_session_code_is_generated_when_not_given(client, product_id):
    response = post(client, "/sessions", {"product_id": product_id, "target_moq": 24, "ends_at": future()})
    assert response.status_code == 201
    code = response.json["code"]
    assert code.startswith("GB") and len(code) == 6 and code[2:].isdigit()


def test_ends_at_as_a_number_is_refused(client, db_factory, product_id):
    payload = {
        "product_id": product_id,
        "target_moq": 24,
        "ends_at": int((now() + timedelta(days=2)).timestamp()),
    }
    assert_error(post(client, "/sessions", payload), 422, "ends_at")
    assert counts(db_factory)["sessions"] == 0


@pytest.mark.parametrize("field", ["ends_at", "starts_at"])
@pytest.mark.parametrize("value", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00"])
def test_datetimes_at_the_edge_of_the_calendar_are_422(client, db_factory, product_id, field, value):
    payload = {"product_id": product_id, "target_moq": 24, "ends_at": future(), field: value}
    assert_error(post(client, "/sessions", payload), 422, field)
    assert counts(db_factory)["sessions"] == 0


@pytest.mark.parametrize(("path", "field"), [("/products", "factory_id"), ("/sessions", "product_id")])
def test_huge_ids_are_4xx(client, db_factory, factory_id, path, field):
    payload = (
        tshirt(2**64) if path == "/products" else {"product_id": 2**64, "target_moq": 24, "ends_at": future()}
    )
    response = post(client, path, payload)
    assert response.status_code in (404, 422), response.data
    assert response.json["field"] == field
    assert product_rows(db_factory) == NO_PRODUCT_ROWS


@pytest.mark.parametrize(
    ("path", "field"),
    [("/factories", "name"), ("/factories", "address"), ("/products", "name"), ("/products", "sku")],
)
def test_nul_in_text_fields_is_422(client, db_factory, factory_id, path, field):
    if path == "/factories":
        payload = {"name": "Pabrik", "phone": "081311112222", "address": "Bandung", field: "ab\x00c"}
    else:
        payload = tshirt(factory_id, **{field: "AB\x00C"})
    before = counts(db_factory)
    assert_error(post(client, path, payload), 422, field)
    assert counts(db_factory) == before


@pytest.mark.parametrize("path", ["/api/v1/sessions/GB%00", "/api/v1/inventory/KAOS-M%00"])
def test_nul_in_a_path_is_404(client, path):
    method = client.get if "sessions" in path else client.put
    response = method(path, headers=AUTH, json={"on_hand": 1})
    assert response.status_code == 404
    assert response.json["field"] in ("code", "sku")


def test_unknown_session_is_404_json(client):
    response = client.get("/api/v1/sessions/NOPE1", headers=AUTH)
    assert response.status_code == 404
    assert response.json == {"error": "code: no session NOPE1", "field": "code"}


def test_unknown_route_and_wrong_method_are_json(client):
    response = client.get("/api/v1/nothing-here", headers=AUTH)
    assert response.status_code == 404 and response.mimetype == "application/json"
    response = client.delete("/api/v1/factories", headers=AUTH)
    assert response.status_code == 405 and response.mimetype == "application/json"


# ------------------------------------------------------------------------------------------- inventory


def test_put_inventory(client, db_factory, product_id):
    response = client.put("/api/v1/inventory/KAOS-M", json={"on_hand": 7}, headers=AUTH)
    assert response.status_code == 200
    assert response.json == {"sku": "KAOS-M", "on_hand": 7, "reserved": 0, "available": 7}
    response = client.put("/api/v1/inventory/KAOS-M", json={"on_hand": 0}, headers=AUTH)
    assert response.json == {"sku": "KAOS-M", "on_hand": 0, "reserved": 0, "available": 0}
    assert on_hand_by_sku(db_factory) == {"KAOS-S": 0, "KAOS-M": 0, "KAOS-L": 0, "KAOS-XL": 0}
    assert counts(db_factory)["warehouse_inventory"] == 4


@pytest.mark.parametrize(
    ("sku", "payload", "status", "field"),
    [
        ("NOPE", {"on_hand": 1}, 404, "sku"),
        ("KAOS", {"on_hand": 1}, 404, "sku"),  # a product SKU, not a variant SKU
        ("KAOS-M", {"on_hand": -1}, 422, "on_hand"),
        ("KAOS-M", {"on_hand": "5"}, 422, "on_hand"),
        ("KAOS-M", {"on_hand": 5.0}, 422, "on_hand"),
        ("KAOS-M", {"on_hand": True}, 422, "on_hand"),
        ("KAOS-M", {}, 422, "on_hand"),
        ("KAOS-M", {"on_hand": 1, "reserved": 0}, 422, "reserved"),
    ],
)
def test_put_inventory_validation(client, db_factory, product_id, sku, payload, status, field):
    response = client.put(f"/api/v1/inventory/{sku}", json=payload, headers=AUTH)
    assert_error(response, status, field)
    with db_factory() as db:
        assert db.scalar(select(func.sum(WarehouseInventory.on_hand))) == 0


# -------------------------------------------------------------------------------------------- messages


def test_messages_show_inbound_and_outbound(client, db_factory, dispatched):
    with transaction(db_factory) as db:
        product = builders.product(db, builders.TWO_SIZES)
        builders.session(db, product.id, target_moq=3)
    assert "Tercatat" in Phone(client, "+6281200000002", "Budi").send("IKUT GB1 S 1")
    buyer = Phone(client, "+6281200000001", "Sari")
    form = buyer.form("IKUT GB1 M 2")  # reaches the MOQ: Sari reads it in the reply, Budi by WhatsApp
    reply = buyer.post(form)
    assert reply.status_code == 200
    response = client.get("/api/v1/messages", headers=AUTH)
    assert response.status_code == 200
    body = response.json
    assert len(body["inbound"]) == 2
    inbound = body["inbound"][0]  # newest first
    assert {k: inbound[k] for k in ("message_sid", "from", "body", "command")} == {
        "message_sid": form["MessageSid"],
        "from": "whatsapp:+6281200000001",
        "body": "IKUT GB1 M 2",
        "command": "join",
    }
    assert inbound["reply"].startswith("✅ Tercatat: 2 pcs Kaos TS ukuran M di sesi GB1")
    assert inbound["received_at"] is not None
    assert len(body["outbound"]) == 1
    outbound = body["outbound"][0]
    assert {
        k: outbound[k] for k in ("id", "to", "kind", "status", "attempts", "provider_sid", "sent_at")
    } == {
        "id": dispatched[0],
        "to": "+6281200000002",
        "kind": "moq_reached",
        "status": "queued",
        "attempts": 0,
        "provider_sid": None,
        "sent_at": None,
    }
    assert (
        outbound["body"]
        == "🎉 Sesi GB1 (Kaos TS) mencapai minimum pesanan! Pesanan Anda diproses setelah sesi tutup."
    )


def test_messages_limit(client):
    phone = Phone(client, "+6281200000001")
    for _ in range(3):
        phone.send("MENU")
    body = client.get("/api/v1/messages?limit=2", headers=AUTH).json
    assert len(body["inbound"]) == 2
    assert body["outbound"] == []
    for bad in ("0", "501", "-1", "abc", "2.5", ""):
        assert_error(client.get(f"/api/v1/messages?limit={bad}", headers=AUTH), 422, "limit")


# ---------------------------------------------------------------------------------------------- health


def test_healthz_with_database_and_redis(client, redis_conn):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}


def health(settings, **changes):
    """GET /healthz from an app with these settings changed."""
    app = create_app(dataclasses.replace(settings, **changes), dispatch=lambda ids: None)
    return app.test_client().get("/healthz")


def test_healthz_with_redis_unreachable_is_503(settings):
    response = health(settings, redis_url="redis://127.0.0.1:1/0")
    assert response.status_code == 503
    assert response.json == {"status": "degraded", "database": "ok", "redis": "unreachable"}


def test_healthz_with_database_unreachable_is_503(settings, redis_conn):
    response = health(settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert response.status_code == 503
    assert response.json == {"status": "degraded", "database": "unreachable", "redis": "ok"}


def test_healthz_needs_no_token_and_reveals_no_secrets(settings):
    response = health(settings, admin_token="s3cret")
    assert response.status_code in (200, 503)
    assert set(response.json) == {"status", "database", "redis"}
    assert "s3cret" not in response.get_data(as_text=True)
    assert settings.database_url not in response.get_data(as_text=True)
