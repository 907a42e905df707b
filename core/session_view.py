"""A session as the buyer and the admin see it: each size's confirmed and waiting units, cap and availability.

The per-size counters (`session_variant_counters`) are read once and the allocation rule applied to them;
`SessionView.count` keeps the counter rows, the session's total and the view equal as joins change
(`SessionView.counted` when the database was already changed by one statement, `core.join_rows`). The
product is its catalog as `core.product_lots` keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import allocation
from core.allocation import CatchUp, SizeAvailability
from core.clock import as_utc
from core.models import GroupSession, Product, SessionStatus, SessionVariantCounter
from core.product_lots import ProductLots, product_lots


@dataclass
class SessionView:
    """A session with its per-size state, as the buyer and the admin see it."""

    session: GroupSession
    product: ProductLots
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
        self._recount(variant_id, ordered, waiting)

    def counted(self, variant_id: int, ordered: int = 0, waiting: int = 0) -> None:
        """What `count` does, for a change the database already holds (written by one statement,
        `core.join_rows`): the counter row and the session as loaded take the new values as committed, so
        the ORM writes nothing more."""
        counter = self.counters[variant_id]
        set_committed_value(counter, "ordered_units", counter.ordered_units + ordered)
        set_committed_value(counter, "waiting_units", counter.waiting_units + waiting)
        set_committed_value(self.session, "ordered_units", self.session.ordered_units + ordered)
        self._recount(variant_id, ordered, waiting)

    def _recount(self, variant_id: int, ordered: int, waiting: int) -> None:
        size = self.product.variant(variant_id).size
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


def load_view(
    db: Session,
    session: GroupSession,
    *,
    catalog_version: int | None = None,
    counters: list[SessionVariantCounter] | None = None,
) -> SessionView:
    """The view of `session`. A caller that read the product's `catalog_version` and the session's counter
    rows already (`core.session_rows.lock_for_join`) passes them; else they are read here."""
    if catalog_version is None:
        catalog_version = db.scalar(select(Product.catalog_version).where(Product.id == session.product_id))
    product = product_lots(db, session.product_id, catalog_version)
    by_id = {v.id: v.size for v in product.variants}
    ordered = {size: 0 for size in by_id.values()}
    waiting = {size: 0 for size in by_id.values()}
    if counters is None:
        counters = list(
            db.scalars(select(SessionVariantCounter).where(SessionVariantCounter.session_id == session.id))
        )
    by_variant = {}
    for counter in counters:
        by_variant[counter.variant_id] = counter
        ordered[by_id[counter.variant_id]] = counter.ordered_units
        waiting[by_id[counter.variant_id]] = counter.waiting_units
    allocations = product.allocations_by_size()
    sizes = list(by_id.values())
    states = allocation.availability(
        allocations, ordered, product.lead_lots, product.allocation_policy, sizes=sizes
    )
    return SessionView(session, product, allocations, sizes, ordered, waiting, states, by_variant)
