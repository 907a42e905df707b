"""Settlement of one session from its rows (see docs/design.md, "Settlement at close").

`core.settlement.settle` decides on plain numbers. This module reads what it needs from one session, the
same way for the close and for the operator's "as if it closed now": the confirmed units per size, the
waiting requests oldest first, the warehouse's free stock (through the warehouse port, as the stock plan
reads it) and the product's `excess_weight`. `settle_session` and `preview` only read; `apply_settlement`
is the close's write: the chosen requests confirmed, the others not admitted, each buyer told once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from core import notifications
from core.allocation import WaitingRequest
from core.models import GroupSession, Participant, ParticipantStatus, Product, SessionStatus
from core.session_rows import allocations_by_variant, demand, participants, product_with_lots
from core.session_view import load_view
from core.settings import Settings
from core.settlement import Settlement, settle
from core.texts import rupiah
from core.transitions import rows_changed
from core.warehouse import Warehouse, WarehouseUnavailable


@dataclass(frozen=True)
class SessionSettlement:
    """A session's settlement with the rows and stock it was computed from."""

    settlement: Settlement  # sizes keyed by variant id, requests by participant id
    waiting: list[Participant]  # the waiting requests, oldest first
    free_stock: dict[int, int] | None  # free units per variant id counted; None: not read


def settle_session(
    db: Session, session: GroupSession, product: Product, warehouse: Warehouse | None
) -> SessionSettlement:
    """Settle the session on its current rows. Reads nothing but rows and the warehouse's free stock.

    The warehouse is asked only when the minimum is within reach: settlement fails exactly when the
    confirmed units plus every waiting unit miss it, and then free stock changes nothing, so a failing
    session needs no warehouse (and a warehouse outage does not hold it up). `warehouse=None` settles as
    if the warehouse were empty. Raises `WarehouseUnavailable` when the warehouse does not answer.
    """
    waiting = participants(db, session.id, ParticipantStatus.WAITING)
    confirmed = demand(db, session.id)
    within_reach = sum(confirmed.values()) + sum(p.quantity for p in waiting) >= session.target_moq
    free = warehouse.stock(product, product.variants) if within_reach and warehouse is not None else None
    result = settle(
        allocations_by_variant(product),
        confirmed,
        [WaitingRequest(p.id, p.variant_id, p.quantity) for p in waiting],
        session.target_moq,
        stock=free,
        excess_weight=product.excess_weight,
    )
    return SessionSettlement(result, waiting, free)


def apply_settlement(
    db: Session,
    settings: Settings,
    session: GroupSession,
    product: Product,
    settled: SessionSettlement,
    at: datetime,
) -> tuple[int, int]:
    """Confirm the admitted requests and mark the others not admitted, counters updated, each buyer told:
    confirmed with the amount (`admitted:<participant id>`, the key a join's admission uses too, so a
    request is announced as admitted once) or not confirmed, nothing owed. Returns the request counts
    (admitted, not admitted). Runs under the session lock the close holds."""
    chosen = set(settled.settlement.admitted)
    view = load_view(db, session)
    admitted = not_admitted = 0
    for participant in settled.waiting:
        confirm = participant.id in chosen
        values: dict[str, Any] = {"status": ParticipantStatus.NOT_ADMITTED}
        if confirm:
            values = {"status": ParticipantStatus.CONFIRMED, "joined_at": at}
        moved = rows_changed(
            db,
            update(Participant)
            .where(Participant.id == participant.id, Participant.status == ParticipantStatus.WAITING)
            .values(**values)
            .execution_options(synchronize_session="fetch"),
        )
        if not moved:
            continue
        if confirm:
            admitted += 1
            view.count(
                db, participant.variant_id, ordered=participant.quantity, waiting=-participant.quantity
            )
            notice, key = notifications.ADMITTED_AT_CLOSE, f"admitted:{participant.id}"
        else:
            not_admitted += 1
            view.count(db, participant.variant_id, waiting=-participant.quantity)
            notice, key = notifications.NOT_ADMITTED, f"not_admitted:{participant.id}"
        notifications.notify(
            db,
            settings,
            notice,
            key=key,
            to_phone=participant.buyer.phone,
            language=participant.buyer.language,
            session_id=session.id,
            code=session.code,
            product=product.name,
            size=participant.variant.size,
            quantity=participant.quantity,
            total=rupiah(participant.total),
        )
    db.flush()
    return admitted, not_admitted


# --- the operator's view: as if the session closed now ------------------------------------------------


@dataclass(frozen=True)
class SettlementPreview:
    """What settlement would decide if the session closed now, by size label."""

    reached: bool  # the served units reach the minimum; False: the session would fail
    lots: int
    admitted_units: dict[str, int]  # units admitted from the waiting line, per size
    excess: int  # E
    refused_units: int  # R
    cost: float  # excess_weight * E + R
    admitted_requests: int
    not_admitted_requests: int
    free_stock: dict[str, int] | None  # the free stock counted; None: not read (see `warehouse_error`)
    warehouse_error: str | None = None  # the warehouse did not answer: settled as if it were empty


def preview(db: Session, session: GroupSession, warehouse: Warehouse) -> SettlementPreview | None:
    """Settlement as if the session closed now (None once it is closed: its settlement is done).

    Writes nothing and locks nothing: it reads the rows and asks the warehouse for free stock, like the
    close. With the warehouse down it settles as if the warehouse were empty and says so."""
    if session.status not in SessionStatus.JOINABLE:
        return None
    product = product_with_lots(db, session.product_id)
    error = None
    try:
        settled = settle_session(db, session, product, warehouse)
    except WarehouseUnavailable as unavailable:
        error = unavailable.message
        settled = settle_session(db, session, product, None)
    result = settled.settlement
    size_of = {v.id: v.size for v in product.variants}
    return SettlementPreview(
        reached=result.reached,
        lots=result.lots,
        admitted_units={size: result.admitted_units.get(v, 0) for v, size in size_of.items()},
        excess=result.excess,
        refused_units=result.refused_units,
        cost=result.cost,
        admitted_requests=len(result.admitted),
        not_admitted_requests=len(result.not_admitted),
        free_stock=None
        if settled.free_stock is None
        else {size: settled.free_stock.get(v, 0) for v, size in size_of.items()},
        warehouse_error=error,
    )
