"""Bad input that used to crash a request (500) or reach the database raw: each is a clean 4xx now, or is
cleaned and handled normally. The database being down is a 503 with a JSON error, not a 500."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import select, update

from bot.app import create_app
from core import outbox
from core.adapters.http_warehouse import HttpWarehouse
from core.adapters.xendit import InvalidInvoicePayload, parse_callback
from core.db import transaction
from core.json_input import parse_json
from core.models import OutboundMessage, OutboundStatus
from core.warehouse import WarehouseUnavailable
from tests.builders import ADMIN_HEADERS, counts
from tests.chat import AUTH_TOKEN, sign

DEEP = 100_000
DEEPLY_NESTED = "[" * DEEP + "]" * DEEP
DEEPLY_NESTED_OBJECT = '{"a":' * 40_000 + "1" + "}" * 40_000  # 240 KB: under the 256 KiB body limit
STATUS = "/webhooks/twilio/status"
PROVIDER_SID = "SM" + "a" * 32


def assert_json_error(response, status: int, field: str | None) -> None:
    assert response.status_code == status, (response.status_code, response.data[:300])
    assert response.mimetype == "application/json"
    assert response.json["field"] == field
    assert isinstance(response.json["error"], str) and response.json["error"]


# --- JSON nested deeper than the decoder can go ------------------------------------------------------


@pytest.mark.parametrize("body", [DEEPLY_NESTED, DEEPLY_NESTED_OBJECT])
@pytest.mark.parametrize(
    "method, path", [("post", "/factories"), ("post", "/products"), ("put", "/inventory/KAOS-M")]
)
def test_deeply_nested_json_is_400_naming_the_body(client, db_factory, method, path, body):
    response = getattr(client, method)(
        f"/api/v1{path}", data=body, content_type="application/json", headers=ADMIN_HEADERS
    )
    assert_json_error(response, 400, "body")
    assert all(value == 0 for value in counts(db_factory).values())


def test_parse_json_turns_too_deep_into_value_error():
    assert parse_json(b'{"a": [1, 2]}') == {"a": [1, 2]}
    for body in (DEEPLY_NESTED, DEEPLY_NESTED_OBJECT.encode()):
        with pytest.raises(ValueError, match="nested too deeply"):
            parse_json(body)


def test_deeply_nested_answers_from_other_services_are_refused_not_crashes():
    with pytest.raises(InvalidInvoicePayload):
        parse_callback(DEEPLY_NESTED)

    class Answer:  # what requests hands back: the raw bytes of a warehouse answer
        content = DEEPLY_NESTED.encode()

    with pytest.raises(WarehouseUnavailable, match="not JSON"):
        HttpWarehouse._json(Answer(), "GET /stock")  # type: ignore[arg-type]


# --- whole numbers in query strings ------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["²", "1²", "١٢", "𝟓", "٣", " 5", "5 ", "+5", "0x10", "1" * 40])
def test_messages_limit_accepts_only_ascii_digits(client, limit):
    response = client.get("/api/v1/messages", query_string={"limit": limit}, headers=ADMIN_HEADERS)
    # 422 naming `limit`, as for every other bad limit ("abc", "0", "501": tests/test_admin_api.py)
    assert_json_error(response, 422, "limit")


def test_messages_limit_in_range_still_works(client):
    response = client.get("/api/v1/messages?limit=500", headers=ADMIN_HEADERS)
    assert response.status_code == 200 and response.json == {"inbound": [], "outbound": []}


# --- the database down ---------------------------------------------------------------------------------


@pytest.fixture
def app_without_database(signed_settings):
    """The app pointed at a PostgreSQL port where nothing listens: every connection is refused."""
    down = dataclasses.replace(signed_settings, database_url="postgresql+psycopg://laku@127.0.0.1:1/laku")
    return create_app(down, dispatch=lambda ids: None)


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "/api/v1/sessions/GB1", None),
        ("get", "/api/v1/messages", None),
        ("get", "/api/v1/purchase-orders/PO1", None),
        ("post", "/api/v1/factories", {"name": "Konveksi", "phone": "081311112222"}),
        ("put", "/api/v1/inventory/KAOS-M", {"on_hand": 5}),
        ("post", "/api/v1/sessions/GB1/close", None),
    ],
)
def test_admin_api_answers_503_json_when_the_database_is_down(app_without_database, method, path, body):
    client = app_without_database.test_client()
    response = getattr(client, method)(path, json=body, headers=ADMIN_HEADERS)
    assert_json_error(response, 503, None)
    assert "database" in response.json["error"]
    assert response.headers["Retry-After"] == "5"


# --- status callbacks: provider fields are cleaned before they are stored -------------------------------


def sent_message(db_factory) -> int:
    with transaction(db_factory) as db:
        message_id = outbox.enqueue(db, key="notice:1", to_phone="+6281200000001", kind="notice", body="Halo")
        db.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id)
            .values(status=OutboundStatus.SENT, provider_sid=PROVIDER_SID)
        )
    return message_id


def post_status(client, form: dict):
    headers = {"X-Twilio-Signature": sign("http://localhost" + STATUS, form, AUTH_TOKEN)}
    return client.post(STATUS, data=form, headers=headers)


def test_status_callback_with_control_characters_is_cleaned_and_stored(client, db_factory):
    message_id = sent_message(db_factory)
    form = {
        "MessageSid": PROVIDER_SID,
        "MessageStatus": "undelivered\x00",
        "ErrorCode": "63016\x00",
        "ErrorMessage": "Outside the\x00 allowed\x07 window\r\n\x1b[31m" + "x" * 3000,
    }
    response = post_status(client, form)
    assert response.status_code == 204, response.data
    with db_factory() as db:
        row = db.get(OutboundMessage, message_id)
        assert row.status == OutboundStatus.UNDELIVERED
        assert row.last_error.startswith("63016 Outside the allowed window [31mxxx")
        assert len(row.last_error) == len("63016 ") + 1000
        assert not any(ord(ch) < 32 for ch in row.last_error)


@pytest.mark.parametrize("sid", ["SM\x00" + "a" * 30, "SM a", "../../etc", "x" * 65, ""])
def test_status_callback_with_a_malformed_sid_is_400_and_stores_nothing(client, db_factory, sid):
    message_id = sent_message(db_factory)
    response = post_status(client, {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "1"})
    assert response.status_code == 400
    with db_factory() as db:
        assert db.scalar(select(OutboundMessage.status).where(OutboundMessage.id == message_id)) == "sent"


def test_json_provider_still_reads_ordinary_json(client):
    body = json.dumps({"name": "Konveksi Solo", "phone": "081311112222"})
    response = client.post(
        "/api/v1/factories", data=body, content_type="application/json", headers=ADMIN_HEADERS
    )
    assert response.status_code == 201, response.json
