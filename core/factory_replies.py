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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

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
from core.understanding import COMMAND_WORDS, FACTORY_COMMANDS, word_for

log = logging.getLogger(__name__)

CONFIRM, DECLINE, SHIP = FACTORY_COMMANDS


def _clip(text: str | None, limit: int) -> str | None:
    text = " ".join((text or "").split())
    return text[:limit] if text else None


@dataclass(frozen=True)
class _Answer:
    """One factory message about one of its purchase orders (locked), and what it may change."""

    db: Session
    settings: Settings
    factory: Factory
    po: PurchaseOrder
    session: GroupSession
    product: Product
    language: str
    at: datetime

    def move(self, to: str, from_states: tuple[str, ...], **values: object) -> bool:
        """The PO to `to` if it is in one of `from_states` (one conditional UPDATE); True if it moved."""
        changed = rows_changed(
            self.db,
            update(PurchaseOrder)
            .where(PurchaseOrder.id == self.po.id, PurchaseOrder.status.in_(from_states))
            .values(status=to, **values)
            .execution_options(synchronize_session="fetch"),
        )
        return changed == 1

    def tell_buyers(self, notice: notifications.Notice, key: str, **fields: Callable[[str], str]) -> None:
        """The news to every buyer of the session, once per buyer (`<key>:<po>:<buyer>`)."""
        notifications.notify_buyers(
            self.db,
            self.settings,
            self.session,
            self.product,
            notice,
            key=f"{key}:{self.po.id}",
            purchase_order_id=self.po.id,
            **cast(dict[str, Any], fields),  # per-buyer fields, not notify_buyers' own options
        )

    def reply(self, key: str, **fields: object) -> str:
        return render(self.language, key, po=self.po.code, **fields)

    def eta_note(self, eta: str | None) -> str:
        return render(self.language, "factory_eta_note", eta=eta) if eta else ""

    def tracking_note(self, tracking: str | None) -> str:
        return _tracking_note(self.language, tracking)

    def no_longer_open(self, name: str) -> str:
        if self.po.status == PurchaseOrderStatus.DECLINED:
            return self.reply("factory_po_declined_closed", word=word_for(name, self.language))
        return self.reply("factory_already_received")


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

    `command_name` is the parser's name (confirm/decline/ship), or a word of the one table (SIAP, KIRIM...);
    `argument` is the rest of the message (ETA, reason, tracking number). Never raises for anything the
    factory typed.
    """
    word = COMMAND_WORDS.get((command_name or "").strip().upper())
    name = word.name if word is not None else (command_name or "").strip().lower()
    if name not in FACTORY_COMMANDS:
        raise ValueError(f"not a factory command: {command_name!r}")
    language = language if language in ("id", "en") else "id"
    code = (po_code or "").strip().upper()
    if not code:
        return render(language, "factory_missing_po", word=word_for(name, language))
    try:
        po = find_purchase_order(db, code)
    except NotFound:
        return render(language, "factory_unknown_po", po=code)
    if po.factory_id != factory.id:
        log.warning("factory %s tried %s on %s of factory %s", factory.id, name, po.code, po.factory_id)
        return render(language, "factory_po_not_yours", po=po.code, factory=factory.name)
    session = po.session
    if session.status == SessionStatus.CANCELLED:
        return render(language, "factory_po_void", po=po.code)
    po = find_purchase_order(db, code, lock=True)
    answer = _Answer(db, settings, factory, po, session, session.product, language, at or now())
    if name == CONFIRM:
        return _confirm(answer, _clip(argument, 100))
    if name == DECLINE:
        return _decline(answer, _clip(argument, 1000))
    return _ship(answer, _clip(argument, 200))


def _tracking_note(language: str, tracking: str | None) -> str:
    return render(language, "tracking_note", tracking=tracking) if tracking else ""


def _confirm(answer: _Answer, eta: str | None) -> str:
    po = answer.po
    if answer.move(
        PurchaseOrderStatus.CONFIRMED, (PurchaseOrderStatus.REQUESTED,), eta=eta, confirmed_at=answer.at
    ):
        answer.tell_buyers(
            notifications.FACTORY_CONFIRMED,
            "po_confirmed",
            eta=lambda lang: eta or render(lang, "eta_unknown"),
        )
        log.info("purchase order %s confirmed, eta %r", po.code, eta)
        return answer.reply("factory_confirmed", eta=answer.eta_note(eta))
    if po.status == PurchaseOrderStatus.CONFIRMED:
        return answer.reply("factory_already_confirmed", eta=answer.eta_note(po.eta))
    if po.status == PurchaseOrderStatus.SHIPPED:
        return answer.reply("factory_already_shipped", tracking=answer.tracking_note(po.tracking))
    return answer.no_longer_open(CONFIRM)


def _decline(answer: _Answer, reason: str | None) -> str:
    po, session, settings = answer.po, answer.session, answer.settings
    if answer.move(
        PurchaseOrderStatus.DECLINED,
        (PurchaseOrderStatus.REQUESTED,),
        decline_reason=reason,
        declined_at=answer.at,
    ):
        log.warning(
            "purchase order %s (session %s) declined by %s: %s",
            po.code,
            session.code,
            answer.factory.name,
            reason,
        )
        if settings.admin_whatsapp:
            notifications.notify(
                answer.db,
                settings,
                notifications.PO_DECLINED_ALERT,
                key=f"po_declined_admin:{po.id}",
                to_phone=settings.admin_whatsapp,
                language="id",
                session_id=session.id,
                purchase_order_id=po.id,
                po=po.code,
                code=session.code,
                product=answer.product.name,
                factory=answer.factory.name,
                reason=reason or render("id", "admin_no_reason"),
            )
        answer.tell_buyers(notifications.FACTORY_DECLINED, "po_declined")
        note = render(answer.language, "factory_reason_note", reason=reason) if reason else ""
        return answer.reply("factory_declined", reason=note)
    if po.status == PurchaseOrderStatus.DECLINED:
        return answer.reply("factory_already_declined")
    if po.status in (
        PurchaseOrderStatus.CONFIRMED,
        PurchaseOrderStatus.SHIPPED,
        PurchaseOrderStatus.RECEIVED,
    ):
        return answer.reply(
            "factory_cannot_decline", state=render(answer.language, f"factory_state_{po.status}")
        )
    return answer.reply("factory_already_received")


def _ship(answer: _Answer, tracking: str | None) -> str:
    po = answer.po
    if answer.move(
        PurchaseOrderStatus.SHIPPED,
        (PurchaseOrderStatus.REQUESTED, PurchaseOrderStatus.CONFIRMED),
        tracking=tracking,
        shipped_at=answer.at,
    ):
        answer.tell_buyers(
            notifications.STOCK_SHIPPED, "po_shipped", tracking=lambda lang: _tracking_note(lang, tracking)
        )
        log.info("purchase order %s shipped, tracking %r", po.code, tracking)
        return answer.reply("factory_shipped", tracking=answer.tracking_note(tracking))
    if po.status == PurchaseOrderStatus.SHIPPED:
        return answer.reply("factory_already_shipped", tracking=answer.tracking_note(po.tracking))
    return answer.no_longer_open(SHIP)


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
        product = po.session.product
        notifications.notify_factory(
            db,
            settings,
            notifications.FACTORY_REMINDER,
            po,
            product,
            total=sum(line.quantity for line in po.lines),
            **answers(po.code),
        )
        reminded.append(po.code)
    db.flush()
    return reminded
