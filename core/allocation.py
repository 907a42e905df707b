"""The allocation rule: how many units of each size a session may still take (see docs/design.md, "Allocation rule").

Pure functions over plain mappings, so the rule is tested and benchmarked without a database, and the
join service, `INFO`, the admin API and the benchmarks all call this one implementation.

Sizes are keyed by any hashable (labels in the services, variant ids when closing). `allocations[v]` is the units of v
in one lot (`a_v`), `ordered[v]` the confirmed units of v in the session (`o_v`), `lead_lots` is `T`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

Size = Hashable
K = TypeVar("K", bound=Hashable)  # size keys: labels in the services, variant ids when closing


class AllocationPolicyName:
    """The policies' names, as stored on a product (`products.allocation_policy`)."""

    LOT_BALANCED = "lot_balanced"
    STATIC = "static"
    RAW_UNIT = "raw_unit"
    ALL = (LOT_BALANCED, STATIC, RAW_UNIT)


@dataclass(frozen=True)
class CatchUp:
    """`size` needs `units` more confirmed units before the locked size can take the request."""

    size: Size
    units: int


@dataclass(frozen=True)
class SizeAvailability:
    size: Size
    allocation: int | None
    ordered: int
    cap: int | None  # None: no cap (not a grosir product)
    available: int | None  # None: unlimited

    @property
    def locked(self) -> bool:
        return self.available == 0

    def accepts(self, quantity: int) -> bool:
        return self.available is None or quantity <= self.available


class AllocationPolicy(Protocol):
    name: str

    def cap(
        self, size: Any, allocations: Mapping[Any, int], ordered: Mapping[Any, int], lead_lots: int
    ) -> int: ...

    def catch_up(
        self,
        size: Any,
        quantity: int,
        allocations: Mapping[Any, int],
        ordered: Mapping[Any, int],
        lead_lots: int,
    ) -> list[CatchUp] | None:
        """Units other sizes need before `quantity` of `size` fits; None if no catch-up ever helps."""
        ...


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


