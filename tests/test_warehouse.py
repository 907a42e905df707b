"""The warehouse port: built-in inventory tables and the HTTP adapter against a fake warehouse service."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from bot.http_errors import status_for
from core import closing, purchase_orders
from core.adapters import warehouse_for
from core.adapters.http_warehouse import HttpWarehouse
from core.models import GroupSession, Order, PurchaseOrder, SessionStatus
from core.settings import Settings
from core.warehouse import BuiltinWarehouse, InsufficientStock, StockLine, WarehouseUnavailable
from jobs import expiry, runtime
from tests import builders

MIX = builders.TSHIRT_MIX


def lines(product, **quantities: int) -> list[StockLine]:
    return [StockLine(v.id, v.sku, quantities[v.size]) for v in product.variants if v.size in quantities]


def by_size(product, free: dict[int, int]) -> dict[str, int]:
    return {v.size: free[v.id] for v in product.variants if v.id in free}


# --- built-in ------------------------------------------------------------------------------------------


def test_builtin_stock_is_on_hand_minus_reserved(db):
    product = builders.product(db, MIX)
    builders.set_stock(db, product, S=5, M=2)
    warehouse = BuiltinWarehouse(db)
    warehouse.reserve(product, lines(product, S=3), key="k1")
    assert by_size(product, warehouse.stock(product, product.variants)) == {"S": 2, "M": 2, "L": 0, "XL": 0}


def test_builtin_reservation_is_all_or_nothing(db):
    product = builders.product(db, MIX)
    builders.set_stock(db, product, S=5, M=4)
    warehouse = BuiltinWarehouse(db)
    with pytest.raises(InsufficientStock) as error, db.begin_nested():
        warehouse.reserve(product, lines(product, S=2, M=5), key="k1")
    assert error.value.available == {"TS-S": 3, "TS-M": 4}  # by SKU, seen while S was still held
    assert builders.inventory(db, product)["S"] == (5, 0) and builders.inventory(db, product)["M"] == (4, 0)
    warehouse.reserve(product, lines(product, S=2, M=4), key="k2")
    assert builders.inventory(db, product)["M"] == (4, 4)
    warehouse.release(product, lines(product, M=4), key="k2")
    warehouse.receive(product, lines(product, L=8), key="po")
    assert builders.inventory(db, product) == {"S": (5, 2), "M": (4, 0), "L": (8, 0), "XL": (0, 0)}


def test_builtin_reservations_never_oversell_under_concurrency(requires_postgres, db, db_factory):
    product = builders.product(db, MIX)
    builders.set_stock(db, product, M=5)
    db.commit()
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def reserve():
        with db_factory() as own, own.begin():
            barrier.wait()
            try:
                BuiltinWarehouse(own).reserve(product, lines(product, M=2), key="x")
                outcomes.append("ok")
            except InsufficientStock:
                outcomes.append("short")

    threads = [threading.Thread(target=reserve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["ok", "ok", "short", "short"]
    assert builders.inventory(db, product)["M"] == (5, 4)


def test_the_configured_warehouse(db, database_url):
    assert isinstance(warehouse_for(Settings(database_url=database_url), db), BuiltinWarehouse)
    http = warehouse_for(
        Settings(
            database_url=database_url, warehouse_service_url="http://wh.local", warehouse_timeout_seconds=3
        ),
        db,
    )
    assert isinstance(http, HttpWarehouse) and (http.base_url, http.timeout) == ("http://wh.local", 3)


# --- HTTP adapter --------------------------------------------------------------------------------------


@pytest.fixture
def product(db):
    return builders.product(db, MIX)


def test_http_stock(fake_warehouse, product):
    fake_warehouse.set_stock({"TS-S": 4, "TS-M": 7, "OTHER": 9})
    fake_warehouse.reservations["old"] = {"TS-M": 2}
    warehouse = HttpWarehouse(fake_warehouse.url, 2)
    free = warehouse.stock(product, product.variants)
    assert by_size(product, free) == {"S": 4, "M": 5, "L": 0, "XL": 0}
    assert fake_warehouse.requests == [("GET", "/stock")]


def test_http_reservation_is_idempotent_per_key_and_refused_whole_when_short(fake_warehouse, product):
    fake_warehouse.set_stock({"TS-S": 4, "TS-M": 7})
    warehouse = HttpWarehouse(fake_warehouse.url, 2)
    warehouse.reserve(product, lines(product, S=2, M=5), key="session-1-close")
    warehouse.reserve(product, lines(product, S=2, M=5), key="session-1-close")  # a retry
    assert fake_warehouse.reservations == {"session-1-close": {"TS-S": 2, "TS-M": 5}}
    assert fake_warehouse.available("TS-M") == 2

    with pytest.raises(InsufficientStock) as error:
        warehouse.reserve(product, lines(product, S=1, M=3), key="session-2-close")
    assert error.value.available == {"TS-M": 2}
    assert "session-2-close" not in fake_warehouse.reservations

    warehouse.release(product, [], key="session-1-close")
    warehouse.release(product, [], key="session-1-close")  # unknown key: already released
    assert fake_warehouse.reservations == {}


def test_http_receipt_counts_once_per_key(fake_warehouse, product):
    warehouse = HttpWarehouse(fake_warehouse.url, 2)
    warehouse.receive(product, lines(product, S=4, M=10), key="po-PO-GB1-1")
    warehouse.receive(product, lines(product, S=4, M=10), key="po-PO-GB1-1")
    assert fake_warehouse.on_hand == {"TS-S": 4, "TS-M": 10}


def test_http_get_is_retried_after_a_server_error(fake_warehouse, product):
    fake_warehouse.set_stock({"TS-S": 1})
    fake_warehouse.fail_next(1, status=500)
    free = HttpWarehouse(fake_warehouse.url, 2).stock(product, product.variants)
    assert by_size(product, free)["S"] == 1
    assert fake_warehouse.requests == [("GET", "/stock"), ("GET", "/stock")]


@pytest.mark.parametrize(
    "script",
    [
        lambda fake: fake.fail_next(5, status=500),
        lambda fake: fake.stall_next(5, seconds=1.0),
        lambda fake: fake.garbage_next(1),
        lambda fake: setattr(fake, "down", True),
    ],
    ids=["500", "timeout", "garbage", "503"],
)
def test_http_failures_are_unavailable_never_a_guess(fake_warehouse, product, script):
    script(fake_warehouse)
    warehouse = HttpWarehouse(fake_warehouse.url, 0.3)
    started = time.monotonic()
    with pytest.raises(WarehouseUnavailable):
        warehouse.stock(product, product.variants)
    assert time.monotonic() - started < 5


def test_http_unreachable_is_unavailable(product):
    with pytest.raises(WarehouseUnavailable) as error:
        HttpWarehouse("http://127.0.0.1:9", 0.5).reserve(product, lines(product, S=1), key="k")
    assert error.value.field == "warehouse" and status_for(error.value) == 503  # the admin API says 503


# --- closing against the HTTP warehouse ----------------------------------------------------------------


@pytest.fixture
def http_settings(database_url, fake_warehouse):
    return Settings(
        database_url=database_url, warehouse_service_url=fake_warehouse.url, warehouse_timeout_seconds=1
    )


@pytest.fixture
def due(db):
    """GB1 of the T-shirt (MOQ 15) with S3 M7 L4 XL1 confirmed, its time up; (product, session)."""
    product, session = builders.tshirt_session(db, moq=15)
    builders.demand_s3_m7_l4_xl1(db, session)
    builders.expire(db, session)
    return product, session


def test_close_with_http_stock_reserves_there_and_creates_orders(
    db, db_factory, due, http_settings, fake_warehouse
):
    _, session = due
    fake_warehouse.set_stock({"TS-S": 3, "TS-M": 10, "TS-L": 4, "TS-XL": 1})
    result = builders.sweep(db, db_factory, http_settings)
    assert result.as_dict()["closed"] == {"GB1": "orders_created"}
    assert fake_warehouse.reservations == {
        f"session-{session.id}-close": {"TS-S": 3, "TS-M": 7, "TS-L": 4, "TS-XL": 1}
    }
    assert db.scalar(select(func.count()).select_from(Order)) == 5


def test_http_pending_stock_is_rechecked_until_the_stock_arrives(
    db, db_factory, due, http_settings, fake_warehouse
):
    product, session = due
    fake_warehouse.set_stock({"TS-S": 2, "TS-M": 6, "TS-L": 4, "TS-XL": 1})
    assert builders.sweep(db, db_factory, http_settings).as_dict()["closed"] == {"GB1": "pending_stock"}
    po = db.scalar(select(PurchaseOrder))
    assert builders.po_lines(db, po) == {"S": 2, "M": 5, "L": 4, "XL": 1}
    assert fake_warehouse.reservations == {f"session-{session.id}-close": {"TS-S": 1, "TS-M": 2}}

    # nothing arrived yet (the free units were taken by someone else meanwhile)
    fake_warehouse.reservations["elsewhere"] = {"TS-L": 4}
    assert purchase_orders.recheck_pending_stock(db, http_settings) == []
    db.commit()
    assert builders.reload(db, session).status == SessionStatus.PENDING_STOCK
    assert builders.reload(db, session).warehouse_check_at is not None

    fake_warehouse.set_stock({"TS-S": 4, "TS-M": 11, "TS-L": 8, "TS-XL": 2})  # the lot arrived
    assert purchase_orders.recheck_pending_stock(db, http_settings) == ["GB1"]
    db.commit()
    session = builders.reload(db, session)
    assert session.status == SessionStatus.ORDERS_CREATED and session.stock_received_at is not None
    assert db.scalar(select(PurchaseOrder.status)) == "received"
    assert fake_warehouse.reservations[f"session-{session.id}-receipt"] == {
        "TS-S": 2,
        "TS-M": 5,
        "TS-L": 4,
        "TS-XL": 1,
    }
    assert len(builders.messages(db, "order_created")) == 4
    assert purchase_orders.recheck_pending_stock(db, http_settings) == []  # nothing left to do


def test_http_warehouse_down_leaves_sessions_for_the_next_sweep(
    db, db_factory, settings, http_settings, fake_warehouse
):
    _, session = builders.tshirt_session(db, moq=2)
    builders.add_join(db, session, builders.buyer(db), "M", 2)
    builders.expire(db, session)
    fake_warehouse.down = True
    result = builders.sweep(db, db_factory, http_settings)
    assert result.as_dict() == {"closed": {}, "retry_later": {"GB1": "warehouse: GET /stock answered 503"}}
    assert builders.reload(db, session).status == SessionStatus.FORMING
    assert builders.messages(db) == []

    fake_warehouse.down = False
    fake_warehouse.set_stock({"TS-M": 2})
    assert builders.sweep(db, db_factory, http_settings).as_dict()["closed"] == {"GB1": "orders_created"}


def test_recheck_job_only_runs_for_the_http_warehouse(
    db, settings, http_settings, fake_warehouse, monkeypatch
):
    _, session = builders.tshirt_session(db, moq=2)
    builders.add_join(db, session, builders.buyer(db), "M", 2)
    builders.expire(db, session)
    db.commit()
    closing.close_session(db, session, warehouse_for(http_settings, db), http_settings)
    db.commit()
    dispatched: list[list[int]] = []
    monkeypatch.setattr("jobs.queues.dispatch_outbox", lambda ids: dispatched.append(ids) or len(ids))
    try:
        runtime.reset(settings)
        assert expiry.recheck_pending_stock() == []  # built-in: stock comes through the admin receive
        runtime.reset(http_settings)
        fake_warehouse.down = True
        assert expiry.recheck_pending_stock() == []
        fake_warehouse.down = False
        fake_warehouse.set_stock({"TS-M": 10})
        assert expiry.recheck_pending_stock() == ["GB1"]
    finally:
        runtime.reset()
    assert db.scalar(select(GroupSession.status)) == SessionStatus.ORDERS_CREATED
    assert len(dispatched) == 1 and len(dispatched[0]) == 1
