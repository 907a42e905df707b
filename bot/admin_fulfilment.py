"""Admin routes for closing, cancelling and receiving stock (nested under `/api/v1`, behind its token).

Each route is one transaction; the outbox messages it wrote are handed to the queue after the commit.
Errors are `core.errors` exceptions, which the admin API turns into JSON 4xx naming the field (a
warehouse outage is 503: nothing changed, try again).
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, jsonify

from core import fulfilment
from core.db import transaction
from core.models import GroupSession
from core.outbox import new_message_ids
from core.warehouse import InsufficientStock, WarehouseUnavailable

admin_fulfilment = Blueprint("admin_fulfilment", __name__)


def _session_json(session: GroupSession) -> dict:
    def stamp(value):
        return value.isoformat() if value else None

    return {
        "code": session.code,
        "status": session.status,
        "ordered_units": session.ordered_units,
        "target_moq": session.target_moq,
        "ends_at": stamp(session.ends_at),
        "closed_at": stamp(session.closed_at),
        "cancelled_at": stamp(session.cancelled_at),
        "last_error": session.last_error,
    }


def _dispatch(ids: list[int]) -> None:
    if ids:
        current_app.config["LAKU_DISPATCH"](ids)


@admin_fulfilment.post("/sessions/<code>/close")
def close_session(code: str):
    """Process the session now: joining ends at once (ends_at moves to now), then it is closed as the sweep
    would. With the warehouse down: 503, joining stays ended and the sweep retries the close."""
    factory = current_app.config["LAKU_DB"]
    settings = current_app.config["LAKU_SETTINGS"]
    try:
        with transaction(factory) as db:
            outcome = fulfilment.close_session_now(db, code, settings)
            ids = new_message_ids(db)
    except (WarehouseUnavailable, InsufficientStock) as error:
        with transaction(factory) as db:
            fulfilment.mark_close_deferred(db, code, str(error))
        if isinstance(error, InsufficientStock):  # stock moved under us: the sweep tries again
            raise WarehouseUnavailable("stock changed during the close; the next sweep retries it") from None
        raise
    _dispatch(ids)
    return jsonify(asdict(outcome) | {"status": outcome.result})


@admin_fulfilment.post("/sessions/<code>/cancel")
def cancel_session(code: str):
    factory = current_app.config["LAKU_DB"]
    with transaction(factory) as db:
        session = fulfilment.cancel_session(db, code, current_app.config["LAKU_SETTINGS"])
        payload = _session_json(session)
        ids = new_message_ids(db)
    _dispatch(ids)
    return jsonify(payload)


@admin_fulfilment.get("/purchase-orders/<code>")
def get_purchase_order(code: str):
    with current_app.config["LAKU_DB"]() as db:
        return jsonify(fulfilment.purchase_order_view(db, code))


@admin_fulfilment.post("/purchase-orders/<code>/receive")
def receive_purchase_order(code: str):
    factory = current_app.config["LAKU_DB"]
    with transaction(factory) as db:
        outcome = fulfilment.receive_purchase_order(db, code, current_app.config["LAKU_SETTINGS"])
        ids = new_message_ids(db)
    _dispatch(ids)
    with factory() as db:
        view = fulfilment.purchase_order_view(db, code)
    return jsonify(view | {"orders_created": outcome.orders, "leftover": outcome.leftover})
