"""The one order message a buyer gets for a session: each order, its amount, and how to pay it.

Without online payment it goes out with the orders (`core.orders`) and states the amount due. With it,
the invoice job (`core.invoicing`) writes it once every order of the buyer has its invoice, so each order
line carries its payment link and deadline; an order whose invoice could not be made says the admin will
be in touch. Either way the idempotency key is `order_created:<session>:<buyer>`: one message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from core import notifications
from core.clock import format_wib
from core.models import Buyer, GroupSession, Order, OrderPayment, PaymentStatus, Product, Variant
from core.settings import Settings
from core.texts import render, rupiah


def _payment_note(language: str, payment: OrderPayment | None) -> str:
    if payment is None:
        return ""
    if payment.status == PaymentStatus.FAILED:
        return render(language, "order_line_pay_admin")
    if payment.invoice_url and payment.due_at and payment.status == PaymentStatus.PENDING:
        return render(
            language, "order_line_pay", due=format_wib(payment.due_at, language), link=payment.invoice_url
        )
    return ""


def tell_buyer(
    db: Session,
    settings: Settings,
    session: GroupSession,
    product: Product,
    buyer: Buyer,
    orders: Sequence[Order],
    payments: Mapping[int, OrderPayment] | None = None,
) -> int | None:
    """The buyer's order message (`ORDER_CREATED`), once per session and buyer; `payments` by order id."""
    language = buyer.language
    payments = payments or {}
    lines = "\n".join(
        render(
            language,
            "order_line",
            order=order.code,
            size=db.get(Variant, order.variant_id).size,  # type: ignore[union-attr]
            quantity=order.quantity,
            amount=rupiah(order.amount_due),
        )
        + _payment_note(language, payments.get(order.id))
        for order in orders
    )
    address = orders[0].delivery_address
    address_note = (
        render(language, "order_address_known", address=address)
        if address
        else render(language, "order_address_missing")
    )
    return notifications.notify(
        db,
        settings,
        notifications.ORDER_CREATED,
        key=f"order_created:{session.id}:{buyer.id}",
        to_phone=buyer.phone,
        language=language,
        session_id=session.id,
        code=session.code,
        product=product.name,
        lines=lines,
        total=rupiah(sum(order.amount_due for order in orders)),
        address=address_note,
    )
