"""Purchase orders: created at close for the lots the warehouse lacks, sent to the factory once, received.

The factory's answers (SIAP / TOLAK / KIRIM) and the reminder are `core.factory_replies`. When the goods
arrive (the admin's receive, or an external warehouse reporting them, `recheck_pending_stock`), the
session takes what it needs from the lots (`core.stock_plan.taken_from_lots`), its orders are created,
and the rest of the lots stays free in the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from core import notifications
from core.adapters import warehouse_for
from core.clock import format_wib, now
from core.errors import Conflict, NotFound
from core.models import (
    GroupSession,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    SessionStatus,
)
from core.orders import create_orders, short_code
from core.session_rows import demand, lock_session, normal_code, product_with_lots
from core.settings import Settings
from core.stock_plan import held_at_close, hold_key, taken_from_lots
from core.texts import render
from core.transitions import transition
from core.unit_of_work import operation, savepoint
from core.warehouse import InsufficientStock, Warehouse, lines_for


def create_purchase_order(
    db: Session, session: GroupSession, product: Product, lots: int, incoming: dict[int, int], at: datetime
) -> PurchaseOrder:
    po = PurchaseOrder(
        code=short_code(f"PO-{session.code}-1", f"PO-S{session.id}-1"),
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


def send_purchase_order(db: Session, settings: Settings, product: Product, po: PurchaseOrder) -> None:
    """The one WhatsApp to the factory. `factory_whatsapp_sent`/`factory_notified_at` are set by the sender
    (core.delivery) once Twilio accepts it, not here."""
    lines = sorted(po.lines, key=lambda line: line.variant_id)
    text = "\n".join(
        render("id", "factory_po_line", size=line.variant.size, quantity=line.quantity) for line in lines
    )
    notifications.notify_factory(
        db,
        settings,
        notifications.FACTORY_PO if product.allocations else notifications.FACTORY_PO_UNITS,
        po,
        product,
        lots=po.lots,
        lot_size=product.grosir_unit_size or "",
        lines=text,
        total=sum(line.quantity for line in lines),
        **answers(po.code),
    )


def answers(po_code: str) -> dict[str, str]:
    """The factory's three answers as it types them (and as quick-reply button payloads)."""
    return {"confirm": f"SIAP {po_code}", "decline": f"TOLAK {po_code}", "ship": f"KIRIM {po_code}"}


def find_purchase_order(db: Session, code: str, *, lock: bool = False) -> PurchaseOrder:
    """A purchase order with its lines (and their sizes) loaded; NotFound if there is none."""
    query = (
        select(PurchaseOrder)
        .where(PurchaseOrder.code == normal_code(code))
        .options(selectinload(PurchaseOrder.lines).selectinload(PurchaseOrderLine.variant))
        .execution_options(populate_existing=True)
    )
    po = db.scalar(query.with_for_update(of=PurchaseOrder) if lock else query)
    if po is None:
        raise NotFound("code", f"no purchase order {code}")
    return po


def purchase_orders_of(db: Session, session_id: int) -> list[PurchaseOrder]:
    return list(
        db.scalars(
            select(PurchaseOrder).where(PurchaseOrder.session_id == session_id).order_by(PurchaseOrder.id)
        )
    )


# --- stock arriving --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiveOutcome:
    purchase_order_code: str
    session_code: str
    orders: int
    leftover: dict[str, int]  # size -> units of this PO left free in the warehouse


def _stock_received(
    db: Session,
    settings: Settings,
    warehouse: Warehouse,
    session: GroupSession,
    product: Product,
    po: PurchaseOrder,
    at: datetime,
) -> ReceiveOutcome:
    """The PO's units are in the warehouse: hold what the session needs from them, create the orders.

    With online payment every order is held under its own key instead (`core.orders.create_orders`), so
    what the session held at close is given back first and held again, per order."""
    incoming = {line.variant_id: line.quantity for line in po.lines}
    wanted = demand(db, session.id)
    taken = taken_from_lots(wanted, incoming)
    if settings.online_payment:
        held = held_at_close(wanted, incoming)
        if held:
            warehouse.release(product, lines_for(product.variants, held), key=hold_key(session.id, "close"))
    elif taken:
        warehouse.reserve(product, lines_for(product.variants, taken), key=hold_key(session.id, "receipt"))
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
    orders = create_orders(db, settings, session, product, at, warehouse)
    size_of = {v.id: v.size for v in product.variants}
    leftover = {size_of[v]: units - taken.get(v, 0) for v, units in incoming.items()}
    return ReceiveOutcome(po.code, session.code, len(orders), leftover)


def receive_purchase_order(
    db: Session,
    po_code: str,
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    at: datetime | None = None,
) -> ReceiveOutcome:
    """The admin received a PO's goods: add them to the warehouse, then `stock_received` -> orders.

    Once per PO: a second receive raises Conflict and changes nothing. A declined PO may still be received
    (the admin sourced the units elsewhere under the same PO). Units beyond the session's demand stay free
    in the warehouse for later sessions.
    """
    at = at or now()
    po = find_purchase_order(db, po_code)
    session = lock_session(db, session_id=po.session_id)  # session before PO, the order every path locks in
    assert session is not None
    po = find_purchase_order(db, po_code, lock=True)
    if po.status == PurchaseOrderStatus.RECEIVED:
        when = format_wib(po.received_at, "en") if po.received_at else "earlier"
        raise Conflict("code", f"purchase order {po.code} was already received ({when})")
    if session.status != SessionStatus.PENDING_STOCK:
        raise Conflict("status", f"session {session.code} is {session.status}, not waiting for stock")
    product = product_with_lots(db, session.product_id)
    warehouse = warehouse or warehouse_for(settings, db)
    incoming = {line.variant_id: line.quantity for line in po.lines}
    warehouse.receive(product, lines_for(product.variants, incoming), key=f"po-{po.code}")
    return _stock_received(db, settings, warehouse, session, product, po, at)


receive = operation(receive_purchase_order)
"""The admin's receive, from the API or the CLI: `receive(db_factory, dispatch, po_code, settings)`."""


def recheck_pending_stock(
    db: Session,
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    at: datetime | None = None,
    limit: int = 50,
) -> list[str]:
    """For an external warehouse that reports arrivals itself: sessions waiting for stock whose remaining
    units are now free get `stock_received` and their orders. Returns the session codes moved on.

    Raises `WarehouseUnavailable` like `core.closing.close_session`; the caller rolls back.
    """
    at = at or now()
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
        product = product_with_lots(db, session.product_id)
        needed = taken_from_lots(
            demand(db, session.id), {line.variant_id: line.quantity for line in po.lines}
        )
        free = warehouse.stock(product, [v for v in product.variants if v.id in needed])
        session.warehouse_check_at = at
        if all(free.get(v, 0) >= units for v, units in needed.items()):
            try:
                with savepoint(db):
                    _stock_received(db, settings, warehouse, session, product, po, at)
            except InsufficientStock:
                continue  # moved between the check and the hold: next time
            moved.append(session.code)
    db.flush()
    return moved
