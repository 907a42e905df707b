"""The expiry benchmark's data: due sessions planned in memory (so the expected result is known before the
sweep runs), then seeded: the factory and products through `core.catalog`, buyers, sessions, participants
and counters in bulk into the model tables (`core.models`), stock with SQL."""

from __future__ import annotations

import datetime as _dt
import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, text

from bench.common import engine, sessions
from core import catalog
from core.models import Buyer, GroupSession, Participant, SessionVariantCounter

MIX = {"S": 2, "M": 5, "L": 4, "XL": 1}
SIZES = tuple(MIX)
OUTCOMES = ("failed", "orders_created", "pending_stock")
OUTCOME_SHARES = {"failed": 0.30, "orders_created": 0.35, "pending_stock": 0.35}
SPARE_UNITS = 5  # free units per size left over after every stock session is served
PRICE = 45_000
EN_SHARE = 0.2
ADDRESS_SHARE = 0.7
SECOND_JOIN_SHARE = 0.2


@dataclass
class SessionPlan:
    code: str
    outcome: str
    product: str
    joins: list[tuple[int, str, int]]  # (buyer index, size, quantity)
    target_moq: int
    ended_seconds_ago: float

    @property
    def units(self) -> int:
        return sum(q for _, _, q in self.joins)

    def demand(self) -> dict[str, int]:
        d: Counter[str] = Counter()
        for _, size, q in self.joins:
            d[size] += q
        return dict(d)

    @property
    def buyers(self) -> int:
        return len({b for b, _, _ in self.joins})

    def lots(self) -> int:
        """With no stock: k = max_v ceil(d_v / a_v) (derived here from the rule, not taken from core)."""
        return max(math.ceil(units / MIX[size]) for size, units in self.demand().items())


@dataclass
class Plan:
    sessions: list[SessionPlan]
    buyers: int
    languages: list[str]
    addresses: list[str | None]
    stock_products: list[str]
    po_products: list[str]

    def expected(self) -> dict[str, Any]:
        by_outcome = Counter(s.outcome for s in self.sessions)
        messages: Counter[str] = Counter()
        per_session_messages = {}
        for s in self.sessions:
            kind = {"failed": "session_failed", "orders_created": "order_created"}.get(
                s.outcome, "waiting_for_stock"
            )
            messages[kind] += s.buyers
            per_session_messages[s.code] = s.buyers + (s.outcome == "pending_stock")
            if s.outcome == "pending_stock":
                messages["factory_po"] += 1
        reserved: Counter[str] = Counter()
        for s in self.sessions:
            if s.outcome == "orders_created":
                for size, units in s.demand().items():
                    reserved[f"{s.product}-{size}"] += units
        return {
            "sessions": len(self.sessions),
            "by_outcome": dict(by_outcome),
            "participants": sum(len(s.joins) for s in self.sessions),
            "orders": sum(len(s.joins) for s in self.sessions if s.outcome == "orders_created"),
            "purchase_orders": by_outcome["pending_stock"],
            "messages": sum(messages.values()),
            "messages_by_kind": dict(messages),
            "per_session_messages": per_session_messages,
            "reserved": dict(reserved),
        }


