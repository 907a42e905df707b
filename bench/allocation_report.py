"""The allocation benchmark's report: metric definitions (also copied into the JSON), the markdown
tables of bench/README.md, and the plot (refused % against excess %, with the offline frontier)."""

from __future__ import annotations

from pathlib import Path

from bench.allocation_model import DEFAULT_POLICIES, POLICY_BY_NAME, POLICY_SPECS, TAKE_AVAILABLE_PROB
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
    "rescue": "at close, if confirmed units < moq_units, core.allocation.rescue_at_close(waiting, confirmed, "
    "moq_units) admits waiting requests oldest first (ignoring caps, as the product's rescue at close does).",
    "D": "total units requested by all buyers of the replication (the same for every policy).",
    "d_v": "units of size v requested by all buyers (the full demand, known only to the offline bound).",
    "confirmed": "o_v summed over sizes at close, after waitlist admissions and rescue.",
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
    "cap_violations": "number of moments (after an accepted join or a waitlist admission, before rescue) at "
    "which some size had o_u > cap_u as recomputed by size_availability; must be 0. Only counted with "
    "--check-caps (on by default).",
    "never_fits_units": "units of requests still waiting at close (before rescue) with q > T*a_v: under the "
    "lot-balanced rule available_v <= T*a_v always (v itself is in the min), so admit_waiting can never "
    "admit them (e.g. 3 XL with a_XL = 1, T = 2).",
    "blocked_by_older_units": "units of requests still waiting at close (before rescue) that would fit the "
    "final state on their own but stay behind an older same-size request that does not fit (first come "
    "first served).",
    "rescue_over_cap_units": "after rescue, sum_u max(0, o_u - cap_u): units rescue admitted beyond the "
    "caps.",
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
    params = report["parameters"]
    ov = report["overall"]
    lines = [
        f"Run of {report['date']} ({'quick' if report['quick'] else 'full'}): "
        f"{params['replications_per_cell']:,} replications per cell, {params['cells']} cells, "
        f"{report['runtime_seconds']:.0f} s; {machine_line(report['machine'])}.",
        "",
        "**All cells** (unweighted mean over cells). Refused % = R/D over all sessions; excess % = E/(kL) "
        "and k over sessions reaching the MOQ only; gap = (E+R) minus the offline bound's min(E+R), in "
        "units, over the policy's successful sessions.",
        "",
        "| policy | refused % | excess % (success) | R units | E units (success) | k (success) "
        "| MOQ success % | fail only by cap % | unserved % | gap E+R (units) | at bound % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in policies:
        m = ov["policies"][p.name]
        lines.append(
            f"| {p.label} | {_pct(m['refused_frac'])} | {_pct(m['excess_frac_success'])} | "
            f"{_num(m['R_mean'], 1)} | {_num(m['E_mean_success'], 1)} | {_num(m['k_mean_success'])} | {_pct(m['success_rate'])} | "
            f"{_pct(m['fail_due_to_cap_rate'], 2)} | "
            f"{_pct(m['unserved_frac'])} | {_num(m['gap_ER_mean'])} | {_pct(m['at_bound_ER_rate'])} |"
        )
    b = ov["bound"]
    lines += [
        f"| **offline bound** (min E+R) | {_pct(b['at_min_ER']['refused_frac'])} | "
        f"{_pct(b['at_min_ER']['excess_frac'])} | {_num(b['at_min_ER']['R_mean'], 1)} | "
        f"{_num(b['at_min_ER']['E_mean'], 1)} | {_num(b['k_at_min_ER_mean'])} | – | – | – | 0.00 | 100.0 |",
        "",
        f"Offline bound means over cells (feasible replications): min E {_num(b['min_E_mean'])}, "
        f"min R {_num(b['min_R_mean'])}, min E+R {_num(b['min_ER_mean'])} units; "
        f"{b['infeasible_replications']} replications had D < MOQ (no policy can succeed).",
        "",
    ]
    wl = [p for p in policies if p.waitlist]
    if wl:
        lines += ["**Waitlist activity** (mean units per session over all cells):", ""]
        lines += [
            "| policy | waited | admitted from waitlist | rescued | rescue sessions % "
            "| still waiting at close "
            "| of which never fit (q > T*a_v) | of which fit but blocked by an older request "
            "| rescue units over cap |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in wl:
            m = ov["policies"][p.name]
            lines.append(
                f"| {p.label} | {_num(m['waited_units_mean'])} | "
                f"{_num(m['admitted_from_waitlist_units_mean'])} | "
                f"{_num(m['rescued_units_mean'])} | {_pct(m['rescue_rate'])} | "
                f"{_num(m['still_waiting_units_mean'])} | {_num(m['never_fits_units_mean'])} | "
                f"{_num(m['blocked_by_older_units_mean'])} | {_num(m['rescue_over_cap_units_mean'])} |"
            )
        lines.append("")
    violations = sum(ov["policies"][p.name]["cap_violations"] for p in policies)
    checks = sum(ov["policies"][p.name]["cap_checks"] for p in policies)
    lines += [f"Cap re-checks: {checks:,} moments checked, {violations} violations.", ""]

    # Per-scenario tables: 60 buyers, MOQ 2 lots, every mix x popularity x arrival; then the cells where
    # the default (lot-balanced T=2 + waitlist + rescue) is furthest from its best capped competitor.
    cells = report["cells"]
    short = {p.name: p.label.replace(" (default rule)", "").replace(" (default)", "") for p in policies}
    header = "| scenario | " + " | ".join(short[p.name] for p in policies) + " | bound |"
    sep = "|---|" + "---:|" * (len(policies) + 1)

    def row(c: dict, label: str) -> str:
        cells_txt = []
        for p in policies:
            m = c["policies"][p.name]
            cells_txt.append(
                f"{_pct(m['refused_frac'], 0)} / {_pct(m['excess_frac_success'], 0)} / "
                f"{_pct(m['success_rate'], 0)}"
            )
        bb = c["bound"]["at_min_ER"]
        return (
            f"| {label} | " + " | ".join(cells_txt) + f" | {_pct(bb['refused_frac'], 0)} / "
            f"{_pct(bb['excess_frac'], 0)} / – |"
        )

    def label(c: dict) -> str:
        k = c["cell"]
        return f"{k['mix']} {k['popularity']} {k['arrival']} {k['buyers']}b MOQ{k['moq_lots']}"

    n_mid = 60 if 60 in params["buyers"] else params["buyers"][-1]
    chosen = [c for c in cells if c["cell"]["buyers"] == n_mid and c["cell"]["moq_lots"] == 2]
    lines += [
        f"**Per scenario** ({n_mid} buyers, MOQ 2 lots). Each entry: refused % / excess % (successful "
        "sessions) / MOQ success %; bound = offline min E+R point.",
        "",
        header,
        sep,
    ]
    lines += [row(c, label(c)) for c in chosen]
    default = "lot_balanced_T2_waitlist_rescue"
    if default in {p.name for p in policies}:
        capped = [p.name for p in policies if p.name not in ("no_cap",) and p.name not in DEFAULT_POLICIES]

        def cost(c: dict, name: str) -> float:
            m = c["policies"][name]
            return m["unserved_frac"] + (m["excess_frac_success"] or 0.0)

        ranked = sorted(cells, key=lambda c: cost(c, default) - min(cost(c, n) for n in capped), reverse=True)
        lines += [
            "",
            "**Cells where the default is furthest behind its best capped competitor**, ranked by "
            "(unserved % + excess %) of lot-balanced T=2 + waitlist + rescue minus the best of static, "
            "raw-unit and lot-balanced T=1/T=3 in that cell (top 6). Same entry format.",
            "",
            header,
            sep,
        ]
        lines += [row(c, label(c)) for c in ranked[:6]]
    lines.append("")
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    policies = [POLICY_BY_NAME[p["name"]] for p in report["parameters"]["policies"]]
    markers = dict(zip([p.name for p in POLICY_SPECS], "o s ^ v D P X *".split(), strict=True))
    palette = plt.get_cmap("tab10").colors  # type: ignore[attr-defined]
    colors = dict(zip([p.name for p in POLICY_SPECS], palette, strict=False))

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
            ax.scatter(
                100 * m["refused_frac"],
                100 * m["excess_frac_success"],
                marker=markers[p.name],
                color=colors[p.name],
                s=70 if big else 35,
                label=p.label,
                zorder=3,
                edgecolors="black" if p.name in DEFAULT_POLICIES else "none",
                linewidths=0.6,
            )
        ax.set_title(title, fontsize=11 if big else 9)
        ax.grid(alpha=0.3)
        ax.set_xlabel("refused % (R/D, all sessions)", fontsize=8)
        ax.set_ylabel("excess % (E/kL, successful sessions)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlim(left=-3)
        ax.set_ylim(bottom=0)

    fig = plt.figure(figsize=(16, 13), layout="constrained")
    grid = fig.add_gridspec(3, 4, height_ratios=[1.4, 1, 1])
    ax0 = fig.add_subplot(grid[0, :2])
    ov = report["overall"]
    panel(ax0, ov["policies"], ov["bound"], "All cells (mean over cells)", big=True)
    legend_ax = fig.add_subplot(grid[0, 2:])
    legend_ax.axis("off")
    handles, labels = ax0.get_legend_handles_labels()
    legend_ax.legend(handles, labels, loc="center left", fontsize=10, frameon=False)
    cells = report["cells"]
    groups: dict[tuple, list[dict]] = {}
    for c in cells:
        k = c["cell"]
        groups.setdefault((k["mix"], k["popularity"], k["arrival"]), []).append(c)
    for i, (key, members) in enumerate(sorted(groups.items())):
        if i >= 8:
            break
        ax = fig.add_subplot(grid[1 + i // 4, i % 4])
        sub = overall(members, policies)
        panel(ax, sub["policies"], sub["bound"], f"{key[0]}, {key[1]} popularity, {key[2]} arrival")
    fig.suptitle(
        f"Allocation policies vs the offline bound ({report['parameters']['replications_per_cell']} "
        "replications per cell; lower-left is better; small panels average buyers and MOQ)",
        fontsize=12,
    )
    legend_ax.text(
        0.0,
        0.02,
        "Excess % of a policy is over its sessions that reach the MOQ only; a policy that fails the MOQ in\n"
        "hard sessions (static) can therefore plot below the frontier, which averages every feasible session.",
        fontsize=9,
        transform=legend_ax.transAxes,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
