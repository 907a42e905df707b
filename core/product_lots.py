"""A product's catalog as joins read it (its sizes, lot mix and selling terms), kept in the web process.

Every join needs the product of its session: its sizes, the units of each size in one lot, the lead, the
policy, the price. Read from the database that is three statements per join, for data that does not change
while the product sells. So each process keeps a `ProductLots` per product, keyed by the product's
`catalog_version`.

Why a cached catalog is never served stale: the version is read from the database in the same statement
that locks the session (`core.session_rows.lock_for_join`), so each join compares it with the database as
of its own lock; and every change to a product, one of its sizes or its lot mix draws a new random version
in the same flush that writes the change (`core.models.catalog`, a `before_flush` hook every ORM session
runs). A changed catalog therefore has a version no process has cached, and is read afresh by the first
join after the change, in any process. The versions are random, so two products that once had the same id
(an emptied and refilled database) never share one. Writes that bypass the ORM (a bulk `UPDATE products`)
must set a new version themselves; the app has none.

A `ProductLots` is immutable and holds no ORM state, so one is shared by every thread of the process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import GrosirVariantAllocation, Product, Variant

MAX_PRODUCTS = 4096  # cached per process; beyond that the cache starts afresh


@dataclass(frozen=True)
class VariantLots:
    id: int
    product_id: int
    size: str
    sku: str


@dataclass(frozen=True)
class ProductLots:
    """The columns of a product that joins read, its sizes (in id order) and its lot mix."""

    id: int
    factory_id: int
    name: str
    sku: str
    price: int
    grosir_unit_size: int | None
    lead_lots: int
    allocation_policy: str
    waitlist_enabled: bool
    excess_weight: Decimal
    catalog_version: int
    variants: tuple[VariantLots, ...]
    units_per_lot: dict[int, int] = field(default_factory=dict)  # variant id -> units in one lot

    def allocations_by_size(self) -> dict[str, int]:
        """Size label -> units per lot (empty for a product without grosir lots)."""
        return {v.size: self.units_per_lot[v.id] for v in self.variants if v.id in self.units_per_lot}

    def variant(self, variant_id: int) -> VariantLots:
        return next(v for v in self.variants if v.id == variant_id)


_cache: dict[tuple[str, int], ProductLots] = {}
_lock = threading.Lock()
_reads = 0  # catalog reads from the database by this process (the tests count them)


def product_lots(db: Session, product_id: int, version: int | None = None) -> ProductLots:
    """The catalog of `product_id`: the cached one when its version is `version` (the version the caller
    read from the database, under its lock), else read now (one statement) and cached. Without a version
    the catalog is read, never trusted from the cache."""
    key = (str(db.get_bind().engine.url), product_id)
    cached = _cache.get(key)
    if cached is not None and version is not None and cached.catalog_version == version:
        return cached
    lots = _read(db, product_id)
    with _lock:
        if len(_cache) >= MAX_PRODUCTS:
            _cache.clear()
        _cache[key] = lots
    return lots


def reads() -> int:
    return _reads


def forget() -> None:
    with _lock:
        _cache.clear()


def _read(db: Session, product_id: int) -> ProductLots:
    global _reads
    rows = db.execute(
        select(
            Product.id,
            Product.factory_id,
            Product.name,
            Product.sku,
            Product.price,
            Product.grosir_unit_size,
            Product.lead_lots,
            Product.allocation_policy,
            Product.waitlist_enabled,
            Product.excess_weight,
            Product.catalog_version,
            Variant.id,
            Variant.size,
            Variant.sku,
            GrosirVariantAllocation.units_per_lot,
        )
        .select_from(Product)
        .outerjoin(Variant, Variant.product_id == Product.id)
        .outerjoin(GrosirVariantAllocation, GrosirVariantAllocation.variant_id == Variant.id)
        .where(Product.id == product_id)
        .order_by(Variant.id)
    ).all()
    with _lock:
        _reads += 1
    if not rows:
        raise LookupError(f"no product with id {product_id}")
    first = rows[0]
    variants = tuple(
        VariantLots(row[11], product_id, row[12], row[13]) for row in rows if row[11] is not None
    )
    units = {row[11]: row[14] for row in rows if row[11] is not None and row[14] is not None}
    return ProductLots(
        id=first[0],
        factory_id=first[1],
        name=first[2],
        sku=first[3],
        price=first[4],
        grosir_unit_size=first[5],
        lead_lots=first[6],
        allocation_policy=first[7],
        waitlist_enabled=first[8],
        excess_weight=first[9],
        catalog_version=first[10],
        variants=variants,
        units_per_lot=units,
    )