def plan_sessions(
    count: int,
    seed: int,
    buyers_per_session: tuple[int, int],
    products_per_kind: int,
    tag: str = "",
    only: str | None = None,
) -> Plan:
    """`count` due sessions, a seeded shuffle of the three outcomes (or `only` one of them)."""
    rng = random.Random(f"laku-expiry-bench|{seed}|{count}|{buyers_per_session}|{products_per_kind}|{tag}")
    stock_products = [f"STOCK{n:03d}" for n in range(1, products_per_kind + 1)]
    po_products = [f"PO{n:03d}" for n in range(1, products_per_kind + 1)]
    if only:
        outcomes = [only] * count
    else:
        shares = [(o, round(count * OUTCOME_SHARES[o])) for o in OUTCOMES[1:]]
        outcomes = [o for o, n in shares for _ in range(n)]
        outcomes += ["failed"] * (count - len(outcomes))
        rng.shuffle(outcomes)
    buyers = max(3 * count, 10 * buyers_per_session[1])
    size_weights = list(MIX.values())
    planned = []
    for n, outcome in enumerate(outcomes, 1):
        who = rng.sample(range(buyers), rng.randint(*buyers_per_session))
        joins = []
        for buyer in who:
            first = rng.choices(SIZES, size_weights)[0]
            joins.append((buyer, first, rng.randint(1, 3)))
            if rng.random() < SECOND_JOIN_SHARE:
                second = rng.choice([s for s in SIZES if s != first])
                joins.append((buyer, second, rng.randint(1, 3)))
        units = sum(q for _, _, q in joins)
        if outcome == "failed":
            target = units + rng.randint(1, 12)
            product = rng.choice(stock_products + po_products)
        else:
            target = rng.randint(max(1, units // 2), units)
            product = rng.choice(stock_products if outcome == "orders_created" else po_products)
        planned.append(SessionPlan(f"EX{n:05d}", outcome, product, joins, target, rng.uniform(60, 6 * 3600)))
    languages = ["en" if rng.random() < EN_SHARE else "id" for _ in range(buyers)]
    addresses = [
        f"Jl. Bench No. {b + 1}, Bandung" if rng.random() < ADDRESS_SHARE else None for b in range(buyers)
    ]
    return Plan(planned, buyers, languages, addresses, stock_products, po_products)


def phone(n: int) -> str:
    """Distinct Indonesian mobile numbers: +62 812 followed by 8 digits."""
    return f"+62812{10_000_000 + n:08d}"


def buyer_row(b: int, language: str, created_at: _dt.datetime, **columns: Any) -> dict:
    """Buyer index `b` (id `b + 1`) as a row for a bulk insert, with any further `columns`."""
    return {
        "id": b + 1,
        "phone": phone(b),
        "name": f"Pembeli {b}",
        "language": language,
        "created_at": created_at,
    } | columns


def continue_ids(db: Connection, *tables: str) -> None:
    """After rows inserted with explicit ids: each table's id sequence continues after its largest id."""
    for table in tables:
        db.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        )


def seed_catalog(url: str, keys: list[str]) -> dict[str, tuple[int, dict[str, int]]]:
    """A factory and one product per key (lot mix `MIX`) through `core.catalog`: key -> (product id,
    size -> variant id)."""
    products: dict[str, tuple[int, dict[str, int]]] = {}
    with sessions(url).begin() as db:
        maker = catalog.create_factory(db, name="Konveksi Bench", phone="+6281100000001", address="Bandung")
        for key in keys:
            product = catalog.create_product(
                db,
                factory_id=maker.id,
                name=f"Kaos {key.title()}",
                sku=f"EXB-{key}",
                price=PRICE,
                variants=[catalog.VariantSpec(size, f"{key}-{size}", units) for size, units in MIX.items()],
                grosir_unit_size=sum(MIX.values()),
            )
            products[key] = (product.id, {v.size: v.id for v in product.variants})
    return products


def session_row(n: int, code: str, product_id: int, target_moq: int, units: int, ends: _dt.datetime) -> dict:
    """A session with id `n` and `units` confirmed, open for two days until `ends`."""
    reached = units >= target_moq
    return {
        "id": n,
        "code": code,
        "product_id": product_id,
        "status": "moq_reached" if reached else "forming",
        "target_moq": target_moq,
        "price": PRICE,
        "ordered_units": units,
        "starts_at": ends - _dt.timedelta(days=2),
        "ends_at": ends,
        "moq_reached_at": ends - _dt.timedelta(hours=1) if reached else None,
        "factory_whatsapp_sent": False,
        "created_at": ends - _dt.timedelta(days=2),
    }


def participant_row(
    session_id: int, buyer: int, variant_id: int, quantity: int, at: _dt.datetime, status: str = "confirmed"
) -> dict:
    """Buyer index `buyer`'s join (or waiting request) requested at `at`."""
    return {
        "session_id": session_id,
        "buyer_id": buyer + 1,
        "variant_id": variant_id,
        "quantity": quantity,
        "unit_price": PRICE,
        "total": quantity * PRICE,
        "status": status,
        "requested_at": at,
        "joined_at": at if status == "confirmed" else None,
    }


def seed(url: str, plan: Plan) -> None:
    """Into empty tables (ids restarting at 1): the catalogue through `core.catalog`, the rest in bulk
    with explicit ids (an ORM bulk INSERT ... RETURNING is quadratic here: 90 s for 10,000 sessions)."""
    stamp = _dt.datetime.now(_dt.UTC)
    products = seed_catalog(url, plan.stock_products + plan.po_products)
    with engine(url).begin() as db:
        db.execute(
            insert(Buyer.__table__),
            [buyer_row(b, plan.languages[b], stamp, address=plan.addresses[b]) for b in range(plan.buyers)],
        )
        rows = []
        for n, s in enumerate(plan.sessions, 1):
            ends = stamp - _dt.timedelta(seconds=s.ended_seconds_ago)
            rows.append(session_row(n, s.code, products[s.product][0], s.target_moq, s.units, ends))
        db.execute(insert(GroupSession.__table__), rows)
        continue_ids(db, "buyers", "sessions")
        participants, counters = [], []
        for s, row in zip(plan.sessions, rows, strict=True):
            variants = products[s.product][1]
            for n, (buyer, size, quantity) in enumerate(s.joins):
                at = row["starts_at"] + _dt.timedelta(minutes=n + 1)
                participants.append(participant_row(row["id"], buyer, variants[size], quantity, at))
            for size, units in s.demand().items():
                counters.append(
                    {
                        "session_id": row["id"],
                        "variant_id": variants[size],
                        "ordered_units": units,
                        "waiting_units": 0,
                    }
                )
        db.execute(insert(Participant.__table__), participants)
        db.execute(insert(SessionVariantCounter.__table__), counters)
        reserved = plan.expected()["reserved"]
        db.execute(
            text("UPDATE warehouse_inventory SET on_hand = :on_hand WHERE variant_id = :variant_id"),
            [
                {"variant_id": variant_id, "on_hand": reserved.get(f"{key}-{size}", 0) + SPARE_UNITS}
                for key in plan.stock_products
                for size, variant_id in products[key][1].items()
            ],
        )
