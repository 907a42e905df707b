"""Closing sessions, warehouse first: failed, orders from stock, or a purchase order for whole lots.

The life of a session after joining (SPEC sections 3 and 6):

    forming/moq_reached --close--> failed                       (confirmed units < target_moq)
                        --close--> orders_created               (the warehouse has every size)
                        --close--> pending_stock --receive--> stock_received --> orders_created
    forming/moq_reached/pending_stock --admin--> cancelled

Every status change is `transition`: one conditional UPDATE from an explicit set of source states, so a
repeat (a second worker, a retried job, a double click in the admin) changes nothing. Every message is an
outbox row with an idempotency key, written in the same transaction as the change it reports.

**How stock is held while the factory works.** With demand `d_v` and free stock `s_v`, the purchase order
asks for `L_v = k * a_v` units of each size, `k = max_v ceil(max(0, d_v - s_v) / a_v)`. At close only the
part the lots will not cover is taken from stock and reserved: `h_v = max(0, d_v - L_v)` (never more than
`s_v`). When the lots arrive, the rest `min(d_v, L_v)` is reserved from them and the excess
`L_v - min(d_v, L_v)` stays free in the warehouse. Both numbers follow from the session's demand and the
PO lines alone, so nothing else needs storing, and the warehouse ends where "stock first" would have put
it (`s_v + L_v - d_v`) while holding as little as possible during the wait.

**Products without grosir lots** (no allocations) order exactly the shortfall `max(0, d_v - s_v)` of each
size; the purchase order row says `lots = 1` (one batch) and `grosir_units_needed` stays empty.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from core import allocation, payments
from core.clock import as_utc, format_wib
from core.clock import now as clock_now
from core.db import transaction
from core.errors import Conflict, NotFound
from core.joining import load_view
from core.models import (
    GroupSession,
    Order,
    Participant,
    ParticipantStatus,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    SessionStatus,
)
from core.notifications import Notice, notify
from core.outbox import new_message_ids
from core.settings import Settings
from core.texts import render, rupiah
from core.transitions import rows_changed, transition
from core.warehouse import (
    InsufficientStock,
    StockLine,
    Warehouse,
    WarehouseUnavailable,
    lines_for,
    warehouse_for,
)

log = logging.getLogger(__name__)

DUE_STATES = (SessionStatus.FORMING, SessionStatus.MOQ_REACHED)
CANCELLABLE_STATES = (SessionStatus.FORMING, SessionStatus.MOQ_REACHED, SessionStatus.PENDING_STOCK)


# --- transitions and claiming ----------------------------------------------------------------------------


def _lock_session(db: Session, session_id: int) -> GroupSession:
    session = db.scalar(
        select(GroupSession)
        .where(GroupSession.id == session_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if session is None:
        raise NotFound("session", f"no session with id {session_id}")
    return session


def _lock_session_by_code(db: Session, code: str) -> GroupSession:
    session = db.scalar(
        select(GroupSession)
        .where(GroupSession.code == (code or "").strip().upper())
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if session is None:
        raise NotFound("code", f"no session {code}")
    return session


def claim_due_sessions(
    db: Session, now: datetime, limit: int = 20, exclude: Iterable[int] = ()
) -> list[GroupSession]:
    """Lock up to `limit` sessions past `ends_at` that are still forming or moq_reached, oldest first.

    PostgreSQL: `FOR UPDATE SKIP LOCKED`, so two sweepers take disjoint sessions and each holds its own
    until it commits; the caller closes them inside this same transaction. SQLite ignores the clause,
    but its write transactions (BEGIN IMMEDIATE) run one at a time, so the second sweeper only sees what
    the first left due. `exclude` skips sessions this sweep already tried (and left for later).
    """
    query = (
        select(GroupSession)
        .where(GroupSession.status.in_(DUE_STATES), GroupSession.ends_at <= now)
        .order_by(GroupSession.ends_at, GroupSession.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    excluded = list(exclude)
    if excluded:
        query = query.where(GroupSession.id.not_in(excluded))
    return list(db.scalars(query))


# --- reading a session -----------------------------------------------------------------------------------


def _product(db: Session, product_id: int) -> Product:
    product = db.scalar(
        select(Product)
        .where(Product.id == product_id)
        .options(
            selectinload(Product.variants), selectinload(Product.allocations), selectinload(Product.factory)
        )
    )
    assert product is not None
    return product


def _allocations_by_variant(product: Product) -> dict[int, int]:
    return {a.variant_id: a.units_per_lot for a in product.allocations}


def _participants(db: Session, session_id: int, status: str) -> list[Participant]:
    return list(
        db.scalars(
            select(Participant)
            .where(Participant.session_id == session_id, Participant.status == status)
            .options(selectinload(Participant.buyer), selectinload(Participant.variant))
            .order_by(Participant.requested_at, Participant.id)
        )
    )


def _demand(db: Session, session_id: int) -> dict[int, int]:
    """Confirmed units per variant id."""
    rows = db.execute(
        select(Participant.variant_id, func.sum(Participant.quantity))
        .where(Participant.session_id == session_id, Participant.status == ParticipantStatus.CONFIRMED)
        .group_by(Participant.variant_id)
    )
    return {variant_id: int(units) for variant_id, units in rows}


def _by_buyer(participants: Iterable[Participant]) -> dict[int, list[Participant]]:
    grouped: dict[int, list[Participant]] = defaultdict(list)
    for participant in participants:
        grouped[participant.buyer_id].append(participant)
    return dict(sorted(grouped.items()))


# --- the stock plan (pure) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockPlan:
    """What a closing session takes from stock now and what it orders from the factory (see module doc)."""

    lots: int  # whole lots to order; 0 for a product without lots (see `incoming`)
    incoming: dict[int, int]  # purchase order lines per variant; empty: everything comes from stock
    hold: dict[int, int]  # units to reserve from stock now, per variant

    @property
    def from_stock(self) -> bool:
        return not self.incoming


def plan_stock(
    demand: Mapping[int, int], free: Mapping[int, int], allocations: Mapping[int, int]
) -> StockPlan:
    """Stock first: with enough of every size, hold the demand. Otherwise order `k` whole lots
    (`k = max_v ceil(max(0, d_v - s_v) / a_v)`, each size `k * a_v`; without allocations exactly the
    shortfall) and hold only what those will not cover, `max(0, d_v - L_v)`."""
    shortfall = {v: max(0, d - free.get(v, 0)) for v, d in demand.items()}
    if not any(shortfall.values()):
        return StockPlan(0, {}, {v: d for v, d in demand.items() if d > 0})
    if allocations:
        lots = allocation.lots_needed(
            cast(Mapping[Hashable, int], shortfall), cast(Mapping[Hashable, int], allocations)
        )
        incoming = {v: lots * a_v for v, a_v in allocations.items()}
    else:
        lots = 0
        incoming = {v: units for v, units in shortfall.items() if units > 0}
    hold = {v: d - incoming.get(v, 0) for v, d in demand.items() if d > incoming.get(v, 0)}
    return StockPlan(lots, incoming, hold)


# --- closing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CloseOutcome:
    session_code: str
    result: str  # failed | orders_created | pending_stock | not_due (already closed by someone else)
    purchase_order_code: str | None = None
    lots: int | None = None
    orders: int = 0
    admitted: int = 0
    not_admitted: int = 0


def close_session(
    db: Session,
    session: GroupSession,
    warehouse: Warehouse | None,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> CloseOutcome:
    """Close one session whose time is up: rescue from the waitlist, then fail, create orders or order stock.

    Locks the session row; a session no longer forming/moq_reached is left alone (`not_due`). Raises
    `WarehouseUnavailable` (or `InsufficientStock` when stock moved between the check and the hold) with
    writes already made in this transaction: the caller must roll back (the sweep uses a savepoint per
    session) so the session stays due and is retried by the next sweep.
    """
    at = now or clock_now()
    session = _lock_session(db, session.id)
    if session.status not in DUE_STATES:
        return CloseOutcome(session.code, "not_due")
    if as_utc(session.ends_at) > at:
        raise Conflict("ends_at", f"session {session.code} is open until {format_wib(session.ends_at)}")
    product = _product(db, session.product_id)
    warehouse = warehouse or warehouse_for(settings, db)

    admitted, not_admitted = _settle_waitlist(db, settings, session, product, at)
    units = sum(_demand(db, session.id).values())
    if units < session.target_moq:
        transition(db, session.id, SessionStatus.FAILED, DUE_STATES, closed_at=at, last_error=None)
        _notify_failed(db, settings, session, product, units)
        return CloseOutcome(session.code, SessionStatus.FAILED, admitted=admitted, not_admitted=not_admitted)

    # reached at close (rescue, or a join service that left it forming): no "MOQ reached" message, the
    # buyers hear the outcome below
    transition(
        db,
        session.id,
        SessionStatus.MOQ_REACHED,
        (SessionStatus.FORMING,),
        moq_reached_at=session.moq_reached_at or at,
    )
    demand = _demand(db, session.id)
    allocations = _allocations_by_variant(product)
    plan = plan_stock(demand, warehouse.stock(product, product.variants), allocations)
    if any(plan.hold.values()):
        warehouse.reserve(product, lines_for(product.variants, plan.hold), key=_hold_key(session, "close"))

    if plan.from_stock:
        transition(
            db,
            session.id,
            SessionStatus.ORDERS_CREATED,
            (SessionStatus.MOQ_REACHED,),
            warehouse_check_at=at,
            warehouse_has_stock=True,
            orders_created_at=at,
            closed_at=at,
            last_error=None,
        )
        orders = _create_orders(db, settings, session, product, at)
        return CloseOutcome(
            session.code,
            SessionStatus.ORDERS_CREATED,
            orders=orders,
            admitted=admitted,
            not_admitted=not_admitted,
        )

    po = _create_purchase_order(db, session, product, plan.lots, plan.incoming, at)
    transition(
        db,
        session.id,
        SessionStatus.PENDING_STOCK,
        (SessionStatus.MOQ_REACHED,),
        warehouse_check_at=at,
        warehouse_has_stock=False,
        grosir_units_needed=plan.lots if allocations else None,
        closed_at=at,
        last_error=None,
    )
    _send_purchase_order(db, settings, session, product, po)
    notify_buyers(
        db,
        settings,
        session,
        product,
        notice=Notice.WAITING_FOR_STOCK,
        key=f"waiting_for_stock:{session.id}",
        text="notify_waiting_for_stock",
    )
    return CloseOutcome(
        session.code,
        SessionStatus.PENDING_STOCK,
        purchase_order_code=po.code,
        lots=po.lots,
        admitted=admitted,
        not_admitted=not_admitted,
    )


def _hold_key(session: GroupSession, step: str) -> str:
    return f"session-{session.id}-{step}"


def _settle_waitlist(
    db: Session, settings: Settings, session: GroupSession, product: Product, at: datetime
) -> tuple[int, int]:
    """Rescue at close (admit waiting requests oldest first until the MOQ is met, if they can meet it);
    whatever still waits is not admitted. Returns (admitted, not admitted) request counts."""
    waiting = _participants(db, session.id, ParticipantStatus.WAITING)
    if not waiting:
        return 0, 0
    view = load_view(db, session)
    confirmed = sum(_demand(db, session.id).values())
    requests = [allocation.WaitingRequest(p.id, p.variant_id, p.quantity) for p in waiting]
    rescued = {r.key for r in allocation.rescue_at_close(requests, confirmed, session.target_moq)}
    admitted = 0
    for participant in waiting:
        to = ParticipantStatus.CONFIRMED if participant.id in rescued else ParticipantStatus.NOT_ADMITTED
        values: dict[str, Any] = {"status": to}
        if to == ParticipantStatus.CONFIRMED:
            values["joined_at"] = at
        moved = rows_changed(
            db,
            update(Participant)
            .where(Participant.id == participant.id, Participant.status == ParticipantStatus.WAITING)
            .values(**values)
            .execution_options(synchronize_session="fetch"),
        )
        if not moved:
            continue
        buyer = participant.buyer
        fields: dict[str, Any] = {
            "code": session.code,
            "product": product.name,
            "size": participant.variant.size,
            "quantity": participant.quantity,
        }
        if to == ParticipantStatus.CONFIRMED:
            admitted += 1
            view.count(
                db, participant.variant_id, ordered=participant.quantity, waiting=-participant.quantity
            )
            total = rupiah(participant.total)
            notify(
                db,
                settings,
                notice=Notice.WAITLIST_ADMITTED,
                key=f"admitted:{participant.id}",  # the join service's key: a request is admitted once
                to_phone=buyer.phone,
                language=buyer.language,
                text="notify_admitted_at_close",
                variables=(session.code, product.name, participant.variant.size, participant.quantity, total),
                session_id=session.id,
                total=total,
                **fields,
            )
        else:
            view.count(db, participant.variant_id, waiting=-participant.quantity)
            notify(
                db,
                settings,
                notice=Notice.NOT_ADMITTED,
                key=f"not_admitted:{participant.id}",
                to_phone=buyer.phone,
                language=buyer.language,
                text="notify_not_admitted",
                variables=(session.code, product.name, participant.variant.size, participant.quantity),
                session_id=session.id,
                **fields,
            )
    db.flush()
    return admitted, len(waiting) - admitted


def _notify_failed(
    db: Session, settings: Settings, session: GroupSession, product: Product, units: int
) -> None:
    for buyer_id, joins in _by_buyer(_participants(db, session.id, ParticipantStatus.CONFIRMED)).items():
        buyer = joins[0].buyer
        notify(
            db,
            settings,
            notice=Notice.SESSION_FAILED,
            key=f"moq_failed:{session.id}:{buyer_id}",
            to_phone=buyer.phone,
            language=buyer.language,
            text="notify_session_failed",
            variables=(session.code, product.name, units, session.target_moq),
            session_id=session.id,
            code=session.code,
            product=product.name,
            units=units,
            moq=session.target_moq,
        )


def notify_buyers(
    db: Session,
    settings: Settings,
    session: GroupSession,
    product: Product,
    *,
    notice: str,
    key: str,
    text: str,
    statuses: tuple[str, ...] = (ParticipantStatus.CONFIRMED,),
    purchase_order_id: int | None = None,
    extra: Callable[[str], dict[str, str]] | None = None,
) -> int:
    """The same news to every buyer with a join in `statuses`, once per buyer (`<key>:<buyer id>`)."""
    participants: list[Participant] = []
    for status in statuses:
        participants += _participants(db, session.id, status)
    sent = 0
    for buyer_id, joins in _by_buyer(participants).items():
        buyer = joins[0].buyer
        more = extra(buyer.language) if extra else {}
        message_id = notify(
            db,
            settings,
            notice=notice,
            key=f"{key}:{buyer_id}",
            to_phone=buyer.phone,
            language=buyer.language,
            text=text,
            variables=(session.code, product.name, *more.values()),
            session_id=session.id,
            purchase_order_id=purchase_order_id,
            code=session.code,
            product=product.name,
            **more,
        )
        sent += message_id is not None
    return sent


def _short_code(preferred: str, fallback: str) -> str:
    return preferred if len(preferred) <= 32 else fallback


def _create_orders(
    db: Session, settings: Settings, session: GroupSession, product: Product, at: datetime
) -> int:
    """One order per confirmed join, numbered within the session; each buyer gets one message listing theirs."""
    participants = sorted(_participants(db, session.id, ParticipantStatus.CONFIRMED), key=lambda p: p.id)
    existing = set(db.scalars(select(Order.participant_id).where(Order.session_id == session.id)))
    orders: dict[int, list[tuple[Order, Participant]]] = defaultdict(list)
    created = 0
    for number, participant in enumerate(participants, 1):
        if participant.id in existing:
            continue
        address = (participant.buyer.address or "").strip() or None
        order = Order(
            code=_short_code(f"{session.code}-{number:03d}", f"O{session.id}-{number:03d}"),
            participant_id=participant.id,
            session_id=session.id,
            buyer_id=participant.buyer_id,
            variant_id=participant.variant_id,
            quantity=participant.quantity,
            amount_due=participant.total,
            delivery_address=address,
            needs_address=address is None,
            created_at=at,
        )
        db.add(order)
        orders[participant.buyer_id].append((order, participant))
        created += 1
    db.flush()
    payment_links = payments.payment_links_for(settings)
    for buyer_id, pairs in sorted(orders.items()):
        buyer = pairs[0][1].buyer
        language = buyer.language
        lines = "\n".join(
            render(
                language,
                "order_line",
                order=order.code,
                size=participant.variant.size,
                quantity=order.quantity,
                amount=rupiah(order.amount_due),
            )
            for order, participant in pairs
        )
        total = rupiah(sum(order.amount_due for order, _ in pairs))
        address = pairs[0][0].delivery_address
        address_note = (
            render(language, "order_address_known", address=address)
            if address
            else render(language, "order_address_missing")
        )
        link = payment_links.link_for(
            reference=f"{session.code}-{buyer_id}",
            buyer_phone=buyer.phone,
            amount=sum(order.amount_due for order, _ in pairs),
        )
        if link:
            address_note += render(language, "order_payment_link", link=link)
        notify(
            db,
            settings,
            notice=Notice.ORDER_CREATED,
            key=f"order_created:{session.id}:{buyer_id}",
            to_phone=buyer.phone,
            language=language,
            text="notify_orders_created",
            variables=(session.code, product.name, lines, total, address_note.strip()),
            session_id=session.id,
            code=session.code,
            product=product.name,
            lines=lines,
            total=total,
            address=address_note,
        )
    return created


# --- purchase orders -------------------------------------------------------------------------------------


def _create_purchase_order(
    db: Session, session: GroupSession, product: Product, lots: int, incoming: dict[int, int], at: datetime
) -> PurchaseOrder:
    po = PurchaseOrder(
        code=_short_code(f"PO-{session.code}-1", f"PO-S{session.id}-1"),
        session_id=session.id,
        factory_id=product.factory_id,
        lots=max(1, lots),
        status=PurchaseOrderStatus.REQUESTED,
        requested_at=at,
    )
    db.add(po)
    db.flush()
    for variant in product.variants:
        if incoming.get(variant.id, 0) > 0:
            db.add(
                PurchaseOrderLine(
                    purchase_order_id=po.id, variant_id=variant.id, quantity=incoming[variant.id]
                )
            )
    db.flush()
    db.refresh(po, attribute_names=["lines"])
    return po


def _po_lines_text(language: str, po: PurchaseOrder) -> tuple[str, int]:
    lines = sorted(po.lines, key=lambda line: line.variant_id)
    text = "\n".join(
        render(language, "factory_po_line", size=line.variant.size, quantity=line.quantity) for line in lines
    )
    return text, sum(line.quantity for line in lines)


def _send_purchase_order(
    db: Session, settings: Settings, session: GroupSession, product: Product, po: PurchaseOrder
) -> None:
    """The one WhatsApp to the factory. `factory_whatsapp_sent`/`factory_notified_at` are set by the sender
    (core.delivery) once Twilio accepts it, not here."""
    lines, total = _po_lines_text("id", po)
    grosir = bool(product.allocations)
    notify(
        db,
        settings,
        notice=Notice.FACTORY_PO,
        key=f"factory_po:{po.id}",
        to_phone=product.factory.phone,
        language="id",
        text="factory_po" if grosir else "factory_po_units",
        # Template variables; quick-reply buttons use {{6}}/{{7}} (or "SIAP {{2}}") as their payloads.
        variables=(
            product.name,
            po.code,
            po.lots,
            lines,
            total,
            f"SIAP {po.code}",
            f"TOLAK {po.code}",
            f"KIRIM {po.code}",
        ),
        session_id=session.id,
        purchase_order_id=po.id,
        po=po.code,
        product=product.name,
        lots=po.lots,
        lot_size=product.grosir_unit_size or "",
        lines=lines,
        total=total,
    )


def find_purchase_order(db: Session, code: str, *, lock: bool = False) -> PurchaseOrder:
    query = (
        select(PurchaseOrder)
        .where(PurchaseOrder.code == (code or "").strip().upper())
        .options(selectinload(PurchaseOrder.lines).selectinload(PurchaseOrderLine.variant))
        .execution_options(populate_existing=True)
    )
    po = db.scalar(query.with_for_update(of=PurchaseOrder) if lock else query)
    if po is None:
        raise NotFound("code", f"no purchase order {code}")
    return po


def purchase_order_view(db: Session, code: str) -> dict:
    """The admin's view of a purchase order: lines, status, timestamps, its session."""
    po = find_purchase_order(db, code)
    session = db.get(GroupSession, po.session_id)
    assert session is not None

    def stamp(value: datetime | None) -> str | None:
        return as_utc(value).isoformat() if value else None

    lines = sorted(po.lines, key=lambda line: line.variant_id)
    return {
        "code": po.code,
        "status": po.status,
        "session": {"code": session.code, "status": session.status},
        "factory": {"id": po.factory.id, "name": po.factory.name, "phone": po.factory.phone},
        "lots": po.lots,
        "grosir_units_needed": session.grosir_units_needed,
        "lines": [
            {"size": line.variant.size, "sku": line.variant.sku, "quantity": line.quantity} for line in lines
        ],
        "total_units": sum(line.quantity for line in lines),
        "eta": po.eta,
        "tracking": po.tracking,
        "decline_reason": po.decline_reason,
        "factory_whatsapp_sent": session.factory_whatsapp_sent,
        "factory_notified_at": stamp(session.factory_notified_at),
        "requested_at": stamp(po.requested_at),
        "confirmed_at": stamp(po.confirmed_at),
        "declined_at": stamp(po.declined_at),
        "shipped_at": stamp(po.shipped_at),
        "received_at": stamp(po.received_at),
        "reminded_at": stamp(po.reminded_at),
    }


