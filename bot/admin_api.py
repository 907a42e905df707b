"""Admin JSON API under `/api/v1`, behind `Authorization: Bearer $ADMIN_TOKEN`.

Every write is one transaction and validated before anything is written: a 4xx leaves no rows.
Errors are JSON `{"error": ..., "field": ...}` naming the offending field.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from bot.admin_fulfilment import admin_fulfilment
from bot.admin_schemas import CONTROL, FactoryIn, InventoryIn, ProductIn, SessionIn, iso
from core import catalog, joining
from core.db import transaction
from core.errors import DomainError, NotFound
from core.models import Factory, InboundMessage, OutboundMessage, Product

blueprint = Blueprint("admin_api", __name__, url_prefix="/api/v1")


def error(status: int, message: str, field: str | None = None, **extra: Any):
    return jsonify(error=message, field=field, **extra), status


@blueprint.before_request
def require_admin_token():
    token = current_app.config["LAKU_SETTINGS"].admin_token
    if not token:
        return error(403, "the admin API is disabled: set ADMIN_TOKEN to enable it")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return error(401, "missing or wrong bearer token", "Authorization")
    for name, value in (request.view_args or {}).items():
        # A code or SKU with control characters (or absurdly long) names no row; answer before any query.
        if isinstance(value, str) and (CONTROL.search(value) or len(value) > 64):
            return error(404, f"{name}: no such {name}", name)
    return None


def body(schema: type[BaseModel]) -> Any:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise DomainError("body", "must be a JSON object (Content-Type: application/json)")
    return schema.model_validate(data)


def _handle_validation(exc: ValidationError):
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    details = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
        for e in exc.errors(include_url=False)
    ]
    return error(422, f"{field}: {first['msg']}", field, details=details)


def _handle_domain(exc: DomainError):
    status = 400 if exc.field == "body" else exc.status
    return error(status, f"{exc.field}: {exc.message}", exc.field)


def _handle_http(exc: HTTPException):
    if not request.path.startswith("/api/"):
        return exc
    return error(exc.code or 500, exc.description or exc.name)


def _created(payload: dict):
    return jsonify(payload), 201


def factory_json(factory: Factory) -> dict:
    return {"id": factory.id, "name": factory.name, "phone": factory.phone, "address": factory.address}


def product_json(product: Product) -> dict:
    allocations = catalog.product_allocations(product)
    return {
        "id": product.id,
        "factory_id": product.factory_id,
        "name": product.name,
        "sku": product.sku,
        "price": product.price,
        "grosir_unit_size": product.grosir_unit_size,
        "lead_lots": product.lead_lots,
        "allocation_policy": product.allocation_policy,
        "waitlist_enabled": product.waitlist_enabled,
        "variants": [
            {"id": v.id, "size": v.size, "sku": v.sku, "units_per_lot": allocations.get(v.size)}
            for v in product.variants
        ],
    }


def session_json(view: joining.SessionView) -> dict:
    session = view.session
    sizes = []
    for size in view.sizes:
        state = view.states[size]
        needs = view.catch_up(size, 1) if state.locked else []
        sizes.append(
            {
                "size": size,
                "allocation": state.allocation,
                "ordered": state.ordered,
                "cap": state.cap,
                "available": state.available,
                "locked": state.locked,
                "waiting": view.waiting.get(size, 0),
                "unlocks_after": None
                if needs is None
                else [{"size": n.size, "units": n.units} for n in needs],
            }
        )
    timestamps = (
        "starts_at ends_at moq_reached_at warehouse_check_at factory_notified_at stock_received_at "
        "orders_created_at closed_at cancelled_at created_at"
    ).split()
    return {
        "code": session.code,
        "status": session.status,
        "product": {"id": view.product.id, "name": view.product.name, "sku": view.product.sku},
        "price": session.price,
        "target_moq": session.target_moq,
        "units": session.ordered_units,
        "waiting_units": sum(view.waiting.values()),
        "moq_reached": session.ordered_units >= session.target_moq,
        "lead_lots": view.product.lead_lots,
        "allocation_policy": view.product.allocation_policy,
        "waitlist_enabled": view.product.waitlist_enabled,
        "warehouse_has_stock": session.warehouse_has_stock,
        "factory_whatsapp_sent": session.factory_whatsapp_sent,
        "grosir_units_needed": session.grosir_units_needed,
        "last_error": session.last_error,
        **{name: iso(getattr(session, name)) for name in timestamps},
        "sizes": sizes,
    }


@blueprint.post("/factories")
def create_factory():
    data = body(FactoryIn)
    settings = current_app.config["LAKU_SETTINGS"]
    with transaction(current_app.config["LAKU_DB"]) as db:
        factory = catalog.create_factory(
            db, name=data.name, phone=data.phone, address=data.address, region=settings.default_country
        )
        payload = factory_json(factory)
    return _created(payload)


@blueprint.post("/products")
def create_product():
    data = body(ProductIn)
    with transaction(current_app.config["LAKU_DB"]) as db:
        product = data.create(db)
        db.refresh(product)
        payload = product_json(product)
    return _created(payload)


@blueprint.post("/sessions")
def create_session():
    data = body(SessionIn)
    with transaction(current_app.config["LAKU_DB"]) as db:
        session = catalog.create_session(
            db,
            product_id=data.product_id,
            target_moq=data.target_moq,
            ends_at=data.ends_at,
            starts_at=data.starts_at,
            price=data.price,
            code=data.code,
        )
        payload = session_json(joining.load_view(db, session))
    return _created(payload)


@blueprint.get("/sessions/<code>")
def get_session(code: str):
    with current_app.config["LAKU_DB"]() as db:
        try:
            session = joining.find_session(db, code)
        except joining.Refusal:
            raise NotFound("code", f"no session {code.upper()}") from None
        return jsonify(session_json(joining.load_view(db, session)))


@blueprint.put("/inventory/<sku>")
def put_inventory(sku: str):
    data = body(InventoryIn)
    with transaction(current_app.config["LAKU_DB"]) as db:
        row = catalog.set_inventory(db, variant_sku=sku, on_hand=data.on_hand)
        payload = {
            "sku": sku,
            "on_hand": row.on_hand,
            "reserved": row.reserved,
            "available": row.on_hand - row.reserved,
        }
    return jsonify(payload)


@blueprint.get("/messages")
def list_messages():
    raw_limit = request.args.get("limit", "50")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 500:
        raise DomainError("limit", "must be a whole number from 1 to 500")
    limit = int(raw_limit)
    with current_app.config["LAKU_DB"]() as db:
        inbound = db.scalars(select(InboundMessage).order_by(InboundMessage.id.desc()).limit(limit))
        outbound = db.scalars(select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(limit))
        return jsonify(
            inbound=[
                {
                    "message_sid": m.message_sid,
                    "from": m.from_phone,
                    "body": m.body,
                    "command": m.command,
                    "reply": m.reply,
                    "received_at": iso(m.received_at),
                }
                for m in inbound
            ],
            outbound=[
                {
                    "id": m.id,
                    "to": m.to_phone,
                    "kind": m.kind,
                    "body": m.body,
                    "content_sid": m.content_sid,
                    "status": m.status,
                    "provider_sid": m.provider_sid,
                    "attempts": m.attempts,
                    "last_error": m.last_error,
                    "created_at": iso(m.created_at),
                    "sent_at": iso(m.sent_at),
                }
                for m in outbound
            ],
        )


blueprint.register_blueprint(admin_fulfilment)  # nested once, at import: the token check applies to it too


def register(app: Flask) -> None:
    app.register_blueprint(blueprint)
    app.register_error_handler(ValidationError, _handle_validation)
    app.register_error_handler(DomainError, _handle_domain)
    app.register_error_handler(HTTPException, _handle_http)
