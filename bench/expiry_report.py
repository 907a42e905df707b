"""The expiry benchmark's summary (medians per group, ratios from runs made back to back) and its markdown
block of bench/README.md."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bench.common import fmt, machine_line, md_table, median, ratio, rnd
from bench.expiry_data import OUTCOMES


def group_stats(rs: list[dict]) -> dict:
    def med(key: str, digits: int = 3) -> float | None:
        values = [r[key] for r in rs if r.get(key) is not None]
        return rnd(median(values), digits) if values else None

    return {
        "runs": len(rs),
        "seconds_median": med("seconds"),
        "sessions_per_s_median": med("sessions_per_s", 1),
        "ms_per_session_median": med("ms_per_session"),
        "cpu_ms_per_session_median": rnd(
            median([r["worker_cpu_ms_per_session"] + r["postgres_cpu_ms_per_session"] for r in rs])
        ),
        "messages": rs[0]["messages"],
        "messages_per_s_median": rnd(median([r["messages"] / r["seconds"] for r in rs]), 1),
        "first_tenth_ms_per_session_median": med("first_tenth_ms_per_session"),
        "last_tenth_ms_per_session_median": med("last_tenth_ms_per_session"),
        "lock_wait_share_median": rnd(median([r["postgres"]["lock_wait_share"] for r in rs])),
        "deadlocks_median": median([r["database_counters"]["deadlocks"] for r in rs]),
        "table_scans_per_session_median": rnd(median([r["per_session"]["table_scans"] for r in rs]), 2),
        "retried_median": median([r["retried"] for r in rs]),
        "left_due_median": median([r["left_due_after_timed_sweep"] or 0 for r in rs]),
        "other_load_cores_median": rnd(median([r["other_load_cores"] for r in rs]), 2),
    }


def summarise(runs: list[dict], workers: tuple[int, ...], sizes: tuple[int, ...]) -> dict:
    """Per group (scenario, size, workers): medians; the speed-up of more workers from pairs of runs made
    back to back (so a slow phase of the machine hits both sides); growth from the small size to the
    large one."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for run in runs:
        if run.get("seconds") is not None and run["checks_ok"]:
            groups[run["group"]].append(run)
    lo, hi = min(workers), max(workers)
    out: dict[str, Any] = {"groups": {g: group_stats(rs) for g, rs in groups.items()}, "ratios": {}}
    for g in groups:
        scenario, size, count = g.split(" ")
        single = f"{scenario} {size} {lo}w"
        if count == f"{hi}w" and single in groups:
            pairs = [a["seconds"] / b["seconds"] for a, b in zip(groups[single], groups[g], strict=False)]
            out["ratios"][f"speedup {g}"] = {
                "of": f"{single} / {g}",
                "per_pair": [rnd(p) for p in pairs],
                "median": rnd(median(pairs)),
            }
    small, large = sizes[0], sizes[-1]
    growth = {}
    for w in workers:
        a, b = out["groups"].get(f"main {small} {w}w"), out["groups"].get(f"main {large} {w}w")
        if a and b:
            growth[f"{w}w"] = {
                "ms_per_session_small": a["ms_per_session_median"],
                "ms_per_session_large": b["ms_per_session_median"],
                "wall_ratio": ratio(b["ms_per_session_median"], a["ms_per_session_median"]),
                "cpu_ms_per_session_small": a["cpu_ms_per_session_median"],
                "cpu_ms_per_session_large": b["cpu_ms_per_session_median"],
                "cpu_ratio": ratio(b["cpu_ms_per_session_median"], a["cpu_ms_per_session_median"]),
            }
    if growth and small != large:
        out["growth_small_to_large"] = {"small": small, "large": large, **growth}
    return out


def profile_row(run: dict) -> dict:
    """One single-outcome run of the profile, per closed session."""
    return {
        "set": run["profile_set"],
        "outcome": run["only"],
        "sessions": run["sessions"],
        "mean_buyers": rnd(run["mean_buyers"], 2),
        "ms_per_session": run.get("ms_per_session"),
        "cpu_ms_per_session": rnd(run["worker_cpu_ms_per_session"] + run["postgres_cpu_ms_per_session"])
        if run.get("worker_cpu_ms_per_session") is not None
        else None,
        **(run.get("per_session") or {}),
        "messages_per_session": rnd(run["messages"] / run["sessions"], 2),
        "checks_ok": run["checks_ok"],
    }


# ---------------------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------------------

GROUP_HEADER = [
    "scenario",
    "due sessions",
    "workers",
    "runs",
    "seconds",
    "sessions/s",
    "ms/session",
    "CPU ms/session",
    "outbox msgs",
    "msgs/s",
    "2w speed-up",
    "pace ms/session, first / last tenth",
    "lock waits",
    "deadlocks",
    "retried / left due",
    "other load",
]


