"""The allocation benchmark's bookkeeping: sums per cell (merged across chunks and processes), per-cell
summaries, the mean over cells, and running the cells on a pool of processes.

Results do not depend on the number of processes or on how replications are chunked: chunks are merged
in a fixed order.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Sequence
from dataclasses import asdict

from bench.allocation_model import (
    BASE_SEED,
    EXCESS_WEIGHTS,
    FRONTIER_WEIGHTS,
    POLICY_BY_NAME,
    POLICY_SPECS,
    Cell,
    PolicySpec,
    ReplicationRecord,
    run_replication,
)

# ---------------------------------------------------------------------------------------------------------
# Sums per cell and summaries
# ---------------------------------------------------------------------------------------------------------

_POLICY_SUMS = (
    "reps",
    "success",
    "fail_due_to_cap",
    "refused_frac",
    "unserved_frac",
    "R",
    "D",
    "success_E",
    "success_excess_frac",
    "success_k",
    "success_kL",
    "gap_reps",
    "gap_E",
    "gap_R",
    "gap_ER",
    "at_bound_ER",
    "waited_units",
    "admitted_from_waitlist_units",
    "admitted_at_close_units",
    "admitted_at_close_sessions",
    "still_waiting_units",
    "never_fits_units",
    "blocked_by_older_units",
    "over_cap_at_close_units",
    "cap_violations",
    "cap_checks",
    # over feasible replications (the bound exists), a failed session counting E = 0 and every requested
    # unit unserved: what the E+R ratio to the bound and the goals are measured on
    "feasible_reps",
    "feasible_E",
    "feasible_unserved",
    "feasible_ER",
    "feasible_weighted",
    "confirmed_need_more_lots",
)
_BOUND_SUMS = (
    "reps",
    "feasible",
    "min_E",
    "min_R",
    "min_ER",
    "k_min_ER",
    "E_at_min_ER",
    "R_at_min_ER",
    "refused_frac_at_min_ER",
    "excess_frac_at_min_ER",
    "refused_frac_at_min_E",
    "excess_frac_at_min_E",
    "excess_frac_at_min_R",
)


def new_sums(policies: Sequence[PolicySpec]) -> dict:
    return {
        "policies": {p.name: dict.fromkeys(_POLICY_SUMS, 0) | {"min_gap_ER": None} for p in policies},
        "bound": dict.fromkeys(_BOUND_SUMS, 0)
        | {"frontier": [[0.0, 0.0] for _ in FRONTIER_WEIGHTS], "weighted_min": [0.0 for _ in EXCESS_WEIGHTS]},
    }


def accumulate(sums: dict, cell: Cell, record: ReplicationRecord) -> None:
    lot_units = cell.lot_units
    bound = record.bound
    b = sums["bound"]
    b["reps"] += 1
    if bound is not None:
        b["feasible"] += 1
        b["min_E"] += bound.min_E
        b["min_R"] += bound.min_R
        b["min_ER"] += bound.min_ER
        b["k_min_ER"] += bound.k_min_ER
        b["E_at_min_ER"] += bound.E_at_min_ER
        b["R_at_min_ER"] += bound.R_at_min_ER
        b["refused_frac_at_min_ER"] += bound.R_at_min_ER / record.D
        b["excess_frac_at_min_ER"] += bound.E_at_min_ER / (bound.k_min_ER * lot_units)
        b["refused_frac_at_min_E"] += bound.R_at_min_E / record.D
        b["excess_frac_at_min_E"] += bound.min_E / (bound.k_min_E * lot_units)
        b["excess_frac_at_min_R"] += bound.E_at_min_R / (bound.k_min_R * lot_units)
        for acc, (refused_frac, excess_frac) in zip(b["frontier"], bound.frontier, strict=True):
            acc[0] += refused_frac
            acc[1] += excess_frac
        b["weighted_min"] = [
            acc + value for acc, value in zip(b["weighted_min"], bound.weighted_min, strict=True)
        ]
    for name, rec in record.policies.items():
        s = sums["policies"][name]
        out = rec.outcome
        s["reps"] += 1
        s["success"] += rec.success
        s["fail_due_to_cap"] += rec.fail_due_to_cap
        s["refused_frac"] += rec.R / record.D
        s["unserved_frac"] += (rec.R if rec.success else record.D) / record.D
        s["R"] += rec.R
        s["D"] += record.D
        if rec.success:
            s["success_E"] += rec.E
            s["success_excess_frac"] += rec.E / (rec.k * lot_units)
            s["success_k"] += rec.k
            s["success_kL"] += rec.k * lot_units
            if bound is not None:
                gap = rec.E + rec.R - bound.min_ER
                s["gap_reps"] += 1
                s["gap_E"] += rec.E - bound.min_E
                s["gap_R"] += rec.R - bound.min_R
                s["gap_ER"] += gap
                s["at_bound_ER"] += gap == 0
                s["min_gap_ER"] = gap if s["min_gap_ER"] is None else min(s["min_gap_ER"], gap)
        if bound is not None:
            excess = rec.E if rec.success else 0
            unserved = rec.R if rec.success else record.D
            s["feasible_reps"] += 1
            s["feasible_E"] += excess
            s["feasible_unserved"] += unserved
            s["feasible_ER"] += excess + unserved
            s["feasible_weighted"] += POLICY_BY_NAME[name].excess_weight * excess + unserved
            s["confirmed_need_more_lots"] += out.lots_for_confirmed > bound.k_min_ER
        s["waited_units"] += out.waited_units
        s["admitted_from_waitlist_units"] += out.admitted_from_waitlist_units
        s["admitted_at_close_units"] += out.admitted_at_close_units
        s["admitted_at_close_sessions"] += out.admitted_at_close_units > 0
        s["still_waiting_units"] += out.still_waiting_units
        s["over_cap_at_close_units"] += out.over_cap_at_close_units
        s["never_fits_units"] += out.never_fits_units
        s["blocked_by_older_units"] += out.blocked_by_older_units
        s["cap_violations"] += out.cap_violations
        s["cap_checks"] += out.cap_checks


def merge_sums(into: dict, other: dict) -> None:
    for key, value in other["bound"].items():
        if key == "weighted_min":
            into["bound"][key] = [a + b for a, b in zip(into["bound"][key], value, strict=True)]
        elif key == "frontier":
            for acc, (refused_frac, excess_frac) in zip(into["bound"][key], value, strict=True):
                acc[0] += refused_frac
                acc[1] += excess_frac
        else:
            into["bound"][key] += value
    for name, s in other["policies"].items():
        t = into["policies"][name]
        for key, value in s.items():
            if key == "min_gap_ER":
                if value is not None:
                    t[key] = value if t[key] is None else min(t[key], value)
            else:
                t[key] += value


def _div(a: float, b: float) -> float | None:
    return None if not b else a / b


def summarize_cell(cell: Cell, sums: dict) -> dict:
    b = sums["bound"]
    nf = b["feasible"]
    bound = {
        "replications": b["reps"],
        "feasible_replications": nf,
        "infeasible_replications": b["reps"] - nf,
        "min_E_mean": _div(b["min_E"], nf),
        "min_R_mean": _div(b["min_R"], nf),
        "min_ER_mean": _div(b["min_ER"], nf),
        "k_at_min_ER_mean": _div(b["k_min_ER"], nf),
        "at_min_ER": {
            "E_mean": _div(b["E_at_min_ER"], nf),
            "R_mean": _div(b["R_at_min_ER"], nf),
            "refused_frac": _div(b["refused_frac_at_min_ER"], nf),
            "excess_frac": _div(b["excess_frac_at_min_ER"], nf),
        },
        "at_min_E": {
            "refused_frac": _div(b["refused_frac_at_min_E"], nf),
            "excess_frac": _div(b["excess_frac_at_min_E"], nf),
        },
        "at_min_R": {"refused_frac": 0.0 if nf else None, "excess_frac": _div(b["excess_frac_at_min_R"], nf)},
        "frontier": [
            {"weight": w, "refused_frac": _div(acc[0], nf), "excess_frac": _div(acc[1], nf)}
            for w, acc in zip(FRONTIER_WEIGHTS, b["frontier"], strict=True)
        ],
        "weighted_min_mean": {
            _weight_key(w): _div(total, nf)
            for w, total in zip(EXCESS_WEIGHTS, b["weighted_min"], strict=True)
        },
        "moq_possible_rate": _div(nf, b["reps"]),  # D >= MOQ: also no cap's MOQ success rate
    }
    policies = {}
    for name, s in sums["policies"].items():
        n, ns, ng, nf_p = s["reps"], s["success"], s["gap_reps"], s["feasible_reps"]
        er_mean = _div(s["feasible_ER"], nf_p)
        weighted_bound = bound["weighted_min_mean"].get(_weight_key(POLICY_BY_NAME[name].excess_weight))
        policies[name] = {
            "replications": n,
            "success_rate": _div(ns, n),
            "fail_due_to_cap_rate": _div(s["fail_due_to_cap"], n),
            "refused_frac": _div(s["refused_frac"], n),
            "refused_frac_pooled": _div(s["R"], s["D"]),
            "unserved_frac": _div(s["unserved_frac"], n),
            "R_mean": _div(s["R"], n),
            "D_mean": _div(s["D"], n),
            "successful_replications": ns,
            "E_mean_success": _div(s["success_E"], ns),
            "excess_frac_success": _div(s["success_excess_frac"], ns),
            "excess_frac_pooled_success": _div(s["success_E"], s["success_kL"]),
            "k_mean_success": _div(s["success_k"], ns),
            "E_mean_all": _div(s["success_E"], n),
            "k_mean_all": _div(s["success_k"], n),
            "gap_replications": ng,
            "gap_E_mean": _div(s["gap_E"], ng),
            "gap_R_mean": _div(s["gap_R"], ng),
            "gap_ER_mean": _div(s["gap_ER"], ng),
            "at_bound_ER_rate": _div(s["at_bound_ER"], ng),
            "min_gap_ER": s["min_gap_ER"],
            "E_mean_feasible": _div(s["feasible_E"], nf_p),
            "unserved_units_mean_feasible": _div(s["feasible_unserved"], nf_p),
            "ER_mean_feasible": er_mean,
            "ER_ratio": None if er_mean is None else _div(er_mean, bound["min_ER_mean"] or 0),
            "weighted_cost_ratio": _div(_div(s["feasible_weighted"], nf_p) or 0, weighted_bound or 0),
            "confirmed_need_more_lots_rate": _div(s["confirmed_need_more_lots"], nf_p),
            "waited_units_mean": _div(s["waited_units"], n),
            "admitted_from_waitlist_units_mean": _div(s["admitted_from_waitlist_units"], n),
            "admitted_at_close_units_mean": _div(s["admitted_at_close_units"], n),
            "admitted_at_close_rate": _div(s["admitted_at_close_sessions"], n),
            "still_waiting_units_mean": _div(s["still_waiting_units"], n),
            "over_cap_at_close_units_mean": _div(s["over_cap_at_close_units"], n),
            "never_fits_units_mean": _div(s["never_fits_units"], n),
            "blocked_by_older_units_mean": _div(s["blocked_by_older_units"], n),
            "cap_violations": s["cap_violations"],
            "cap_checks": s["cap_checks"],
        }
    return {
        "cell": asdict(cell) | {"id": cell.id, "moq_units": cell.moq_units},
        "bound": bound,
        "policies": policies,
    }


def _weight_key(weight: float) -> str:
    return f"{weight:g}"


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def overall(cells: Sequence[dict], policies: Sequence[PolicySpec]) -> dict:
    """Unweighted mean over cells of each per-cell metric."""
    result: dict = {"policies": {}, "bound": {}}
    for p in policies:
        keys = cells[0]["policies"][p.name].keys()
        agg = {}
        for key in keys:
            values = [c["policies"][p.name][key] for c in cells]
            if key in (
                "cap_violations",
                "cap_checks",
                "replications",
                "successful_replications",
                "gap_replications",
            ):
                agg[key] = sum(values)
            elif key == "min_gap_ER":
                kept = [v for v in values if v is not None]
                agg[key] = min(kept) if kept else None
            else:
                agg[key] = _mean(values)
        result["policies"][p.name] = agg
    for key in ("min_E_mean", "min_R_mean", "min_ER_mean", "k_at_min_ER_mean"):
        result["bound"][key] = _mean(c["bound"][key] for c in cells)
    for point in ("at_min_ER", "at_min_E", "at_min_R"):
        result["bound"][point] = {
            key: _mean(c["bound"][point][key] for c in cells) for key in cells[0]["bound"][point]
        }
    result["bound"]["frontier"] = [
        {
            "weight": w,
            "refused_frac": _mean(c["bound"]["frontier"][i]["refused_frac"] for c in cells),
            "excess_frac": _mean(c["bound"]["frontier"][i]["excess_frac"] for c in cells),
        }
        for i, w in enumerate(FRONTIER_WEIGHTS)
    ]
    result["bound"]["weighted_min_mean"] = {
        key: _mean(c["bound"]["weighted_min_mean"][key] for c in cells)
        for key in cells[0]["bound"]["weighted_min_mean"]
    }
    result["bound"]["infeasible_replications"] = sum(c["bound"]["infeasible_replications"] for c in cells)
    return result


# ---------------------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------------------


def run_chunk(task: tuple[Cell, int, int, tuple[str, ...], bool, int]) -> tuple[str, int, dict]:
    cell, start, stop, policy_names, check_caps, base_seed = task
    policies = [POLICY_BY_NAME[name] for name in policy_names]
    sums = new_sums(policies)
    for rep in range(start, stop):
        accumulate(sums, cell, run_replication(cell, rep, policies, check_caps, base_seed))
    return cell.id, start, sums


def run_cells(
    cells: Sequence[Cell],
    replications: int,
    policies: Sequence[PolicySpec] = POLICY_SPECS,
    processes: int = 2,
    check_caps: bool = True,
    base_seed: int = BASE_SEED,
    chunk: int = 250,
) -> list[dict]:
    names = tuple(p.name for p in policies)
    tasks = [
        (cell, start, min(start + chunk, replications), names, check_caps, base_seed)
        for cell in cells
        for start in range(0, replications, chunk)
    ]
    tasks.sort(key=lambda t: -t[0].buyers * (t[2] - t[1]))  # biggest first: better balance over processes
    if processes > 1 and len(tasks) > 1:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            results = list(pool.imap_unordered(run_chunk, tasks))
    else:
        results = [run_chunk(task) for task in tasks]
    by_cell: dict[str, list[tuple[int, dict]]] = {}
    for cell_id, start, sums in results:
        by_cell.setdefault(cell_id, []).append((start, sums))
    summaries = []
    for cell in cells:
        total = new_sums(policies)
        for _, sums in sorted(by_cell[cell.id], key=lambda item: item[0]):  # fixed order: deterministic
            merge_sums(total, sums)
        summaries.append(summarize_cell(cell, total))
    return summaries
