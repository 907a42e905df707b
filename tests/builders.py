"""Small builders for test data, all through `core.catalog` (the same code the admin API uses)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import catalog
from core.catalog import VariantSpec
from core.clock import now
from core.models import Factory, GroupSession, Product

FACTORY_PHONE = "+6281100000001"


def factory(db: Session, phone: str = FACTORY_PHONE, name: str = "Konveksi Bandung"):
    return catalog.create_factory(db, name=name, phone=phone, address="Jl. Industri 1, Bandung")


def product(
    db: Session,
    mix: dict[str, int] | None,
    *,
    sku: str = "TS",
    price: int = 50_000,
    lead_lots: int = 2,
    policy: str = "lot_balanced",
    waitlist: bool = False,
    factory_id: int | None = None,
) -> Product:
    """A product with sizes `mix` (size -> units per lot); `mix=None` -> S/M/L without grosir lots."""
    if factory_id is None:
        existing = db.scalar(select(Factory).where(Factory.phone == FACTORY_PHONE))
        factory_id = (existing or factory(db)).id
    if mix is None:
        variants = [VariantSpec(size, f"{sku}-{size}") for size in ("S", "M", "L")]
        unit_size = None
    else:
        variants = [VariantSpec(size, f"{sku}-{size}", units) for size, units in mix.items()]
        unit_size = sum(mix.values())
    return catalog.create_product(
        db,
        factory_id=factory_id,
        name=f"Kaos {sku}",
        sku=sku,
        price=price,
        variants=variants,
        grosir_unit_size=unit_size,
        lead_lots=lead_lots,
        allocation_policy=policy,
        waitlist_enabled=waitlist,
    )


def session(
    db: Session, product_id: int, *, code: str = "GB1", target_moq: int = 24, hours: float = 1
) -> GroupSession:
    return catalog.create_session(
        db, product_id=product_id, target_moq=target_moq, ends_at=now() + timedelta(hours=hours), code=code
    )


TWO_SIZES = {"S": 4, "M": 4}
FOUR_SIZES = {"S": 4, "M": 4, "L": 4, "XL": 4}
TSHIRT_MIX = {"S": 2, "M": 5, "L": 4, "XL": 1}
