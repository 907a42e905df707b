"""The stock plan of a closing session, pure: what is taken from stock now and what is ordered in lots.

**How stock is held while the factory works.** With demand `d_v` and free stock `s_v`, the purchase order
asks for `L_v = k * a_v` units of each size, `k = max_v ceil(max(0, d_v - s_v) / a_v)`. At close only the
part the lots will not cover is taken from stock and reserved: `h_v = max(0, d_v - L_v)` (never more than
`s_v`). When the lots arrive, the rest `min(d_v, L_v)` is reserved from them and the excess
`L_v - min(d_v, L_v)` stays free in the warehouse. Both numbers follow from the session's demand and the
PO lines alone (`held_at_close`, `taken_from_lots`), so nothing else needs storing, and the warehouse ends
where "stock first" would have put it (`s_v + L_v - d_v`) while holding as little as possible during the
wait. Close, receipt and cancel all use these two functions.

**Products without grosir lots** (no allocations) order exactly the shortfall `max(0, d_v - s_v)` of each
size; the purchase order row says `lots = 1` (one batch) and `grosir_units_needed` stays empty.

See docs/design.md, "Expiry (warehouse first)".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core import allocation


@dataclass(frozen=True)
class StockPlan:
    """What a closing session takes from stock now and what it orders from the factory."""

    lots: int  # whole lots to order; 0 for a product without lots (see `incoming`)
    incoming: dict[int, int]  # purchase order lines per variant; empty: everything comes from stock
    hold: dict[int, int]  # units to reserve from stock now, per variant

    @property
    def from_stock(self) -> bool:
        return not self.incoming


def plan_stock(
    demand: Mapping[int, int], free: Mapping[int, int], allocations: Mapping[int, int]
) -> StockPlan:
    """Stock first: with enough of every size, hold the demand. Otherwise order `k` whole lots
    (`k = max_v ceil(max(0, d_v - s_v) / a_v)`, each size `k * a_v`; without allocations exactly the
    shortfall) and hold only what those will not cover."""
    shortfall = {v: max(0, d - free.get(v, 0)) for v, d in demand.items()}
    if not any(shortfall.values()):
        return StockPlan(0, {}, {v: d for v, d in demand.items() if d > 0})
    if allocations:
        lots = allocation.lots_needed(shortfall, allocations)
        incoming = {v: lots * a_v for v, a_v in allocations.items()}
    else:
        lots = 0
        incoming = {v: units for v, units in shortfall.items() if units > 0}
    return StockPlan(lots, incoming, held_at_close(demand, incoming))


def held_at_close(demand: Mapping[int, int], incoming: Mapping[int, int]) -> dict[int, int]:
    """Units held from stock at close: the demand the lots will not cover, `max(0, d_v - L_v)`."""
    return {v: d - incoming.get(v, 0) for v, d in demand.items() if d > incoming.get(v, 0)}


def taken_from_lots(demand: Mapping[int, int], incoming: Mapping[int, int]) -> dict[int, int]:
    """Units the session takes from the lots when they arrive: `min(d_v, L_v)`."""
    taken = {v: min(d, incoming.get(v, 0)) for v, d in demand.items()}
    return {v: units for v, units in taken.items() if units > 0}


def hold_key(session_id: int, step: str) -> str:
    """The warehouse key a session's hold is made (and given back) under: `close` or `receipt`."""
    return f"session-{session_id}-{step}"


def order_hold_key(order_code: str) -> str:
    """With online payment, each order's units are held under a key of their own, so an order that
    expires unpaid gives back exactly its units (`core.payment_events.release_order_stock`)."""
    return f"order-{order_code}"
