"""The external warehouse service over HTTP (docs/warehouse-contract.md), keyed by variant SKU.

Every call has a timeout; the idempotent methods are retried a little; anything but a clear answer is
`WarehouseUnavailable`, never a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from core.json_input import parse_json
from core.models import Product, Variant
from core.warehouse import InsufficientStock, StockLine, WarehouseUnavailable

log = logging.getLogger(__name__)


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
            data = parse_json(response.content)
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
