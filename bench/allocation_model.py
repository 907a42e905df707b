"""The allocation benchmark's model: scenarios, simulated sessions under each policy, the offline bound.

Every decision is the production rule's: each join asks `core.allocation.size_availability` (bounded by
`max_request`), the waitlist is admitted by `admit_waiting`, the close is `core.settlement.settle` (the
product's default) and the lots ordered are `lots_needed`. Nothing here re-implements the rule; only the
retired MOQ-only rescue, kept as a comparison policy, lives here (`rescue_at_close`).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from core.allocation import (
    Size,
    WaitingRequest,
    admit_waiting,
    lots_needed,
    max_request,
    size_availability,
)
from core.settlement import settle

BASE_SEED = 20240611

# ---------------------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------------------

SIZES = ("S", "M", "L", "XL")
MIXES: dict[str, dict[Size, int]] = {
    "4/4/4/4": {"S": 4, "M": 4, "L": 4, "XL": 4},
    "2/5/4/1": {"S": 2, "M": 5, "L": 4, "XL": 1},
}
# Popularity weight of size v = a_v * multiplier_v (normalised). "mix": demand follows the lot mix.
# "skewed": M is 1.5x and XL 0.75x its share of the mix, so M is exactly twice as popular as XL relative
# to the mix (S and L keep their mix share before normalisation).
POPULARITY_MULTIPLIERS: dict[str, dict[str, float]] = {
    "mix": {"S": 1.0, "M": 1.0, "L": 1.0, "XL": 1.0},
    "skewed": {"S": 1.0, "M": 1.5, "L": 1.0, "XL": 0.75},
}
ARRIVALS = ("random", "adversarial")
BUYERS = (20, 60, 200)
MOQ_LOTS = (1, 2)
QUANTITIES = (1, 2, 3)  # each buyer wants one of these, uniformly, of one size
TAKE_AVAILABLE_PROB = 0.5  # a buyer refused with 0 < available < q takes `available` with this probability
EXCESS_WEIGHTS = (0.25, 1.0, 4.0)  # the settlement sweep; the bound's min (w E + R) is kept for each
# Weights w of the offline frontier: per replication the k minimising excess_frac + w * refused_frac.
FRONTIER_WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 1000.0)
DEFAULT_REPLICATIONS = 2000
QUICK_REPLICATIONS = 40
QUICK_BUYERS = (20, 60)


@dataclass(frozen=True)
class PolicySpec:
    name: str
    label: str
    policy: str | None  # core.allocation policy name; None = no cap (product without allocations)
    lead_lots: int = 2
    waitlist: bool = False
    rescue: bool = False  # the retired MOQ-only rescue at close
    settlement: bool = False  # core.settlement.settle at close, with the settlement buyer model
    excess_weight: float = 1.0
    confirm_in_session: bool = True  # False: every request waits and settlement decides all (diagnostic)
    short: str = ""  # column header in the per-cell tables

    @property
    def column(self) -> str:
        return self.short or self.name


def _settlement(name: str, label: str, short: str, lead: int = 2, **options) -> PolicySpec:
    return PolicySpec(name, label, "lot_balanced", lead, True, settlement=True, short=short, **options)


POLICY_SPECS: tuple[PolicySpec, ...] = (
    PolicySpec("no_cap", "no cap", None, short="no cap"),
    PolicySpec("static_T2", "static 2*a_v", "static", 2, short="static"),
    PolicySpec("raw_unit_T2", "raw-unit T=2", "raw_unit", 2, short="raw T2"),
    PolicySpec("lot_balanced_T1", "lot-balanced T=1", "lot_balanced", 1, short="LB T1"),
    PolicySpec("lot_balanced_T2", "lot-balanced T=2", "lot_balanced", 2, short="LB T2"),
    PolicySpec("lot_balanced_T3", "lot-balanced T=3", "lot_balanced", 3, short="LB T3"),
    PolicySpec(
        "lot_balanced_T2_waitlist", "lot-balanced T=2 + waitlist", "lot_balanced", 2, True, short="LB T2 +wl"
    ),
    PolicySpec(
        "lot_balanced_T2_waitlist_rescue",
        "lot-balanced T=2 + waitlist + rescue (old default)",
        "lot_balanced",
        2,
        True,
        True,
        short="+rescue (old)",
    ),
    _settlement("settlement", "lot-balanced T=2 + waitlist + settlement (default)", "settle T2"),
    _settlement("settlement_T1", "lot-balanced T=1 + waitlist + settlement", "settle T1", lead=1),
    _settlement("settlement_w0.25", "settlement, excess_weight 0.25", "settle w0.25", excess_weight=0.25),
    _settlement("settlement_w4", "settlement, excess_weight 4", "settle w4", excess_weight=4.0),
    _settlement(
        "settlement_only",
        "settlement only, nothing confirmed before close (diagnostic)",
        "settle only",
        confirm_in_session=False,
    ),
)
POLICY_BY_NAME = {p.name: p for p in POLICY_SPECS}
DEFAULT_POLICY = "settlement"
DEFAULT_POLICIES = (DEFAULT_POLICY,)
SWEEP_POLICIES = ("settlement_w0.25", "settlement", "settlement_w4")  # excess_weight 0.25, 1, 4


# ---------------------------------------------------------------------------------------------------------
# Demand
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    mix: str
    popularity: str
    arrival: str
    buyers: int
    moq_lots: int

    @property
    def id(self) -> str:
        return (
            f"mix={self.mix}|popularity={self.popularity}|arrival={self.arrival}|buyers={self.buyers}"
            f"|moq_lots={self.moq_lots}"
        )

    @property
    def allocations(self) -> dict[Size, int]:
        return MIXES[self.mix]

    @property
    def lot_units(self) -> int:
        return sum(self.allocations.values())

    @property
    def moq_units(self) -> int:
        return self.moq_lots * self.lot_units


Buyer = tuple[str, int, bool]  # (size, quantity, takes available when 0 < available < quantity)


def popularity_weights(mix: str, popularity: str) -> dict[str, float]:
    alloc = MIXES[mix]
    mult = POPULARITY_MULTIPLIERS[popularity]
    raw = {v: alloc[v] * mult[v] for v in SIZES}
    total = sum(raw.values())
    return {v: w / total for v, w in raw.items()}


def draw_buyers(cell: Cell, rep: int, base_seed: int = BASE_SEED) -> list[Buyer]:
    """The replication's buyers in arrival order (depends on mix, popularity, buyers, rep and arrival)."""
    rng = random.Random(f"laku-alloc-bench|{base_seed}|{cell.mix}|{cell.popularity}|{cell.buyers}|{rep}")
    weights = popularity_weights(cell.mix, cell.popularity)
    sizes = list(weights)
    chosen = rng.choices(sizes, [weights[v] for v in sizes], k=cell.buyers)
    quantities = rng.choices(QUANTITIES, k=cell.buyers)
    coins = [rng.random() < TAKE_AVAILABLE_PROB for _ in range(cell.buyers)]
    buyers = list(zip(chosen, quantities, coins, strict=True))
    if cell.arrival == "adversarial":
        requested = {v: 0 for v in sizes}
        for v, q, _ in buyers:
            requested[v] += q
        first = max(sizes, key=lambda v: (weights[v], requested[v], -sizes.index(v)))
        buyers = [b for b in buyers if b[0] == first] + [b for b in buyers if b[0] != first]
    elif cell.arrival != "random":
        raise ValueError(f"unknown arrival {cell.arrival!r}")
    return buyers