class LotBalanced:
    """Default: `cap_v = T*a_v + min_u floor(o_u * a_v / a_u)`.

    A size may run `T` lots ahead of the size that is furthest behind, measured in lots of the mix, so
    every size's lead is proportional to its share of the lot.
    """

    name = AllocationPolicyName.LOT_BALANCED

    def cap(self, size, allocations, ordered, lead_lots):
        a_v = allocations[size]
        return lead_lots * a_v + min(ordered.get(u, 0) * a_v // a_u for u, a_u in allocations.items())

    def catch_up(self, size, quantity, allocations, ordered, lead_lots):
        a_v = allocations[size]
        if quantity > max_request(size, allocations, lead_lots):
            return None
        # Need floor(o_u * a_v / a_u) >= m for every u, with m = o_v + q - T*a_v.
        m = ordered.get(size, 0) + quantity - lead_lots * a_v
        needs = []
        for u, a_u in allocations.items():
            if u == size:
                continue
            required = _ceil_div(m * a_u, a_v)
            missing = required - ordered.get(u, 0)
            if missing > 0:
                needs.append(CatchUp(u, missing))
        return needs


class RawUnit:
    """The original design's dynamic rule: `cap_v = min_u o_u + T*a_v` (raw units, not lots)."""

    name = AllocationPolicyName.RAW_UNIT

    def cap(self, size, allocations, ordered, lead_lots):
        return lead_lots * allocations[size] + min(ordered.get(u, 0) for u in allocations)

    def catch_up(self, size, quantity, allocations, ordered, lead_lots):
        if quantity > max_request(size, allocations, lead_lots):
            return None
        m = ordered.get(size, 0) + quantity - lead_lots * allocations[size]
        return [
            CatchUp(u, m - ordered.get(u, 0)) for u in allocations if u != size and m - ordered.get(u, 0) > 0
        ]


class Static:
    """The original design's fixed rule: `cap_v = T*a_v`; a locked size never unlocks."""

    name = AllocationPolicyName.STATIC

    def cap(self, size, allocations, ordered, lead_lots):
        return lead_lots * allocations[size]

    def catch_up(self, size, quantity, allocations, ordered, lead_lots):
        return None


def max_request(size: K, allocations: Mapping[K, int], lead_lots: int) -> int:
    """The most one request can get while the session runs, under every policy: `T*a_v`.

    `available_v = cap_v - o_v <= T*a_v`, because the min over sizes includes v itself; a larger request
    never fits before the close. With the waitlist it waits for settlement at close (`core.settlement`),
    passed over by `admit_waiting`; without it, it is refused with this maximum.
    """
    return lead_lots * allocations[size]


POLICIES: dict[str, AllocationPolicy] = {p.name: p for p in (LotBalanced(), RawUnit(), Static())}
DEFAULT_POLICY = AllocationPolicyName.LOT_BALANCED


def policy_named(name: str | None) -> AllocationPolicy:
    return POLICIES[name or DEFAULT_POLICY]


def size_availability(
    size: K,
    allocations: Mapping[K, int],
    ordered: Mapping[K, int],
    lead_lots: int = 2,
    policy: str | None = None,
) -> SizeAvailability:
    """Cap and units still available for one size. Products without allocations have no cap."""
    o_v = ordered.get(size, 0)
    if not allocations:
        return SizeAvailability(size, None, o_v, None, None)
    if size not in allocations:
        raise KeyError(f"size {size!r} has no allocation")
    cap = policy_named(policy).cap(size, allocations, ordered, lead_lots)
    return SizeAvailability(size, allocations[size], o_v, cap, max(0, cap - o_v))


def availability(
    allocations: Mapping[K, int],
    ordered: Mapping[K, int],
    lead_lots: int = 2,
    policy: str | None = None,
    sizes: list[K] | None = None,
) -> dict[K, SizeAvailability]:
    """Availability of every size (`sizes` lists them for products without allocations)."""
    keys = list(allocations) if allocations else list(sizes or ordered)
    return {v: size_availability(v, allocations, ordered, lead_lots, policy) for v in keys}


def catch_up_needed(
    size: K,
    quantity: int,
    allocations: Mapping[K, int],
    ordered: Mapping[K, int],
    lead_lots: int = 2,
    policy: str | None = None,
) -> list[CatchUp] | None:
    """What must be ordered of other sizes before `quantity` of `size` fits (None: never, static rule)."""
    return policy_named(policy).catch_up(size, quantity, allocations, ordered, lead_lots)


def lots_needed(shortfall: Mapping[K, int], allocations: Mapping[K, int]) -> int:
    """Whole lots that cover every size's shortfall: `k = max_v ceil(max(0, shortfall_v) / a_v)`."""
    return max((_ceil_div(max(0, shortfall.get(v, 0)), a_v) for v, a_v in allocations.items()), default=0)


@dataclass(frozen=True)
class WaitingRequest:
    """A whole request waiting for room or for settlement at close; `key` identifies it to the caller (a
    row id)."""

    key: Any
    size: Any
    quantity: int


def admit_waiting(
    waiting: list[WaitingRequest],
    allocations: Mapping[Any, int],
    ordered: Mapping[Any, int],
    lead_lots: int = 2,
    policy: str | None = None,
) -> list[WaitingRequest]:
    """Waiting requests (oldest first) that fit now, in admission order.

    First come first served within a size: a request never overtakes an older one for the same size,
    except one larger than `T*a_v`, which no cap ever admits: it is left to settlement at close and
    blocks nobody. Admitting one size can raise other sizes' caps, so passes repeat until nothing more fits.
    """
    counts = dict(ordered)
    pending = [
        r for r in waiting if not allocations or r.quantity <= max_request(r.size, allocations, lead_lots)
    ]
    admitted: list[WaitingRequest] = []
    progress = True
    while progress and pending:
        progress = False
        blocked: set[Size] = set()
        for request in list(pending):
            if request.size in blocked:
                continue
            if size_availability(request.size, allocations, counts, lead_lots, policy).accepts(
                request.quantity
            ):
                admitted.append(request)
                pending.remove(request)
                counts[request.size] = counts.get(request.size, 0) + request.quantity
                progress = True
            else:
                blocked.add(request.size)
    return admitted
