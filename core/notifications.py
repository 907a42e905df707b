"""Notifications: one outbox message per event and recipient, as free text or as an approved template.

WhatsApp allows free text only within 24 hours of the user's last message; later, business-initiated
messages need approved templates. So every notification type has an optional Content SID
(`TWILIO_CONTENT_SID_<TYPE>`), and `notify` is the one way a notification is written.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from core import outbox
from core.settings import Settings
from core.texts import render


class Notice:
    """Notification types. Each may have an approved template: env `TWILIO_CONTENT_SID_<TYPE>`."""

    MOQ_REACHED = "MOQ_REACHED"
    WAITLIST_ADMITTED = "WAITLIST_ADMITTED"
    NOT_ADMITTED = "NOT_ADMITTED"
    SESSION_FAILED = "SESSION_FAILED"
    WAITING_FOR_STOCK = "WAITING_FOR_STOCK"
    ORDER_CREATED = "ORDER_CREATED"
    SESSION_CANCELLED = "SESSION_CANCELLED"
    FACTORY_CONFIRMED = "FACTORY_CONFIRMED"
    FACTORY_DECLINED = "FACTORY_DECLINED"
    STOCK_SHIPPED = "STOCK_SHIPPED"
    FACTORY_PO = "FACTORY_PO"
    FACTORY_REMINDER = "FACTORY_REMINDER"
    FACTORY_PO_CANCELLED = "FACTORY_PO_CANCELLED"
    ADMIN_ALERT = "ADMIN_ALERT"


def notify(
    db: Session,
    settings: Settings,
    *,
    notice: str,
    key: str,
    to_phone: str,
    language: str,
    text: str,
    variables: Sequence[object] = (),
    session_id: int | None = None,
    purchase_order_id: int | None = None,
    **fields: object,
) -> int | None:
    """One outbox message, once per `key`. The body is always rendered (logs, console, free-text fallback);
    with a Content SID configured for `notice` the message is sent as that template, `variables` numbered
    from "1"."""
    content_sid = settings.content_sid_for(notice, language)
    return outbox.enqueue(
        db,
        key=key,
        to_phone=to_phone,
        kind=notice.lower(),
        body=render(language, text, **fields),
        content_sid=content_sid,
        content_variables={str(i): _template_value(v) for i, v in enumerate(variables, 1)}
        if content_sid
        else None,
        session_id=session_id,
        purchase_order_id=purchase_order_id,
    )


def _template_value(value: object) -> str:
    """WhatsApp refuses template variables with line breaks: list lines become `S: 4 pcs, M: 10 pcs`."""
    parts = (" ".join(line.strip().lstrip("•").split()) for line in str(value).splitlines())
    return ", ".join(part for part in parts if part)
