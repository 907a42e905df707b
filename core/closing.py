"""Closing a session, warehouse first: failed, orders from stock, or a purchase order for whole lots.

The life of a session after joining (see docs/design.md, "Settlement at close" and "Expiry (warehouse
first)"): at close, settlement decides which waiting requests are admitted and how many lots to order.

    forming/moq_reached --close--> failed                       (settlement cannot reach target_moq)
                        --close--> orders_created               (the warehouse has every size)
                        --close--> pending_stock --receive--> stock_received --> orders_created
    forming/moq_reached/pending_stock --admin--> cancelled

Every status change is `transition`: one conditional UPDATE from an explicit set of source states, so a
repeat (a second worker, a retried job, a double click in the admin) changes nothing. Every message is an
outbox row with an idempotency key, written in the same transaction as the change it reports.

The sweep (`core.sweep`) closes sessions whose time is up; the admin closes one now (`close_now`) or
cancels it (`cancel`), from the API or the CLI alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from core import notifications
from core.adapters import warehouse_for
from core.clock import as_utc, format_wib, now
from core.errors import Conflict, NotFound
from core.models import (
    GroupSession,
    ParticipantStatus,
    PurchaseOrder,
    PurchaseOrderStatus,
    SessionStatus,
)
from core.orders import create_orders
from core.purchase_orders import create_purchase_order, send_purchase_order
from core.session_rows import (
    allocations_by_variant,
    demand,
    lock_session,
    participants,
    product_with_lots,
)
from core.session_settlement import apply_settlement, settle_session
from core.session_view import load_view
from core.settings import Settings
from core.stock_plan import held_at_close, hold_key, plan_stock
from core.transitions import transition
from core.unit_of_work import Dispatch, operation, unit_of_work
from core.warehouse import InsufficientStock, Warehouse, WarehouseUnavailable, lines_for

DUE_STATES = (SessionStatus.FORMING, SessionStatus.MOQ_REACHED)
CANCELLABLE_STATES = (SessionStatus.FORMING, SessionStatus.MOQ_REACHED, SessionStatus.PENDING_STOCK)


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
    at: datetime | None = None,
) -> CloseOutcome:
    """Close one session whose time is up: settle (docs/design.md, "Settlement at close"), then fail,
    create orders from stock or order the chosen lots from the factory.

    Locks the session row; a session no longer forming/moq_reached is left alone (`not_due`). Raises
    `WarehouseUnavailable` (or `InsufficientStock` when stock moved between the check and the hold) with
    writes already made in this transaction: the caller must roll back (the sweep uses a savepoint per
    session) so the session stays due and is retried by the next sweep.
    """
    at = at or now()
    session = _locked(db, session_id=session.id)
    if session.status not in DUE_STATES:
        return CloseOutcome(session.code, "not_due")
    if as_utc(session.ends_at) > at:
        raise Conflict("ends_at", f"session {session.code} is open until {format_wib(session.ends_at, 'en')}")
    product = product_with_lots(db, session.product_id)
    warehouse = warehouse or warehouse_for(settings, db)

    settled = settle_session(db, session, product, warehouse)
    admitted, not_admitted = apply_settlement(db, settings, session, product, settled, at)
    settlement = settled.settlement
    if not settlement.reached:
        transition(db, session.id, SessionStatus.FAILED, DUE_STATES, closed_at=at, last_error=None)
        notifications.notify_buyers(
            db,
            settings,
            session,
            product,
            notifications.SESSION_FAILED,
            key=f"moq_failed:{session.id}",
            units=settlement.served_units,
            moq=session.target_moq,
        )
        return CloseOutcome(session.code, SessionStatus.FAILED, admitted=admitted, not_admitted=not_admitted)

    # reached at close (by settlement, or a join service that left it forming): no "MOQ reached" message,
    # the buyers hear the outcome below
    transition(
        db,
        session.id,
        SessionStatus.MOQ_REACHED,
        (SessionStatus.FORMING,),
        moq_reached_at=session.moq_reached_at or at,
    )
    allocations = allocations_by_variant(product)
    plan = plan_stock(demand(db, session.id), settled.free_stock or {}, allocations)
    # One rule for the lots: settlement chose k on the same demand and free stock as the stock plan.
    assert plan.lots == settlement.lots, (
        f"stock plan orders {plan.lots} lots, settlement chose {settlement.lots}"
    )
    held_per_order = plan.from_stock and settings.online_payment  # by create_orders, under each order's key
    if any(plan.hold.values()) and not held_per_order:
        warehouse.reserve(product, lines_for(product.variants, plan.hold), key=hold_key(session.id, "close"))

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
        orders = create_orders(db, settings, session, product, at, warehouse)
        return CloseOutcome(
            session.code,
            SessionStatus.ORDERS_CREATED,
            orders=len(orders),
            admitted=admitted,
            not_admitted=not_admitted,
        )

    po = create_purchase_order(db, session, product, plan.lots, plan.incoming, at)
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
    send_purchase_order(db, settings, product, po)
    notifications.notify_buyers(
        db, settings, session, product, notifications.WAITING_FOR_STOCK, key=f"waiting_for_stock:{session.id}"
    )
    return CloseOutcome(
        session.code,
        SessionStatus.PENDING_STOCK,
        purchase_order_code=po.code,
        lots=po.lots,
        admitted=admitted,
        not_admitted=not_admitted,
    )


def _locked(db: Session, *, session_id: int | None = None, code: str | None = None) -> GroupSession:
    session = lock_session(db, session_id=session_id, code=code)
    if session is None:
        raise NotFound(
            "code", f"no session {code}" if code is not None else f"no session with id {session_id}"
        )
    return session


# --- the admin: close now, cancel -------------------------------------------------------------------------


def close_session_now(
    db: Session,
    code: str,
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    at: datetime | None = None,
) -> CloseOutcome:
    """Admin "close now": ends joining at once (`ends_at` = now if it was later), then closes as the sweep
    would. A session that is no longer forming/moq_reached is a Conflict."""
    at = at or now()
    session = _locked(db, code=code)
    if session.status not in DUE_STATES:
        raise Conflict("status", f"session {session.code} is already {session.status}")
    _end_joining(db, session, at)
    return close_session(db, session, warehouse, settings, at=at)


def _end_joining(db: Session, session: GroupSession, at: datetime) -> None:
    if as_utc(session.ends_at) > at:
        ends = max(at, as_utc(session.starts_at) + timedelta(microseconds=1))
        db.execute(
            update(GroupSession)
            .where(GroupSession.id == session.id)
            .values(ends_at=ends)
            .execution_options(synchronize_session="fetch")
        )


def record_retry(db: Session, session_id: int, error: str) -> None:
    """Note why a due session was left for the next sweep (only while it is still due)."""
    db.execute(
        update(GroupSession)
        .where(GroupSession.id == session_id, GroupSession.status.in_(DUE_STATES))
        .values(last_error=error[:2000])
        .execution_options(synchronize_session="fetch")
    )


def mark_close_deferred(db: Session, code: str, error: str, *, at: datetime | None = None) -> None:
    """After a failed "close now": joining still ends, the sweep retries the close."""
    session = _locked(db, code=code)
    if session.status in DUE_STATES:
        _end_joining(db, session, at or now())
        record_retry(db, session.id, error)


def close_now(
    db_factory: sessionmaker[Session],
    dispatch: Dispatch,
    code: str,
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
) -> CloseOutcome:
    """The admin's "close now", from the API or the CLI: one transaction, its messages dispatched after
    the commit. With the warehouse unreachable (or stock moving under the close), the close is deferred:
    joining ends, `last_error` says why, the sweep retries it, and `WarehouseUnavailable` is raised."""
    try:
        with unit_of_work(db_factory, dispatch) as db:
            return close_session_now(db, code, settings, warehouse=warehouse)
    except (WarehouseUnavailable, InsufficientStock) as error:
        with unit_of_work(db_factory, dispatch) as db:
            mark_close_deferred(db, code, str(error))
        if isinstance(error, InsufficientStock):
            raise WarehouseUnavailable("stock changed during the close; the next sweep retries it") from None
        raise


def cancel_session(
    db: Session,
    code: str,
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    at: datetime | None = None,
) -> GroupSession:
    """Admin cancel: forming, moq_reached or pending_stock -> cancelled; every buyer (confirmed or waiting)
    is told nothing is owed. From pending_stock the units held at close go back to the warehouse and the
    factory is told its open PO is off. Orders already created cannot be cancelled here (Conflict)."""
    at = at or now()
    session = _locked(db, code=code)
    if session.status not in CANCELLABLE_STATES:
        raise Conflict("status", f"session {session.code} is {session.status} and can no longer be cancelled")
    product = product_with_lots(db, session.product_id)
    po = None
    if session.status == SessionStatus.PENDING_STOCK:
        po = db.scalar(
            select(PurchaseOrder)
            .where(PurchaseOrder.session_id == session.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert po is not None, f"session {session.code} waits for stock without a purchase order"
        held = held_at_close(demand(db, session.id), {line.variant_id: line.quantity for line in po.lines})
        if held:
            (warehouse or warehouse_for(settings, db)).release(
                product, lines_for(product.variants, held), key=hold_key(session.id, "close")
            )
    transition(
        db,
        session.id,
        SessionStatus.CANCELLED,
        (session.status,),
        cancelled_at=at,
        closed_at=session.closed_at or at,
    )
    notifications.notify_buyers(
        db,
        settings,
        session,
        product,
        notifications.SESSION_CANCELLED,
        key=f"session_cancelled:{session.id}",
        statuses=(ParticipantStatus.CONFIRMED, ParticipantStatus.WAITING),
    )
    view = load_view(db, session)
    for participant in participants(db, session.id, ParticipantStatus.WAITING):
        participant.status = ParticipantStatus.NOT_ADMITTED
        view.count(db, participant.variant_id, waiting=-participant.quantity)
    if po is not None and po.status in (PurchaseOrderStatus.REQUESTED, PurchaseOrderStatus.CONFIRMED):
        notifications.notify_factory(db, settings, notifications.FACTORY_PO_CANCELLED, po, product)
    db.flush()
    return session


cancel = operation(cancel_session)
"""The admin's cancel, from the API or the CLI: `cancel(db_factory, dispatch, code, settings)`."""
