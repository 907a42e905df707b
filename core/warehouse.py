"""The warehouse port: how much of each size is free, holding units for a session, receiving goods.

Two implementations: `BuiltinWarehouse` (here) keeps stock in the `warehouse_inventory` table, inside the
caller's transaction (so a rolled-back close also rolls back its reservation);
`core.adapters.http_warehouse.HttpWarehouse` talks to an external warehouse service over the JSON contract
in docs/warehouse-contract.md. `core.adapters.warehouse_for` picks the configured one. Every operation that
changes stock carries a key, so a retry after a crash or a timeout never counts twice.

Failures never turn into guesses: anything but a clear answer raises `WarehouseUnavailable`, and the
caller leaves the session as it was, to be retried later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, Update, select, update
from sqlalchemy.orm import Session

from core.errors import Conflict, Unavailable
from core.models import Product, Variant, WarehouseInventory


class WarehouseUnavailable(Unavailable):
    """The warehouse did not answer clearly (down, timeout, 5xx, nonsense): nothing changed, retry later."""

    def __init__(self, message: str):
        super().__init__("warehouse", message)


class InsufficientStock(Conflict):
    """A reservation found less free stock than asked for; nothing was reserved."""

    def __init__(self, available: Mapping[str, int]):
        super().__init__("warehouse", f"not enough stock: available {dict(available)}")
        self.available = dict(available)


@dataclass(frozen=True)
class StockLine:
    variant_id: int
    sku: str
    quantity: int


def lines_for(variants: Sequence[Variant], quantities: Mapping[int, int]) -> list[StockLine]:
    """Stock lines for the variants with a positive quantity (keyed by variant id), in variant order."""
    return [StockLine(v.id, v.sku, quantities[v.id]) for v in variants if quantities.get(v.id, 0) > 0]


class Warehouse(Protocol):
    def stock(self, product: Product, variants: Sequence[Variant]) -> dict[int, int]:
        """Free units (on hand minus reserved) per variant id; never negative."""
        ...

    def reserve(self, product: Product, lines: Sequence[StockLine], *, key: str) -> None:
        """Hold exactly `lines` under `key`, all or nothing (`InsufficientStock`); repeating a key is a no-op."""
        ...

    def release(self, product: Product, lines: Sequence[StockLine], *, key: str) -> None:
        """Give back what `key` holds."""
        ...

    def receive(self, product: Product, lines: Sequence[StockLine], *, key: str) -> None:
        """Goods arrived: add `lines` to what is on hand, once per key."""
        ...


class BuiltinWarehouse:
    """Stock in our own tables, changed inside the caller's transaction.

    Keys are not stored: the callers' own conditional state transitions (session closed once, PO received
    once) already make every change happen once, and a rollback takes the stock change with it.
    """

    def __init__(self, db: Session):
        self.db = db

    def _update(self, statement: Update) -> int:
        """Rows changed by one UPDATE (ORM objects are not synchronised: nobody holds inventory rows)."""
        result = self.db.execute(statement.execution_options(synchronize_session=False))
        return cast(CursorResult[Any], result).rowcount

    def stock(self, product: Product, variants: Sequence[Variant]) -> dict[int, int]:
        ids = [v.id for v in variants]
        rows = self.db.execute(
            select(
                WarehouseInventory.variant_id, WarehouseInventory.on_hand - WarehouseInventory.reserved
            ).where(WarehouseInventory.variant_id.in_(ids))
        )
        free = {variant_id: max(0, int(units)) for variant_id, units in rows}
        return {variant_id: free.get(variant_id, 0) for variant_id in ids}

    def reserve(self, product: Product, lines: Sequence[StockLine], *, key: str) -> None:
        # Each size is one conditional update; if a later size fails, the raise rolls the caller's
        # transaction (or savepoint) back, so the reservation is all or nothing.
        for line in lines:
            result = self._update(
                update(WarehouseInventory)
                .where(
                    WarehouseInventory.variant_id == line.variant_id,
                    WarehouseInventory.on_hand - WarehouseInventory.reserved >= line.quantity,
                )
                .values(reserved=WarehouseInventory.reserved + line.quantity)
            )
            if result != 1:
                variants = [v for v in product.variants if v.id in {x.variant_id for x in lines}]
                free = self.stock(product, variants)
                raise InsufficientStock({v.sku: free[v.id] for v in variants})

    def release(self, product: Product, lines: Sequence[StockLine], *, key: str) -> None:
        for line in lines:
            self.db.execute(
                update(WarehouseInventory)
                .where(
                    WarehouseInventory.variant_id == line.variant_id,
                    WarehouseInventory.reserved >= line.quantity,
                )
                .values(reserved=WarehouseInventory.reserved - line.quantity)
                .execution_options(synchronize_session=False)
            )

    def receive(self, product: Product, lines: Sequence[StockLine], *, key: str) -> None:
        for line in lines:
            result = self._update(
                update(WarehouseInventory)
                .where(WarehouseInventory.variant_id == line.variant_id)
                .values(on_hand=WarehouseInventory.on_hand + line.quantity)
            )
            if result != 1:
                self.db.add(
                    WarehouseInventory(
                        product_id=product.id, variant_id=line.variant_id, on_hand=line.quantity, reserved=0
                    )
                )
        self.db.flush()
