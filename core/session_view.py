"""A session as the buyer and the admin see it: each size's confirmed and waiting units, cap and availability.

The per-size counters (`session_variant_counters`) are read once and the allocation rule applied to them;
`SessionView.count` keeps the counter rows, the session's total and the view equal as joins change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import allocation
from core.allocation import CatchUp, SizeAvailability
from core.catalog import product_allocations
from core.clock import as_utc
from core.models import GroupSession, Product, SessionStatus, SessionVariantCounter


@dataclass
class SessionView:
    """A session with its per-size state, as the buyer and the admin see it."""

    session: GroupSession
    product: Product
    allocations: dict[str, int]
    sizes: list[str]
    ordered: dict[str, int]
    waiting: dict[str, int]
    states: dict[str, SizeAvailability]
    counters: dict[int, SessionVariantCounter] = field(default_factory=dict)  # by variant id

    def count(self, db: Session, variant_id: int, ordered: int = 0, waiting: int = 0) -> None:
        """Add to one size's confirmed and waiting units: its counter row, the session's total and this
        view, together, so they never disagree."""
        counter = self.counters.get(variant_id)
        if counter is None:
            counter = SessionVariantCounter(
                session_id=self.session.id, variant_id=variant_id, ordered_units=0, waiting_units=0
            )
            db.add(counter)
            self.counters[variant_id] = counter
        counter.ordered_units += ordered
        counter.waiting_units += waiting
        self.session.ordered_units += ordered
        size = next(v.size for v in self.product.variants if v.id == variant_id)
        self.ordered[size] += ordered
        self.waiting[size] += waiting
        self.states = allocation.availability(
            self.allocations, self.ordered, self.product.lead_lots, self.product.allocation_policy, self.sizes
        )

    def catch_up(self, size: str, quantity: int = 1) -> list[CatchUp] | None:
        return allocation.catch_up_needed(
            size,
            quantity,
            self.allocations,
            self.ordered,
            self.product.lead_lots,
            self.product.allocation_policy,
        )


def is_open(session: GroupSession, at: datetime) -> bool:
    return session.status in SessionStatus.JOINABLE and as_utc(session.ends_at) > at >= as_utc(
        session.starts_at
    )


def load_view(db: Session, session: GroupSession) -> SessionView:
    product = db.get(Product, session.product_id)
    assert product is not None
    by_id = {v.id: v.size for v in product.variants}
    ordered = {size: 0 for size in by_id.values()}
    waiting = {size: 0 for size in by_id.values()}
    counters = {}
    for counter in db.scalars(
        select(SessionVariantCounter).where(SessionVariantCounter.session_id == session.id)
    ):
        counters[counter.variant_id] = counter
        ordered[by_id[counter.variant_id]] = counter.ordered_units
        waiting[by_id[counter.variant_id]] = counter.waiting_units
    allocations = product_allocations(product)
    sizes = list(by_id.values())
    states = allocation.availability(
        allocations, ordered, product.lead_lots, product.allocation_policy, sizes=sizes
    )
    return SessionView(session, product, allocations, sizes, ordered, waiting, states, counters)
