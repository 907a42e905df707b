"""Setting up what buyers can join: factories, products with their grosir lots, sessions, stock.

Each function validates everything before it writes anything, so a refused request leaves no rows.
Used by the admin API, the CLI and the demo data alike.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import as_utc, now
from core.errors import Conflict, Invalid, NotFound
from core.models import (
    AllocationPolicyName,
    Factory,
    GrosirVariantAllocation,
    GroupSession,
    Product,
    SessionStatus,
    SessionVariantCounter,
    Variant,
    WarehouseInventory,
)
from core.phones import InvalidPhone, normalise
from core.understanding import SIZE, session_code_problem
from core.vocabulary import forget as forget_vocabulary

MAX_EXCESS_WEIGHT = Decimal(1000)
EXCESS_WEIGHT_PLACES = 4  # the column is NUMERIC(10, 4)


@dataclass(frozen=True)
class VariantSpec:
    size: str
    sku: str
    units_per_lot: int | None = None


def create_factory(
    db: Session, *, name: str, phone: str, address: str | None = None, region: str = "ID"
) -> Factory:
    name = (name or "").strip()
    if not name:
        raise Invalid("name", "must not be empty")
    try:
        e164 = normalise(phone, region)
    except InvalidPhone as error:
        raise Invalid("phone", str(error)) from None
    if db.scalar(select(Factory.id).where(Factory.phone == e164)) is not None:
        raise Conflict("phone", f"a factory with phone {e164} already exists")
    factory = Factory(name=name, phone=e164, address=address)
    db.add(factory)
    db.flush()
    return factory


def create_product(
    db: Session,
    *,
    factory_id: int,
    name: str,
    sku: str,
    price: int,
    variants: list[VariantSpec],
    grosir_unit_size: int | None = None,
    lead_lots: int = 2,
    allocation_policy: str = AllocationPolicyName.LOT_BALANCED,
    waitlist_enabled: bool = True,
    excess_weight: Decimal | int | str = 1,
) -> Product:
    """A product with its sizes. With allocations, they must cover every size and sum to the lot size."""
    if db.get(Factory, factory_id) is None:
        raise NotFound("factory_id", f"no factory with id {factory_id}")
    if not (name or "").strip():
        raise Invalid("name", "must not be empty")
    if not (sku or "").strip():
        raise Invalid("sku", "must not be empty")
    if price < 0:
        raise Invalid("price", "must be zero or more whole rupiah")
    if lead_lots < 1:
        raise Invalid("lead_lots", "must be at least 1")
    if allocation_policy not in AllocationPolicyName.ALL:
        raise Invalid("allocation_policy", f"must be one of {', '.join(AllocationPolicyName.ALL)}")
    weight = excess_weight_from(excess_weight)
    if not variants:
        raise Invalid("variants", "a product needs at least one size")
    sizes = [v.size.strip().upper() for v in variants]
    for index, size in enumerate(sizes):
        if not SIZE.match(size):
            raise Invalid(f"variants.{index}.size", f"{variants[index].size!r} is not a valid size label")
    if len(set(sizes)) != len(sizes):
        raise Invalid("variants", "size labels must be unique")
    skus = [sku, *(v.sku for v in variants)]
    if len(set(skus)) != len(skus):
        raise Invalid("variants", "product and variant SKUs must all be different")
    taken = [
        *db.scalars(select(Product.sku).where(Product.sku.in_(skus))),
        *db.scalars(select(Variant.sku).where(Variant.sku.in_(skus))),
    ]
    if taken:
        raise Conflict("sku", f"SKU already in use: {', '.join(sorted(set(taken)))}")

    allocated = [v.units_per_lot for v in variants]
    if any(a is not None for a in allocated):
        if any(a is None for a in allocated):
            raise Invalid("variants", "either every size has units_per_lot or none has")
        for index, units in enumerate(allocated):
            if units is None or units <= 0:
                raise Invalid(f"variants.{index}.units_per_lot", "must be a positive whole number")
        total = sum(a for a in allocated if a is not None)
        if grosir_unit_size is None:
            raise Invalid("grosir_unit_size", "required when sizes have units_per_lot")
        if total != grosir_unit_size:
            raise Invalid(
                "grosir_unit_size",
                f"allocations sum to {total} units but grosir_unit_size is {grosir_unit_size}",
            )
    elif grosir_unit_size is not None:
        raise Invalid("variants", "grosir_unit_size given but no size has units_per_lot")

    product = Product(
        factory_id=factory_id,
        name=name.strip(),
        sku=sku,
        price=price,
        grosir_unit_size=grosir_unit_size,
        lead_lots=lead_lots,
        allocation_policy=allocation_policy,
        waitlist_enabled=waitlist_enabled,
        excess_weight=weight,
    )
    db.add(product)
    db.flush()
    for size, spec in zip(sizes, variants, strict=True):
        variant = Variant(product_id=product.id, size=size, sku=spec.sku)
        db.add(variant)
        db.flush()
        if spec.units_per_lot is not None:
            db.add(
                GrosirVariantAllocation(
                    product_id=product.id, variant_id=variant.id, units_per_lot=spec.units_per_lot
                )
            )
        db.add(WarehouseInventory(product_id=product.id, variant_id=variant.id, on_hand=0, reserved=0))
    db.flush()
    db.refresh(product)  # with its sizes and allocations
    return product


def excess_weight_from(value: object) -> Decimal:
    """A product's `excess_weight` read exactly as written: a number from 0 to 1000 with at most four
    decimals (`0.1` is one tenth, not the binary float nearest to it)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise Invalid("excess_weight", 'must be a number such as 1, 0.25 or "0.1"')
    try:
        weight = Decimal(str(value).strip())
    except InvalidOperation:
        raise Invalid("excess_weight", f"{value!r} is not a number") from None
    if not weight.is_finite() or not 0 <= weight <= MAX_EXCESS_WEIGHT:
        raise Invalid("excess_weight", f"must be from 0 to {MAX_EXCESS_WEIGHT}")
    if weight != weight.quantize(Decimal(1).scaleb(-EXCESS_WEIGHT_PLACES)):
        raise Invalid("excess_weight", f"at most {EXCESS_WEIGHT_PLACES} decimal places")
    return weight


