"""The allocation benchmark's report: metric definitions (also copied into the JSON), the markdown
tables of bench/README.md, and the plot (refused % against excess %, with the offline frontier, and the
default's E+R ratio to the bound cell by cell)."""

from __future__ import annotations

from pathlib import Path

from bench.allocation_goals import cell_label, goals_table
from bench.allocation_model import (
    DEFAULT_POLICIES,
    DEFAULT_POLICY,
    POLICY_BY_NAME,
    POLICY_SPECS,
    SWEEP_POLICIES,
    TAKE_AVAILABLE_PROB,
)
from bench.allocation_stats import overall
from bench.common import machine_line

DEFINITIONS: dict[str, str] = {
    "cell": "one scenario: mix x popularity x arrival x buyers x moq_lots; every policy runs on the same "
    "replications of a cell (common random numbers).",
    "seed": "replication r of a cell draws its buyers from random.Random('laku-alloc-bench|<base_seed>|<mix>|"
    "<popularity>|<buyers>|<r>'): the buyers (size, quantity, take-available coin) are the same for every "
    "policy, and also for both arrival orders and both MOQs of the same mix/popularity/buyers (only the "
    "order or the MOQ differs).",
    "buyer": "wants q units (uniform over 1, 2, 3) of one size drawn with the popularity weights; "
    "arrives once.",
    "popularity": "weight of size v = a_v * multiplier_v, normalised; 'mix' multipliers all 1 (demand "
    "follows the lot mix), 'skewed' multipliers S 1, M 1.5, L 1, XL 0.75 (M exactly twice as popular as "
    "XL relative to the mix).",
    "arrival": "'random': buyers arrive in the order drawn (i.i.d.). 'adversarial': every buyer of the most "
    "popular size arrives first (most popular = largest popularity weight; ties broken by the largest "
    "requested units in that replication, then by mix order S, M, L, XL), then the others, each group "
    "keeping its drawn order.",
    "moq_units": "target MOQ in units = moq_lots * L, L = sum_v a_v (16 for 4/4/4/4, 12 for 2/5/4/1).",
    "join": "a request of q units of v is accepted whole iff q <= available_v from core.allocation."
    "size_availability(v, a, o, T, policy); no cap = size_availability with empty allocations (available "
    "None). If refused with 0 < available_v < q the buyer takes available_v units with probability "
    f"{TAKE_AVAILABLE_PROB} (a per-buyer coin drawn with the demand), else leaves. If refused with "
    "available_v == 0 (locked) the buyer leaves, except under the waitlist policies.",
    "waitlist": "lot-balanced T=2 with waitlist: a request for a locked size (available_v == 0) waits whole "
    "(first come first served); after every accepted join (including a take-available join and admissions) "
    "the waiting list is passed to core.allocation.admit_waiting and the returned requests are confirmed in "
    "that order. A request with 0 < available_v < q behaves as without waitlist (take available or leave). "
    "A new request that fits is accepted even if older requests for the same size still wait (they need "
    "more units than are available).",
    "rescue": "the retired close (old default, a comparison policy): if confirmed units < moq_units, "
    "bench.allocation_model.rescue_at_close(waiting, confirmed, moq_units) admits waiting requests oldest "
    "first until the MOQ is met (ignoring caps).",
    "settlement": "the product's close (default): core.settlement.settle(a, o, waiting, moq_units, "
    "excess_weight=w) chooses the lots k and the waiting requests to admit minimising w*E + R (whole requests, "
    "oldest first per size skipping what does not fit, confirmed units stay, served units reach the MOQ; "
    "empty warehouse). Buyer model of the settlement policies while the session runs: a request that fits is "
    "confirmed; one for a locked size or larger than T*a_v waits whole (admit_waiting passes over the latter: "
    "only settlement can serve it); one with 0 < available_v < q: a buyer whose take-available coin is "
    "heads takes available_v now and queues the rest as its own request (the reply offers it), the others "
    "wait whole (waiting is free). 'settlement only' (diagnostic) confirms nothing before the close: every "
    "request waits and settlement decides them all, which isolates what whole requests and first come first "
    "served cost against the bound.",
    "E+R ratio": "per cell, over the replications where the bound exists (D >= MOQ): the policy's mean "
    "(E + unserved) divided by the bound's mean min E+R; a session that fails the MOQ counts E = 0 and "
    "unserved = D (nothing is delivered). 'overall' is the unweighted mean of the cell ratios.",
    "weighted_cost_ratio": "as the E+R ratio, with the policy's own excess_weight w on both sides: mean "
    "(w E + unserved) over the bound's mean min_k (w E(k) + R(k)).",
    "goals": "see bench/allocation_goals.py: mean E+R ratio <= 1.10 over the cells, <= 1.25 in every cell; "
    "MOQ success never below no cap's (= moq_possible_rate, the share of replications with D >= MOQ) in "
    "any cell by more than 0.5 points; unserved units <= 1.2 x the bound's R at its min E+R (means over "
    "cells).",
    "confirmed_need_more_lots_rate": "share of feasible replications where the units confirmed before the "
    "close already need more lots (lots_needed) than the bound's best k: excess settlement cannot undo.",
    "D": "total units requested by all buyers of the replication (the same for every policy).",
    "d_v": "units of size v requested by all buyers (the full demand, known only to the offline bound).",
    "confirmed": "o_v summed over sizes at close, after waitlist admissions and the close (rescue or "
    "settlement).",
    "success": "the session reaches the MOQ: confirmed units >= moq_units.",
    "k": "if success: whole lots ordered = core.allocation.lots_needed(o, a) with an empty warehouse "
    "(k = max_v ceil(o_v / a_v)); if the session fails the MOQ nothing is ordered (k = 0).",
    "E": "excess units = sum_v (k * a_v - o_v) if success, 0 if failure.",
    "excess_frac": "E / (k * L); reported over successful sessions only (undefined when k = 0).",
    "R": "refused units = D - confirmed; units still waiting at close (never admitted) count as refused. "
    "For a failed session R still counts only the units the policy refused (the confirmed units of a failed "
    "session are in 'unserved_frac').",
    "refused_frac": "R / D, mean over all replications.",
    "unserved_frac": "(D if the session fails the MOQ else R) / D, mean over all replications: what buyers "
    "actually do not get.",
    "fail_due_to_cap": "the session fails the MOQ although the no-cap policy, on the same demand sequence, "
    "reaches it (no cap confirms everything, so: D >= moq_units and confirmed < moq_units).",
    "bound": "offline bound per replication, knowing d_v in advance: over whole-lot counts k >= k_min = "
    "ceil(moq_units / L) that are feasible (sum_v min(d_v, k*a_v) >= moq_units), E(k) = sum_v max(0, k*a_v - "
    "d_v) and R(k) = sum_v max(0, d_v - k*a_v); any policy ordering k lots has E >= E(k), R >= R(k) and "
    "E + R >= E(k) + R(k). Reported: min_E = min_k E(k), min_R = min_k R(k), min_ER = min_k (E(k) + R(k)) "
    "(three separate minima, possibly at different k), k ranges from k_min to max(k_min, lots_needed(d, a)) "
    "(beyond it E only grows). A replication with D < moq_units has no feasible k (every policy fails): it "
    "is counted in infeasible and left out of bound averages. Plot points: the bound at the k minimising E+R "
    "(smallest such k), at the k minimising E and at the k minimising R.",
    "frontier": "offline frontier of the plot: for each weight w in parameters.frontier_weights, per feasible "
    "replication the feasible k minimising E(k)/(kL) + w * R(k)/D (serving min(d_v, k*a_v) per size), then "
    "the mean of R(k)/D and of E(k)/(kL) over the cell's feasible replications. These means trace the "
    "lower-left convex frontier of what an omniscient policy that always reaches the MOQ can average. "
    "Caveat: a policy's excess % is averaged over its successful sessions only, so a policy that fails "
    "in hard sessions (e.g. static) can plot below this frontier.",
    "gap_to_bound": "per replication where the policy succeeded: E - min_E, R - min_R and (E + R) - min_ER "
    "(>= 0 by construction; min_gap_ER in the JSON checks it), averaged over those replications.",
    "aggregation": "per cell: means over the cell's replications (success-only metrics over the successful "
    "ones; null if none). 'overall' per policy: the unweighted mean over cells of the per-cell values (cells "
    "with no successful session are skipped for success-only metrics).",
    "cap_violations": "number of moments (after an accepted join or a waitlist admission, before the close) "
    "at which some size had o_u > cap_u as recomputed by size_availability; must be 0. Only counted with "
    "--check-caps (on by default).",
    "never_fits_units": "units of requests still waiting when the session ends (before the close) with "
    "q > T*a_v: available_v <= T*a_v always (v itself is in the min), so no cap ever admits them (e.g. 3 XL "
    "with a_XL = 1, T = 2); only settlement can.",
    "blocked_by_older_units": "units of requests still waiting when the session ends (before the close) that "
    "would fit the final state on their own but stay behind an older same-size request that does not fit "
    "(first come first served).",
    "over_cap_at_close_units": "after the close, sum_u max(0, o_u - cap_u): units rescue or settlement "
    "admitted beyond the caps (by design: at close the caps no longer apply).",
}


