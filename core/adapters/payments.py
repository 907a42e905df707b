"""The payment port. Payment is not collected online yet (see docs/design.md, "Orders and payment"): a join is a
commitment, the order
states the amount due, and a failed session owes nothing. A payment-link provider (Xendit, Midtrans...)
plugs in here later: `payment_links_for` returns it, and order messages carry its link.
"""

from __future__ import annotations

from typing import Protocol

from core.settings import Settings


class PaymentLinks(Protocol):
    def link_for(self, *, reference: str, buyer_phone: str, amount: int) -> str | None:
        """A URL where the buyer pays `amount` whole rupiah for `reference`, or None (pay offline)."""
        ...


class NoPaymentLinks:
    """Today's behaviour: no online payment; the order message states the amount due."""

    def link_for(self, *, reference: str, buyer_phone: str, amount: int) -> str | None:
        return None


def payment_links_for(settings: Settings) -> PaymentLinks:
    return NoPaymentLinks()
