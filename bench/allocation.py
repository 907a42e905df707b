"""Allocation-quality benchmark: simulated sessions decided by the production rule in `core.allocation`.

`python -m bench.allocation` (full run: 48 cells x 2,000 replications x 13 policies) or `--quick` (a few
seconds). Writes `bench/results/allocation.json`, `bench/results/allocation.png` and its block of
`bench/README.md`; `--quick` writes to `bench/results/quick/` instead. The exit status is 1 if a size ever
went over its cap. The model is `bench/allocation_model.py`, the bookkeeping `bench/allocation_stats.py`,
the tables and plot `bench/allocation_report.py`, the goals of settlement at close
`bench/allocation_goals.py`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench import common
from bench.allocation_goals import check_goals
from bench.allocation_model import (
    ARRIVALS,
    BASE_SEED,
    BUYERS,
    DEFAULT_POLICIES,
    DEFAULT_POLICY,
    DEFAULT_REPLICATIONS,
    EXCESS_WEIGHTS,
    FRONTIER_WEIGHTS,
    MIXES,
    MOQ_LOTS,
    POLICY_SPECS,
    POPULARITY_MULTIPLIERS,
    QUANTITIES,
    QUICK_BUYERS,
    QUICK_REPLICATIONS,
    TAKE_AVAILABLE_PROB,
    Cell,
    PolicySpec,
    make_cells,
    popularity_weights,
)
from bench.allocation_report import DEFINITIONS, plot, render
from bench.allocation_stats import overall, run_cells

NAME = "allocation"
SCHEMA_VERSION = 2  # 2: settlement policies, E+R ratios, the weighted bound, goals


def build_report(
    cells: Sequence[Cell],
    summaries: list[dict],
    replications: int,
    policies: Sequence[PolicySpec],
    processes: int,
    check_caps: bool,
    base_seed: int,
    elapsed: float,
    quick: bool,
) -> dict:
    report = {
        "schema_version": SCHEMA_VERSION,
        "benchmark": NAME,
        "date": common.utc_now(),
        "quick": quick,
        "machine": common.machine_facts(),
        "runtime_seconds": round(elapsed, 2),
        "parameters": {
            "replications_per_cell": replications,
            "base_seed": base_seed,
            "processes": processes,
            "check_caps": check_caps,
            "mixes": MIXES,
            "popularity_multipliers": POPULARITY_MULTIPLIERS,
            "popularity_weights": {
                mix: {pop: popularity_weights(mix, pop) for pop in POPULARITY_MULTIPLIERS} for mix in MIXES
            },
            "arrivals": list(ARRIVALS),
            "buyers": sorted({c.buyers for c in cells}),
            "moq_lots": list(MOQ_LOTS),
            "quantities": list(QUANTITIES),
            "refusal_behaviour": {
                "take_available_prob": TAKE_AVAILABLE_PROB,
                "rule": "refused with 0 < available < q: take `available` units with probability "
                f"{TAKE_AVAILABLE_PROB}, else leave; refused with available == 0: leave (or wait whole "
                "under the waitlist policies)",
                "settlement_rule": "settlement policies: a locked request or one larger than T*a_v waits "
                f"whole; with 0 < available < q, with probability {TAKE_AVAILABLE_PROB} take `available` "
                "units and queue the rest as a request of its own, else wait whole",
            },
            "policies": [asdict(p) for p in policies],
            "frontier_weights": list(FRONTIER_WEIGHTS),
            "excess_weights": list(EXCESS_WEIGHTS),
            "default_policy": DEFAULT_POLICY,
            "default_policies": list(DEFAULT_POLICIES),
            "warehouse": "empty (every confirmed unit comes from whole factory lots)",
            "cells": len(cells),
        },
        "definitions": DEFINITIONS,
        "overall": overall(summaries, policies),
        "cells": summaries,
    }
    report["goals"] = check_goals(report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.allocation", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_REPLICATIONS} replications, buyers {QUICK_BUYERS}",
    )
    parser.add_argument(
        "--replications",
        type=int,
        default=None,
        help=f"replications per cell (default {DEFAULT_REPLICATIONS})",
    )
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=BASE_SEED, help="base seed")
    parser.add_argument(
        "--no-check-caps",
        dest="check_caps",
        action="store_false",
        help="skip re-checking every size's cap after each accepted join (faster)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results directory (default bench/results, or bench/results/quick with --quick)",
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    args = parser.parse_args(argv)

    replications = args.replications or (QUICK_REPLICATIONS if args.quick else DEFAULT_REPLICATIONS)
    if replications < 1:
        parser.error("--replications must be >= 1")
    cells = make_cells(QUICK_BUYERS if args.quick else BUYERS)
    started = time.perf_counter()
    summaries = run_cells(cells, replications, POLICY_SPECS, args.processes, args.check_caps, args.seed)
    elapsed = time.perf_counter() - started
    report = build_report(
        cells,
        summaries,
        replications,
        POLICY_SPECS,
        args.processes,
        args.check_caps,
        args.seed,
        elapsed,
        args.quick,
    )
    markdown = render(report)
    directory = common.output_dir(args.quick, args.out)
    path = common.publish(NAME, report, markdown, directory)
    if not args.no_plot:
        try:
            plot(report, directory / "allocation.png")
        except ImportError as exc:  # matplotlib is an optional (bench) dependency
            print(f"plot skipped: {exc}", file=sys.stderr)
    print(markdown.split("**Waitlist activity**")[0])
    print(
        f"{len(cells)} cells x {replications} replications x {len(POLICY_SPECS)} policies "
        f"in {elapsed:.1f} s; results in {path}"
    )
    violations = sum(report["overall"]["policies"][p.name]["cap_violations"] for p in POLICY_SPECS)
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
