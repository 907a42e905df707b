"""Settlement at close: how many lots to order and which waiting requests to admit.

(docs/design.md, "Settlement at close".)

During a session the cap rule decides with half the information: it cannot know who will still come, so
a size that runs ahead is locked and its requests wait. At close the whole demand is known (confirmed
units plus the waiting list), so the number of lots can be chosen the way an offline planner would: each
extra lot serves some waiting units and leaves the rest of its units in the warehouse, and settlement
picks the lot count where that trade is cheapest, `excess_weight * E + R`.

A pure function over plain mappings, like `core.allocation`, so the rule is tested and benchmarked
without a database and the close, the admin view ("as if it closed now") and the benchmark call this
one implementation.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

from core.allocation import WaitingRequest


@dataclass(frozen=True)
class Settlement:
    """The decision taken at close, with the numbers that justify it.

    `lots` is what the purchase order asks for: the lots the served units really need beyond free stock,
    never a larger candidate that admits nothing more, so it always equals the stock plan's count for
    `served`. `excess` and `cost` are measured with those lots, which is what the warehouse is left with.
    A failed settlement (no lot count lets the served units reach the MOQ) admits nothing and orders
    nothing, because the session fails and every buyer is released; its `cost` is then just the waiting
    units, a number kept only so failed and settled sessions can be summed alike.
    """

    reached: bool  # served units reach target_moq; False: the session fails
    lots: int  # whole lots to order (0: none, e.g. every unit comes from free stock)
    admitted: tuple[Any, ...]  # keys of the waiting requests to confirm, oldest first
    not_admitted: tuple[Any, ...]  # keys of the waiting requests released (they owe nothing)
    served: dict[Any, int]  # units per size buyers get: confirmed + admitted
    admitted_units: dict[Any, int]  # units per size admitted from the waiting list
    excess: int  # E: units of the ordered lots that no buyer takes
    refused_units: int  # R: waiting units left unserved
    cost: float  # excess_weight * E + R

    @property
    def served_units(self) -> int:
        return sum(self.served.values())


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


@lru_cache(maxsize=64)
def _weight_ratio(excess_weight: float | int | Decimal | Fraction) -> tuple[int, int]:
    """`excess_weight` as an exact ratio, read as written (0.1 is 1/10).

    Costs are compared as integers, so two lot counts whose costs are equal on paper (0.1 * 10 + 1 and 2)
    tie exactly and the documented tie-breaks decide, instead of binary rounding.
    """
    weight = Fraction(str(excess_weight))
    if weight < 0:
        raise ValueError(f"excess_weight must be >= 0, got {excess_weight!r}")
    return weight.numerator, weight.denominator


def settle(
    allocations: Mapping[Any, int],
    confirmed: Mapping[Any, int],
    waiting: Sequence[WaitingRequest],
    target_moq: int,
    *,
    stock: Mapping[Any, int] | None = None,
    excess_weight: float | int | Decimal | Fraction = 1,
) -> Settlement:
    """Choose the lots `k` and the waiting requests to admit that minimise `excess_weight * E + R`.

    `allocations` a_v (empty: not a grosir product), `confirmed` o_v, `waiting` the whole requests oldest
    first, `stock` the warehouse's free units s_v (None: empty warehouse). Confirmed units always stay.
    For each candidate `k` the requests of a size are taken oldest first, skipping one that does not fit in
    what `k` lots and free stock leave of that size: first come first served, yet one large request does
    not block everyone behind it. Ties go to more units served (a sale beats an equal cost in leftovers),
    then to fewer lots (less money tied up with the factory).

    Candidates run from the least `k` that covers the confirmed units to the least that covers every
    waiting request too; beyond that more lots only add excess. A candidate whose admitted set needs fewer
    lots than `k` is skipped: the same greedy at the smaller count admits exactly the same set (each
    admitted request still fits, each skipped one still does not), so it was already evaluated there.

    Products without allocations have no lots and no cap: every waiting request is admitted if that
    reaches the MOQ (E = 0, R = 0); otherwise the result is failed like any other.
    Cost: O((candidates) * (sizes + waiting requests)).
    """
    num, den = _weight_ratio(excess_weight)
    free = stock or {}
    if not allocations:
        return _settle_without_lots(confirmed, waiting, target_moq)

    for size, units in confirmed.items():
        if units and size not in allocations:
            raise ValueError(f"confirmed size {size!r} has no allocation")
    queues: dict[Hashable, list[int]] = {v: [] for v in allocations}
    for request in waiting:
        if request.quantity <= 0:
            raise ValueError(f"waiting request {request.key!r} has quantity {request.quantity}")
        try:
            queues[request.size].append(request.quantity)
        except KeyError:
            raise ValueError(f"waiting size {request.size!r} has no allocation") from None

    # Per size: (a_v, s_v, o_v, queued quantities oldest first, their total).
    rows = [
        (a_v, max(0, free.get(v, 0)), confirmed.get(v, 0), queues[v], sum(queues[v]))
        for v, a_v in allocations.items()
    ]
    lot_units = sum(allocations.values())
    confirmed_units = sum(o_v for _, _, o_v, _, _ in rows)
    waiting_units = sum(total for *_, total in rows)
    # From the least k that covers the confirmed units to the least that covers every request too.
    first = max(0, *(_ceil_div(o_v - s_v, a_v) for a_v, s_v, o_v, _, _ in rows))
    last = max(0, *(_ceil_div(o_v + total - s_v, a_v) for a_v, s_v, o_v, _, total in rows))

    best: tuple[int, int, int] | None = None  # (cost * den, -served units, lots)
    best_k = best_excess = best_refused = 0
    for k in range(first, last + 1):
        admitted = 0
        lots = 0
        covered = 0  # units served beyond free stock, which the lots must carry
        for a_v, s_v, o_v, quantities, total in rows:
            room = k * a_v + s_v - o_v
            if total <= room:
                take = total
            else:
                take = 0
                for quantity in quantities:
                    if take + quantity <= room:
                        take += quantity
                        if take == room:
                            break
            admitted += take
            short = o_v + take - s_v
            if short > 0:
                covered += short
                need = _ceil_div(short, a_v)
                if need > lots:
                    lots = need
        if lots < k:
            continue  # same admitted set as candidate `lots`, already evaluated
        served_units = confirmed_units + admitted
        if served_units < target_moq:
            continue
        excess = k * lot_units - covered
        refused = waiting_units - admitted
        key = (num * excess + den * refused, -served_units, k)
        if best is None or key < best:
            best, best_k, best_excess, best_refused = key, k, excess, refused

    if best is None:
        return _failed(allocations, confirmed, waiting)

    room_left = {
        v: best_k * a_v + max(0, free.get(v, 0)) - confirmed.get(v, 0) for v, a_v in allocations.items()
    }
    admitted_units = dict.fromkeys(allocations, 0)
    taken: list[Any] = []
    left: list[Any] = []
    for request in waiting:
        if request.quantity <= room_left[request.size]:
            room_left[request.size] -= request.quantity
            admitted_units[request.size] += request.quantity
            taken.append(request.key)
        else:
            left.append(request.key)
    return Settlement(
        reached=True,
        lots=best_k,
        admitted=tuple(taken),
        not_admitted=tuple(left),
        served={v: confirmed.get(v, 0) + admitted_units[v] for v in allocations},
        admitted_units=admitted_units,
        excess=best_excess,
        refused_units=best_refused,
        cost=best[0] / den,
    )


def _failed(
    sizes: Mapping[Any, int], confirmed: Mapping[Any, int], waiting: Sequence[WaitingRequest]
) -> Settlement:
    refused = sum(r.quantity for r in waiting)
    return Settlement(
        reached=False,
        lots=0,
        admitted=(),
        not_admitted=tuple(r.key for r in waiting),
        served={v: confirmed.get(v, 0) for v in sizes},
        admitted_units=dict.fromkeys(sizes, 0),
        excess=0,
        refused_units=refused,
        cost=float(refused),
    )


def _settle_without_lots(
    confirmed: Mapping[Any, int], waiting: Sequence[WaitingRequest], target_moq: int
) -> Settlement:
    sizes = dict.fromkeys([*confirmed, *(r.size for r in waiting)], 0)
    if sum(confirmed.values()) + sum(r.quantity for r in waiting) < target_moq:
        return _failed(sizes, confirmed, waiting)
    admitted_units = dict(sizes)
    for request in waiting:
        admitted_units[request.size] += request.quantity
    return Settlement(
        reached=True,
        lots=0,
        admitted=tuple(r.key for r in waiting),
        not_admitted=(),
        served={v: confirmed.get(v, 0) + admitted_units[v] for v in sizes},
        admitted_units=admitted_units,
        excess=0,
        refused_units=0,
        cost=0.0,
    )
