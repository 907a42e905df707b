"""Catalog: factories, products with their lot mix, and new sessions, through the admin API's validation.

Every form goes through `bot.dashboard.forms.submit`: the API's schema, then the same `core.catalog`
function (`FactoryIn.create`, `ProductIn.create`, `SessionIn.create`), so a form refuses exactly what
`POST /api/v1/...` refuses, with the message next to the field it names.
"""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot import context, serializers
from bot.admin_schemas import FactoryIn, ProductIn, SessionIn
from bot.dashboard import forms, web
from core.models import AllocationPolicyName, Factory, Product

blueprint = Blueprint("catalog", __name__, url_prefix="/catalog")

VARIANT_ROWS = 6  # size rows on an empty product form; the script adds more, and so does a resubmit
MAX_VARIANT_ROWS = 50
VARIANT_FIELDS = ("size", "sku", "units_per_lot")
ROW_FIELD = re.compile(r"^variants-(\d+)-(size|sku|units_per_lot)$")


def _factories() -> list[dict]:
    with context.db_factory()() as db:
        return [serializers.factory_json(f) for f in db.scalars(select(Factory).order_by(Factory.name))]


def _products() -> list[dict]:
    with context.db_factory()() as db:
        products = db.scalars(
            select(Product)
            .options(selectinload(Product.variants), selectinload(Product.allocations))
            .order_by(Product.name)
        )
        return [serializers.product_json(p) for p in products]


@blueprint.get("/")
def index():
    return render_template("dashboard/catalog.html", factories=_factories(), products=_products())


# --- factories -------------------------------------------------------------------------------------------


@blueprint.route("/factories/new", methods=["GET", "POST"])
def new_factory():
    errors: forms.Errors = {}
    if request.method == "POST":
        data = forms.without_blanks(
            {name: forms.text_value(request.form, name) for name in ("name", "phone", "address")}
        )
        region = context.settings().default_country
        made = forms.submit(
            FactoryIn, data, lambda db, factory: serializers.factory_json(factory.create(db, region)), errors
        )
        if made is not None:
            flash(web.t("catalog.factory_created", name=made["name"]), "ok")
            return redirect(url_for("dashboard.catalog.index"))
    return render_template("dashboard/factory_form.html", form=request.form, errors=errors), (
        422 if errors else 200
    )


# --- products --------------------------------------------------------------------------------------------


def _variant_rows(form) -> list[dict[str, str]]:
    """The size rows as typed (blank ones included, so errors stay beside the row they belong to)."""
    count = 0
    for name in form:
        match = ROW_FIELD.match(name)
        if match:
            count = max(count, int(match.group(1)) + 1)
    count = min(max(count, VARIANT_ROWS), MAX_VARIANT_ROWS)
    return [
        {field: form.get(f"variants-{index}-{field}", "") for field in VARIANT_FIELDS}
        for index in range(count)
    ]


def _product_data(form, rows: list[dict[str, str]]) -> tuple[dict, list[int]]:
    """The API's product JSON from the form; the size rows that were filled in (their form indexes). A
    blank variant SKU is the product SKU and the size (`KAOS-M`), as the form's hint says."""
    filled = [index for index, row in enumerate(rows) if any(value.strip() for value in row.values())]
    sku = forms.text_value(form, "sku")
    variants = []
    for index in filled:
        row = rows[index]
        size = row["size"].strip()
        variant = {
            "size": size,
            "sku": row["sku"].strip() or (f"{sku}-{size.upper()}" if sku and size else ""),
        }
        units = forms.number_value(row, "units_per_lot")
        if units is not None:
            variant["units_per_lot"] = units
        variants.append(variant)
    data = forms.without_blanks(
        {
            "factory_id": forms.number_value(form, "factory_id"),
            "name": forms.text_value(form, "name"),
            "sku": sku,
            "price": forms.number_value(form, "price"),
            "grosir_unit_size": forms.number_value(form, "grosir_unit_size"),
            "lead_lots": forms.number_value(form, "lead_lots"),
            "allocation_policy": forms.text_value(form, "allocation_policy"),
        }
    )
    data["waitlist_enabled"] = form.get("waitlist_enabled") == "on"
    data["variants"] = variants
    return data, filled


@blueprint.route("/products/new", methods=["GET", "POST"])
def new_product():
    errors: forms.Errors = {}
    rows = _variant_rows(request.form)
    if request.method == "POST":
        data, filled = _product_data(request.form, rows)

        def rename(field: str) -> str:  # variants.<n>.x -> the form row it came from
            parts = field.split(".")
            if (
                parts[0] == "variants"
                and len(parts) > 1
                and parts[1].isdigit()
                and int(parts[1]) < len(filled)
            ):
                parts[1] = str(filled[int(parts[1])])
            return ".".join(parts)

        made = forms.submit(
            ProductIn, data, lambda db, product: serializers.product_json(product.create(db)), errors, rename
        )
        if made is not None:
            flash(web.t("catalog.product_created", name=made["name"], sku=made["sku"]), "ok")
            return redirect(url_for("dashboard.catalog.new_session", product_id=made["id"]))
    form = request.form if request.method == "POST" else {"lead_lots": "2", "waitlist_enabled": "on"}
    return render_template(
        "dashboard/product_form.html",
        form=form,
        rows=rows,
        errors=errors,
        factories=_factories(),
        policies=AllocationPolicyName.ALL,
    ), (422 if errors else 200)


# --- sessions --------------------------------------------------------------------------------------------


@blueprint.route("/sessions/new", methods=["GET", "POST"])
def new_session():
    errors: forms.Errors = {}
    if request.method == "POST":
        data = forms.without_blanks(
            {
                "product_id": forms.number_value(request.form, "product_id"),
                "target_moq": forms.number_value(request.form, "target_moq"),
                "ends_at": forms.wib_value(request.form, "ends_at"),
                "price": forms.number_value(request.form, "price"),
                "code": forms.text_value(request.form, "code"),
            }
        )
        made = forms.submit(SessionIn, data, lambda db, session: session.create(db).code, errors)
        if made is not None:
            flash(web.t("catalog.session_created", code=made), "ok")
            return redirect(url_for("dashboard.sessions.show", code=made))
    form = request.form if request.method == "POST" else {"product_id": request.args.get("product_id", "")}
    return render_template("dashboard/session_form.html", form=form, errors=errors, products=_products()), (
        422 if errors else 200
    )
