"""The warehouse port: how much of each size is free, holding units for a session, receiving goods.

Two adapters: `BuiltinWarehouse` keeps stock in the `warehouse_inventory` table, inside the caller's
transaction (so a rolled-back close also rolls back its reservation); `HttpWarehouse` talks to an
external warehouse service over the JSON contract in docs/warehouse-contract.md. Every operation that
changes stock carries a key, so a retry after a crash or a timeout never counts twice.

Failures never turn into guesses: anything but a clear answer raises `WarehouseUnavailable`, and the
caller leaves the session as it was, to be retried later.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import CursorResult, Update, select, update
from sqlalchemy.orm import Session
from urllib3.util.retry import Retry

from core.errors import DomainError
from core.models import Product, Variant, WarehouseInventory
from core.settings import Settings

log = logging.getLogger(__name__)


class WarehouseUnavailable(DomainError):
    """The warehouse did not answer clearly (down, timeout, 5xx, nonsense): nothing changed, retry later."""

    status = 503

    def __init__(self, message: str):
        super().__init__("warehouse", message)


class InsufficientStock(DomainError):
    """A reservation found less free stock than asked for; nothing was reserved."""

    status = 409

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


def _http_session() -> requests.Session:
    """Retries for the idempotent methods only (GET, PUT and DELETE are idempotent in our contract)."""
    retry = Retry(
        total=2,
        connect=2,
        read=1,
        backoff_factor=0.2,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "PUT", "DELETE"}),
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["Accept"] = "application/json"
    return session


class HttpWarehouse:
    """The external warehouse service (docs/warehouse-contract.md), keyed by variant SKU."""

    def __init__(self, base_url: str, timeout_seconds: float = 5, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout_seconds
        self.http = session or _http_session()

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        try:
            return self.http.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as error:
            log.warning("warehouse %s %s failed: %s", method, path, error)
            raise WarehouseUnavailable(f"{method} {path}: {type(error).__name__}") from None

    @staticmethod
    def _json(response: requests.Response, what: str) -> dict:
        try:
            data = response.json()
        except ValueError:
            raise WarehouseUnavailable(f"{what}: answer is not JSON") from None
        if not isinstance(data, dict):
            raise WarehouseUnavailable(f"{what}: answer is not a JSON object")
        return data

    def stock(self, product: Product, variants: Sequence[Variant]) -> dict[int, int]:
        if not variants:
            return {}
        response = self._call("GET", "/stock", params={"skus": ",".join(v.sku for v in variants)})
        if response.status_code != 200:
            raise WarehouseUnavailable(f"GET /stock answered {response.status_code}")
        stock = self._json(response, "GET /stock").get("stock")
        if not isinstance(stock, dict):
            raise WarehouseUnavailable("GET /stock: no 'stock' object")
        free: dict[int, int] = {}
        for variant in variants:
            units = stock.get(variant.sku, 0)
            if isinstance(units, bool) or not isinstance(units, int):
                raise WarehouseUnavailable(f"GET /stock: {variant.sku} is not a whole number")
            free[variant.id] = max(0, units)
        return free

    @staticmethod
    def _items(lines: Sequence[StockLine]) -> list[dict]:
        return [{"sku": line.sku, "quantity": line.quantity} for line in lines]

    def reserve(self, product: Product, lines: Sequence[StockLine], *, key: str) -> None:
        response = self._call("PUT", f"/reservations/{key}", json={"items": self._items(lines)})
        if response.status_code in (200, 201):
            return
        if response.status_code == 409:
            available = self._json(response, "PUT /reservations").get("available") or {}
            raise InsufficientStock(available if isinstance(available, dict) else {})
        raise WarehouseUnavailable(f"PUT /reservations/{key} answered {response.status_code}")

    def release(self, product: Product, lines: Sequence[StockLine], *, key: str) -> None:
        response = self._call("DELETE", f"/reservations/{key}")
        if response.status_code not in (200, 204, 404):
            raise WarehouseUnavailable(f"DELETE /reservations/{key} answered {response.status_code}")

    def receive(self, product: Product, lines: Sequence[StockLine], *, key: str) -> None:
        response = self._call("PUT", f"/receipts/{key}", json={"items": self._items(lines)})
        if response.status_code not in (200, 201):
            raise WarehouseUnavailable(f"PUT /receipts/{key} answered {response.status_code}")


def warehouse_for(settings: Settings, db: Session) -> Warehouse:
    """The configured warehouse: `WAREHOUSE_SERVICE_URL` set -> HTTP, else the built-in tables."""
    if settings.warehouse_service_url:
        return HttpWarehouse(settings.warehouse_service_url, settings.warehouse_timeout_seconds)
    return BuiltinWarehouse(db)
