"""Admin JSON API under `/api/v1`, behind `Authorization: Bearer $ADMIN_TOKEN`: routes only.

Each route validates its input (`bot.admin_schemas`), runs one core operation as one unit of work, and
shapes the answer with `bot.serializers`. Errors are `core.errors` exceptions, mapped to statuses and
JSON by `bot.http_errors`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import context, serializers
from bot.admin_schemas import CONTROL, FactoryIn, InventoryIn, ProductIn, SessionIn, whole_number
from bot.http_errors import error_response
from core import catalog, closing, payment_summary, purchase_orders, session_rows, session_settlement, sharing
from core.adapters import warehouse_for
from core.errors import Invalid, NotFound
from core.models import GroupSession, InboundMessage, OutboundMessage
from core.session_view import load_view

blueprint = Blueprint("admin_api", __name__, url_prefix="/api/v1")


@blueprint.before_request
def require_admin_token():
    token = context.settings().admin_token
    if not token:
        return error_response(403, "the admin API is disabled: set ADMIN_TOKEN to enable it")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return error_response(401, "missing or wrong bearer token", "Authorization")
    for name, value in (request.view_args or {}).items():
        # A code or SKU with control characters (or absurdly long) names no row; answer before any query.
        if isinstance(value, str) and (CONTROL.search(value) or len(value) > 64):
            return error_response(404, f"{name}: no such {name}", name)
    return None


def body(schema: type[BaseModel]) -> Any:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid("body", "must be a JSON object (Content-Type: application/json)")
    return schema.model_validate(data)


def session_payload(db: Session, session: GroupSession) -> dict:
    """`GET /sessions/<code>`'s JSON; the dashboard renders the same dict, so the two never disagree. Its
    settlement is as if the session closed now: read-only, nothing is written or locked."""
    view = load_view(db, session)
    return serializers.session_json(
        view,
        purchase_orders.purchase_orders_of(db, session.id),
        payment_summary.session_totals(db, session.id),
        sharing.session_referrals(db, session.id),
        session_settlement.preview(db, session, warehouse_for(context.settings(), db)),
    )


# --- setting up -------------------------------------------------------------------------------------------


def _created(make: Callable[[Session], dict]):
    """Run `make(db)` as one unit of work; its JSON with 201 Created."""
    with context.unit_of_work() as db:
        payload = make(db)
    return jsonify(payload), 201


@blueprint.post("/factories")
def create_factory():
    data = body(FactoryIn)
    region = context.settings().default_country
    return _created(lambda db: serializers.factory_json(data.create(db, region)))


@blueprint.post("/products")
def create_product():
    data = body(ProductIn)
    return _created(lambda db: serializers.product_json(data.create(db)))


@blueprint.post("/sessions")
def create_session():
    data = body(SessionIn)
    return _created(lambda db: session_payload(db, data.create(db)))


@blueprint.put("/inventory/<sku>")
def put_inventory(sku: str):
    data = body(InventoryIn)
    with context.unit_of_work() as db:
        row = catalog.set_inventory(db, variant_sku=sku, on_hand=data.on_hand)
        payload = serializers.inventory_json(sku, row)
    return jsonify(payload)


# --- sessions ---------------------------------------------------------------------------------------------


@blueprint.get("/sessions/<code>")
def get_session(code: str):
    with context.db_factory()() as db:
        session = session_rows.find_session(db, code)
        if session is None:
            raise NotFound("code", f"no session {session_rows.normal_code(code)}")
        return jsonify(session_payload(db, session))


@blueprint.get("/referrals")
def list_referrals():
    """`?session=<code>`: who brought whom into the session, and its top sharers."""
    code = request.args.get("session", "")
    if not code or CONTROL.search(code) or len(code) > 64:
        raise Invalid("session", "give the session code: /referrals?session=<code>")
    with context.db_factory()() as db:
        session = session_rows.find_session(db, code)
        if session is None:
            raise NotFound("session", f"no session {session_rows.normal_code(code)}")
        summary = sharing.session_referrals(db, session.id, top=sharing.TOP_SHARERS)
        rows = sharing.referral_rows(db, session.id)
        return jsonify(serializers.referral_list_json(session, summary, rows))


@blueprint.post("/sessions/<code>/close")
def close_session(code: str):
    """Process the session now: joining ends at once (ends_at moves to now), then it is closed as the sweep
    would. With the warehouse down: 503, joining stays ended and the sweep retries the close."""
    outcome = closing.close_now(context.db_factory(), context.dispatch(), code, context.settings())
    return jsonify(serializers.close_json(outcome))


@blueprint.post("/sessions/<code>/cancel")
def cancel_session(code: str):
    closing.cancel(context.db_factory(), context.dispatch(), code, context.settings())
    return get_session(code)


# --- purchase orders --------------------------------------------------------------------------------------


def _purchase_order_json(code: str) -> dict:
    with context.db_factory()() as db:
        po = purchase_orders.find_purchase_order(db, code)
        return serializers.purchase_order_json(po, po.session)


@blueprint.get("/purchase-orders/<code>")
def get_purchase_order(code: str):
    return jsonify(_purchase_order_json(code))


@blueprint.post("/purchase-orders/<code>/receive")
def receive_purchase_order(code: str):
    outcome = purchase_orders.receive(context.db_factory(), context.dispatch(), code, context.settings())
    return jsonify(_purchase_order_json(code) | serializers.receipt_json(outcome))


# --- messages ---------------------------------------------------------------------------------------------


@blueprint.get("/messages")
def list_messages():
    limit = whole_number(request.args.get("limit", "50"), "limit", 1, 500)
    with context.db_factory()() as db:
        inbound = db.scalars(select(InboundMessage).order_by(InboundMessage.id.desc()).limit(limit)).all()
        outbound = db.scalars(select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(limit)).all()
        return jsonify(serializers.messages_json(list(inbound), list(outbound)))


def register(app: Flask) -> None:
    app.register_blueprint(blueprint)
