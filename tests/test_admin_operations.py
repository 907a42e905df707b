"""Close now, cancel and receive: one core function each, called by the admin API and the CLI alike, so
both front doors behave the same on success and on every error."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import closing
from core.clock import as_utc, now
from core.models import GroupSession, SessionStatus
from core.sweep import claim_due_sessions
from tests import builders
from tests.builders import (
    ADMIN_HEADERS,
    DownWarehouse,
    add_join,
    buyer,
    demand_s3_m7_l4_xl1,
    messages,
    reload,
    tshirt_session,
)


def api(client, method: str, path: str):
    return client.open(f"/api/v1{path}", method=method, headers=ADMIN_HEADERS)


def test_admin_close_receive_and_read_a_purchase_order(db, client, dispatched):
    product, session = tshirt_session(db, moq=15)
    demand_s3_m7_l4_xl1(db, session)
    db.commit()

    response = api(client, "POST", "/sessions/GB1/close")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "pending_stock" and response.json["purchase_order_code"] == "PO-GB1-1"
    assert len(dispatched.batches) == 1 and len(dispatched.batches[0]) == 5

    response = api(client, "GET", "/purchase-orders/PO-GB1-1")
    assert response.status_code == 200
    view = response.json
    assert (view["status"], view["lots"], view["total_units"], view["session"]["status"]) == (
        "requested",
        2,
        24,
        "pending_stock",
    )
    assert view["lines"] == [
        {"size": "S", "sku": "TS-S", "quantity": 4},
        {"size": "M", "sku": "TS-M", "quantity": 10},
        {"size": "L", "sku": "TS-L", "quantity": 8},
        {"size": "XL", "sku": "TS-XL", "quantity": 2},
    ]
    assert view["requested_at"] and view["received_at"] is None
    assert view["factory"]["phone"] == builders.FACTORY_PHONE

    response = api(client, "POST", "/purchase-orders/PO-GB1-1/receive")
    assert response.status_code == 200
    assert response.json["status"] == "received" and response.json["orders_created"] == 5
    assert response.json["session"]["status"] == "orders_created"
    response = api(client, "POST", "/purchase-orders/PO-GB1-1/receive")
    assert response.status_code == 409 and response.json["field"] == "code"

    assert api(client, "GET", "/purchase-orders/PO-X-1").status_code == 404
    assert api(client, "POST", "/sessions/NOPE/close").status_code == 404
    assert api(client, "POST", "/sessions/GB1/close").status_code == 409
    assert api(client, "POST", "/sessions/GB1/cancel").status_code == 409


def test_get_session_names_its_purchase_orders_after_a_scheduled_close(db, db_factory, settings, client):
    _, session = tshirt_session(db, moq=15)
    demand_s3_m7_l4_xl1(db, session)
    db.commit()
    assert api(client, "GET", "/sessions/GB1").json["purchase_orders"] == []
    builders.expire(db, session)
    assert builders.sweep(db, db_factory, settings).as_dict()["closed"] == {"GB1": "pending_stock"}
    assert api(client, "GET", "/sessions/GB1").json["purchase_orders"] == [
        {"code": "PO-GB1-1", "status": "requested"}
    ]


def test_every_time_in_the_admin_json_has_an_explicit_utc_offset(db, client):
    _, session = tshirt_session(db)
    add_join(db, session, buyer(db), "M", 1)
    db.commit()
    shown = api(client, "GET", "/sessions/GB1").json
    cancelled = api(client, "POST", "/sessions/GB1/cancel").json
    for body in (shown, cancelled):
        for name in ("starts_at", "ends_at", "created_at"):
            assert body[name].endswith("+00:00"), (name, body[name])
    assert cancelled["ends_at"] == shown["ends_at"]
    assert cancelled["cancelled_at"].endswith("+00:00") and cancelled["closed_at"].endswith("+00:00")


def test_admin_cancel(db, client, dispatched):
    _, session = tshirt_session(db)
    add_join(db, session, buyer(db), "M", 1)
    db.commit()
    response = api(client, "POST", "/sessions/gb1/cancel")
    assert response.status_code == 200 and response.json["status"] == "cancelled"
    assert len(dispatched.batches) == 1


# --- the warehouse down: both front doors defer the close -----------------------------------------------


@pytest.fixture
def due_with_the_warehouse_down(db, monkeypatch):
    _, session = tshirt_session(db, moq=2)
    add_join(db, session, buyer(db), "M", 2)
    db.commit()
    monkeypatch.setattr(closing, "warehouse_for", lambda settings, db: DownWarehouse())
    return session


def assert_deferred_for_the_sweep(db, session, dispatched, monkeypatch) -> None:
    session = reload(db, session)
    assert session.status == SessionStatus.FORMING
    assert as_utc(session.ends_at) <= now()  # joining is over
    assert session.last_error == "warehouse: connection refused"
    assert messages(db) == [] and dispatched == []
    # the sweep picks it up once the warehouse is back
    monkeypatch.undo()
    assert [s.code for s in claim_due_sessions(db, now(), 5)] == ["GB1"]
    db.rollback()


def test_admin_close_with_the_warehouse_down_is_503_and_left_for_the_sweep(
    db, client, dispatched, due_with_the_warehouse_down, monkeypatch
):
    response = api(client, "POST", "/sessions/GB1/close")
    assert response.status_code == 503 and response.json["field"] == "warehouse"
    assert_deferred_for_the_sweep(db, due_with_the_warehouse_down, dispatched, monkeypatch)


def test_cli_close_with_the_warehouse_down_defers_it_like_the_api(
    db, cli, dispatched, due_with_the_warehouse_down, monkeypatch
):
    result = cli("close", "gb1")
    assert result.exit_code == 1
    assert result.output == "Error: warehouse: connection refused\n"
    assert_deferred_for_the_sweep(db, due_with_the_warehouse_down, dispatched, monkeypatch)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["close", "NOPE"], "Error: code: no session NOPE\n"),
        (["cancel", "NOPE"], "Error: code: no session NOPE\n"),
        (["receive-po", "PO-NOPE-1"], "Error: code: no purchase order PO-NOPE-1\n"),
    ],
)
def test_cli_and_api_refuse_an_unknown_code_alike(db_factory, cli, client, args, message):
    result = cli(*args)
    assert (result.exit_code, result.output) == (1, message)
    path = {"close": "/sessions/NOPE/close", "cancel": "/sessions/NOPE/cancel"}.get(
        args[0], "/purchase-orders/PO-NOPE-1/receive"
    )
    response = api(client, "POST", path)
    assert response.status_code == 404 and f"Error: {response.json['error']}\n" == message
    with db_factory() as db:
        assert db.scalars(select(GroupSession)).all() == []