# ---------------------------------------------------------------------------------------------------------
# One session under one policy
# ---------------------------------------------------------------------------------------------------------


@dataclass
class SessionOutcome:
    ordered: dict[Size, int]
    confirmed: int
    waited_units: int = 0  # units of requests that went to the waitlist
    admitted_from_waitlist_units: int = 0  # of those, admitted by admit_waiting during the session
    admitted_at_close_units: int = 0  # admitted at close, by rescue_at_close or by settlement
    still_waiting_units: int = 0  # never admitted (count as refused)
    # never_fits: waiting at close with q > T*a_v, which no cap ever admits (only settlement can);
    # blocked_by_older: waiting at close, would fit, but an older same-size request does not.
    never_fits_units: int = 0
    blocked_by_older_units: int = 0
    over_cap_at_close_units: int = 0  # admitted at close beyond the caps (rescue, settlement)
    lots_for_confirmed: int = 0  # lots the units confirmed before the close already need
    cap_violations: int = 0
    cap_checks: int = 0


def cap_violations(allocations: Mapping[Size, int], ordered: Mapping[Size, int], spec: PolicySpec) -> int:
    bad = 0
    for u in allocations:
        cap = size_availability(u, allocations, ordered, spec.lead_lots, spec.policy).cap
        if cap is not None and ordered[u] > cap:
            bad += 1
    return bad