# --- stock arriving --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiveOutcome:
    purchase_order_code: str
    session_code: str
    orders: int
    leftover: dict[str, int]  # size -> units of this PO left free in the warehouse


def _remaining_from_lots(demand: dict[int, int], po: PurchaseOrder) -> dict[int, int]:
    """What the session still needs from the lots: `min(d_v, L_v)` (the rest was held at close)."""
    incoming = {line.variant_id: line.quantity for line in po.lines}
    return {v: min(d, incoming.get(v, 0)) for v, d in demand.items() if min(d, incoming.get(v, 0)) > 0}


def _stock_received(
    db: Session,
    settings: Settings,
    warehouse: Warehouse,
    session: GroupSession,
    product: Product,
    po: PurchaseOrder,
    at: datetime,
) -> ReceiveOutcome:
    """The PO's units are in the warehouse: hold what the session needs from them, create the orders."""
    remaining = _remaining_from_lots(_demand(db, session.id), po)
    if remaining:
        warehouse.reserve(product, lines_for(product.variants, remaining), key=_hold_key(session, "receipt"))
    db.execute(
        update(PurchaseOrder)
        .where(PurchaseOrder.id == po.id, PurchaseOrder.status != PurchaseOrderStatus.RECEIVED)
        .values(status=PurchaseOrderStatus.RECEIVED, received_at=at)
        .execution_options(synchronize_session="fetch")
    )
    transition(
        db,
        session.id,
        SessionStatus.STOCK_RECEIVED,
        (SessionStatus.PENDING_STOCK,),
        stock_received_at=at,
        last_error=None,
    )
    transition(
        db, session.id, SessionStatus.ORDERS_CREATED, (SessionStatus.STOCK_RECEIVED,), orders_created_at=at
    )
    orders = _create_orders(db, settings, session, product, at)
    size_of = {v.id: v.size for v in product.variants}
    leftover = {
        size_of[line.variant_id]: line.quantity - remaining.get(line.variant_id, 0) for line in po.lines
    }
    return ReceiveOutcome(po.code, session.code, orders, leftover)


