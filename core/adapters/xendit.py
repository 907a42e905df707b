"""Payment links from Xendit invoices, through Xendit's official Python SDK (`xendit-python`): the
payment port (`core.adapters.payments`) for Xendit.

Pointing: the SDK calls `Configuration.host + path`; `Configuration(host=XENDIT_API_BASE_URL)` aims it
at another host (tests: a loopback fake). Each adapter owns its Configuration and ApiClient; the SDK's
global `set_api_key` default is never used.

Idempotency: Xendit's invoice API takes no idempotency key (the SDK's `create_invoice` has no such
parameter, unlike its payout/refund/customer/payment-request calls), so `ensure_invoice` looks the
order's stable, unique `external_id` up and creates only when Xendit has none. Answers are read as JSON
(`_preload_content=False`, documented on every SDK call) and parsed leniently, like callbacks: the SDK's
`Invoice` model requires seventeen fields and raises TypeError for a missing one after the invoice exists.

Errors: `XenditSdkException` (`.status` "429", "0" for SSL; `.errorCode`) for non-2xx answers; urllib3's
own `HTTPError`s for timeouts, refused and dropped connections. `classify` sorts them into transient
(retry with backoff) and permanent (give up, alert the admin).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import urllib3
from xendit import ApiClient, Configuration, XenditSdkException
from xendit.apis import InvoiceApi
from xendit.exceptions import OpenApiException
from xendit.invoice.model.create_invoice_request import CreateInvoiceRequest
from xendit.invoice.model.customer_object import CustomerObject
from xendit.invoice.model.invoice_item import InvoiceItem

from core.adapters.payments import (
    CURRENCY,
    EnsuredInvoice,
    ExternalIdConflict,
    InvalidInvoicePayload,
    InvoiceInfo,
    InvoiceNotFound,
    InvoiceRequest,
    PaymentProviderError,
    PermanentPaymentError,
    TransientPaymentError,
)

DEFAULT_API_BASE_URL = "https://api.xendit.co"
CALLBACK_TOKEN_HEADER = "x-callback-token"

# HTTP statuses worth another try. 401/403 are here on purpose (as for Twilio): a wrong or under-permitted
# key is an account problem an operator fixes, not a property of the order, so the job keeps retrying
# with backoff and alerts when it runs out of attempts.
_TRANSIENT_HTTP = frozenset({401, 403, 408, 409, 425, 429})


def classify(status: int | None, error_code: str | None, message: str) -> PaymentProviderError:
    """Xendit's answer -> transient (retry with backoff) or permanent (fail, alert the admin)."""
    text = f"xendit {status or '-'} {error_code or '-'}: {message}"
    if status is None or status == 0 or status >= 500 or status in _TRANSIENT_HTTP:
        return TransientPaymentError(text, status=status, error_code=error_code)
    if status == 404:
        return InvoiceNotFound(text, status=status, error_code=error_code)
    return PermanentPaymentError(text, status=status, error_code=error_code)


# --- reading Xendit's answers and callbacks -------------------------------------------------------------


def _money(value: Any, name: str, required: bool = False) -> Decimal | None:
    if value is None and not required:
        return None
    try:
        amount = Decimal(str(value)) if isinstance(value, int | float | str) else None
    except InvalidOperation:
        amount = None
    if amount is None or isinstance(value, bool) or not amount.is_finite():
        raise InvalidInvoicePayload(f"{name} is not an amount: {value!r}")
    return amount


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _text(payload: Mapping[str, Any], name: str, required: bool = False) -> str | None:
    value = payload.get(name)
    if isinstance(value, str) and value:
        return value
    if required:
        raise InvalidInvoicePayload(f"{name} is missing or not text")
    return None


def parse_invoice(payload: Mapping[str, Any]) -> InvoiceInfo:
    """An invoice body from the API or a callback. Needs id, external_id, status and amount; whatever else
    Xendit adds or leaves out is no reason to drop a payment."""
    if not isinstance(payload, Mapping):
        raise InvalidInvoicePayload("an invoice is a JSON object")
    status = _text(payload, "status", required=True)
    currency = _text(payload, "currency")
    return InvoiceInfo(
        id=_text(payload, "id", required=True) or "",
        external_id=_text(payload, "external_id", required=True) or "",
        status=(status or "").upper(),
        amount=_money(payload.get("amount"), "amount", required=True) or Decimal(0),
        currency=currency.upper() if currency else None,
        invoice_url=_text(payload, "invoice_url"),
        expiry_date=_moment(payload.get("expiry_date")),
        created=_moment(payload.get("created")),
        updated=_moment(payload.get("updated")),
        paid_amount=_money(payload.get("paid_amount"), "paid_amount"),
        paid_at=_moment(payload.get("paid_at")),
        payment_method=_text(payload, "payment_method"),
        payment_channel=_text(payload, "payment_channel"),
        payment_id=_text(payload, "payment_id"),
        raw=dict(payload),
        provider="xendit",
    )