def simulate_session(
    spec: PolicySpec,
    allocations: Mapping[Size, int],
    buyers: Sequence[Buyer],
    moq_units: int,
    check_caps: bool = True,
) -> SessionOutcome:
    """Buyers arrive one by one; every decision is the production rule's."""
    rule_allocations: Mapping[Size, int] = allocations if spec.policy is not None else {}
    policy = spec.policy
    lead = spec.lead_lots
    ordered = {v: 0 for v in allocations}
    waiting: list[WaitingRequest] = []
    out = SessionOutcome(ordered, 0)
    for index, (size, quantity, takes_available) in enumerate(buyers):
        if not spec.confirm_in_session:
            waiting.append(WaitingRequest(index, size, quantity))
            out.waited_units += quantity
            continue
        available = size_availability(size, rule_allocations, ordered, lead, policy).available
        too_big = policy is not None and quantity > max_request(size, rule_allocations, lead)
        if available is None or quantity <= available:
            take = quantity
        elif spec.settlement:
            # The join service with settlement: a request larger than T*a_v or for a locked size waits
            # whole. Told "too many", a buyer who takes what is free takes it and queues the rest (the
            # reply offers both); the others wait whole, since waiting is free.
            if too_big or not (available and takes_available):
                waiting.append(WaitingRequest(index, size, quantity))
                out.waited_units += quantity
                continue
            take = available
            waiting.append(WaitingRequest((index, "rest"), size, quantity - available))
            out.waited_units += quantity - available
        elif too_big:  # refused outright with the maximum, as the join service did: never waits
            if not (takes_available and available):
                continue
            take = available
        elif available == 0:
            if spec.waitlist:
                waiting.append(WaitingRequest(index, size, quantity))
                out.waited_units += quantity
            continue  # locked: leaves (or waits whole)
        elif takes_available:
            take = available
        else:
            continue  # 0 < available < quantity and the buyer leaves
        ordered[size] += take
        if check_caps and policy is not None:
            out.cap_checks += 1
            out.cap_violations += cap_violations(allocations, ordered, spec)
        if waiting:
            admitted = admit_waiting(waiting, rule_allocations, ordered, lead, policy)
            if admitted:
                for request in admitted:
                    ordered[request.size] += request.quantity
                    out.admitted_from_waitlist_units += request.quantity
                    if check_caps:
                        out.cap_checks += 1
                        out.cap_violations += cap_violations(allocations, ordered, spec)
                keys = {request.key for request in admitted}
                waiting = [request for request in waiting if request.key not in keys]
    confirmed = sum(ordered.values())
    out.lots_for_confirmed = lots_needed(ordered, allocations)
    for request in waiting:
        if request.quantity > lead * allocations[request.size]:
            out.never_fits_units += request.quantity
        elif size_availability(request.size, rule_allocations, ordered, lead, policy).accepts(
            request.quantity
        ):
            out.blocked_by_older_units += request.quantity
    chosen: list[WaitingRequest] = []
    if spec.settlement and waiting:
        result = settle(allocations, ordered, waiting, moq_units, excess_weight=spec.excess_weight)
        keys = set(result.admitted)
        chosen = [request for request in waiting if request.key in keys]
    elif spec.rescue and waiting and confirmed < moq_units:
        chosen = rescue_at_close(waiting, confirmed, moq_units)
    if chosen:
        for request in chosen:
            ordered[request.size] += request.quantity
            out.admitted_at_close_units += request.quantity
        keys = {request.key for request in chosen}
        waiting = [request for request in waiting if request.key not in keys]
        confirmed = sum(ordered.values())
        for u in allocations:
            cap = size_availability(u, allocations, ordered, lead, policy).cap
            out.over_cap_at_close_units += max(0, ordered[u] - (cap if cap is not None else ordered[u]))
    out.confirmed = confirmed
    out.still_waiting_units = sum(request.quantity for request in waiting)
    return out


def rescue_at_close(
    waiting: list[WaitingRequest], confirmed_units: int, target_moq: int
) -> list[WaitingRequest]:
    """The product's close before settlement, kept as a comparison policy: admit waiting requests oldest
    first until the MOQ is met, if waiting units can meet it (nothing when confirmed units already do)."""
    if confirmed_units >= target_moq or confirmed_units + sum(r.quantity for r in waiting) < target_moq:
        return []
    admitted: list[WaitingRequest] = []
    total = confirmed_units
    for request in waiting:
        if total >= target_moq:
            break
        admitted.append(request)
        total += request.quantity
    return admitted


