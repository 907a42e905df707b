"""Regenerate the results blocks of bench/README.md from the committed results: `python -m bench.readme`.

Each full benchmark run replaces its own block when it writes its JSON; this is for after a change to a
renderer, or to check that the page matches the files in `bench/results/`.
"""

from __future__ import annotations

import importlib
import sys

from bench.common import read_results, replace_block

RENDERERS = {
    "allocation": "bench.allocation_report",
    "webhook": "bench.webhook",
    "expiry": "bench.expiry_report",
    "outbound": "bench.outbound",
    "outage": "bench.outage",
    "faults": "bench.faults",
}
"""Benchmark name (its results file and block) -> the module whose `render(report)` makes the block."""


def main() -> int:
    missing = []
    for name, module in RENDERERS.items():
        report = read_results(name)
        if report is None:
            print(f"{name}: no bench/results/{name}.json, block left as it is")
            continue
        if not replace_block(name, importlib.import_module(module).render(report)):
            missing.append(name)
        else:
            print(f"{name}: block regenerated")
    if missing:
        print(f"bench/README.md has no block markers for {', '.join(missing)}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
