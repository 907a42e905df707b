"""The payment port: what core asks of a payment provider, and the words both sides use.

An order gets one invoice (a payment link with a deadline). Core builds an `InvoiceRequest`, asks the
provider to `ensure_invoice` it (create it unless the provider already holds one under the order's
`external_id`), reads invoices back as `InvoiceInfo` (from the API, a callback or reconciliation), and
sorts failures into `TransientPaymentError` (try again later) and `PermanentPaymentError` (give up, tell
the admin). `core.adapters.payment_provider_for` picks the configured provider: Xendit
(`core.adapters.xendit`) with `XENDIT_SECRET_KEY`, none otherwise (the order states the amount due).
See docs/design.md, "Orders and payment".
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

XENDIT = "xendit"  # the only provider so far
CURRENCY = "IDR"
MAX_INVOICE_DURATION_SECONDS = 31_536_000  # Xendit's ceiling: one year

PENDING, PAID, SETTLED, EXPIRED = "PENDING", "PAID", "SETTLED", "EXPIRED"
PAID_STATUSES = frozenset({PAID, SETTLED})


class PaymentProviderError(Exception):
    def __init__(self, message: str, *, status: int | None = None, error_code: str | None = None):
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class TransientPaymentError(PaymentProviderError):
    """Try again later. `outcome_unknown`: the request may have been carried out (timeout, lost answer)."""

    def __init__(self, message: str, *, outcome_unknown: bool = False, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.outcome_unknown = outcome_unknown


class PermanentPaymentError(PaymentProviderError):
    """Trying again cannot help: give up and tell the admin."""


class InvoiceNotFound(PermanentPaymentError):
    """The provider knows no invoice with this id."""


class ExternalIdConflict(PermanentPaymentError):
    """The provider holds an invoice under this order's external_id for another amount or currency."""


class InvalidInvoicePayload(ValueError):
    """An invoice body (API answer or callback) without the fields a payment decision needs."""


# --- what goes to the provider -------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceLine:
    """One size of the order as a line on the checkout page."""

    name: str
    quantity: int
    unit_price: int


@dataclass(frozen=True)
class InvoiceRequest:
    """One order's invoice. `amount` in whole rupiah; `buyer_phone` in E.164."""

    external_id: str
    amount: int
    description: str
    buyer_phone: str
    duration_seconds: int
    buyer_name: str | None = None
    locale: str = "id"
    lines: tuple[InvoiceLine, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.external_id:
            raise ValueError("an invoice needs an external_id")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 1:
            raise ValueError(f"amount must be a whole number of rupiah >= 1, got {self.amount!r}")
        if not 1 <= self.duration_seconds <= MAX_INVOICE_DURATION_SECONDS:
            raise ValueError(f"invoice duration must be 1..{MAX_INVOICE_DURATION_SECONDS} s")
        if self.lines and sum(line.quantity * line.unit_price for line in self.lines) != self.amount:
            raise ValueError("the invoice lines do not add up to the amount")


def new_external_id(order_code: str) -> str:
    """An order's reference at the provider: readable, and unique beyond this database (a test database
    that starts again at order 1 must never find last week's invoice). Made once, stored with the order."""
    return f"laku-{order_code}-{secrets.token_hex(4)}"


# --- what comes back -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceInfo:
    """An invoice as the provider reports it, from an API answer or a callback. Money is exact (Decimal)."""

    id: str
    external_id: str
    status: str
    amount: Decimal
    currency: str | None
    invoice_url: str | None = None
    expiry_date: datetime | None = None
    created: datetime | None = None
    updated: datetime | None = None
    paid_amount: Decimal | None = None
    paid_at: datetime | None = None
    payment_method: str | None = None
    payment_channel: str | None = None
    payment_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    provider: str = XENDIT

    @property
    def paid(self) -> bool:
        return self.status in PAID_STATUSES

    @property
    def expired(self) -> bool:
        return self.status == EXPIRED

    @property
    def event_key(self) -> str:
        """One key per state an invoice reaches (an invoice is paid at most once and expires at most
        once): a callback, its redeliveries and the same state found by reconciliation share it."""
        state = PAID if self.paid else self.status
        return f"{self.provider}:invoice:{self.id}:{state}"

    def mismatch_with(self, amount_due: int, currency: str = CURRENCY) -> str | None:
        """Why this invoice does not settle `amount_due` in `currency`, or None when it does (or would,
        once paid). A paid invoice is judged by what was paid."""
        if (self.currency or "").upper() != currency:
            return f"currency {self.currency or '-'} is not {currency}"
        charged = self.paid_amount if self.paid and self.paid_amount is not None else self.amount
        if charged != Decimal(amount_due):
            what = "paid amount" if self.paid and self.paid_amount is not None else "amount"
            return f"{what} {charged} is not the {amount_due} due"
        return None


@dataclass(frozen=True)
class EnsuredInvoice:
    """The order's invoice; `created` when this call made it; `others`: further invoices the provider
    holds under the same external_id (a duplicate made despite the look-up, for the admin to resolve)."""

    invoice: InvoiceInfo
    created: bool
    others: tuple[InvoiceInfo, ...] = ()


class PaymentProvider(Protocol):
    def ensure_invoice(self, request: InvoiceRequest) -> EnsuredInvoice:
        """The order's invoice, created only if the provider has none under its external_id."""
        ...

    def get_invoice(self, invoice_id: str) -> InvoiceInfo:
        """The invoice now (reconciliation). Unknown id -> `InvoiceNotFound`."""
        ...

    def expire_invoice(self, invoice_id: str) -> InvoiceInfo:
        """Close an unpaid invoice now, so nobody can pay it any more."""
        ...
