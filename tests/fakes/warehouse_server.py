"""A fake external warehouse speaking docs/warehouse-contract.md on a loopback port.

It keeps stock per SKU, reservations and receipts per key, records every request, and can be scripted
to answer 500s, garbage or nothing in time, so the HTTP adapter is tested through real sockets.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import pytest


class FakeWarehouse:
    def __init__(self) -> None:
        self.on_hand: dict[str, int] = {}
        self.reservations: dict[str, dict[str, int]] = {}
        self.receipts: dict[str, dict[str, int]] = {}
        self.requests: list[tuple[str, str]] = []
        self._script: list[tuple[str, float | int]] = []
        self.down = False  # every request answers 503
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- scripting -------------------------------------------------------------------------------------
    def fail_next(self, times: int = 1, status: int = 500) -> None:
        self._script += [("status", status)] * times

    def stall_next(self, times: int = 1, seconds: float = 2.0) -> None:
        """Answer only after `seconds` (longer than the client's timeout)."""
        self._script += [("stall", seconds)] * times

    def garbage_next(self, times: int = 1) -> None:
        self._script += [("garbage", 0)] * times

    def set_stock(self, on_hand: dict[str, int]) -> None:
        with self.lock:
            self.on_hand.update(on_hand)

    # --- state -----------------------------------------------------------------------------------------
    def reserved(self, sku: str, *, except_key: str | None = None) -> int:
        return sum(items.get(sku, 0) for key, items in self.reservations.items() if key != except_key)

    def available(self, sku: str, *, except_key: str | None = None) -> int:
        return self.on_hand.get(sku, 0) - self.reserved(sku, except_key=except_key)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- HTTP ------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, body: dict | None) -> tuple[int, object]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if method == "GET" and parts == ["stock"]:
            skus = [s for s in ",".join(query.get("skus", [""])).split(",") if s]
            return 200, {"stock": {sku: self.available(sku) for sku in skus if sku in self.on_hand}}
        if len(parts) == 2 and parts[0] in ("reservations", "receipts"):
            key = parts[1]
            if method == "DELETE" and parts[0] == "reservations":
                return (
                    (204, None)
                    if self.reservations.pop(key, None) is not None
                    else (404, {"error": "unknown"})
                )
            if method != "PUT":
                return 405, {"error": "method"}
            items = _items(body)
            if items is None:
                return 422, {"error": "items"}
            if parts[0] == "receipts":
                if key in self.receipts:
                    return 200, {"key": key, "items": _as_list(self.receipts[key])}
                self.receipts[key] = items
                for sku, units in items.items():
                    self.on_hand[sku] = self.on_hand.get(sku, 0) + units
                return 201, {"key": key, "items": _as_list(items)}
            short = {
                sku: self.available(sku, except_key=key)
                for sku, units in items.items()
                if units > self.available(sku, except_key=key)
            }
            if short:
                return 409, {"error": "insufficient_stock", "available": short}
            existed = key in self.reservations
            self.reservations[key] = items
            return (200 if existed else 201), {"key": key, "items": _as_list(items)}
        return 404, {"error": "not found"}

    def start(self) -> FakeWarehouse:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with fake.lock:
                    fake.requests.append((self.command, url.path))
                    action = fake._script.pop(0) if fake._script else None
                if action and action[0] == "stall":
                    time.sleep(float(action[1]))
                if fake.down or (action and action[0] == "status"):
                    self._reply(
                        int(action[1]) if action and action[0] == "status" else 503, {"error": "boom"}
                    )
                    return
                if action and action[0] == "garbage":
                    self._raw(200, b"<html>not json</html>")
                    return
                body = json.loads(raw) if raw else None
                with fake.lock:
                    status, payload = fake.handle(self.command, url.path, parse_qs(url.query), body)
                self._reply(status, payload)

            def _reply(self, status: int, payload: object) -> None:
                self._raw(status, b"" if payload is None else json.dumps(payload).encode())

            def _raw(self, status: int, data: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            do_GET = do_PUT = do_DELETE = do_POST = _serve

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _items(body: dict | None) -> dict[str, int] | None:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        return None
    items: dict[str, int] = {}
    for item in body["items"]:
        if not isinstance(item, dict) or not isinstance(item.get("quantity"), int) or item["quantity"] <= 0:
            return None
        items[str(item.get("sku"))] = items.get(str(item.get("sku")), 0) + item["quantity"]
    return items


def _as_list(items: dict[str, int]) -> list[dict]:
    return [{"sku": sku, "quantity": units} for sku, units in items.items()]


@pytest.fixture
def fake_warehouse() -> Iterator[FakeWarehouse]:
    server = FakeWarehouse().start()
    yield server
    server.stop()
