"""Shared test helpers: builders for test data (through `core.catalog`, the code the admin API uses),
joins as the join service leaves them, reading rows back, and the admin API's header.

Every test module imports what it needs from here (and from `tests.chat`); no test module imports
another.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from itertools import count
from typing import Any

import time_machine
from rq import Queue, SimpleWorker
from rq.scheduler import RQScheduler
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from core import catalog
from core import sweep as core_sweep
from core.catalog import VariantSpec
from core.clock import now
from core.closing import close_session
from core.db import transaction
from core.joining import add_participant
from core.models import (
    Base,
    Buyer,
    Factory,
    GroupSession,
    OutboundMessage,
    Participant,
    Product,
    PurchaseOrder,
    SessionVariantCounter,
    Variant,
    WarehouseInventory,
)
from core.session_view import load_view
from core.unit_of_work import FollowUp
from core.warehouse import BuiltinWarehouse, WarehouseUnavailable

FACTORY_PHONE = "+6281100000001"
ADMIN_TOKEN = "test-admin-token"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SECRET_KEY = "test-secret-key-for-signing-dashboard-cookies"
OPERATOR = "operator"
OPERATOR_PASSWORD = "correct horse battery"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


class Dispatched(list):
    """A dispatcher for `create_app`/`core.unit_of_work` that records instead of sending: the outbox ids
    handed over, in order (this list), each hand-over as it came (`batches`), and the follow-ups."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[int]] = []
        self.follow_ups: list[FollowUp] = []

    def __call__(self, message_ids: list[int]) -> None:
        self.batches.append(list(message_ids))
        self.extend(message_ids)

    def follow_up(self, follow_ups: list[FollowUp]) -> None:
        self.follow_ups.extend(follow_ups)


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
    excess_weight: str | int = 1,
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
        excess_weight=excess_weight,
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


def make_session(db_factory, mix, *, code="GB1", target_moq=24, waitlist=False, sku="TS", price=50_000):
    """A product with sizes `mix` and one open session of it, committed."""
    with transaction(db_factory) as db:
        made = product(db, mix, waitlist=waitlist, sku=sku, price=price)
        session(db, made.id, code=code, target_moq=target_moq)


def tshirt_session(
    db, *, mix=TSHIRT_MIX, moq: int = 15, code: str = "GB1", sku: str = "TS", price: int = 50_000
):
    made = product(db, mix, sku=sku, price=price)
    return made, session(db, made.id, code=code, target_moq=moq)


# --- joins as the join service leaves them -------------------------------------------------------------

_phones = count(1)
_ticks = count(1)


def buyer(
    db, *, language: str = "id", address: str | None = "Jl. Mawar 1, Depok", name: str | None = None
) -> Buyer:
    row = Buyer(phone=f"+62812{next(_phones):08d}", name=name, language=language, address=address)
    db.add(row)
    db.flush()
    return row


def add_join(db, session: GroupSession, who: Buyer, size: str, quantity: int, status: str = "confirmed"):
    """A join (or a waiting request) written as the join service writes it, without its cap check; each one
    requested a second after the last."""
    variant = db.scalar(select(Variant).where(Variant.product_id == session.product_id, Variant.size == size))
    stamp = session.starts_at + timedelta(seconds=next(_ticks))
    return add_participant(db, load_view(db, session), who, variant, quantity, status, stamp)


def demand_s3_m7_l4_xl1(db, session) -> list[Buyer]:
    """S3 M7 L4 XL1 from four buyers (the second joins twice)."""
    a, b, c, d = (buyer(db) for _ in range(4))
    add_join(db, session, a, "S", 3)
    add_join(db, session, b, "M", 5)
    add_join(db, session, b, "M", 2)
    add_join(db, session, c, "L", 4)
    add_join(db, session, d, "XL", 1)
    return [a, b, c, d]


# --- time, stock and closing -------------------------------------------------------------------------


def expire(db, session: GroupSession) -> None:
    """Move the session's end into the past (as if its time had run out)."""
    db.execute(
        update(GroupSession)
        .where(GroupSession.id == session.id)
        .values(starts_at=now() - timedelta(hours=3), ends_at=now() - timedelta(minutes=1))
    )
    db.flush()
    db.refresh(session)


def set_stock(db, product, **on_hand: int) -> None:
    for variant in product.variants:
        if variant.size in on_hand:
            db.execute(
                update(WarehouseInventory)
                .where(WarehouseInventory.variant_id == variant.id)
                .values(on_hand=on_hand[variant.size])
            )
    db.flush()


def sweep(db, db_factory, settings, **options) -> core_sweep.SweepResult:
    """A sweep from another connection; the test's own transaction ends first (SQLite: one writer)."""
    db.commit()
    return core_sweep.sweep_due_sessions(db_factory, settings, **options)


def close(db, settings, session, warehouse=None):
    outcome = close_session(db, session, warehouse or BuiltinWarehouse(db), settings)
    db.commit()
    return outcome


class DownWarehouse:
    """A warehouse that refuses every call, counting them."""

    calls = 0

    def _fail(self, *args, **kwargs):
        DownWarehouse.calls += 1
        raise WarehouseUnavailable("connection refused")

    stock = reserve = release = receive = _fail


def admin(client, method: str, path: str, json=None, status: int = 200):
    """One admin API call (`/api/v1<path>`) that must answer `status`; its JSON."""
    response = client.open(f"/api/v1{path}", method=method, json=json, headers=ADMIN_HEADERS)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def session_json(client, code: str = "GB1") -> dict:
    """`GET /api/v1/sessions/<code>`, which must answer 200."""
    return admin(client, "GET", f"/sessions/{code}")


