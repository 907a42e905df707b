"""The factory's side of the purchase order chat: SIAP / TOLAK / KIRIM, and one reminder when it is quiet.

    requested --SIAP--> confirmed --KIRIM--> shipped --(admin receive / warehouse)--> received
    requested --KIRIM--> shipped           (a factory that ships without confirming first)
    requested --TOLAK--> declined          (admin alerted; buyers told their order is delayed)

Each change is one conditional UPDATE from the states it makes sense in, so a repeated message (or a
button tapped twice) is answered and changes nothing. A factory may only act on its own purchase orders.

Buyers hear of a decline: their order is delayed and the admin is on it (the session stays
`pending_stock`; the admin can receive the PO from another source or cancel the session). Saying
nothing would leave them waiting for news that will not come.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import notifications
from core.clock import now
from core.errors import NotFound
from core.models import (
    Factory,
    GroupSession,
    Product,
    PurchaseOrder,
    PurchaseOrderStatus,
    SessionStatus,
)
from core.purchase_orders import answers, find_purchase_order
from core.settings import Settings
from core.texts import render
from core.transitions import rows_changed

log = logging.getLogger(__name__)

CONFIRM, DECLINE, SHIP = "confirm", "decline", "ship"
COMMAND_NAMES = {
    "confirm": CONFIRM,
    "siap": CONFIRM,
    "decline": DECLINE,
    "tolak": DECLINE,
    "ship": SHIP,
    "shipped": SHIP,
    "kirim": SHIP,
}
WORDS = {("id", CONFIRM): "SIAP", ("id", DECLINE): "TOLAK", ("id", SHIP): "KIRIM"}
WORDS |= {("en", CONFIRM): "CONFIRM", ("en", DECLINE): "DECLINE", ("en", SHIP): "SHIPPED"}


def _set_po(db: Session, po: PurchaseOrder, to: str, from_states: tuple[str, ...], **values: object) -> bool:
    changed = rows_changed(
        db,
        update(PurchaseOrder)
        .where(PurchaseOrder.id == po.id, PurchaseOrder.status.in_(from_states))
        .values(status=to, **values)
        .execution_options(synchronize_session="fetch"),
    )
    return changed == 1


def _clip(text: str | None, limit: int) -> str | None:
    text = " ".join((text or "").split())
    return text[:limit] if text else None


def _tell_buyers(
    db: Session,
    settings: Settings,
    po: PurchaseOrder,
    session: GroupSession,
    product: Product,
    notice: notifications.Notice,
    key: str,
    **fields,
) -> None:
    """News about a purchase order to every buyer of its session, once per buyer (`<key>:<po>:<buyer>`)."""
    notifications.notify_buyers(
        db, settings, session, product, notice, key=f"{key}:{po.id}", purchase_order_id=po.id, **fields
    )


def handle_factory_command(
    db: Session,
    factory: Factory,
    command_name: str,
    po_code: str,
    argument: str | None,
    settings: Settings,
    *,
    language: str = "id",
    at: datetime | None = None,
) -> str:
    """Apply a factory's SIAP/CONFIRM, TOLAK/DECLINE or KIRIM/SHIPPED to its purchase order; the reply text.

    `command_name` is the parser's name (confirm/decline/ship) or the word itself; `argument` is the rest
    of the message (ETA, reason, tracking number). Never raises for anything the factory typed.
    """
    at = at or now()
    name = COMMAND_NAMES.get((command_name or "").strip().lower())
    if name is None:
        raise ValueError(f"not a factory command: {command_name!r}")
    language = language if language in ("id", "en") else "id"
    word = WORDS[(language, name)]
    code = (po_code or "").strip().upper()
    if not code:
        return render(language, "factory_missing_po", word=word)
    try:
        po = find_purchase_order(db, code)
    except NotFound:
        return render(language, "factory_unknown_po", po=code)
    if po.factory_id != factory.id:
        log.warning("factory %s tried %s on %s of factory %s", factory.id, name, po.code, po.factory_id)
        return render(language, "factory_po_not_yours", po=po.code, factory=factory.name)
    session = db.get(GroupSession, po.session_id)
    assert session is not None
    if session.status == SessionStatus.CANCELLED:
        return render(language, "factory_po_void", po=po.code)
    po = find_purchase_order(db, code, lock=True)
    product = db.get(Product, session.product_id)
    assert product is not None

    if name == CONFIRM:
        return _confirm(db, settings, po, session, product, argument, language, at)
    if name == DECLINE:
        return _decline(db, settings, factory, po, session, product, argument, language, at)
    return _ship(db, settings, po, session, product, argument, language, at)


def _eta_note(language: str, eta: str | None) -> str:
    return render(language, "factory_eta_note", eta=eta) if eta else ""


def _tracking_note(language: str, tracking: str | None) -> str:
    return render(language, "tracking_note", tracking=tracking) if tracking else ""


def _state_reply(language: str, po: PurchaseOrder, word: str) -> str:
    if po.status == PurchaseOrderStatus.DECLINED:
        return render(language, "factory_po_declined_closed", po=po.code, word=word)
    return render(language, "factory_already_received", po=po.code)


def _confirm(db, settings, po, session, product, argument, language, at) -> str:
    eta = _clip(argument, 100)
    if _set_po(
        db, po, PurchaseOrderStatus.CONFIRMED, (PurchaseOrderStatus.REQUESTED,), eta=eta, confirmed_at=at
    ):
        _tell_buyers(
            db,
            settings,
            po,
            session,
            product,
            notifications.FACTORY_CONFIRMED,
            "po_confirmed",
            eta=lambda lang: eta or render(lang, "eta_unknown"),
        )
        log.info("purchase order %s confirmed, eta %r", po.code, eta)
        return render(language, "factory_confirmed", po=po.code, eta=_eta_note(language, eta))
    if po.status == PurchaseOrderStatus.CONFIRMED:
        return render(language, "factory_already_confirmed", po=po.code, eta=_eta_note(language, po.eta))
    if po.status == PurchaseOrderStatus.SHIPPED:
        return render(
            language, "factory_already_shipped", po=po.code, tracking=_tracking_note(language, po.tracking)
        )
    return _state_reply(language, po, WORDS[(language, CONFIRM)])


def _decline(db, settings, factory, po, session, product, argument, language, at) -> str:
    reason = _clip(argument, 1000)
    if _set_po(
        db,
        po,
        PurchaseOrderStatus.DECLINED,
        (PurchaseOrderStatus.REQUESTED,),
        decline_reason=reason,
        declined_at=at,
    ):
        log.warning(
            "purchase order %s (session %s) declined by %s: %s", po.code, session.code, factory.name, reason
        )
        if settings.admin_whatsapp:
            notifications.notify(
                db,
                settings,
                notifications.PO_DECLINED_ALERT,
                key=f"po_declined_admin:{po.id}",
                to_phone=settings.admin_whatsapp,
                language="id",
                session_id=session.id,
                purchase_order_id=po.id,
                po=po.code,
                code=session.code,
                product=product.name,
                factory=factory.name,
                reason=reason or render("id", "admin_no_reason"),
            )
        _tell_buyers(db, settings, po, session, product, notifications.FACTORY_DECLINED, "po_declined")
        note = render(language, "factory_reason_note", reason=reason) if reason else ""
        return render(language, "factory_declined", po=po.code, reason=note)
    if po.status == PurchaseOrderStatus.DECLINED:
        return render(language, "factory_already_declined", po=po.code)
    if po.status in (
        PurchaseOrderStatus.CONFIRMED,
        PurchaseOrderStatus.SHIPPED,
        PurchaseOrderStatus.RECEIVED,
    ):
        state = render(language, f"factory_state_{po.status}")
        return render(language, "factory_cannot_decline", po=po.code, state=state)
    return render(language, "factory_already_received", po=po.code)


def _ship(db, settings, po, session, product, argument, language, at) -> str:
    tracking = _clip(argument, 200)
    shipped = _set_po(
        db,
        po,
        PurchaseOrderStatus.SHIPPED,
        (PurchaseOrderStatus.REQUESTED, PurchaseOrderStatus.CONFIRMED),
        tracking=tracking,
        shipped_at=at,
    )
    if shipped:
        _tell_buyers(
            db,
            settings,
            po,
            session,
            product,
            notifications.STOCK_SHIPPED,
            "po_shipped",
            tracking=lambda lang: _tracking_note(lang, tracking),
        )
        log.info("purchase order %s shipped, tracking %r", po.code, tracking)
        return render(language, "factory_shipped", po=po.code, tracking=_tracking_note(language, tracking))
    if po.status == PurchaseOrderStatus.SHIPPED:
        return render(
            language, "factory_already_shipped", po=po.code, tracking=_tracking_note(language, po.tracking)
        )
    return _state_reply(language, po, WORDS[(language, SHIP)])


def remind_unanswered_purchase_orders(
    db: Session, settings: Settings, *, at: datetime | None = None, limit: int = 100
) -> list[str]:
    """Exactly one reminder per purchase order still `requested` after `factory_reminder_hours`.

    The claim is a conditional UPDATE of `reminded_at` (only while it is empty), so two runs at once
    still send one. Returns the PO codes reminded.
    """
    at = at or now()
    cutoff = at - timedelta(hours=settings.factory_reminder_hours)
    candidates = db.scalars(
        select(PurchaseOrder)
        .join(GroupSession, GroupSession.id == PurchaseOrder.session_id)
        .where(
            PurchaseOrder.status == PurchaseOrderStatus.REQUESTED,
            PurchaseOrder.reminded_at.is_(None),
            PurchaseOrder.requested_at <= cutoff,
            GroupSession.status == SessionStatus.PENDING_STOCK,
        )
        .order_by(PurchaseOrder.requested_at, PurchaseOrder.id)
        .limit(limit)
    ).all()
    reminded = []
    for po in candidates:
        claimed = rows_changed(
            db,
            update(PurchaseOrder)
            .where(
                PurchaseOrder.id == po.id,
                PurchaseOrder.status == PurchaseOrderStatus.REQUESTED,
                PurchaseOrder.reminded_at.is_(None),
            )
            .values(reminded_at=at)
            .execution_options(synchronize_session="fetch"),
        )
        if not claimed:
            continue
        factory = db.get(Factory, po.factory_id)
        session = db.get(GroupSession, po.session_id)
        assert factory is not None and session is not None
        product = db.get(Product, session.product_id)
        assert product is not None
        notifications.notify(
            db,
            settings,
            notifications.FACTORY_REMINDER,
            key=f"factory_reminder:{po.id}",
            to_phone=factory.phone,
            language="id",
            session_id=session.id,
            purchase_order_id=po.id,
            po=po.code,
            product=product.name,
            total=sum(line.quantity for line in po.lines),
            **answers(po.code),
        )
        reminded.append(po.code)
    db.flush()
    return reminded