def receive_purchase_order(
    db: Session,
    po_code: str,
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    now: datetime | None = None,
) -> ReceiveOutcome:
    """The admin received a PO's goods: add them to the warehouse, then `stock_received` -> orders.

    Once per PO: a second receive raises Conflict and changes nothing. A declined PO may still be received
    (the admin sourced the units elsewhere under the same PO). Units beyond the session's demand stay free
    in the warehouse for later sessions.
    """
    at = now or clock_now()
    po = find_purchase_order(db, po_code)
    session = _lock_session(db, po.session_id)  # session before PO, the order every path locks in
    po = find_purchase_order(db, po_code, lock=True)
    if po.status == PurchaseOrderStatus.RECEIVED:
        raise Conflict(
            "code",
            f"purchase order {po.code} was already received ({format_wib(po.received_at) if po.received_at else 'earlier'})",
        )
    if session.status != SessionStatus.PENDING_STOCK:
        raise Conflict("status", f"session {session.code} is {session.status}, not waiting for stock")
    product = _product(db, session.product_id)
    warehouse = warehouse or warehouse_for(settings, db)
    incoming = {line.variant_id: line.quantity for line in po.lines}
    warehouse.receive(product, lines_for(product.variants, incoming), key=f"po-{po.code}")
    return _stock_received(db, settings, warehouse, session, product, po, at)