def _group_rows(summary: dict) -> list[list[str]]:
    rows = []
    for g, s in summary["groups"].items():
        scenario, size, workers = g.split(" ")
        speed = summary["ratios"].get(f"speedup {g}", {}).get("median")
        first, last = s.get("first_tenth_ms_per_session_median"), s.get("last_tenth_ms_per_session_median")
        rows.append(
            [
                scenario,
                f"{int(size):,}",
                workers[:-1],
                s["runs"],
                fmt(s["seconds_median"]),
                fmt(s["sessions_per_s_median"], 0),
                fmt(s["ms_per_session_median"]),
                fmt(s["cpu_ms_per_session_median"]),
                f"{s['messages']:,}",
                fmt(s["messages_per_s_median"], 0),
                fmt(speed, 2, "x") if speed else "",
                f"{fmt(first, 1)} / {fmt(last, 1)}",
                fmt(100 * s["lock_wait_share_median"], 0, "%"),
                fmt(s.get("deadlocks_median"), 0),
                f"{s['retried_median']:.0f} / {s['left_due_median']:.0f}",
                fmt(max(0.0, s["other_load_cores_median"]), 2),
            ]
        )
    return rows


def _section_line(name: str, section: dict) -> str:
    skipped = section.get("skipped_runs") or []
    return (
        f"**{name}** ({section['mode']}, {section['date']}, {section['total_seconds']:.0f} s): "
        f"{machine_line(section['machine'])}; all checks {'passed' if section['checks_passed'] else 'FAILED'}"
        + (f"; skipped for time: {', '.join(skipped)}" if skipped else "")
        + "."
    )


def render(report: dict) -> str:
    """The markdown block of bench/README.md for one results file."""
    lines: list[str] = []
    right = [False] + [True] * (len(GROUP_HEADER) - 1)
    main = report.get("main")
    if main:
        lines += [
            _section_line("Main", main),
            "",
            *md_table(GROUP_HEADER, _group_rows(main["summary"]), right),
        ]
        growth = main["summary"].get("growth_small_to_large")
        if growth:
            small, large = growth["small"], growth["large"]
            rows = [
                [w[:-1], fmt(g["ms_per_session_small"]), fmt(g["ms_per_session_large"]), fmt(g["wall_ratio"])]
                + [
                    fmt(g["cpu_ms_per_session_small"]),
                    fmt(g["cpu_ms_per_session_large"]),
                    fmt(g["cpu_ratio"]),
                ]
                for w, g in growth.items()
                if w.endswith("w")
            ]
            header = ["workers", f"wall ms at {small:,}", f"at {large:,}", "ratio"]
            header += [f"CPU ms at {small:,}", f"at {large:,}", "ratio"]
            lines += ["", f"Growth from {small:,} to {large:,} due sessions (per session, medians):", ""]
            lines += md_table(header, rows)
    experiments = report.get("experiments")
    if experiments and report.get("schema_version", 1) < 2:
        lines += [
            "",
            "**Experiments**: the committed results of this section were measured on the code before the "
            "sweep fixes, with what-if runs since dropped; rerun `python -m bench.expiry --experiments`.",
        ]
    elif experiments:
        lines += ["", _section_line("Experiments", experiments), ""]
        lines += md_table(GROUP_HEADER, _group_rows(experiments["summary"]), right)
        ratios = experiments["summary"]["ratios"].values()
        if ratios:
            lines += ["", "Speed-up, seconds of A / seconds of B, per pair of runs made back to back:", ""]
            rows = [[r["of"], ", ".join(fmt(p) for p in r["per_pair"]), fmt(r["median"])] for r in ratios]
            lines += md_table(["A / B", "per pair", "median"], rows, [False, False, True])
        profile = experiments.get("profile") or []
        if profile:
            lines += [
                "",
                "Per closed session, by outcome (one worker, every session of a run with the same outcome; "
                "table scans and rows from PostgreSQL's own statistics):",
                "",
            ]
            header = ["set", "outcome", "sessions", "mean buyers", "ms/session", "CPU ms/session"]
            header += ["table scans", "rows inserted", "rows updated", "outbox msgs"]
            order = {o: n for n, o in enumerate(OUTCOMES)}
            rows = [
                [p["set"], p["outcome"], p["sessions"], fmt(p["mean_buyers"], 1), fmt(p["ms_per_session"])]
                + [fmt(p["cpu_ms_per_session"]), fmt(p.get("table_scans"), 1), fmt(p.get("rows_inserted"), 1)]
                + [fmt(p.get("rows_updated"), 1), fmt(p["messages_per_session"], 1)]
                for p in sorted(profile, key=lambda p: (p["set"] != "typical", order.get(p["outcome"], 9)))
            ]
            lines += md_table(header, rows, [False, False] + [True] * 8)
    return "\n".join(lines)