def race(*calls: Callable[[], Any], timeout: float = 60) -> list[Any]:
    """Run `calls` at the same moment, each in a thread of its own released by one barrier; their results,
    in the order given. Any exception in a call fails the test here."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert errors == [] and not any(thread.is_alive() for thread in threads), errors
    return results


# --- the worker ------------------------------------------------------------------------------------------


def work(queue: Queue) -> None:
    """A burst `SimpleWorker` on `queue` (in this process, so it reads the test's clock): every job it
    finds, and the jobs those enqueue; none may fail."""
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert queue.failed_job_registry.get_job_ids() == []


def run_job(queue: Queue, function: str):
    """Enqueue a periodic job the way `rq cron` does, run the queue, return the job's result."""
    job = queue.enqueue(function)
    work(queue)
    return job.return_value()


def enqueue_due_retries(queue: Queue, then: Callable[[], object] | None = None) -> None:
    """RQ's scheduler step at the time the last scheduled job of `queue` is due: every scheduled job is
    queued now, for the test's worker to run. `then` runs at that time too (the clock ticking), for work
    that must see it: an outbox drain sends only rows whose next attempt time has come."""
    registry = queue.scheduled_job_registry
    due = max(registry.get_scheduled_time(j) for j in registry.get_job_ids()) + timedelta(seconds=1)
    with time_machine.travel(due, tick=then is not None):
        scheduler = RQScheduler([queue], connection=queue.connection)
        scheduler.prepare_registries([queue.name])
        scheduler.enqueue_scheduled_jobs()
        if then is not None:
            then()


# --- reading rows back ---------------------------------------------------------------------------------


def counts(db_factory: sessionmaker[Session]) -> dict[str, int]:
    """Rows in every table, in one round trip."""
    tables = Base.metadata.sorted_tables
    query = select(*(select(func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables))
    with db_factory() as db:
        return dict(db.execute(query).one()._mapping)


def reload(db, session: GroupSession) -> GroupSession:
    db.expire_all()
    return db.get(GroupSession, session.id)


def inventory(db, product) -> dict[str, tuple[int, int]]:
    """size -> (on_hand, reserved)"""
    rows = db.execute(
        select(Variant.size, WarehouseInventory.on_hand, WarehouseInventory.reserved)
        .join(WarehouseInventory, WarehouseInventory.variant_id == Variant.id)
        .where(Variant.product_id == product.id)
    )
    return {size: (on_hand, reserved) for size, on_hand, reserved in rows}


def on_hand_by_sku(db_factory) -> dict[str, int]:
    """Variant SKU -> units on hand in the built-in warehouse."""
    query = select(Variant.sku, WarehouseInventory.on_hand).join(
        Variant, Variant.id == WarehouseInventory.variant_id
    )
    with db_factory() as db:
        return dict(db.execute(query).tuples().all())


def messages(db, kind: str | None = None) -> list[OutboundMessage]:
    query = select(OutboundMessage).order_by(OutboundMessage.id)
    if kind:
        query = query.where(OutboundMessage.kind == kind)
    return list(db.scalars(query.execution_options(populate_existing=True)))


def po_lines(db, po: PurchaseOrder) -> dict[str, int]:
    db.refresh(po)
    return {line.variant.size: line.quantity for line in po.lines}


def counters(db, session_id: int) -> dict[str, tuple[int, int]]:
    """size -> (confirmed units, waiting units), from the session's counter rows; a size nobody asked for
    yet (its row of zeros, made with the session) is left out."""
    rows = db.execute(
        select(Variant.size, SessionVariantCounter.ordered_units, SessionVariantCounter.waiting_units)
        .join(Variant, Variant.id == SessionVariantCounter.variant_id)
        .where(SessionVariantCounter.session_id == session_id)
    )
    return {size: (o, w) for size, o, w in rows if o or w}


def participants(db_factory, code: str | None = None) -> list[tuple[str, str, int, str]]:
    """(buyer phone, size, quantity, status) in join order, of one session or all."""
    query = (
        select(Buyer.phone, Variant.size, Participant.quantity, Participant.status)
        .join(Participant, Participant.buyer_id == Buyer.id)
        .join(Variant, Variant.id == Participant.variant_id)
        .order_by(Participant.id)
    )
    if code is not None:
        query = query.join(GroupSession, GroupSession.id == Participant.session_id).where(
            GroupSession.code == code
        )
    with db_factory() as db:
        return [tuple(row) for row in db.execute(query)]


# --- the dashboard as an operator's browser (Flask test client) -----------------------------------------


def text_of(page: str) -> str:
    """A page as a reader sees it: tags dropped, entities decoded, spaces squashed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


class Operator:
    """A test client used the way a browser uses the dashboard: each POST carries the CSRF token of the
    page it was sent from (read from the page's `<meta name="csrf-token">`)."""

    def __init__(self, client) -> None:
        self.client = client

    def token(self, page: str = "/admin/login") -> str:
        match = CSRF_META.search(self.client.get(page).get_data(as_text=True))
        assert match, f"no CSRF token on {page}"
        return match.group(1)

    def login(self, username: str, password: str):
        return self.post("/admin/login", {"username": username, "password": password}, page="/admin/login")

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def page(self, path: str) -> str:
        response = self.client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return response.get_data(as_text=True)

    def post(self, path: str, data: dict | None = None, *, page: str = "/admin/", **kwargs):
        return self.client.post(path, data={"csrf_token": self.token(page), **(data or {})}, **kwargs)
