"""The allocation rule, pure: the worked examples of docs/design.md ("Allocation rule") step by step, and its
properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.allocation import (
    CatchUp,
    WaitingRequest,
    admit_waiting,
    availability,
    catch_up_needed,
    lots_needed,
    size_availability,
)

TWO = {"S": 4, "M": 4}
FOUR = {"S": 4, "M": 4, "L": 4, "XL": 4}
MIX = {"S": 2, "M": 5, "L": 4, "XL": 1}


class Session:
    """A tiny in-memory session driving the pure rule the way the join service does."""

    def __init__(self, allocations, policy=None, lead_lots=2):
        self.allocations = allocations
        self.policy = policy
        self.lead_lots = lead_lots
        self.ordered: dict[str, int] = {}

    def join(self, size, quantity):
        state = size_availability(size, self.allocations, self.ordered, self.lead_lots, self.policy)
        if state.accepts(quantity):
            self.ordered[size] = self.ordered.get(size, 0) + quantity
            return "ok", state.available
        return "refused", state.available


def test_two_sizes_worked_example():
    s = Session(TWO)
    assert s.join("M", 5) == ("ok", 8)
    assert s.join("M", 4) == ("refused", 3)
    assert s.join("M", 3) == ("ok", 3)
    assert size_availability("M", TWO, s.ordered).locked
    assert s.join("M", 1) == ("refused", 0)
    assert catch_up_needed("M", 1, TWO, s.ordered) == [CatchUp("S", 1)]
    assert s.join("S", 5) == ("ok", 8)
    assert size_availability("M", TWO, s.ordered).cap == 13
    assert s.join("M", 1) == ("ok", 5)
    assert s.ordered == {"M": 9, "S": 5}


def test_four_sizes_worked_example_m_stays_locked_until_l_and_xl_order():
    s = Session(FOUR)
    assert s.join("M", 5)[0] == "ok"
    assert s.join("M", 4) == ("refused", 3)
    assert s.join("M", 3)[0] == "ok"
    assert s.join("M", 1) == ("refused", 0)
    assert s.join("S", 5)[0] == "ok"
    assert s.join("M", 1) == ("refused", 0)
    assert catch_up_needed("M", 1, FOUR, s.ordered) == [CatchUp("L", 1), CatchUp("XL", 1)]


def test_lot_mix_caps_with_no_orders():
    caps = {size: state.cap for size, state in availability(MIX, {}).items()}
    assert caps == {"S": 4, "M": 10, "L": 8, "XL": 2}


def test_equal_allocations_default_equals_raw_unit_rule():
    ordered = {"S": 3, "M": 9, "L": 1, "XL": 6}
    for size in FOUR:
        assert (
            size_availability(size, FOUR, ordered).cap
            == size_availability(size, FOUR, ordered, policy="raw_unit").cap
        )


def test_static_policy_never_unlocks():
    ordered = {"S": 100, "M": 8, "L": 100, "XL": 100}
    assert size_availability("M", FOUR, ordered, policy="static").available == 0
    assert catch_up_needed("M", 1, FOUR, ordered, policy="static") is None


def test_product_without_allocations_has_no_cap():
    state = size_availability("M", {}, {"M": 1000})
    assert state.cap is None and state.available is None and state.accepts(10_000)


def test_lots_needed_rounds_up_per_size():
    assert lots_needed({"S": 3, "M": 5, "L": 0, "XL": -2}, MIX) == 2
    assert lots_needed({}, MIX) == 0


def test_waitlist_on_worked_example_admits_c_then_d():
    ordered = {"M": 8, "S": 5}
    queue = [WaitingRequest("C", "M", 1), WaitingRequest("D", "M", 1)]
    assert admit_waiting(queue, FOUR, ordered) == []
    ordered |= {"L": 1, "XL": 1}
    assert [r.key for r in admit_waiting(queue, FOUR, ordered)] == ["C"]
    ordered |= {"M": 9, "L": 2, "XL": 2}
    assert [r.key for r in admit_waiting(queue[1:], FOUR, ordered)] == ["D"]


def test_waitlist_keeps_first_come_first_served_within_a_size():
    queue = [WaitingRequest("big", "M", 3), WaitingRequest("small", "M", 1)]
    # M has exactly 1 unit of room: the small request must not overtake the big one.
    assert admit_waiting(queue, TWO, {"M": 7}) == []


def test_a_request_larger_than_t_lots_waits_for_settlement_and_holds_up_nobody():
    # 3 XL with a_XL = 1, T = 2: no cap ever admits it during the session, so the 1 XL behind it goes in.
    queue = [WaitingRequest("big", "XL", 3), WaitingRequest("small", "XL", 1)]
    assert [r.key for r in admit_waiting(queue, MIX, {"S": 2, "M": 5, "L": 4, "XL": 2})] == ["small"]
    # One that fits T*a_v still keeps its place: the younger request waits behind it.
    queue = [WaitingRequest("two", "XL", 2), WaitingRequest("one", "XL", 1)]
    assert admit_waiting(queue, MIX, {"XL": 1}) == []


@st.composite
def lot_following_demand(draw):
    """Joins that fill whole lots one after another, each lot's units in any order and grouping."""
    mix = draw(
        st.dictionaries(
            st.sampled_from(["S", "M", "L", "XL", "XXL"]), st.integers(1, 6), min_size=1, max_size=5
        )
    )
    lots = draw(st.integers(1, 6))
    joins = []
    for _ in range(lots):
        units = [size for size, a in mix.items() for _ in range(a)]
        units = draw(st.permutations(units))
        index = 0
        while index < len(units):
            size = units[index]
            run = 1
            while index + run < len(units) and units[index + run] == size:
                run += 1
            take = draw(st.integers(1, run))
            joins.append((size, take))
            index += take
    return mix, joins


@settings(max_examples=300, deadline=None)
@given(lot_following_demand(), st.integers(1, 3))
def test_demand_following_the_mix_is_never_refused(case, lead_lots):
    mix, joins = case
    s = Session(mix, lead_lots=lead_lots)
    for size, quantity in joins:
        assert s.join(size, quantity)[0] == "ok", (mix, joins, s.ordered)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["S", "M", "L", "XL"]), st.integers(1, 6), min_size=1, max_size=4),
    st.lists(st.tuples(st.integers(0, 3), st.integers(1, 8)), max_size=60),
    st.sampled_from(["lot_balanced", "raw_unit", "static"]),
    st.integers(1, 3),
)
def test_no_accepted_join_exceeds_its_cap_at_that_moment(mix, requests, policy, lead_lots):
    sizes = list(mix)
    s = Session(mix, policy=policy, lead_lots=lead_lots)
    for size_index, quantity in requests:
        size = sizes[size_index % len(sizes)]
        before = size_availability(size, mix, s.ordered, lead_lots, policy)
        outcome, _ = s.join(size, quantity)
        if outcome == "ok":
            assert s.ordered[size] <= before.cap
        else:
            assert quantity > before.available


def test_a_request_above_t_lots_of_its_size_can_never_fit():
    # XL is 1 per lot: with T = 2 no state ever has 3 XL available, so no catch-up can be promised.
    huge_order = {"S": 1000, "M": 1000, "L": 1000}
    assert size_availability("XL", MIX, huge_order).available == 2
    assert catch_up_needed("XL", 3, MIX, {}) is None
    assert catch_up_needed("XL", 3, MIX, {}, policy="raw_unit") is None
    assert catch_up_needed("XL", 2, MIX, {"XL": 2}) == [CatchUp("S", 4), CatchUp("M", 10), CatchUp("L", 8)]