def decimal_text(value: Decimal) -> str:
    """`Decimal("0.1000")` -> `"0.1"`, `Decimal("100")` -> `"100"`: how a stored decimal is shown."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def new_session_code(db: Session, prefix: str = "GB") -> str:
    while True:
        code = f"{prefix}{secrets.randbelow(9000) + 1000}"
        if db.scalar(select(GroupSession.id).where(GroupSession.code == code)) is None:
            return code


def create_session(
    db: Session,
    *,
    product_id: int,
    target_moq: int,
    ends_at: datetime,
    starts_at: datetime | None = None,
    price: int | None = None,
    code: str | None = None,
) -> GroupSession:
    product = db.get(Product, product_id)
    if product is None:
        raise NotFound("product_id", f"no product with id {product_id}")
    if target_moq <= 0:
        raise Invalid("target_moq", "must be a positive number of units")
    starts = as_utc(starts_at) if starts_at else now()
    ends = as_utc(ends_at)
    if ends <= starts:
        raise Invalid("ends_at", "must be after starts_at")
    if ends <= now():
        raise Invalid("ends_at", "must be in the future")
    if price is not None and price < 0:
        raise Invalid("price", "must be zero or more whole rupiah")
    if code is not None:
        code = code.strip().upper()
        problem = session_code_problem(code)  # a code must not read as a size, a quantity, a command...
        if problem:
            raise Invalid("code", problem)
        if db.scalar(select(GroupSession.id).where(GroupSession.code == code)) is not None:
            raise Conflict("code", f"session {code} already exists")
    session = GroupSession(
        code=code or new_session_code(db),
        product_id=product.id,
        status=SessionStatus.FORMING,
        target_moq=target_moq,
        price=product.price if price is None else price,
        ordered_units=0,
        starts_at=starts,
        ends_at=ends,
    )
    db.add(session)
    db.flush()
    # A counter row per size from the start: a join locks the session and its counters in one statement
    # (`core.session_rows.lock_for_join`), which relies on the set of counter rows never growing.
    for variant_id in db.scalars(select(Variant.id).where(Variant.product_id == product.id)):
        db.add(
            SessionVariantCounter(
                session_id=session.id, variant_id=variant_id, ordered_units=0, waiting_units=0
            )
        )
    db.flush()
    forget_vocabulary()  # buyers of this process can name the new session at once
    return session


def set_inventory(db: Session, *, variant_sku: str, on_hand: int) -> WarehouseInventory:
    """Set the units on hand for one size; never below what is already reserved for orders."""
    variant = db.scalar(select(Variant).where(Variant.sku == variant_sku))
    if variant is None:
        raise NotFound("sku", f"no variant with SKU {variant_sku}")
    if on_hand < 0:
        raise Invalid("on_hand", "must be zero or more")
    row = db.scalar(
        select(WarehouseInventory).where(WarehouseInventory.variant_id == variant.id).with_for_update()
    )
    if row is None:
        row = WarehouseInventory(product_id=variant.product_id, variant_id=variant.id, on_hand=0, reserved=0)
        db.add(row)
    if on_hand < row.reserved:
        raise Invalid("on_hand", f"{row.reserved} units are already reserved for orders")
    row.on_hand = on_hand
    db.flush()
    return row


def product_allocations(product: Product) -> dict[str, int]:
    """Size label -> units per lot (empty for a product without grosir lots)."""
    by_variant = {a.variant_id: a.units_per_lot for a in product.allocations}
    return {v.size: by_variant[v.id] for v in product.variants if v.id in by_variant}
