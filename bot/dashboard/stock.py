"""Stock and factories: purchase orders (status, ETA, tracking) with their receipt, and inventory per size.

Receiving calls `core.purchase_orders.receive`, the operation `POST /api/v1/purchase-orders/<code>/receive`
and `flask laku receive-po` call; inventory is set with `InventoryIn` and `core.catalog.set_inventory`,
as `PUT /api/v1/inventory/<sku>`.
"""

from __future__ import annotations

from flask import Blueprint, flash, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot import context, serializers
from bot.admin_schemas import InventoryIn
from bot.dashboard import forms, web
from core import catalog, purchase_orders
from core.errors import DomainError
from core.models import (
    Product,
    PurchaseOrder,
    PurchaseOrderStatus,
    SessionStatus,
    Variant,
    WarehouseInventory,
)

blueprint = Blueprint("stock", __name__, url_prefix="/stock")

PURCHASE_ORDERS = 100


@blueprint.get("/")
def index():
    with context.db_factory()() as db:
        pos = db.scalars(select(PurchaseOrder).order_by(PurchaseOrder.id.desc()).limit(PURCHASE_ORDERS)).all()
        orders = [
            serializers.purchase_order_json(purchase_orders.find_purchase_order(db, po.code), po.session)
            for po in pos
        ]
        for po in orders:  # what the receive button needs; core.purchase_orders.receive decides
            po["receivable"] = (
                po["status"] != PurchaseOrderStatus.RECEIVED
                and po["session"]["status"] == SessionStatus.PENDING_STOCK
            )
        rows = db.execute(
            select(Product, Variant, WarehouseInventory)
            .join(Variant, Variant.product_id == Product.id)
            .outerjoin(WarehouseInventory, WarehouseInventory.variant_id == Variant.id)
            .options(selectinload(Product.allocations))
            .order_by(Product.name, Product.id, Variant.id)
        ).all()
        inventory = [
            {
                "product": product.name,
                "product_sku": product.sku,
                **serializers.inventory_json(variant.sku, row or WarehouseInventory(on_hand=0, reserved=0)),
                "size": variant.size,
            }
            for product, variant, row in rows
        ]
    return render_template(
        "dashboard/stock.html",
        purchase_orders=orders,
        inventory=inventory,
        external_warehouse=context.settings().warehouse_service_url is not None,
    )


@blueprint.post("/purchase-orders/<code>/receive")
def receive(code: str):
    web.attempt(
        lambda: purchase_orders.receive(context.db_factory(), context.dispatch(), code, context.settings()),
        lambda outcome: web.t(
            "stock.received",
            code=outcome.purchase_order_code,
            orders=outcome.orders,
            session=outcome.session_code,
        ),
        web.t("stock.receive_failed", code=code),
    )
    return web.back(url_for("dashboard.stock.index"))


@blueprint.post("/inventory/<sku>")
def set_inventory(sku: str):
    data = forms.without_blanks({"on_hand": forms.number_value(request.form, "on_hand")})
    try:
        on_hand = InventoryIn.model_validate(data).on_hand
        with context.unit_of_work() as db:
            row = catalog.set_inventory(db, variant_sku=sku, on_hand=on_hand)
            flash(web.t("stock.inventory_set", sku=sku, on_hand=row.on_hand), "ok")
    except ValidationError as error:
        messages = forms.validation_errors(error).get("on_hand", [])
        flash(web.t("stock.inventory_refused", sku=sku) + ": " + "; ".join(messages), "error")
    except DomainError as error:
        flash(web.t("stock.inventory_refused", sku=sku) + ": " + error.message, "error")
    return web.back(url_for("dashboard.stock.index", _anchor=f"inventory-{sku}"))