# ---------------------------------------------------------------------------------------------------------
# Offline bound
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    min_E: int
    min_R: int
    min_ER: int
    k_min_ER: int  # smallest k reaching min_ER
    E_at_min_ER: int
    R_at_min_ER: int
    k_min_E: int
    R_at_min_E: int
    k_min_R: int
    E_at_min_R: int
    # Per weight w of FRONTIER_WEIGHTS: (R(k)/D, E(k)/(kL)) at the feasible k minimising E(k)/(kL) + w*R(k)/D.
    frontier: tuple[tuple[float, float], ...] = ()
    # Per excess_weight w of EXCESS_WEIGHTS: min over feasible k of w * E(k) + R(k).
    weighted_min: tuple[float, ...] = ()


def offline_bound(
    demand: Mapping[Size, int], allocations: Mapping[Size, int], moq_units: int
) -> Bound | None:
    """Best (E, R) any policy could reach knowing the full demand d_v; None if D < MOQ (infeasible)."""
    total = sum(demand.values())
    if total < moq_units:
        return None
    lot_units = sum(allocations.values())
    k_min = max(1, -(-moq_units // lot_units))
    k_max = max(k_min, lots_needed(demand, allocations))
    best: dict[str, tuple[int, int, int]] = {}
    points: list[tuple[float, float]] = []  # (refused_frac, excess_frac) of each feasible k
    weighted_best = [float("inf")] * len(EXCESS_WEIGHTS)  # min over k of w * E(k) + R(k), per w
    for k in range(k_min, k_max + 1):
        served = sum(min(demand.get(v, 0), k * a) for v, a in allocations.items())
        if served < moq_units:
            continue
        excess = sum(max(0, k * a - demand.get(v, 0)) for v, a in allocations.items())
        refused = total - served
        points.append((refused / total, excess / (k * lot_units)))
        weighted_best = [
            min(best_w, w * excess + refused) for best_w, w in zip(weighted_best, EXCESS_WEIGHTS, strict=True)
        ]
        for key, value in (("E", excess), ("R", refused), ("ER", excess + refused)):
            if key not in best or value < best[key][0]:
                best[key] = (value, k, excess if key == "R" else refused)
    # k_max serves all the demand (>= MOQ), so every minimum exists.
    e, k_e, r_at_e = best["E"]
    r, k_r, e_at_r = best["R"]
    er, k_er, _ = best["ER"]
    e_at_er = sum(max(0, k_er * a - demand.get(v, 0)) for v, a in allocations.items())

    def weighted(w: float) -> tuple[float, float]:
        return min(points, key=lambda p: (p[1] + w * p[0], p[0] + p[1]))

    frontier = tuple(weighted(w) for w in FRONTIER_WEIGHTS)
    return Bound(
        e, r, er, k_er, e_at_er, er - e_at_er, k_e, r_at_e, k_r, e_at_r, frontier, tuple(weighted_best)
    )


# ---------------------------------------------------------------------------------------------------------
# One replication: every policy on the same buyers
# ---------------------------------------------------------------------------------------------------------


@dataclass
class PolicyRecord:
    success: bool
    confirmed: int
    k: int
    E: int
    R: int
    fail_due_to_cap: bool
    outcome: SessionOutcome


@dataclass
class ReplicationRecord:
    D: int
    demand: dict[Size, int]
    bound: Bound | None
    policies: dict[str, PolicyRecord] = field(default_factory=dict)


def run_replication(
    cell: Cell,
    rep: int,
    policies: Sequence[PolicySpec] = POLICY_SPECS,
    check_caps: bool = True,
    base_seed: int = BASE_SEED,
) -> ReplicationRecord:
    allocations = cell.allocations
    moq = cell.moq_units
    buyers = draw_buyers(cell, rep, base_seed)
    demand = {v: 0 for v in allocations}
    for v, q, _ in buyers:
        demand[v] += q
    total = sum(demand.values())
    record = ReplicationRecord(total, demand, offline_bound(demand, allocations, moq))
    no_cap_success = total >= moq  # no cap confirms every request
    for spec in policies:
        out = simulate_session(spec, allocations, buyers, moq, check_caps)
        success = out.confirmed >= moq
        if success:
            k = lots_needed(out.ordered, allocations)
            excess = sum(k * a - out.ordered[v] for v, a in allocations.items())
        else:
            k = excess = 0
        record.policies[spec.name] = PolicyRecord(
            success, out.confirmed, k, excess, total - out.confirmed, no_cap_success and not success, out
        )
    return record


def make_cells(buyers: Sequence[int] = BUYERS) -> list[Cell]:
    return [
        Cell(mix, popularity, arrival, n, moq)
        for mix, popularity, arrival, n, moq in itertools.product(
            MIXES, POPULARITY_MULTIPLIERS, ARRIVALS, buyers, MOQ_LOTS
        )
    ]
