"""The webhook benchmark's data: seeded before the server starts, read back with SQL afterwards.

Products and sessions are made by the product's own catalogue functions (`core.catalog`); the thousands
of participants scenario (c) starts from are inserted in bulk into the model tables (`core.models`), with
counters to match. Everything checked afterwards is read with plain SQL and judged with the pure rule in
`core.allocation`.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import insert, text

from bench.common import engine, sessions
from core import catalog
from core.allocation import size_availability
from core.models import Buyer, Participant, SessionVariantCounter

MIX = {"S": 2, "M": 5, "L": 4, "XL": 1}
LOT_ORDER = [size for size, units in MIX.items() for _ in range(units)]  # S S M M M M M L L L L XL
BIG_MOQ = 1_000_000  # no join reaches it: no notification fan-out in the timings
PRICE = 45_000


def phone(prefix: int, n: int) -> str:
    """Distinct valid Indonesian mobile numbers: +62 8xx followed by 8 digits."""
    return f"+62{prefix}{10_000_000 + n:08d}"


@dataclass(frozen=True)
class Sizes:
    spread_sessions: int
    growth_small: int
    growth_large: int
    growth_waiting: int

    @property
    def waitlist_lengths(self) -> tuple[int, int, int]:
        return 0, self.growth_waiting, 5 * self.growth_waiting


def seed(url: str, sizes: Sizes) -> dict:
    """Factory, products and sessions through `core.catalog`; returns the codes used, per scenario."""
    factory = sessions(url)
    ends = _dt.datetime.now(_dt.UTC) + _dt.timedelta(hours=6)
    with factory.begin() as db:
        maker = catalog.create_factory(db, name="Konveksi Bench", phone="+6281100000001", address="Bandung")
        products = {}
        for name in ("HOT", "SPREAD", "GROWTH", "WAITLIST"):
            products[name] = catalog.create_product(
                db,
                factory_id=maker.id,
                name=f"Kaos {name.title()}",
                sku=f"BENCH-{name}",
                price=PRICE,
                variants=[
                    catalog.VariantSpec(size, f"BENCH-{name}-{size}", units) for size, units in MIX.items()
                ],
                grosir_unit_size=sum(MIX.values()),
                # Off: every locked request is refused, so replaying confirmed joins in id order checks
                # the cap exactly (a waitlist admission confirms an older row later than younger ones).
                # WAITLIST (scenario c, the W<n> sessions) has it on, with requests that never fit.
                waitlist_enabled=name == "WAITLIST",
            ).id

        def session(product: str, code: str) -> int:
            made = catalog.create_session(
                db, product_id=products[product], target_moq=BIG_MOQ, ends_at=ends, code=code
            )
            return made.id

        session("HOT", "HOT")
        spread_codes = [f"SP{n:04d}" for n in range(1, sizes.spread_sessions + 1)]
        for code in spread_codes:
            session("SPREAD", code)
        growth, waitlist = {}, {}
        for label, count in (("small", sizes.growth_small), ("large", sizes.growth_large)):
            code = f"G{count}"
            confirmed = [LOT_ORDER[n % len(LOT_ORDER)] for n in range(count)]
            growth[label] = {"code": code, "session_id": session("GROWTH", code), "rows": (confirmed, [])}
        lots = sizes.growth_large // len(LOT_ORDER)
        for label, count in zip(("none", "some", "many"), sizes.waitlist_lengths, strict=True):
            code = f"W{count}"
            # Whole lots plus one XL: XL has 1 unit free, so `ANTRE <code> XL 2` waits (for M, L and S
            # to complete the next lot), while `IKUT <code> S 1` is accepted and admits nobody.
            rows = (LOT_ORDER * lots + ["XL"], [("XL", 2)] * count)
            waitlist[label] = {"code": code, "session_id": session("WAITLIST", code), "rows": rows}
    for prefix, info in zip((821, 822, 823, 851, 852), [*growth.values(), *waitlist.values()], strict=True):
        confirmed, waiting = info.pop("rows")
        info["participants"], info["waiting"] = len(confirmed), len(waiting)
        bulk_participants(url, info["session_id"], confirmed, waiting, prefix)
    with engine(url, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text("ANALYZE"))
    return {"spread_codes": spread_codes, "growth": growth, "waitlist": waitlist}


def bulk_participants(
    url: str, session_id: int, confirmed: list[str], waiting: list[tuple[str, int]], buyer_prefix: int
) -> None:
    """Confirmed joins of one unit of each size in `confirmed` (lot order, so each was within its cap), then
    waiting requests `(size, quantity)`; one new buyer each; counters and the session total to match."""
    stamp = _dt.datetime.now(_dt.UTC)
    rows = [(size, 1, "confirmed") for size in confirmed] + [(size, q, "waiting") for size, q in waiting]
    with engine(url).begin() as db:
        variant_of = dict(
            db.execute(
                text(
                    "SELECT v.size, v.id FROM variants v JOIN sessions s ON s.product_id = v.product_id "
                    "WHERE s.id = :id"
                ),
                {"id": session_id},
            ).all()
        )
        price = db.execute(text("SELECT price FROM sessions WHERE id = :id"), {"id": session_id}).scalar_one()
        buyer_ids = db.execute(
            insert(Buyer.__table__).returning(Buyer.__table__.c.id, sort_by_parameter_order=True),
            [
                {"phone": phone(buyer_prefix, n), "name": f"Bulk {n}", "language": "id", "created_at": stamp}
                for n in range(len(rows))
            ],
        ).scalars()
        db.execute(
            insert(Participant.__table__),
            [
                {
                    "session_id": session_id,
                    "buyer_id": buyer_id,
                    "variant_id": variant_of[size],
                    "quantity": quantity,
                    "unit_price": price,
                    "total": quantity * price,
                    "status": status,
                    "requested_at": stamp,
                    "joined_at": stamp if status == "confirmed" else None,
                }
                for buyer_id, (size, quantity, status) in zip(buyer_ids, rows, strict=True)
            ],
        )
        ordered = Counter(confirmed)
        queued: Counter[str] = Counter()
        for size, quantity in waiting:
            queued[size] += quantity
        # the session's counter rows (a row of zeros per size since its creation) take the bulk's counts
        db.execute(text("DELETE FROM session_variant_counters WHERE session_id = :id"), {"id": session_id})
        db.execute(
            insert(SessionVariantCounter.__table__),
            [
                {
                    "session_id": session_id,
                    "variant_id": variant_of[s],
                    "ordered_units": ordered.get(s, 0),
                    "waiting_units": queued.get(s, 0),
                }
                for s in MIX
            ],
        )
        db.execute(
            text("UPDATE sessions SET ordered_units = :units WHERE id = :id"),
            {"units": len(confirmed), "id": session_id},
        )


def confirmed_in(url: str, codes: list[str]) -> int:
    with engine(url).connect() as db:
        return db.execute(
            text(
                "SELECT count(*) FROM participants p JOIN sessions s ON s.id = p.session_id "
                "WHERE s.code = ANY(:codes) AND p.status = 'confirmed'"
            ),
            {"codes": codes},
        ).scalar_one()


def verify(url: str) -> dict:
    """Every session: counters == participant sums, and no confirmed join ever exceeded its size's cap
    (confirmed participants replayed in id order, which is commit order: a join holds the session row
    lock from before its insert until commit)."""
    report: dict = {
        "sessions_checked": 0,
        "confirmed_participants": 0,
        "over_cap_joins": 0,
        "counter_mismatches": 0,
        "session_total_mismatches": 0,
        "examples": [],
    }
    with engine(url).connect() as db:
        allocations: dict[int, dict[str, int]] = defaultdict(dict)
        for product_id, size, units in db.execute(
            text(
                "SELECT a.product_id, v.size, a.units_per_lot FROM grosir_variant_allocations a "
                "JOIN variants v ON v.id = a.variant_id"
            )
        ):
            allocations[product_id][size] = units
        sessions_ = db.execute(
            text(
                "SELECT s.id, s.code, s.product_id, s.ordered_units, p.lead_lots, p.allocation_policy "
                "FROM sessions s JOIN products p ON p.id = s.product_id"
            )
        ).all()
        counters: dict[int, dict[str, int]] = defaultdict(dict)
        for session_id, size, units in db.execute(
            text(
                "SELECT c.session_id, v.size, c.ordered_units FROM session_variant_counters c "
                "JOIN variants v ON v.id = c.variant_id"
            )
        ):
            counters[session_id][size] = units
        by_session: dict[int, list[tuple[str, int]]] = defaultdict(list)
        for session_id, size, quantity in db.execute(
            text(
                "SELECT p.session_id, v.size, p.quantity FROM participants p JOIN variants v ON v.id = p.variant_id "
                "WHERE p.status = 'confirmed' ORDER BY p.id"
            )
        ):
            by_session[session_id].append((size, quantity))
        for session_id, code, product_id, total, lead_lots, policy in sessions_:
            ordered: dict[str, int] = {}
            for size, quantity in by_session.get(session_id, []):
                state = size_availability(size, allocations[product_id], ordered, lead_lots, policy)
                if not state.accepts(quantity):
                    report["over_cap_joins"] += 1
                    if len(report["examples"]) < 5:
                        report["examples"].append(
                            f"{code}: {quantity} {size} joined with {state.available} available"
                        )
                ordered[size] = ordered.get(size, 0) + quantity
            stored = {size: units for size, units in counters.get(session_id, {}).items() if units}
            if stored != {size: units for size, units in ordered.items() if units}:
                report["counter_mismatches"] += 1
                if len(report["examples"]) < 5:
                    report["examples"].append(f"{code}: counters {stored} != participants {ordered}")
            if total != sum(ordered.values()):
                report["session_total_mismatches"] += 1
            report["sessions_checked"] += 1
            report["confirmed_participants"] += len(by_session.get(session_id, []))
        report["inbound_messages"] = db.execute(text("SELECT count(*) FROM inbound_messages")).scalar_one()
        report["outbox_messages"] = db.execute(text("SELECT count(*) FROM outbound_messages")).scalar_one()
    report["ok"] = not (
        report["over_cap_joins"] or report["counter_mismatches"] or report["session_total_mismatches"]
    )
    return report
