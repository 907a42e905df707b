"""The Xendit adapter on the real `xendit-python` SDK, against the loopback fake Xendit."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from core.adapters import payments, xendit
from core.adapters.payments import (
    ExternalIdConflict,
    InvalidInvoicePayload,
    InvoiceLine,
    InvoiceNotFound,
    InvoiceRequest,
    PermanentPaymentError,
    TransientPaymentError,
)
from core.adapters.xendit import XenditInvoices
from core.texts import render
from tests.fakes import xendit_server

PHONE = "+6281234567890"


def invoices(fake: xendit_server.FakeXendit, read_timeout: float = 2.0) -> XenditInvoices:
    return XenditInvoices(fake.secret_key, api_base_url=fake.base_url, read_timeout=read_timeout)


def order_request(external_id: str = "laku-KAOS1-001-0a1b2c3d", **overrides: Any) -> InvoiceRequest:
    fields: dict[str, Any] = dict(
        external_id=external_id,
        amount=150_000,
        description=render(
            "id",
            "invoice_description",
            product="Kaos Polos Premium",
            size="M",
            quantity=2,
            code="KAOS1",
            order="KAOS1-001",
        ),
        buyer_phone=PHONE,
        buyer_name="Budi",
        duration_seconds=48 * 3600,
        lines=(InvoiceLine("Kaos Polos Premium M", 2, 75_000),),
        metadata={"order": "KAOS1-001", "session": "KAOS1"},
    )
    fields.update(overrides)
    return InvoiceRequest(**fields)


# --- pointing the real SDK at the fake -----------------------------------------------------------------


def test_the_sdk_calls_the_configured_base_url_with_the_secret_key(fake_xendit):
    client = invoices(fake_xendit)
    assert client.base_url == fake_xendit.base_url

    client.create_invoice(order_request())

    (call,) = fake_xendit.requests
    assert (call["method"], call["path"]) == ("POST", "/v2/invoices/")
    user, _, password = base64.b64decode(call["headers"]["authorization"][6:]).decode().partition(":")
    assert (user, password) == (fake_xendit.secret_key, "")
    assert call["headers"]["xendit-lib"] == "python"  # really the SDK's request
    assert call["response_status"] == 200


def test_without_a_base_url_the_sdk_goes_to_xendit():
    assert XenditInvoices("xnd_development_x").base_url == "https://api.xendit.co"
    with pytest.raises(ValueError):
        XenditInvoices("")


# --- create -----------------------------------------------------------------------------------------------


def test_create_request_carries_amount_currency_description_phone_duration_and_external_id(fake_xendit):
    created = invoices(fake_xendit).create_invoice(order_request())

    body = fake_xendit.creates[0]["json"]
    assert body["external_id"] == "laku-KAOS1-001-0a1b2c3d"
    assert body["amount"] == 150_000
    assert body["currency"] == "IDR"
    assert body["description"] == "Kaos Polos Premium, ukuran M ×2 (sesi KAOS1, pesanan KAOS1-001)"
    assert body["customer"] == {"mobile_number": PHONE, "given_names": "Budi"}
    assert body["invoice_duration"] == 48 * 3600
    assert body["items"] == [{"name": "Kaos Polos Premium M", "price": 75_000, "quantity": 2}]
    assert body["metadata"] == {"order": "KAOS1-001", "session": "KAOS1"}
    assert body["locale"] == "id"
    assert body["should_send_email"] is False

    assert created.status == "PENDING"
    assert created.amount == Decimal(150_000)
    assert created.currency == "IDR"
    assert created.external_id == "laku-KAOS1-001-0a1b2c3d"
    assert created.invoice_url == f"{fake_xendit.base_url}/web/{created.id}"
    assert created.expiry_date is not None and created.created is not None
    assert created.expiry_date - created.created == timedelta(hours=48)
    assert created.expiry_date.tzinfo is not None


def test_english_buyers_get_an_english_description_and_checkout_page():
    text = render(
        "en", "invoice_description", product="Plain Tee", size="XL", quantity=3, code="TEE2", order="TEE2-007"
    )
    assert text == "Plain Tee, size XL ×3 (session TEE2, order TEE2-007)"


def test_requests_that_xendit_would_refuse_fail_before_any_call():
    with pytest.raises(ValueError):
        order_request(amount=0)
    with pytest.raises(ValueError):
        order_request(amount=150_000.5)
    with pytest.raises(ValueError):
        order_request(duration_seconds=0)
    with pytest.raises(ValueError):
        order_request(lines=(InvoiceLine("Kaos M", 1, 75_000),))  # lines add up to 75 000, not 150 000


def test_external_ids_are_readable_and_never_repeat():
    first, second = payments.new_external_id("KAOS1-001"), payments.new_external_id("KAOS1-001")
    assert first.startswith("laku-KAOS1-001-") and second.startswith("laku-KAOS1-001-")
    assert first != second


# --- idempotency: one invoice per order ------------------------------------------------------------------


def test_ensuring_an_invoice_twice_creates_one(fake_xendit):
    client = invoices(fake_xendit)

    first = client.ensure_invoice(order_request())
    again = client.ensure_invoice(order_request())

    assert first.created and not again.created
    assert again.invoice.id == first.invoice.id
    assert again.invoice.invoice_url == first.invoice.invoice_url
    assert len(fake_xendit.creates) == 1
    assert len(fake_xendit.invoices) == 1
    lookups = fake_xendit.calls("GET", "/v2/invoices")
    assert [c["query"] for c in lookups] == [{"external_id": ["laku-KAOS1-001-0a1b2c3d"]}] * 2


def test_a_create_whose_answer_was_lost_is_found_by_the_retry(fake_xendit):
    client = invoices(fake_xendit, read_timeout=0.5)
    fake_xendit.script(200, "timeout")  # the look-up is answered; the create is done but never answered

    with pytest.raises(TransientPaymentError) as lost:
        client.ensure_invoice(order_request())
    assert lost.value.outcome_unknown
    assert len(fake_xendit.invoices) == 1  # Xendit did make it

    retried = client.ensure_invoice(order_request())

    assert not retried.created
    assert retried.invoice.id == next(iter(fake_xendit.invoices))
    assert len(fake_xendit.creates) == 1


def test_a_failed_look_up_creates_nothing(fake_xendit):
    fake_xendit.script(503)
    with pytest.raises(TransientPaymentError):
        invoices(fake_xendit).ensure_invoice(order_request())
    assert not fake_xendit.creates and not fake_xendit.invoices


def test_a_server_error_on_create_is_retried_into_one_invoice(fake_xendit):
    client = invoices(fake_xendit)
    fake_xendit.script(200, 500)  # look-up fine, create fails (nothing made)

    with pytest.raises(TransientPaymentError) as failed:
        client.ensure_invoice(order_request())
    assert failed.value.status == 500 and not failed.value.outcome_unknown

    assert client.ensure_invoice(order_request()).created
    assert len(fake_xendit.invoices) == 1


def test_an_existing_invoice_for_another_amount_is_a_conflict_not_a_link(fake_xendit):
    client = invoices(fake_xendit)
    client.create_invoice(order_request(amount=99_000, lines=()))

    with pytest.raises(ExternalIdConflict, match="for IDR 99000, not IDR 150000"):
        client.ensure_invoice(order_request())
    assert len(fake_xendit.creates) == 1


def test_a_paid_invoice_wins_over_a_duplicate_and_the_duplicate_is_reported(fake_xendit):
    client = invoices(fake_xendit)
    first = client.create_invoice(order_request())
    time.sleep(0.002)  # distinct creation stamps (milliseconds)
    second = client.create_invoice(order_request())
    fake_xendit.pay(first.id)

    ensured = client.ensure_invoice(order_request())

    assert ensured.invoice.id == first.id and ensured.invoice.paid
    assert [i.id for i in ensured.others] == [second.id]
    assert not ensured.created


def test_an_invoice_paid_short_is_still_the_orders_invoice(fake_xendit):
    client = invoices(fake_xendit)
    made = client.ensure_invoice(order_request()).invoice
    fake_xendit.pay(made.id, paid_amount=100_000)

    found = client.ensure_invoice(order_request())

    assert found.invoice.id == made.id and not found.created
    assert found.invoice.mismatch_with(150_000) == "paid amount 100000 is not the 150000 due"


def test_a_duplicate_can_be_expired(fake_xendit):
    client = invoices(fake_xendit)
    made = client.create_invoice(order_request())

    expired = client.expire_invoice(made.id)

    assert expired.status == "EXPIRED"
    assert fake_xendit.calls("POST", "/invoices/")[0]["path"] == f"/invoices/{made.id}/expire!"


# --- errors: transient or permanent ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 429, 401, 403])
def test_server_errors_rate_limits_and_key_problems_are_transient(fake_xendit, status):
    fake_xendit.script(status)
    with pytest.raises(TransientPaymentError) as error:
        invoices(fake_xendit).create_invoice(order_request())
    assert error.value.status == status
    assert error.value.error_code == xendit_server._ERROR_CODES[status][0]
    assert not fake_xendit.invoices


def test_a_validation_error_is_permanent(fake_xendit):
    fake_xendit.script((400, "API_VALIDATION_ERROR", '"customer.mobile_number" must be E.164'))
    with pytest.raises(PermanentPaymentError) as error:
        invoices(fake_xendit).create_invoice(order_request())
    assert not isinstance(error.value, TransientPaymentError)
    assert error.value.status == 400 and error.value.error_code == "API_VALIDATION_ERROR"
    assert "mobile_number" in str(error.value)


def test_a_wrong_secret_key_is_transient_and_creates_nothing(fake_xendit):
    client = XenditInvoices("xnd_development_wrong", api_base_url=fake_xendit.base_url)
    with pytest.raises(TransientPaymentError) as error:
        client.ensure_invoice(order_request())
    assert error.value.status == 401 and error.value.error_code == "INVALID_API_KEY"
    assert not fake_xendit.creates


def test_a_timeout_is_transient_with_an_unknown_outcome(fake_xendit):
    fake_xendit.script("timeout")
    started = time.monotonic()
    with pytest.raises(TransientPaymentError) as error:
        invoices(fake_xendit, read_timeout=0.3).create_invoice(order_request())
    assert time.monotonic() - started < 5
    assert error.value.outcome_unknown


def test_a_dropped_connection_is_transient(fake_xendit):
    fake_xendit.script("drop")
    with pytest.raises(TransientPaymentError) as error:
        invoices(fake_xendit).get_invoice("whatever")
    assert not error.value.outcome_unknown  # a read changes nothing


def test_a_refused_connection_is_transient_and_certainly_not_done(fake_xendit):
    client = invoices(fake_xendit)
    fake_xendit.stop()
    with pytest.raises(TransientPaymentError) as error:
        client.create_invoice(order_request())
    assert not error.value.outcome_unknown


def test_an_unreadable_answer_never_turns_into_a_second_invoice(fake_xendit):
    client = invoices(fake_xendit)
    fake_xendit.script(200, xendit_server.Reply(502, html="<html><body>Bad Gateway</body></html>"))
    with pytest.raises(TransientPaymentError):
        client.ensure_invoice(order_request())
    assert client.ensure_invoice(order_request()).created
    assert len(fake_xendit.invoices) == 1


def test_classify_maps_statuses():
    assert isinstance(xendit.classify(None, None, "network"), TransientPaymentError)
    assert isinstance(xendit.classify(0, None, "ssl"), TransientPaymentError)
    assert isinstance(xendit.classify(504, None, "gateway"), TransientPaymentError)
    assert isinstance(xendit.classify(404, "INVOICE_NOT_FOUND_ERROR", "gone"), InvoiceNotFound)
    assert type(xendit.classify(422, None, "no")) is PermanentPaymentError


# --- get (reconciliation) --------------------------------------------------------------------------------


def test_get_invoice_reports_a_payment_made_while_the_callback_was_lost(fake_xendit):
    client = invoices(fake_xendit)
    made = client.create_invoice(order_request())
    fake_xendit.pay(made.id)  # the callback is built but never posted

    now = client.get_invoice(made.id)

    assert fake_xendit.requests[-1]["path"] == f"/v2/invoices/{made.id}"
    assert now.status == "PAID" and now.paid
    assert now.paid_amount == Decimal(150_000)
    assert now.paid_at is not None and now.payment_method == "BANK_TRANSFER"
    assert now.mismatch_with(150_000) is None
    assert now.event_key == f"xendit:invoice:{made.id}:PAID"


def test_get_invoice_reports_expiry(fake_xendit):
    client = invoices(fake_xendit)
    made = client.create_invoice(order_request())
    fake_xendit.expire(made.id)
    assert client.get_invoice(made.id).status == "EXPIRED"


def test_an_unknown_invoice_is_not_found(fake_xendit):
    with pytest.raises(InvoiceNotFound) as error:
        invoices(fake_xendit).get_invoice("000000000000000000000000")
    assert error.value.error_code == "INVOICE_NOT_FOUND_ERROR"


def test_fields_xendit_leaves_out_or_adds_do_not_break_reading(fake_xendit):
    client = invoices(fake_xendit)
    made = client.create_invoice(order_request())
    stored = fake_xendit.invoices[made.id]
    del stored["available_paylaters"], stored["merchant_profile_picture_url"]  # the SDK model needs these
    stored["some_new_field"] = {"nested": [1, 2]}

    assert client.get_invoice(made.id).id == made.id


# --- callbacks -------------------------------------------------------------------------------------------


def test_a_paid_callback_parses_into_the_same_event_as_reconciliation(fake_xendit):
    client = invoices(fake_xendit)
    made = client.create_invoice(order_request())
    callback = fake_xendit.pay(made.id)

    event = xendit.parse_callback(callback.body)

    assert event.id == made.id and event.external_id == made.external_id
    assert event.status == "PAID" and event.currency == "IDR"
    assert event.paid_amount == Decimal(150_000)
    assert event.paid_at is not None and event.paid_at.tzinfo is not None
    assert event.payment_channel == "BCA" and event.payment_id
    assert event.event_key == client.get_invoice(made.id).event_key
    assert xendit.callback_token_matches(callback.headers["x-callback-token"], fake_xendit.callback_token)


def test_a_mismatching_payment_is_named(fake_xendit):
    made = invoices(fake_xendit).create_invoice(order_request())
    short = xendit.parse_callback(fake_xendit.pay(made.id, paid_amount=149_000).body)
    assert short.mismatch_with(150_000) == "paid amount 149000 is not the 150000 due"

    dollars = xendit.parse_invoice({**short.raw, "paid_amount": 150_000, "currency": "USD"})
    assert dollars.mismatch_with(150_000) == "currency USD is not IDR"


def test_an_expired_callback_has_its_own_event_key(fake_xendit):
    made = invoices(fake_xendit).create_invoice(order_request())
    event = xendit.parse_callback(fake_xendit.expire(made.id).body)
    assert event.status == "EXPIRED" and not event.paid
    assert event.event_key == f"xendit:invoice:{made.id}:EXPIRED"
    assert event.mismatch_with(150_000) is None


def test_settled_counts_as_the_same_paid_event():
    base = {"id": "inv1", "external_id": "laku-x", "amount": 1000, "currency": "IDR", "paid_amount": 1000}
    paid = xendit.parse_invoice({**base, "status": "PAID"})
    settled = xendit.parse_invoice({**base, "status": "SETTLED"})
    assert settled.paid and settled.event_key == paid.event_key


def test_the_callback_token_is_compared_exactly():
    assert xendit.callback_token_matches("secret-token", "secret-token")
    assert not xendit.callback_token_matches("secret-tokeN", "secret-token")
    assert not xendit.callback_token_matches("", "secret-token")
    assert not xendit.callback_token_matches(None, "secret-token")
    assert not xendit.callback_token_matches("anything", None)  # no token configured: nothing passes
    assert not xendit.callback_token_matches("", "")


def test_a_callback_without_the_token_header_can_be_built(fake_xendit):
    made = invoices(fake_xendit).create_invoice(order_request())
    assert "x-callback-token" not in fake_xendit.pay(made.id, token="").headers
    assert fake_xendit.expire(made.id, token="wrong").headers["x-callback-token"] == "wrong"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"external_id": "x", "status": "PAID", "amount": 1}).encode(),  # no id
        json.dumps({"id": "i", "external_id": "x", "status": "PAID", "amount": "lots"}).encode(),
        json.dumps({"id": "i", "external_id": "x", "status": "PAID", "amount": True}).encode(),
        json.dumps({"id": "i", "external_id": "x", "status": "PAID"}).encode(),  # no amount
    ],
)
def test_malformed_callbacks_are_refused(body):
    with pytest.raises(InvalidInvoicePayload):
        xendit.parse_callback(body)


def test_callbacks_reach_a_running_server(fake_xendit):
    """`post_callback` sends the body and token over HTTP, as Xendit does (here to the fake itself, which
    records it and answers 401 as to any call without an API key: any URL will do for the webhook tests)."""
    made = invoices(fake_xendit).create_invoice(order_request())
    response = fake_xendit.post_callback(
        f"{fake_xendit.base_url}/webhooks/xendit/invoice", fake_xendit.pay(made.id)
    )
    assert response.status_code == 401
    received = fake_xendit.requests[-1]
    assert received["path"] == "/webhooks/xendit/invoice"
    assert received["headers"]["x-callback-token"] == fake_xendit.callback_token
    assert received["json"]["status"] == "PAID"


def test_timestamps_become_aware_utc():
    info = xendit.parse_invoice(
        {
            "id": "i",
            "external_id": "x",
            "status": "pending",
            "amount": 5,
            "expiry_date": "2026-01-02T03:04:05.678Z",
            "created": "not a date",
        }
    )
    assert info.status == "PENDING"
    assert info.expiry_date == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert info.created is None