def recheck_pending_stock(
    db: Session,
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    now: datetime | None = None,
    limit: int = 50,
) -> list[str]:
    """For an external warehouse that reports arrivals itself: sessions waiting for stock whose remaining
    units are now free get `stock_received` and their orders. Returns the session codes moved on.

    Raises `WarehouseUnavailable` like `close_session`; the caller rolls back.
    """
    at = now or clock_now()
    warehouse = warehouse or warehouse_for(settings, db)
    sessions = db.scalars(
        select(GroupSession)
        .where(GroupSession.status == SessionStatus.PENDING_STOCK)
        .order_by(GroupSession.closed_at, GroupSession.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    moved = []
    for session in sessions:
        po = db.scalar(select(PurchaseOrder).where(PurchaseOrder.session_id == session.id))
        if po is None:
            continue
        product = _product(db, session.product_id)
        remaining = _remaining_from_lots(_demand(db, session.id), po)
        free = warehouse.stock(product, [v for v in product.variants if v.id in remaining])
        session.warehouse_check_at = at
        if all(free.get(v, 0) >= units for v, units in remaining.items()):
            try:
                with db.begin_nested():
                    _stock_received(db, settings, warehouse, session, product, po, at)
            except InsufficientStock:
                continue  # moved between the check and the hold: next time
            moved.append(session.code)
    db.flush()
    return moved


# --- the sweep -------------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    closed: list[CloseOutcome] = field(default_factory=list)
    retry_later: dict[str, str] = field(default_factory=dict)  # session code -> error

    def as_dict(self) -> dict:
        return {
            "closed": {o.session_code: o.result for o in self.closed},
            "retry_later": dict(self.retry_later),
        }


class _Tripped:
    """Stands in for a warehouse that already failed in this sweep, so one outage costs one timeout."""

    def __init__(self, reason: str):
        self.reason = reason

    def _fail(self, *args, **kwargs):
        raise WarehouseUnavailable(self.reason)

    stock = reserve = release = receive = _fail


def record_retry(db: Session, session_id: int, error: str) -> None:
    """Note why a due session was left for the next sweep (only while it is still due)."""
    db.execute(
        update(GroupSession)
        .where(GroupSession.id == session_id, GroupSession.status.in_(DUE_STATES))
        .values(last_error=error[:2000])
        .execution_options(synchronize_session="fetch")
    )


def sweep_due_sessions(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    warehouse: Callable[[Session], Warehouse] | None = None,
    now: datetime | None = None,
    batch_size: int = 20,
    on_commit: Callable[[list[int]], object] | None = None,
) -> SweepResult:
    """Close every due session, a batch per transaction, each session in its own savepoint.

    A session that fails (warehouse down, stock moved, a bug) is rolled back to exactly how it was, gets
    `last_error`, and is left for the next sweep; the others go on. After the first warehouse outage the
    rest of the sweep does not call the warehouse again. `on_commit(outbox ids)` runs after each commit.
    """
    at = now or clock_now()
    result = SweepResult()
    left: set[int] = set()  # sessions this sweep left for the next one (closed ones are no longer due)
    tripped: _Tripped | None = None
    while True:
        with transaction(factory) as db:
            batch = claim_due_sessions(db, at, batch_size, exclude=left)
            if not batch:
                return result
            # Every sweep takes inventory row locks in (product, variant) order, so two workers closing
            # sessions of the same products wait for each other but never deadlock.
            batch.sort(key=lambda session: (session.product_id, session.id))
            ids = new_message_ids(db)
            for session in batch:
                code = session.code
                port = tripped or (warehouse(db) if warehouse else warehouse_for(settings, db))
                try:
                    with db.begin_nested():
                        outcome = close_session(db, session, port, settings, now=at)
                except (WarehouseUnavailable, InsufficientStock) as error:
                    new_message_ids(db)  # messages of the rolled-back savepoint never existed
                    left.add(session.id)
                    if isinstance(error, WarehouseUnavailable):
                        tripped = tripped or _Tripped(error.message)
                    log.warning("session %s left for the next sweep: %s", code, error)
                    record_retry(db, session.id, str(error))
                    result.retry_later[code] = str(error)
                    continue
                except Exception as error:  # noqa: BLE001 - one broken session must not stop the others
                    new_message_ids(db)
                    left.add(session.id)
                    log.exception("closing session %s failed", code)
                    record_retry(db, session.id, f"{type(error).__name__}: {error}")
                    result.retry_later[code] = f"{type(error).__name__}: {error}"
                    continue
                ids += new_message_ids(db)
                if outcome.result != "not_due":
                    result.closed.append(outcome)
                    log.info("session %s closed: %s", code, outcome.result)
        if on_commit and ids:
            on_commit(ids)


# --- admin -----------------------------------------------------------------------------------------------


def close_session_now(
    db: Session,
    code: str,
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    now: datetime | None = None,
) -> CloseOutcome:
    """Admin "close now": ends joining at once (`ends_at` = now if it was later), then closes as the sweep
    would. A session that is no longer forming/moq_reached is a Conflict."""
    at = now or clock_now()
    session = _lock_session_by_code(db, code)
    if session.status not in DUE_STATES:
        raise Conflict("status", f"session {session.code} is already {session.status}")
    _end_joining(db, session, at)
    return close_session(db, session, warehouse, settings, now=at)


def _end_joining(db: Session, session: GroupSession, at: datetime) -> None:
    if as_utc(session.ends_at) > at:
        ends = max(at, as_utc(session.starts_at) + timedelta(microseconds=1))
        db.execute(
            update(GroupSession)
            .where(GroupSession.id == session.id)
            .values(ends_at=ends)
            .execution_options(synchronize_session="fetch")
        )


def mark_close_deferred(db: Session, code: str, error: str, *, now: datetime | None = None) -> None:
    """After a failed "close now": joining still ends, the sweep retries the close."""
    session = _lock_session_by_code(db, code)
    if session.status in DUE_STATES:
        _end_joining(db, session, now or clock_now())
        record_retry(db, session.id, error)


def cancel_session(
    db: Session,
    code: str,
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    now: datetime | None = None,
) -> GroupSession:
    """Admin cancel: forming, moq_reached or pending_stock -> cancelled; every buyer (confirmed or waiting)
    is told nothing is owed. From pending_stock the units held at close go back to the warehouse and the
    factory is told its open PO is off. Orders already created cannot be cancelled here (Conflict)."""
    at = now or clock_now()
    session = _lock_session_by_code(db, code)
    if session.status not in CANCELLABLE_STATES:
        raise Conflict("status", f"session {session.code} is {session.status} and can no longer be cancelled")
    product = _product(db, session.product_id)
    po = None
    if session.status == SessionStatus.PENDING_STOCK:
        po = db.scalar(
            select(PurchaseOrder)
            .where(PurchaseOrder.session_id == session.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert po is not None, f"session {session.code} waits for stock without a purchase order"
        incoming = {line.variant_id: line.quantity for line in po.lines}
        # what close held: the demand the lots do not cover (the same rule as plan_stock)
        held = {
            v: d - incoming.get(v, 0) for v, d in _demand(db, session.id).items() if d > incoming.get(v, 0)
        }
        if held:
            (warehouse or warehouse_for(settings, db)).release(
                product, lines_for(product.variants, held), key=_hold_key(session, "close")
            )
    source = session.status
    transition(
        db, session.id, SessionStatus.CANCELLED, (source,), cancelled_at=at, closed_at=session.closed_at or at
    )
    notify_buyers(
        db,
        settings,
        session,
        product,
        notice=Notice.SESSION_CANCELLED,
        key=f"session_cancelled:{session.id}",
        text="notify_session_cancelled",
        statuses=(ParticipantStatus.CONFIRMED, ParticipantStatus.WAITING),
    )
    view = load_view(db, session)
    for participant in _participants(db, session.id, ParticipantStatus.WAITING):
        participant.status = ParticipantStatus.NOT_ADMITTED
        view.count(db, participant.variant_id, waiting=-participant.quantity)
    if po is not None and po.status in (PurchaseOrderStatus.REQUESTED, PurchaseOrderStatus.CONFIRMED):
        notify(
            db,
            settings,
            notice=Notice.FACTORY_PO_CANCELLED,
            key=f"factory_po_cancelled:{po.id}",
            to_phone=product.factory.phone,
            language="id",
            text="factory_po_cancelled",
            variables=(po.code, product.name),
            session_id=session.id,
            purchase_order_id=po.id,
            po=po.code,
            product=product.name,
        )
    db.flush()
    return session


__all__ = [
    "CloseOutcome",
    "Notice",
    "ReceiveOutcome",
    "SweepResult",
    "StockLine",
    "StockPlan",
    "cancel_session",
    "claim_due_sessions",
    "close_session",
    "close_session_now",
    "find_purchase_order",
    "mark_close_deferred",
    "notify",
    "plan_stock",
    "purchase_order_view",
    "receive_purchase_order",
    "recheck_pending_stock",
    "record_retry",
    "sweep_due_sessions",
    "transition",
]