def parse_callback(body: bytes | str) -> InvoiceInfo:
    """An invoice callback's body (`POST /webhooks/xendit/invoice`). Check the token first."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise InvalidInvoicePayload("the callback body is not JSON") from None
    return parse_invoice(payload)


def callback_token_matches(received: str | None, expected: str | None) -> bool:
    """The `x-callback-token` header against `XENDIT_CALLBACK_TOKEN`, in constant time. No expected token
    configured, or none received, never matches."""
    if not expected or not received:
        return False
    return hmac.compare_digest(received.encode(), expected.encode())


# --- the client ----------------------------------------------------------------------------------------


class XenditInvoices:
    """Invoices over the SDK's `InvoiceApi`. One instance per process or job is fine (urllib3 pools)."""

    def __init__(
        self,
        secret_key: str,
        *,
        api_base_url: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
    ):
        if not secret_key:
            raise ValueError("XENDIT_SECRET_KEY is needed for Xendit invoices")
        configuration = Configuration(
            host=(api_base_url or DEFAULT_API_BASE_URL).rstrip("/"), api_key=secret_key
        )
        # No retries inside urllib3: the job retries with backoff, and only after looking the order up.
        configuration.retries = urllib3.Retry(total=0, redirect=False, raise_on_status=False)
        self.base_url = configuration.host
        self._api = InvoiceApi(ApiClient(configuration))
        self._timeout = (connect_timeout, read_timeout)

    def create_invoice(self, request: InvoiceRequest) -> InvoiceInfo:
        """One create call, no look-up: use `ensure_invoice` for orders."""
        body = _create_request(request)
        return self._call(lambda **kw: self._api.create_invoice(body, **kw), changes=True)

    def find_invoices(self, external_id: str) -> list[InvoiceInfo]:
        """Every invoice Xendit holds under `external_id`, as Xendit lists them (newest first)."""
        found = self._call(lambda **kw: self._api.get_invoices(external_id=external_id, **kw), many=True)
        return [i for i in found if i.external_id == external_id]

    def get_invoice(self, invoice_id: str) -> InvoiceInfo:
        """The invoice now (reconciliation). Unknown id -> `InvoiceNotFound`."""
        return self._call(lambda **kw: self._api.get_invoice_by_id(invoice_id, **kw))

    def expire_invoice(self, invoice_id: str) -> InvoiceInfo:
        """Close an unpaid invoice now (a duplicate, or an order cancelled before payment)."""
        return self._call(lambda **kw: self._api.expire_invoice(invoice_id, **kw), changes=True)

    def ensure_invoice(self, request: InvoiceRequest) -> EnsuredInvoice:
        """The order's invoice, created only if Xendit has none under its external_id. Safe to repeat:
        a retried job finds the invoice an earlier attempt made, even one whose answer was lost."""
        existing = self.find_invoices(request.external_id)
        if not existing:
            return EnsuredInvoice(self.create_invoice(request), created=True)
        chosen = _preferred(existing)
        if chosen.amount != Decimal(request.amount) or chosen.currency != CURRENCY:
            raise ExternalIdConflict(
                f"xendit already holds invoice {chosen.id} under {request.external_id} for "
                f"{chosen.currency or '-'} {chosen.amount}, not {CURRENCY} {request.amount}"
            )
        return EnsuredInvoice(chosen, created=False, others=tuple(i for i in existing if i is not chosen))

    def _call(self, operation: Callable[..., Any], *, many: bool = False, changes: bool = False) -> Any:
        """Run one SDK call and read its answer. `changes`: the call changes something at Xendit, so an
        answer that never came leaves the outcome unknown."""
        try:
            response = operation(_preload_content=False, _request_timeout=self._timeout)
            try:
                data = response.data
            finally:
                response.release_conn()
        except XenditSdkException as error:
            status = int(error.status) if str(error.status).isdigit() else None
            error_code = str(error.errorCode) if error.errorCode else None
            raise classify(status, error_code, str(error.errorMessage or "")) from error
        except urllib3.exceptions.HTTPError as error:
            raise TransientPaymentError(
                f"xendit network: {type(error).__name__}: {error}",
                outcome_unknown=changes and not _never_sent(error),
            ) from error
        except OpenApiException as error:  # the SDK refused our own arguments: a bug here, not at Xendit
            raise PermanentPaymentError(f"xendit sdk: {error}") from error
        except ValueError as error:  # an error answer that is not JSON (a gateway's HTML page...)
            raise TransientPaymentError(f"xendit error answer unreadable: {error}") from error
        try:
            payload = json.loads(data)
            return [parse_invoice(i) for i in payload] if many else parse_invoice(payload)
        except (ValueError, TypeError) as error:
            raise TransientPaymentError(
                f"xendit answer unreadable: {error}", outcome_unknown=changes
            ) from error


def _never_sent(error: urllib3.exceptions.HTTPError) -> bool:
    """A connection that was never made (refused, connect timeout): Xendit cannot have done anything."""
    connect_failed = urllib3.exceptions.ConnectTimeoutError  # NewConnectionError (refused) is one too
    return isinstance(error, connect_failed) or isinstance(getattr(error, "reason", None), connect_failed)


def _create_request(request: InvoiceRequest) -> Any:
    customer: dict[str, Any] = {"mobile_number": request.buyer_phone}
    if request.buyer_name:
        customer["given_names"] = request.buyer_name
    fields: dict[str, Any] = {
        "description": request.description,
        "invoice_duration": float(request.duration_seconds),  # the SDK types every number as float
        "currency": CURRENCY,
        "customer": CustomerObject(**customer),
        "should_send_email": False,
        "locale": request.locale,
    }
    if request.lines:
        fields["items"] = [
            InvoiceItem(name=line.name, price=float(line.unit_price), quantity=float(line.quantity))
            for line in request.lines
        ]
    if request.metadata:
        fields["metadata"] = dict(request.metadata)
    try:
        return CreateInvoiceRequest(external_id=request.external_id, amount=float(request.amount), **fields)
    except OpenApiException as error:
        raise PermanentPaymentError(f"xendit sdk refused the invoice request: {error}") from error


def _preferred(invoices: Sequence[InvoiceInfo]) -> InvoiceInfo:
    """Of several invoices under one external_id: a paid one (money arrived), else the newest."""
    paid = [i for i in invoices if i.paid]
    pool = paid or list(invoices)
    return max(pool, key=lambda i: i.created or datetime.min.replace(tzinfo=UTC))
