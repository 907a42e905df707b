"""Settlement at close, pure: SPEC section 4's worked examples, skipping, failure, ties, and properties
checked against a brute-force reference that tries every lot count."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.allocation import WaitingRequest, lots_needed
from core.settlement import settle

MIX = {"S": 2, "M": 5, "L": 4, "XL": 1}  # L = 12
CONFIRMED = {"S": 4, "M": 10, "L": 8}  # 22 units, no XL: M, L and S are locked


# --- SPEC section 4, "Settlement" worked examples -----------------------------------------------------


def test_first_example_three_lots_admit_every_waiting_request():
    waiting = [WaitingRequest("E", "M", 3), WaitingRequest("F", "L", 2), WaitingRequest("G", "S", 1)]

    result = settle(MIX, CONFIRMED, waiting, target_moq=24)

    # k = 2 leaves no room beside the confirmed units (22 < 24); k = 3 fits all three.
    # The old MOQ-only rescue admitted E alone: 25 units on the same 3 lots, 11 left over, F and G lost.
    assert result.reached
    assert result.lots == 3
    assert result.admitted == ("E", "F", "G")
    assert result.not_admitted == ()
    assert result.served_units == 28
    assert result.served == {"S": 5, "M": 13, "L": 10, "XL": 0}
    assert (result.excess, result.refused_units, result.cost) == (8, 0, 8.0)


def test_second_example_keeps_two_lots_and_h_owes_nothing():
    result = settle(MIX, CONFIRMED, [WaitingRequest("H", "M", 2)], target_moq=20)

    assert (result.lots, result.excess, result.refused_units, result.cost) == (2, 2, 2, 4.0)
    assert result.admitted == ()
    assert result.not_admitted == ("H",)


def test_second_example_three_lots_would_cost_twelve():
    # With excess nearly free the same session takes k = 3; its E and R give the cost 12 at weight 1.
    result = settle(MIX, CONFIRMED, [WaitingRequest("H", "M", 2)], target_moq=20, excess_weight=0.1)

    assert (result.lots, result.excess, result.refused_units) == (3, 12, 0)
    assert 1 * result.excess + result.refused_units == 12
    assert result.cost == pytest.approx(1.2)
    assert result.admitted == ("H",)


def test_second_example_with_two_m_free_in_the_warehouse():
    result = settle(MIX, CONFIRMED, [WaitingRequest("H", "M", 2)], target_moq=20, stock={"M": 2})

    assert (result.lots, result.excess, result.refused_units, result.cost) == (2, 2, 0, 2.0)
    assert result.admitted == ("H",)
    assert result.served["M"] == 12


def test_costs_are_exact_with_decimal_weights():
    # 0.1 * 12 + 0 and 0.1 * 2 + 2 compare as 12/10 < 22/10, with no binary rounding in between.
    result = settle(MIX, CONFIRMED, [WaitingRequest("H", "M", 2)], 20, excess_weight=Fraction(1, 10))

    assert result.lots == 3


# --- the rule's edges ----------------------------------------------------------------------------------


def test_an_older_request_that_does_not_fit_is_skipped_for_a_younger_smaller_one():
    allocations = {"S": 4, "M": 4}
    waiting = [WaitingRequest("old", "M", 3), WaitingRequest("young", "M", 2)]

    result = settle(allocations, {"S": 4, "M": 6}, waiting, target_moq=8)

    # k = 2 leaves 2 M: the old 3 M cannot fit, the young 2 M can (E 4 + R 3 = 7);
    # k = 3 would take both but leave 9 units over (cost 9).
    assert result.lots == 2
    assert result.admitted == ("young",)
    assert result.not_admitted == ("old",)
    assert (result.excess, result.refused_units) == (4, 3)


def test_no_lot_count_reaches_the_moq_fails_and_admits_nothing():
    waiting = [WaitingRequest("a", "M", 2), WaitingRequest("b", "S", 1)]

    result = settle(MIX, {"M": 5}, waiting, target_moq=24)

    assert not result.reached
    assert (result.lots, result.excess) == (0, 0)
    assert result.admitted == ()
    assert result.not_admitted == ("a", "b")
    assert result.refused_units == 3
    assert result.served == {"S": 0, "M": 5, "L": 0, "XL": 0}


def test_a_lot_count_that_misses_the_moq_is_not_a_candidate():
    # k = 2 would be cheaper (E 2, R 2) but serves only 22 < 23 units.
    result = settle(MIX, CONFIRMED, [WaitingRequest("H", "M", 2)], target_moq=23)

    assert (result.reached, result.lots, result.admitted) == (True, 3, ("H",))


def test_equal_cost_goes_to_more_units_served():
    # k = 1: E 0 + R 2; k = 2: E 2 + R 0. Same cost 2: serving the request wins.
    result = settle({"S": 2, "M": 2}, {"S": 2, "M": 2}, [WaitingRequest("w", "M", 2)], target_moq=4)

    assert (result.cost, result.lots, result.admitted) == (2.0, 2, ("w",))


def test_equal_cost_and_units_go_to_fewer_lots():
    # Excess is free (weight 0): 2 lots serve everything, so a third lot (same cost, same units) is not
    # ordered, and a candidate whose admitted set needs fewer lots orders those fewer lots.
    result = settle({"S": 2, "M": 2}, {"S": 2, "M": 2}, [WaitingRequest("w", "M", 2)], 4, excess_weight=0)

    assert (result.cost, result.lots, result.admitted) == (0.0, 2, ("w",))
    big = [WaitingRequest("big", "M", 3)]  # k = 2 leaves 2 M: admits nothing, so it is k = 1's decision
    capped = settle({"S": 2, "M": 2}, {"S": 2, "M": 2}, big, 4, excess_weight=100)
    assert (capped.lots, capped.admitted, capped.excess, capped.refused_units) == (1, (), 0, 3)


def test_free_stock_alone_can_serve_everything():
    result = settle(MIX, {"M": 2}, [WaitingRequest("a", "M", 1)], target_moq=3, stock={"M": 5})

    assert (result.lots, result.excess, result.refused_units, result.admitted) == (0, 0, 0, ("a",))


def test_stock_of_every_size_covers_everything():
    result = settle(
        {"S": 2, "M": 2}, {"S": 1}, [WaitingRequest("a", "M", 2)], target_moq=3, stock={"S": 5, "M": 5}
    )

    assert (result.reached, result.lots, result.excess, result.admitted) == (True, 0, 0, ("a",))


def test_products_without_lots_admit_every_waiting_request():
    waiting = [WaitingRequest("a", "one size", 7)]

    assert settle({}, {"one size": 3}, waiting, target_moq=10).admitted == ("a",)
    assert settle({}, {"one size": 3}, waiting, target_moq=10).lots == 0
    assert not settle({}, {"one size": 2}, waiting, target_moq=10).reached


def test_without_waiting_requests_it_is_the_stock_plan():
    result = settle(MIX, {"M": 6, "XL": 1}, [], target_moq=7, stock={"M": 1})

    assert (result.lots, result.excess, result.refused_units) == (1, 12 - 6, 0)


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        settle(MIX, {"XXL": 1}, [], 1)
    with pytest.raises(ValueError):
        settle(MIX, {}, [WaitingRequest("a", "XXL", 1)], 1)
    with pytest.raises(ValueError):
        settle(MIX, {}, [WaitingRequest("a", "M", 0)], 1)
    with pytest.raises(ValueError):
        settle(MIX, {}, [], 1, excess_weight=-1)


# --- properties against a brute-force reference ------------------------------------------------------


def reference(allocations, confirmed, waiting, target_moq, stock, weight):
    """Every lot count from 0 to well past the last useful one, the same greedy per size, E with k itself,
    best by (cost, -served, k) in exact arithmetic. Returns None when no k reaches the MOQ."""
    weight = Fraction(str(weight))
    lot_units = sum(allocations.values())
    everything = {
        v: confirmed.get(v, 0) + sum(r.quantity for r in waiting if r.size == v) for v in allocations
    }
    top = lots_needed(everything, allocations) + 3
    best = None
    for k in range(top + 1):
        if any(confirmed.get(v, 0) > k * a + stock.get(v, 0) for v, a in allocations.items()):
            continue
        room = {v: k * a + stock.get(v, 0) - confirmed.get(v, 0) for v, a in allocations.items()}
        admitted = []
        for request in waiting:
            if request.quantity <= room[request.size]:
                room[request.size] -= request.quantity
                admitted.append(request.key)
        served = {v: confirmed.get(v, 0) for v in allocations}
        for request in waiting:
            if request.key in admitted:
                served[request.size] += request.quantity
        units = sum(served.values())
        if units < target_moq:
            continue
        excess = k * lot_units - sum(max(0, served[v] - stock.get(v, 0)) for v in allocations)
        refused = sum(r.quantity for r in waiting if r.key not in admitted)
        key = (weight * excess + refused, -units, k)
        if best is None or key < best[0]:
            best = (key, k, tuple(admitted), excess, refused)
    return best


@st.composite
def instances(draw):
    sizes = draw(st.lists(st.sampled_from(["S", "M", "L", "XL"]), min_size=1, max_size=3, unique=True))
    allocations = {v: draw(st.integers(1, 4)) for v in sizes}
    confirmed = {v: draw(st.integers(0, 9)) for v in sizes}
    stock = {v: draw(st.integers(0, 12)) for v in sizes} if draw(st.booleans()) else {}
    n = draw(st.integers(0, 7))
    waiting = [WaitingRequest(i, draw(st.sampled_from(sizes)), draw(st.integers(1, 7))) for i in range(n)]
    target_moq = draw(st.integers(0, 40))
    weight = draw(st.sampled_from([0, 0.1, 0.25, 0.5, 1, 1.5, 4, 10]))
    return allocations, confirmed, waiting, target_moq, stock, weight


@settings(max_examples=600, deadline=None)
@given(instances())
def test_agrees_with_brute_force_over_every_lot_count(instance):
    allocations, confirmed, waiting, target_moq, stock, weight = instance

    result = settle(allocations, confirmed, waiting, target_moq, stock=stock, excess_weight=weight)
    expected = reference(allocations, confirmed, waiting, target_moq, stock, weight)

    if expected is None:
        assert not result.reached
        assert result.admitted == ()
        return
    key, k, admitted, excess, refused = expected
    assert result.reached
    assert (result.lots, result.admitted, result.excess, result.refused_units) == (
        k,
        admitted,
        excess,
        refused,
    )
    assert result.cost == pytest.approx(float(key[0]))


@settings(max_examples=600, deadline=None)
@given(instances())
def test_invariants(instance):
    allocations, confirmed, waiting, target_moq, stock, weight = instance

    result = settle(allocations, confirmed, waiting, target_moq, stock=stock, excess_weight=weight)

    by_key = {r.key: r for r in waiting}
    assert sorted(result.admitted + result.not_admitted) == sorted(by_key)  # every request decided once
    assert list(result.admitted) == [r.key for r in waiting if r.key in set(result.admitted)]
    assert result.refused_units == sum(by_key[key].quantity for key in result.not_admitted)
    assert result.excess >= 0
    for v, a in allocations.items():
        admitted = sum(by_key[key].quantity for key in result.admitted if by_key[key].size == v)
        assert result.admitted_units[v] == admitted
        assert result.served[v] == confirmed.get(v, 0) + admitted
        if result.reached:
            # confirmed units always fit; admitted ones fit in what the lots and free stock leave
            assert confirmed.get(v, 0) <= result.lots * a + stock.get(v, 0)
            assert confirmed.get(v, 0) + admitted <= result.lots * a + stock.get(v, 0)
    if result.reached:
        assert result.served_units >= target_moq
        shortfall = {v: result.served[v] - stock.get(v, 0) for v in allocations}
        assert result.lots == lots_needed(shortfall, allocations)  # never a lot more than the set needs
        assert result.cost == pytest.approx(float(weight) * result.excess + result.refused_units)
    else:
        assert result.admitted == () and result.lots == 0
