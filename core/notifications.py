"""Notifications: one outbox message per event and recipient, as free text or as an approved template.

WhatsApp allows free text only within 24 hours of the user's last message; later, business-initiated
messages need approved templates. So every notice type has an optional Content SID
(`TWILIO_CONTENT_SID_<NAME>`, or `..._<NAME>_<LANG>` for one language), and `notify` is the one way a
notification is written.

The registry below declares each notice once: its name (the Content SID setting and the outbox kind),
its text in the catalogue, and its template variables in order. Call sites pass named fields only; the
template gets `{{1}}, {{2}}, ...` from those fields in the declared order, so the order is written down
in one place. Two notices may share a name (and so a template) with different texts, e.g. a waiting
request admitted by a join or by settlement at close.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core import outbox
from core.models import GroupSession, ParticipantStatus, Product, PurchaseOrder
from core.session_rows import buyers_of
from core.settings import Settings
from core.texts import render


@dataclass(frozen=True)
class Notice:
    name: str  # `TWILIO_CONTENT_SID_<name>`; lower case, the outbox kind
    text: str  # key in the text catalogue (core.texts)
    variables: tuple[str, ...]  # named fields, in template order: {{1}}, {{2}}, ...

    @property
    def kind(self) -> str:
        return self.name.lower()


_ADMITTED = ("code", "product", "size", "quantity", "total")
_FACTORY_PO = ("product", "po", "lots", "lines", "total", "confirm", "decline", "ship")

# --- buyers ---
MOQ_REACHED = Notice("MOQ_REACHED", "notify_moq_reached", ("code", "product"))
WAITLIST_ADMITTED = Notice("WAITLIST_ADMITTED", "notify_admitted", _ADMITTED)
ADMITTED_AT_CLOSE = Notice("WAITLIST_ADMITTED", "notify_settled_admitted", _ADMITTED)  # by settlement
NOT_ADMITTED = Notice("NOT_ADMITTED", "notify_not_admitted", ("code", "product", "size", "quantity"))
SESSION_FAILED = Notice("SESSION_FAILED", "notify_session_failed", ("code", "product", "units", "moq"))
WAITING_FOR_STOCK = Notice("WAITING_FOR_STOCK", "notify_waiting_for_stock", ("code", "product"))
ORDER_CREATED = Notice(
    "ORDER_CREATED", "notify_orders_created", ("code", "product", "lines", "total", "address")
)
SESSION_CANCELLED = Notice("SESSION_CANCELLED", "notify_session_cancelled", ("code", "product"))
FACTORY_CONFIRMED = Notice("FACTORY_CONFIRMED", "notify_factory_confirmed", ("code", "product", "eta"))
FACTORY_DECLINED = Notice("FACTORY_DECLINED", "notify_factory_declined", ("code", "product"))
STOCK_SHIPPED = Notice("STOCK_SHIPPED", "notify_stock_shipped", ("code", "product", "tracking"))
REMINDER = Notice("REMINDER", "notify_reminder", ("code", "product", "ends", "news", "link"))
# --- the factory (quick-reply buttons use `confirm`/`decline`/`ship`, e.g. "SIAP PO-GB1-1", as payloads) ---
FACTORY_PO = Notice("FACTORY_PO", "factory_po", _FACTORY_PO)
FACTORY_PO_UNITS = Notice("FACTORY_PO", "factory_po_units", _FACTORY_PO)  # a product without grosir lots
FACTORY_REMINDER = Notice(
    "FACTORY_REMINDER", "factory_po_reminder", ("po", "product", "total", "confirm", "decline")
)
FACTORY_PO_CANCELLED = Notice("FACTORY_PO_CANCELLED", "factory_po_cancelled", ("po", "product"))
# --- buyers: online payment (docs/design.md, "Orders and payment") ---
PAYMENT_RECEIVED = Notice(
    "PAYMENT_RECEIVED",
    "notify_payment_received",
    ("code", "product", "order", "size", "quantity", "amount", "paid_at", "channel", "reference"),
)
PAYMENT_EXPIRED = Notice(
    "PAYMENT_EXPIRED", "notify_payment_expired", ("code", "product", "order", "size", "quantity")
)
PAYMENT_REVIEW = Notice("PAYMENT_REVIEW", "notify_payment_review", ("code", "product", "order"))
# --- a buyer's guided conversation: WhatsApp list pickers and quick-reply buttons, sent instead of the TwiML
# reply (interactive messages cannot go in one). Each option's id is command text, so a tap is a command. The
# body kept in the outbox is the numbered text the reply would have carried. A template with exactly N items
# may be set as `TWILIO_CONTENT_SID_<NAME>_<N>` (tried first); unused slots are not sent. ---
_LIST = ("prompt", "button", *(f"{part}{i}" for i in range(1, 11) for part in ("item", "id", "description")))
_BUTTONS = ("prompt", *(f"{part}{i}" for i in range(1, 4) for part in ("item", "id")))
CHOOSE_SESSION = Notice("CHOOSE_SESSION", "interactive", _LIST)
CHOOSE_SIZE = Notice("CHOOSE_SIZE", "interactive", _LIST)
CHOOSE_QUANTITY = Notice("CHOOSE_QUANTITY", "interactive", _BUTTONS)
CONFIRM = Notice("CONFIRM", "interactive", _BUTTONS)
# --- the admin ---
PO_DECLINED_ALERT = Notice("ADMIN_ALERT", "admin_po_declined", ("po", "code", "product", "factory", "reason"))
SEND_FAILED_ALERT = Notice("ADMIN_ALERT", "admin_send_failed", ("message", "kind", "to", "reason"))
PAYMENT_ALERT = Notice("ADMIN_ALERT", "admin_payment_alert", ("order", "code", "buyer", "problem"))
PAYMENT_UNKNOWN_ALERT = Notice("ADMIN_ALERT", "admin_payment_unknown", ("invoice", "external_id", "status"))

REGISTRY: tuple[Notice, ...] = (
    MOQ_REACHED,
    WAITLIST_ADMITTED,
    ADMITTED_AT_CLOSE,
    NOT_ADMITTED,
    SESSION_FAILED,
    WAITING_FOR_STOCK,
    ORDER_CREATED,
    SESSION_CANCELLED,
    FACTORY_CONFIRMED,
    FACTORY_DECLINED,
    STOCK_SHIPPED,
    REMINDER,
    FACTORY_PO,
    FACTORY_PO_UNITS,
    FACTORY_REMINDER,
    FACTORY_PO_CANCELLED,
    PAYMENT_RECEIVED,
    PAYMENT_EXPIRED,
    PAYMENT_REVIEW,
    CHOOSE_SESSION,
    CHOOSE_SIZE,
    CHOOSE_QUANTITY,
    CONFIRM,
    PO_DECLINED_ALERT,
    SEND_FAILED_ALERT,
    PAYMENT_ALERT,
    PAYMENT_UNKNOWN_ALERT,
)


def notify(
    db: Session,
    settings: Settings,
    notice: Notice,
    *,
    key: str,
    to_phone: str,
    language: str,
    session_id: int | None = None,
    purchase_order_id: int | None = None,
    options: int | None = None,
    **fields: object,
) -> int | None:
    """One outbox message, once per `key` (returns its id, or None when the key was used before).

    The body is always rendered (logs, console, free-text fallback); with a Content SID configured for the
    notice's name the message is sent as that template, its variables taken from `fields` (a field given
    as None is left out: an unused item of a list). `options`: how many items a list or buttons hold."""
    content_sid = template_for(settings, notice, language, options)
    variables = (
        {
            str(i): _template_value(fields[name])
            for i, name in enumerate(notice.variables, 1)
            if fields[name] is not None
        }
        if content_sid
        else None
    )
    return outbox.enqueue(
        db,
        key=key,
        to_phone=to_phone,
        kind=notice.kind,
        body=render(language, notice.text, **fields),
        content_sid=content_sid,
        content_variables=variables,
        session_id=session_id,
        purchase_order_id=purchase_order_id,
    )


def template_for(settings: Settings, notice: Notice, language: str, options: int | None = None) -> str | None:
    """The Content SID a notice is sent with, or None (free text): `..._<NAME>_<options>` first."""
    if options:
        specific = settings.content_sid_for(f"{notice.name}_{options}", language)
        if specific:
            return specific
    return settings.content_sid_for(notice.name, language)


def notify_buyers(
    db: Session,
    settings: Settings,
    session: GroupSession,
    product: Product,
    notice: Notice,
    *,
    key: str,
    statuses: tuple[str, ...] = (ParticipantStatus.CONFIRMED,),
    purchase_order_id: int | None = None,
    except_buyer_id: int | None = None,
    **fields: object | Callable[[str], object],
) -> int:
    """The same news to every buyer with a join in `statuses`, once per buyer (`<key>:<buyer id>`).

    `code` and `product` come from the session; a field given as a function gets the buyer's language and
    returns the value for that buyer. Returns how many messages were added."""
    sent = 0
    for buyer in buyers_of(db, session.id, statuses):
        if buyer.id == except_buyer_id:
            continue
        mine = {name: value(buyer.language) if callable(value) else value for name, value in fields.items()}
        message_id = notify(
            db,
            settings,
            notice,
            key=f"{key}:{buyer.id}",
            to_phone=buyer.phone,
            language=buyer.language,
            session_id=session.id,
            purchase_order_id=purchase_order_id,
            options=None,
            code=session.code,
            product=product.name,
            **mine,
        )
        sent += message_id is not None
    return sent


def notify_factory(
    db: Session, settings: Settings, notice: Notice, po: PurchaseOrder, product: Product, **fields: object
) -> int | None:
    """News about a purchase order to its factory (in Bahasa Indonesia), once per notice and PO
    (`<kind>:<po id>`); `po` and `product` are named fields for the text."""
    return notify(
        db,
        settings,
        notice,
        key=f"{notice.kind}:{po.id}",
        to_phone=product.factory.phone,
        language="id",
        session_id=po.session_id,
        purchase_order_id=po.id,
        options=None,
        po=po.code,
        product=product.name,
        **fields,
    )


def _template_value(value: object) -> str:
    """WhatsApp refuses template variables with line breaks: list lines become `S: 4 pcs, M: 10 pcs`."""
    parts = (" ".join(line.strip().lstrip("•").split()) for line in str(value).splitlines())
    return ", ".join(part for part in parts if part)
