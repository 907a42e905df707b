"""The allocation benchmark's goals for settlement at close, checked for every policy of a report.

Measured over the replications where the offline bound exists (demand reaches the MOQ), a session that
fails the MOQ counting E = 0 and every requested unit unserved:

- `mean_ratio`: mean over the cells of (policy's mean E + R) / (bound's mean min E + R) <= 1.10;
- `worst_cell_ratio`: that ratio <= 1.25 in every cell;
- `moq_success_gap`: MOQ success never below no cap's (= the share of replications whose demand reaches
  the MOQ) in any cell, by more than 0.5 points;
- `unserved_vs_bound`: unserved units <= 1.2 x the bound's refused units at its min E + R (means over
  the cells).
"""

from __future__ import annotations

GOALS: tuple[tuple[str, str, str, float], ...] = (
    ("mean_ratio", "mean E+R ratio over the cells", "<=", 1.10),
    ("worst_cell_ratio", "E+R ratio in every cell", "<=", 1.25),
    ("moq_success_gap", "MOQ success - no cap's, worst cell (points)", ">=", -0.5),
    ("unserved_vs_bound", "unserved units / bound's refused units", "<=", 1.2),
)


def cell_label(cell: dict) -> str:
    k = cell["cell"]
    return f"{k['mix']} {k['popularity']} {k['arrival']} {k['buyers']}b MOQ{k['moq_lots']}"


def _met(value: float | None, sign: str, target: float) -> bool:
    if value is None:
        return False
    return value <= target if sign == "<=" else value >= target


def goals_for(report: dict, name: str) -> dict:
    """The four goals for one policy: value, target, met, and where the worst cell is."""
    cells = report["cells"]
    ratios = [(c["policies"][name]["ER_ratio"], cell_label(c)) for c in cells]
    known = [(ratio, label) for ratio, label in ratios if ratio is not None]
    worst_ratio, worst_cell = max(known) if known else (None, None)
    gaps = [
        (100 * (c["policies"][name]["success_rate"] - c["bound"]["moq_possible_rate"]), cell_label(c))
        for c in cells
        if c["bound"]["moq_possible_rate"] is not None
    ]
    worst_gap, gap_cell = min(gaps) if gaps else (None, None)
    unserved = report["overall"]["policies"][name]["unserved_units_mean_feasible"]
    bound_refused = report["overall"]["bound"]["at_min_ER"]["R_mean"]
    values = {
        "mean_ratio": report["overall"]["policies"][name]["ER_ratio"],
        "worst_cell_ratio": worst_ratio,
        "moq_success_gap": worst_gap,
        "unserved_vs_bound": None if unserved is None or not bound_refused else unserved / bound_refused,
    }
    result = {
        key: {"value": values[key], "target": target, "met": _met(values[key], sign, target)}
        for key, _, sign, target in GOALS
    }
    result["worst_cell_ratio"] |= {
        "cell": worst_cell,
        "cells_over": sum(ratio > 1.25 for ratio, _ in known),
    }
    result["moq_success_gap"]["cell"] = gap_cell
    result["all_met"] = all(result[key]["met"] for key, *_ in GOALS)
    return result


def check_goals(report: dict) -> dict[str, dict]:
    """Every policy's goals, by policy name (in the report's policy order)."""
    return {p["name"]: goals_for(report, p["name"]) for p in report["parameters"]["policies"]}


def goals_table(report: dict, labels: dict[str, str]) -> list[str]:
    """Markdown: one row per policy, each goal's value with ✓ or ✗."""

    def mark(goal: dict, digits: int) -> str:
        value = goal["value"]
        shown = "–" if value is None else f"{value:.{digits}f}"
        return f"{shown} {'✓' if goal['met'] else '✗'}"

    lines = [
        "| policy | mean E+R ratio (≤ 1.10) | worst cell (≤ 1.25) | cells over 1.25 "
        "| MOQ success − no cap, worst cell (≥ −0.5 pts) | unserved / bound's refused (≤ 1.2) | all goals |",
        "|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for name, goals in report["goals"].items():
        lines.append(
            f"| {labels[name]} | {mark(goals['mean_ratio'], 3)} | {mark(goals['worst_cell_ratio'], 3)} "
            f"| {goals['worst_cell_ratio']['cells_over']} | {mark(goals['moq_success_gap'], 2)} "
            f"| {mark(goals['unserved_vs_bound'], 2)} | {'✓' if goals['all_met'] else '✗'} |"
        )
    return lines
