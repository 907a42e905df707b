"""What buyers can join: factories, products, their sizes and the size mix of one grosir lot."""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm import Session as OrmSession

from core.allocation import AllocationPolicyName
from core.clock import now
from core.models.base import Base, ExactDecimal, Timestamp, one_of


class Factory(Base):
    __tablename__ = "factories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=now)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_non_negative"),
        CheckConstraint("grosir_unit_size IS NULL OR grosir_unit_size > 0", name="unit_size_positive"),
        CheckConstraint("lead_lots >= 1", name="lead_lots_positive"),
        CheckConstraint(
            one_of("allocation_policy", AllocationPolicyName.ALL), name="allocation_policy_known"
        ),
        CheckConstraint("CAST(excess_weight AS NUMERIC) >= 0", name="excess_weight_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    factory_id: Mapped[int] = mapped_column(ForeignKey("factories.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    price: Mapped[int] = mapped_column(BigInteger)
    grosir_unit_size: Mapped[int | None] = mapped_column(Integer)
    lead_lots: Mapped[int] = mapped_column(Integer, default=2)
    allocation_policy: Mapped[str] = mapped_column(String(20), default=AllocationPolicyName.LOT_BALANCED)
    waitlist_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Settlement at close: what a leftover unit costs next to a lost sale (docs/design.md, "Settlement at
    # close"); exact, so 0.1 * 10 ties with 1 the way the buyer-facing rule says.
    excess_weight: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(1), server_default="1")
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=now)
    # Which version of the product's catalog (its row, sizes and lot mix) joins may cache
    # (`core.product_lots`): a random number, drawn again whenever any of them changes.
    catalog_version: Mapped[int] = mapped_column(
        BigInteger, default=lambda: new_catalog_version(), server_default="0"
    )

    factory: Mapped[Factory] = relationship()
    variants: Mapped[list[Variant]] = relationship(back_populates="product", order_by="Variant.id")
    allocations: Mapped[list[GrosirVariantAllocation]] = relationship(
        back_populates="product", order_by="GrosirVariantAllocation.variant_id"
    )


class Variant(Base):
    __tablename__ = "variants"
    __table_args__ = (UniqueConstraint("product_id", "size", name="uq_variants_product_size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    size: Mapped[str] = mapped_column(String(20))
    sku: Mapped[str] = mapped_column(String(64), unique=True)

    product: Mapped[Product] = relationship(back_populates="variants")


class GrosirVariantAllocation(Base):
    """Units of one size in one grosir lot. A product's allocations sum to its `grosir_unit_size`."""

    __tablename__ = "grosir_variant_allocations"
    __table_args__ = (CheckConstraint("units_per_lot > 0", name="units_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"), unique=True)
    units_per_lot: Mapped[int] = mapped_column(Integer)

    product: Mapped[Product] = relationship(back_populates="allocations")
    variant: Mapped[Variant] = relationship()


def new_catalog_version() -> int:
    """A fresh `Product.catalog_version`: random, so no two catalogs ever share one (not even the products
    of two emptied-and-refilled test databases with the same ids)."""
    return secrets.randbits(62) + 1


@event.listens_for(OrmSession, "before_flush")
def _new_catalog_version(session: OrmSession, _context, _instances) -> None:
    """Any change to a product, one of its sizes or its lot mix gives the product a new `catalog_version`,
    in the same flush, so no process keeps using the catalog it cached before (`core.product_lots`)."""
    changed: set[int] = set()
    for obj in (*session.dirty, *session.deleted, *session.new):
        if isinstance(obj, Product):
            if obj in session.new:
                continue  # a new product has its first version already
            if session.is_modified(obj, include_collections=False) or obj in session.deleted:
                obj.catalog_version = new_catalog_version()
        elif isinstance(obj, Variant | GrosirVariantAllocation):
            if obj in session.dirty and not session.is_modified(obj, include_collections=False):
                continue
            if obj.product_id is not None:
                changed.add(obj.product_id)
    if not changed:
        return
    with session.no_autoflush:
        for product_id in changed:
            product = session.get(Product, product_id)
            if product is not None and product not in session.new:
                product.catalog_version = new_catalog_version()
