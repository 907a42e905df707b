"""The allocation benchmark (`bench/allocation*.py`): exact invariants on a tiny run, no database needed."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from bench import allocation as cli
from bench import allocation_model as bench
from bench.allocation_report import render
from bench.allocation_stats import run_cells
from bench.common import RESULTS_DIR
from core.allocation import lots_needed, size_availability

CELLS = [
    bench.Cell("2/5/4/1", "skewed", "adversarial", 60, 2),
    bench.Cell("4/4/4/4", "mix", "random", 20, 1),
]


@pytest.fixture(scope="module")
def records():
    return {cell: [bench.run_replication(cell, rep) for rep in range(20)] for cell in CELLS}


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.id)
def test_replication_invariants(records, cell):
    lot_units = cell.lot_units
    for record in records[cell]:
        assert record.D == sum(record.demand.values())
        no_cap = record.policies["no_cap"]
        # Nothing is refused by capacity under no cap: every requested unit is confirmed.
        assert no_cap.R == 0 and no_cap.confirmed == record.D
        assert no_cap.success == (record.D >= cell.moq_units)
        for name, rec in record.policies.items():
            out = rec.outcome
            spec = bench.POLICY_BY_NAME[name]
            assert out.cap_violations == 0, name
            if name != "no_cap" and spec.confirm_in_session:
                assert out.cap_checks > 0, name
            assert rec.confirmed == sum(out.ordered.values())
            assert all(out.ordered[v] <= record.demand[v] for v in cell.allocations), name
            assert rec.R == record.D - rec.confirmed >= 0
            assert rec.R >= out.still_waiting_units
            assert rec.success == (rec.confirmed >= cell.moq_units)
            assert rec.fail_due_to_cap == (no_cap.success and not rec.success)
            if not spec.waitlist:
                assert out.waited_units == out.still_waiting_units == 0
            if not (spec.rescue or spec.settlement):
                assert out.admitted_at_close_units == out.over_cap_at_close_units == 0
            if spec.settlement:
                # Nobody leaves (what does not fit waits), so settlement reaches the MOQ exactly when the
                # demand does, like no cap, and serves or refuses every requested unit.
                assert rec.success == no_cap.success, name
                assert rec.confirmed + out.still_waiting_units == record.D, name
            if rec.success:
                assert rec.k == lots_needed(out.ordered, cell.allocations)
                assert rec.E == rec.k * lot_units - rec.confirmed >= 0
                bound = record.bound
                assert bound is not None
                assert rec.E + rec.R >= bound.min_ER, name
                assert rec.E >= bound.min_E and rec.R >= bound.min_R
            else:
                assert rec.k == 0 and rec.E == 0


def test_every_policy_sees_the_same_demand_and_arrival_only_reorders():
    random_cell = bench.Cell("4/4/4/4", "skewed", "random", 60, 1)
    adversarial = bench.Cell("4/4/4/4", "skewed", "adversarial", 60, 2)
    for rep in range(5):
        a = bench.draw_buyers(random_cell, rep)
        b = bench.draw_buyers(adversarial, rep)
        assert a == bench.draw_buyers(random_cell, rep)  # deterministic
        assert sorted(a) == sorted(b)
        first = b[0][0]
        assert first == "M"  # the most popular size under the skewed popularity
        n_first = sum(1 for v, _, _ in b if v == first)
        assert all(v == first for v, _, _ in b[:n_first])
        assert [x for x in a if x[0] == first] == b[:n_first]
    assert bench.draw_buyers(random_cell, 0) != bench.draw_buyers(random_cell, 1)


def test_spec_waitlist_worked_example_in_the_simulator():
    four = bench.MIXES["4/4/4/4"]
    buyers = [
        ("M", 5, False),  # A
        ("M", 4, False),  # B: only 3 available, leaves
        ("M", 3, False),  # B again: M 8/8, locked
        ("M", 1, False),  # C: waits
        ("S", 5, False),  # C joins S
        ("M", 1, False),  # D: waits
        ("L", 1, False),  # E
        ("XL", 1, False),  # F: C admitted
        ("L", 1, False),  # G
        ("XL", 1, False),  # H: D admitted
    ]
    spec = bench.POLICY_BY_NAME["lot_balanced_T2_waitlist"]
    out = bench.simulate_session(spec, four, buyers, moq_units=32)
    assert out.ordered == {"S": 5, "M": 10, "L": 2, "XL": 2}
    assert out.waited_units == 2 and out.admitted_from_waitlist_units == 2 and out.still_waiting_units == 0
    no_wait = bench.simulate_session(bench.POLICY_BY_NAME["lot_balanced_T2"], four, buyers, moq_units=32)
    assert no_wait.ordered == {"S": 5, "M": 8, "L": 2, "XL": 2}


def test_settlement_worked_example_in_the_simulator():
    """docs/design.md, "Settlement at close", example 1: the same buyers under settlement and rescue."""
    buyers = [
        ("M", 10, False),
        ("L", 8, False),
        ("S", 4, False),
        ("M", 3, False),
        ("L", 2, False),
        ("S", 1, False),
    ]
    mix = bench.MIXES["2/5/4/1"]
    settled = bench.simulate_session(bench.POLICY_BY_NAME["settlement"], mix, buyers, moq_units=24)
    assert settled.ordered == {"S": 5, "M": 13, "L": 10, "XL": 0}
    assert (settled.admitted_at_close_units, settled.still_waiting_units) == (6, 0)
    assert lots_needed(settled.ordered, mix) == 3 and settled.lots_for_confirmed == 2
    rescued = bench.simulate_session(bench.POLICY_BY_NAME["lot_balanced_T2_waitlist_rescue"], mix, buyers, 24)
    assert (rescued.confirmed, rescued.admitted_at_close_units, rescued.still_waiting_units) == (25, 3, 3)


def test_settlement_buyer_model_takes_what_is_free_and_queues_the_rest():
    mix = bench.MIXES["2/5/4/1"]  # caps with no orders: S 4, M 10, L 8, XL 2
    spec = bench.POLICY_BY_NAME["settlement"]
    # A 9 M; B asks 3 M with 1 free: takes 1 and queues 2 (coin heads); C asks 2 M (coin tails): waits
    # whole; D asks 3 XL > T * a_XL = 2: waits for settlement without blocking E's 1 XL behind it.
    buyers = [("M", 9, False), ("M", 3, True), ("M", 2, False), ("XL", 3, True), ("XL", 1, False)]
    out = bench.simulate_session(spec, mix, buyers, moq_units=1000)  # out of reach: nothing admitted at close
    assert out.ordered == {"S": 0, "M": 10, "L": 0, "XL": 1}
    assert (out.waited_units, out.still_waiting_units, out.never_fits_units) == (2 + 2 + 3, 7, 3)
    old = bench.simulate_session(bench.POLICY_BY_NAME["lot_balanced_T2_waitlist"], mix, buyers, 1000)
    assert old.ordered == {"S": 0, "M": 10, "L": 0, "XL": 2}  # B takes 1 M and leaves; D takes 2 XL
    only = bench.simulate_session(bench.POLICY_BY_NAME["settlement_only"], mix, buyers, moq_units=1000)
    assert (only.confirmed, only.waited_units, only.cap_checks) == (0, 18, 0)


def test_take_available_and_rescue():
    mix = bench.MIXES["4/4/4/4"]
    spec = bench.POLICY_BY_NAME["lot_balanced_T2_waitlist_rescue"]
    buyers = [("M", 3, False)] * 2 + [("M", 3, True), ("M", 2, False), ("S", 1, False)]
    out = bench.simulate_session(spec, mix, buyers, moq_units=16)
    # 3 + 3, then 2 of the 3 taken (M 8/8, locked), the 2 M wait; S 1 joins (L, XL still 0: M stays 8);
    # 9 confirmed + 2 waiting < 16: no rescue. With MOQ 10 rescue admits the 2 M, both beyond M's cap 8.
    assert out.ordered["M"] == 8 and out.still_waiting_units == 2 and out.admitted_at_close_units == 0
    out = bench.simulate_session(spec, mix, buyers, moq_units=10)
    assert out.confirmed == 11 and out.admitted_at_close_units == 2 and out.over_cap_at_close_units == 2


def _brute_force_bound(demand, allocations, moq, weight=1.0):
    """Every k and every served vector o_v <= min(d_v, k*a_v): the best weight * E + R of any policy."""
    lot_units = sum(allocations.values())
    best = None
    for k in range(1, 12):
        ranges = [range(min(demand[v], k * a) + 1) for v, a in allocations.items()]
        for served in itertools.product(*ranges):
            if sum(served) < moq:
                continue
            e = k * lot_units - sum(served)
            r = sum(demand.values()) - sum(served)
            best = weight * e + r if best is None else min(best, weight * e + r)
    return best


def test_offline_bound_matches_brute_force():
    rng = random.Random(7)
    allocations = {"S": 2, "M": 3, "L": 1}
    for _ in range(40):
        demand = {v: rng.randint(0, 7) for v in allocations}
        moq = rng.choice([6, 12])
        bound = bench.offline_bound(demand, allocations, moq)
        brute = _brute_force_bound(demand, allocations, moq)
        if bound is None:
            assert brute is None and sum(demand.values()) < moq
            continue
        assert bound.min_ER == brute
        for weight, weighted_min in zip(bench.EXCESS_WEIGHTS, bound.weighted_min, strict=True):
            assert weighted_min == _brute_force_bound(demand, allocations, moq, weight)
        assert bound.min_R == 0
        assert bound.E_at_min_ER + bound.R_at_min_ER == bound.min_ER
        assert len(bound.frontier) == len(bench.FRONTIER_WEIGHTS)
        assert bound.frontier[-1][0] == 0  # the largest weight on refusals refuses nothing
        refused = [point[0] for point in bound.frontier]
        assert refused == sorted(refused, reverse=True)  # more weight on refusals, fewer refusals


def test_cap_recheck_detects_a_violation():
    spec = bench.POLICY_BY_NAME["lot_balanced_T2"]
    mix = bench.MIXES["4/4/4/4"]
    ordered = {"S": 0, "M": 9, "L": 0, "XL": 0}
    assert size_availability("M", mix, ordered).cap == 8
    assert bench.cap_violations(mix, ordered, spec) == 1


def test_cli_writes_json_and_markdown_with_the_documented_schema(tmp_path):
    assert (
        cli.main(["--quick", "--replications", "3", "--processes", "1", "--no-plot", "--out", str(tmp_path)])
        == 0
    )
    report = json.loads((tmp_path / "allocation.json").read_text())
    for key in ("schema_version", "date", "machine", "parameters", "definitions", "overall", "cells"):
        assert key in report
    for key in ("platform", "cpu_count", "python", "load_average", "commit"):
        assert key in report["machine"]
    params = report["parameters"]
    assert params["replications_per_cell"] == 3
    assert params["refusal_behaviour"]["take_available_prob"] == bench.TAKE_AVAILABLE_PROB
    assert (
        params["popularity_multipliers"]["skewed"]["M"]
        == 2 * params["popularity_multipliers"]["skewed"]["XL"]
    )
    for key in ("E", "R", "D", "k", "excess_frac", "refused_frac", "fail_due_to_cap", "bound", "success"):
        assert key in report["definitions"]
    for key in ("settlement", "E+R ratio", "weighted_cost_ratio", "goals"):
        assert key in report["definitions"]
    assert params["default_policy"] == "settlement"
    names = [p.name for p in bench.POLICY_SPECS]
    assert len(report["cells"]) == len(bench.make_cells(bench.QUICK_BUYERS))
    for cell in report["cells"]:
        assert set(cell) == {"cell", "bound", "policies"}
        assert list(cell["policies"]) == names
        for key in ("min_E_mean", "min_R_mean", "min_ER_mean", "at_min_ER"):
            assert key in cell["bound"]
        for metrics in cell["policies"].values():
            for key in (
                "success_rate",
                "fail_due_to_cap_rate",
                "refused_frac",
                "excess_frac_success",
                "E_mean_success",
                "k_mean_success",
                "gap_ER_mean",
                "cap_violations",
                "ER_ratio",
                "weighted_cost_ratio",
                "unserved_units_mean_feasible",
            ):
                assert key in metrics
            assert metrics["cap_violations"] == 0
            assert metrics["min_gap_ER"] is None or metrics["min_gap_ER"] >= 0
        assert cell["policies"]["no_cap"]["refused_frac"] == 0
        for name in names:
            if bench.POLICY_BY_NAME[name].settlement:  # never fewer units than the bound can leave
                assert cell["policies"][name]["ER_ratio"] >= 1
                assert cell["policies"][name]["weighted_cost_ratio"] >= 1
    assert set(report["overall"]["policies"]) == set(names)
    assert list(report["goals"]) == names
    default = report["goals"]["settlement"]
    assert default["moq_success_gap"] == {
        "value": 0.0,
        "target": -0.5,
        "met": True,
        "cell": default["moq_success_gap"]["cell"],
    }
    assert default["all_met"] == all(
        default[key]["met"]
        for key in ("mean_ratio", "worst_cell_ratio", "moq_success_gap", "unserved_vs_bound")
    )
    markdown = (tmp_path / "allocation.md").read_text()
    assert (
        "**Goals**" in markdown
        and "excess_weight sweep" in markdown
        and "Where the default loses" in markdown
    )
    assert "| policy |" in markdown


def test_chunking_and_processes_do_not_change_results():
    cells = [bench.Cell("2/5/4/1", "mix", "random", 20, 1)]
    one = run_cells(cells, 12, processes=1, chunk=12)
    split = run_cells(cells, 12, processes=1, chunk=5)
    a, b = one[0]["policies"], split[0]["policies"]
    for name in a:
        for key, value in a[name].items():
            assert b[name][key] == pytest.approx(value), (name, key)


def test_the_committed_results_render():
    """bench/README.md's block is generated from bench/results/allocation.json by this renderer."""
    committed = json.loads((RESULTS_DIR / "allocation.json").read_text())
    markdown = render(committed)
    assert "| policy |" in markdown and "**Per scenario**" in markdown