# ---------------------------------------------------------------------------------------------------------
# Markdown and plot
# ---------------------------------------------------------------------------------------------------------


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}"


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def render(report: dict) -> str:
    """The markdown block of bench/README.md for one results file."""
    policies = [POLICY_BY_NAME[p["name"]] for p in report["parameters"]["policies"]]
    names = {p.name for p in policies}
    params = report["parameters"]
    ov = report["overall"]
    cells = report["cells"]
    lines = [
        f"Run of {report['date']} ({'quick' if report['quick'] else 'full'}): "
        f"{params['replications_per_cell']:,} replications per cell, {params['cells']} cells, "
        f"{report['runtime_seconds']:.0f} s; {machine_line(report['machine'])}.",
        "",
        "**All cells** (unweighted mean over cells). Refused % = R/D over all sessions; excess % = E/(kL) "
        "and k over sessions reaching the MOQ only; E+R ratio = the policy's mean E + unserved units over "
        "the offline bound's mean min(E+R), per cell (a failed session counts all its demand as unserved), "
        "then the mean over cells and the worst cell.",
        "",
        "| policy | refused % | excess % (success) | R units | E units (success) | k (success) "
        "| MOQ success % | fail only by cap % | unserved % | E+R ratio | worst cell ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in policies:
        m = ov["policies"][p.name]
        label = f"**{p.label}**" if p.name == DEFAULT_POLICY else p.label
        lines.append(
            f"| {label} | {_pct(m['refused_frac'])} | {_pct(m['excess_frac_success'])} | "
            f"{_num(m['R_mean'], 1)} | {_num(m['E_mean_success'], 1)} | {_num(m['k_mean_success'])} | "
            f"{_pct(m['success_rate'])} | {_pct(m['fail_due_to_cap_rate'], 2)} | {_pct(m['unserved_frac'])} | "
            f"{_num(m['ER_ratio'], 3)} | {_num(report['goals'][p.name]['worst_cell_ratio']['value'], 3)} |"
        )
    b = ov["bound"]
    lines += [
        f"| **offline bound** (min E+R) | {_pct(b['at_min_ER']['refused_frac'])} | "
        f"{_pct(b['at_min_ER']['excess_frac'])} | {_num(b['at_min_ER']['R_mean'], 1)} | "
        f"{_num(b['at_min_ER']['E_mean'], 1)} | {_num(b['k_at_min_ER_mean'])} | – | – | – | 1.000 | 1.000 |",
        "",
        f"Offline bound means over cells (feasible replications): min E {_num(b['min_E_mean'])}, "
        f"min R {_num(b['min_R_mean'])}, min E+R {_num(b['min_ER_mean'])} units; "
        f"{b['infeasible_replications']} replications had D < MOQ (no policy can succeed).",
        "",
        "**Goals** (bench/allocation_goals.py), every policy:",
        "",
        *goals_table(report, {p.name: p.label for p in policies}),
        "",
    ]
    sweep = [name for name in SWEEP_POLICIES if name in names]
    if sweep:
        lines += [
            "**excess_weight sweep** of the default (T = 2 + waitlist + settlement), means over cells of the "
            "feasible replications. Own-weight cost ratio: mean (w E + unserved) over the bound's mean "
            "min (w E + R) at the same w.",
            "",
            "| excess_weight w | E units | unserved units | k (success) | E+R ratio | own-weight cost ratio "
            "| MOQ success % |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name in sweep:
            m = ov["policies"][name]
            lines.append(
                f"| {POLICY_BY_NAME[name].excess_weight:g} | {_num(m['E_mean_feasible'], 1)} | "
                f"{_num(m['unserved_units_mean_feasible'], 1)} | {_num(m['k_mean_success'])} | "
                f"{_num(m['ER_ratio'], 3)} | {_num(m['weighted_cost_ratio'], 3)} | {_pct(m['success_rate'])} |"
            )
        lines.append("")
    wl = [p for p in policies if p.waitlist]
    if wl:
        lines += [
            "**Waitlist activity** (mean units per session over all cells; the last two columns before the "
            "close):",
            "",
            "| policy | waited | admitted during the session | admitted at close | sessions admitting at close % "
            "| still waiting after close | units over cap after close | never fit (q > T*a_v) "
            "| fit but blocked by an older request |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in wl:
            m = ov["policies"][p.name]
            lines.append(
                f"| {p.label} | {_num(m['waited_units_mean'])} | "
                f"{_num(m['admitted_from_waitlist_units_mean'])} | {_num(m['admitted_at_close_units_mean'])} | "
                f"{_pct(m['admitted_at_close_rate'])} | {_num(m['still_waiting_units_mean'])} | "
                f"{_num(m['over_cap_at_close_units_mean'])} | {_num(m['never_fits_units_mean'])} | "
                f"{_num(m['blocked_by_older_units_mean'])} |"
            )
        lines.append("")
    violations = sum(ov["policies"][p.name]["cap_violations"] for p in policies)
    checks = sum(ov["policies"][p.name]["cap_checks"] for p in policies)
    lines += [f"Cap re-checks: {checks:,} moments checked, {violations} violations.", ""]

    if DEFAULT_POLICY in names:
        lines += _where_the_default_loses(cells, names)
    lines += [
        "**E+R ratio to the bound, per cell** (every policy; the bound's mean min E+R in units):",
        "",
        "| scenario | bound E+R | " + " | ".join(p.column for p in policies) + " |",
        "|---|---:|" + "---:|" * len(policies),
    ]
    for c in cells:
        ratios = " | ".join(_num(c["policies"][p.name]["ER_ratio"], 2) for p in policies)
        lines.append(f"| {cell_label(c)} | {_num(c['bound']['min_ER_mean'], 1)} | {ratios} |")

    n_mid = 60 if 60 in params["buyers"] else params["buyers"][-1]
    chosen = [c for c in cells if c["cell"]["buyers"] == n_mid and c["cell"]["moq_lots"] == 2]
    lines += [
        "",
        f"**Per scenario** ({n_mid} buyers, MOQ 2 lots). Each entry: refused % / excess % (successful "
        "sessions) / MOQ success %; bound = offline min E+R point.",
        "",
        "| scenario | " + " | ".join(p.column for p in policies) + " | bound |",
        "|---|" + "---:|" * (len(policies) + 1),
    ]
    for c in chosen:
        entries = []
        for p in policies:
            m = c["policies"][p.name]
            entries.append(
                f"{_pct(m['refused_frac'], 0)} / {_pct(m['excess_frac_success'], 0)} / "
                f"{_pct(m['success_rate'], 0)}"
            )
        bb = c["bound"]["at_min_ER"]
        lines.append(
            f"| {cell_label(c)} | " + " | ".join(entries) + f" | {_pct(bb['refused_frac'], 0)} / "
            f"{_pct(bb['excess_frac'], 0)} / – |"
        )
    lines.append("")
    return "\n".join(lines)


def _where_the_default_loses(cells: list[dict], names: set[str]) -> list[str]:
    """The six cells where the default's E+R ratio is worst, with what explains the gap."""
    ranked = sorted(cells, key=lambda c: c["policies"][DEFAULT_POLICY]["ER_ratio"] or 0, reverse=True)
    others = [name for name in ("settlement_T1", "settlement_only") if name in names]
    header = " | ".join(POLICY_BY_NAME[name].column + " ratio" for name in others)
    lines = [
        "**Where the default loses most to the bound** (the six worst cells by E+R ratio). E and unserved "
        "units per feasible session; 'confirmed need more lots' = sessions whose units confirmed before the "
        "close already need more lots than the bound's best k (settlement cannot undo them); "
        "'settle only' confirms nothing before the close, so its gap is what whole requests and first come "
        "first served alone cost.",
        "",
        "| scenario | bound E / R | default E / unserved | default ratio | "
        + header
        + " | confirmed need more lots % | never fit + blocked units |",
        "|---|---:|---:|---:|" + "---:|" * len(others) + "---:|---:|",
    ]
    for c in ranked[:6]:
        m = c["policies"][DEFAULT_POLICY]
        at = c["bound"]["at_min_ER"]
        extra = " | ".join(_num(c["policies"][name]["ER_ratio"], 3) for name in others)
        lines.append(
            f"| {cell_label(c)} | {_num(at['E_mean'], 1)} / {_num(at['R_mean'], 1)} | "
            f"{_num(m['E_mean_feasible'], 1)} / {_num(m['unserved_units_mean_feasible'], 1)} | "
            f"{_num(m['ER_ratio'], 3)} | {extra} | {_pct(m['confirmed_need_more_lots_rate'])} | "
            f"{_num((m['never_fits_units_mean'] or 0) + (m['blocked_by_older_units_mean'] or 0))} |"
        )
    return [*lines, ""]


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    policies = [POLICY_BY_NAME[p["name"]] for p in report["parameters"]["policies"]]
    markers = dict(zip([p.name for p in POLICY_SPECS], "o s ^ v D P X * h p 8 < >".split(), strict=True))
    palette = plt.get_cmap("tab20").colors  # type: ignore[attr-defined]
    colors = dict(zip([p.name for p in POLICY_SPECS], palette[::2] + palette[1::2], strict=False))

    def panel(ax, policy_metrics: dict, bound: dict, title: str, big: bool = False) -> None:
        frontier = [pt for pt in bound.get("frontier", []) if pt["refused_frac"] is not None]
        if frontier:
            ax.plot(
                [100 * pt["refused_frac"] for pt in frontier],
                [100 * pt["excess_frac"] for pt in frontier],
                color="black",
                lw=1.2,
                ls="--",
                zorder=2,
                label="offline frontier (full knowledge of demand)",
            )
        pts = [bound[k] for k in ("at_min_R", "at_min_ER")]
        if all(pt["refused_frac"] is not None for pt in pts):
            ax.scatter(
                [100 * pt["refused_frac"] for pt in pts],
                [100 * pt["excess_frac"] for pt in pts],
                color="black",
                marker="x",
                s=50 if big else 25,
                zorder=4,
                label="offline bound at min R (R = 0) and at min E+R",
            )
        for p in policies:
            m = policy_metrics[p.name]
            if m["refused_frac"] is None or m["excess_frac_success"] is None:
                continue
            default = p.name in DEFAULT_POLICIES
            ax.scatter(
                100 * m["refused_frac"],
                100 * m["excess_frac_success"],
                marker=markers[p.name],
                color=colors[p.name],
                s=(150 if big else 70) if default else (70 if big else 35),
                label=p.label,
                zorder=5 if default else 3,
                edgecolors="black" if default else "none",
                linewidths=1.2 if default else 0.6,
            )
        ax.set_title(title, fontsize=11 if big else 9)
        ax.grid(alpha=0.3)
        ax.set_xlabel("refused % (R/D, all sessions)", fontsize=8)
        ax.set_ylabel("excess % (E/kL, successful sessions)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlim(left=-3)
        ax.set_ylim(bottom=0)

    fig = plt.figure(figsize=(18, 15), layout="constrained")
    grid = fig.add_gridspec(4, 4, height_ratios=[1.4, 0.9, 1, 1])
    ax0 = fig.add_subplot(grid[0, :2])
    ov = report["overall"]
    panel(ax0, ov["policies"], ov["bound"], "All cells (mean over cells)", big=True)
    legend_ax = fig.add_subplot(grid[0, 2:])
    legend_ax.axis("off")
    handles, labels = ax0.get_legend_handles_labels()
    legend_ax.legend(handles, labels, loc="upper left", fontsize=9.5, frameon=False)
    cells = report["cells"]
    ratio_ax = fig.add_subplot(grid[1, :])
    shown = [
        p for p in policies if p.name in (DEFAULT_POLICY, "settlement_T1", "lot_balanced_T2_waitlist_rescue")
    ]
    for p in shown:
        ratio_ax.plot(
            range(len(cells)),
            [c["policies"][p.name]["ER_ratio"] for c in cells],
            marker=markers[p.name],
            color=colors[p.name],
            lw=2 if p.name == DEFAULT_POLICY else 1,
            ms=6,
            label=p.label,
        )
    ratio_ax.axhline(1.0, color="black", lw=1.2, ls="--", label="offline bound")
    for goal, style in ((1.10, ":"), (1.25, "-.")):
        ratio_ax.axhline(goal, color="grey", lw=1, ls=style, label=f"goal {goal:.2f}")
    ratio_ax.set_xticks(range(len(cells)))
    ratio_ax.set_xticklabels([cell_label(c) for c in cells], rotation=90, fontsize=6)
    ratio_ax.set_ylabel("mean E+R / bound's min E+R", fontsize=8)
    title = "E+R against the offline bound, cell by cell"
    ratio_ax.grid(alpha=0.3)
    top = max((c["policies"][p.name]["ER_ratio"] or 1.0 for c in cells for p in shown), default=1.3)
    ceiling = min(max(1.3, top) * 1.15, 2.0)  # room for the legend; the detail is near 1
    ratio_ax.set_ylim(0.95, ceiling)
    if top > ceiling:
        title += f" (axis cut at {ceiling:.1f}; the highest ratio shown is {top:.2f})"
    ratio_ax.set_title(title, fontsize=10)
    ratio_ax.legend(fontsize=8, loc="upper left", ncols=6)
    groups: dict[tuple, list[dict]] = {}
    for c in cells:
        k = c["cell"]
        groups.setdefault((k["mix"], k["popularity"], k["arrival"]), []).append(c)
    for i, (key, members) in enumerate(sorted(groups.items())):
        if i >= 8:
            break
        ax = fig.add_subplot(grid[2 + i // 4, i % 4])
        sub = overall(members, policies)
        panel(ax, sub["policies"], sub["bound"], f"{key[0]}, {key[1]} popularity, {key[2]} arrival")
    fig.suptitle(
        f"Allocation policies vs the offline bound ({report['parameters']['replications_per_cell']} "
        "replications per cell; lower-left is better; small panels average buyers and MOQ)",
        fontsize=12,
    )
    legend_ax.text(
        0.0,
        0.0,
        "Excess % of a policy is over its sessions that reach the MOQ only; a policy that fails the MOQ in\n"
        "hard sessions (static) can therefore plot below the frontier, which averages every feasible session.",
        fontsize=9,
        va="bottom",
        transform=legend_ax.transAxes,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
