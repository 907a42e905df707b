"""The allocation worked examples (docs/design.md, "Allocation rule") against a running server: real HTTP,
signed webhooks, the admin API."""

from __future__ import annotations

import requests

from bot.cli import send_chat_message
from tests import builders
from tests.builders import ADMIN_HEADERS as ADMIN
from tests.chat import AUTH_TOKEN


def say(url: str, phone: str, text: str) -> str:
    status, reply = send_chat_message(url, phone, "Buyer", text, AUTH_TOKEN, None)
    assert status == 200
    return reply


def sizes(url: str, code: str) -> dict[str, tuple[int, int, int, bool]]:
    response = requests.get(f"{url}/api/v1/sessions/{code}", headers=ADMIN, timeout=10)
    assert response.status_code == 200
    return {
        s["size"]: (s["ordered"], s["cap"], s["available"], s["locked"]) for s in response.json()["sizes"]
    }


def test_four_size_worked_example_over_http(server, db_factory):
    with db_factory.begin() as db:
        product = builders.product(db, builders.FOUR_SIZES)
        builders.session(db, product.id, code="GB1", target_moq=100)
    a, b, c, d = (f"+62812100000{i}" for i in range(1, 5))

    assert "Tercatat: 5 pcs" in say(server, a, "IKUT GB1 M 5")
    assert sizes(server, "GB1")["M"] == (5, 8, 3, False)
    assert "tinggal 3 pcs" in say(server, b, "IKUT GB1 M 4")
    assert "Tercatat: 3 pcs" in say(server, b, "IKUT GB1 M 3")
    assert sizes(server, "GB1")["M"] == (8, 8, 0, True)
    assert "terkunci" in say(server, c, "IKUT GB1 M 1")
    assert "Tercatat: 5 pcs" in say(server, c, "IKUT GB1 S 5")
    refused = say(server, d, "IKUT GB1 M 1")
    assert "terkunci" in refused and "1 pcs L dan 1 pcs XL" in refused
    assert sizes(server, "GB1") == {
        "S": (5, 8, 3, False),
        "M": (8, 8, 0, True),
        "L": (0, 8, 8, False),
        "XL": (0, 8, 8, False),
    }


def test_two_size_worked_example_and_lot_mix_caps_over_http(server, db_factory):
    with db_factory.begin() as db:
        two = builders.product(db, builders.TWO_SIZES, sku="TWO")
        mix = builders.product(db, builders.TSHIRT_MIX, sku="MIX")
        builders.session(db, two.id, code="GB2", target_moq=100)
        builders.session(db, mix.id, code="GB3", target_moq=100)
    a, b, c, d = (f"+62812200000{i}" for i in range(1, 5))

    assert {size: cap for size, (_, cap, _, _) in sizes(server, "GB3").items()} == {
        "S": 4,
        "M": 10,
        "L": 8,
        "XL": 2,
    }
    say(server, a, "IKUT GB2 M 5")
    assert "tinggal 3 pcs" in say(server, b, "IKUT GB2 M 4")
    say(server, b, "IKUT GB2 M 3")
    assert "terkunci" in say(server, c, "IKUT GB2 M 1")
    say(server, c, "IKUT GB2 S 5")
    assert sizes(server, "GB2")["M"] == (8, 13, 5, False)
    assert "Tercatat: 1 pcs" in say(server, d, "IKUT GB2 M 1")
    assert sizes(server, "GB2") == {"S": (5, 13, 8, False), "M": (9, 13, 4, False)}
