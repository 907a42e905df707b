"""Webhook benchmark: the Procfile's own web line (nginx -> gunicorn) on PostgreSQL, signed Twilio requests
from another process, and the code before the join work measured beside it in the same run.

`python -m bench.webhook` (full run, about four minutes) or `--quick` (a ~1 minute smoke run written to
`bench/results/quick/`). In order:

1. The benchmark's own database (`laku_bench_webhook`) is created and migrated; it is dropped at the end.
2. Data is seeded (`bench/webhook_data.py`): products with the 2/5/4/1 lot mix, sessions with a MOQ far
   out of reach (no notification fan-out muddies the timing), the participants of scenario (c) in bulk.
3. The baseline commit is checked out in a `git worktree`, with a database of its own migrated and seeded
   by its own code (`--no-baseline` skips it).
4. The Procfile's `web` line serves `bench.webhook_app:create_bench_app()` (the real `bot.app.create_app()`
   plus a trivial `/bench/ping`) with TWILIO_AUTH_TOKEN set, so every request is signature-checked; the
   baseline's tree is served by the same line (`bench/webhook_server.py`).
5. A separate load-generator process per server (`bench/http_load.py`) sends the pre-signed requests of
   the scenarios (`bench/webhook_scenarios.py`), each step to both servers in turn: the ceiling before and
   after, (a) a hot session, (b) joins spread over many sessions; then (c) sequential joins as a session
   and its waitlist grow, on the current code.
6. The databases are checked with SQL: counters equal participant sums, and confirmed participants
   replayed in commit order never exceed a cap.

Throughput is reported as a share of the ceiling measured in the same run and as new / old against the
baseline, latency growth as a ratio to the smallest session. `--candidates` also measures other settings
of the web line, each on a database of its own, in turn.
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import common
from bench.common import ROOT
from bench.faults_web import procfile_command
from bench.http_load import LoadGenerator, Request
from bench.webhook_app import PING_PATH
from bench.webhook_data import BIG_MOQ, MIX, Sizes, phone, seed, verify
from bench.webhook_scenarios import (
    PUBLIC_BASE_URL,
    SEED,
    ceiling,
    growth,
    hot,
    join_statements,
    known_buyer_statements,
    server_env,
    sid,
    spread,
    whatsapp,
)
from bench.webhook_server import BASELINE_COMMIT, Baseline, ProcfileWeb

NAME = "webhook"
SCHEMA_VERSION = 2
DB_NAME = "laku_bench_webhook"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
log = common.logger(NAME)


@dataclass(frozen=True)
class Params:
    ceiling_requests: int
    hot_buyers: int
    spread_sessions: int
    spread_joins: int
    growth_small: int
    growth_large: int
    growth_joins: int
    growth_waiting: int


FULL = Params(6000, 2000, 1000, 2000, 100, 10_000, 300, 1000)
QUICK = Params(400, 300, 100, 200, 100, 2000, 60, 200)


@dataclass
class Target:
    """One server under measurement: what it serves from, its database and seeded codes."""

    label: str
    load: LoadGenerator
    url: str
    seeded: dict
    duplicate_sid: str = ""


def measure(targets: list[Target], params: Params, clients: int, deadline: float) -> list[dict]:
    """Warm-up, the ceiling before, (a) hot, (b) spread, the ceiling after, each step on every target in
    turn (the current code, then the baseline), so both meet the machine in the same minute."""
    for target in targets:
        # Warm-up: every worker's pool and code paths; also stores the message the duplicate path repeats.
        target.duplicate_sid = sid()
        warm = target.load.run([whatsapp(phone(812, 0), "MENU", target.duplicate_sid, "warm")], 1)
        assert warm.outcomes[0].status == 200, warm.outcomes[0]
        batch = [Request("GET", PING_PATH, None, {}, "warm")] * 200
        batch += [whatsapp(phone(812, 1 + n), "INFO HOT", tag="warm") for n in range(40)]
        warm = target.load.run(batch, clients)
        assert all(o.status == 200 for o in warm.outcomes), [o for o in warm.outcomes if o.status != 200][:3]
    results: list[dict] = [{} for _ in targets]
    before, after = [], []
    for target in targets:
        log(f"{target.label}: ceiling (before)")
        before.append(ceiling(target.load, params.ceiling_requests, clients, deadline, target.duplicate_sid))
    for target, out in zip(targets, results, strict=True):
        log(f"{target.label}: (a) hot session: {params.hot_buyers} buyers join HOT at once")
        out["hot"] = hot(target.load, target.url, params.hot_buyers, clients, deadline)
    for target, out in zip(targets, results, strict=True):
        log(f"{target.label}: (b) spread: {params.spread_joins} joins over {params.spread_sessions} sessions")
        codes = target.seeded["spread_codes"]
        out["spread"] = spread(target.load, target.url, codes, params.spread_joins, clients, deadline)
    for target in targets:
        log(f"{target.label}: ceiling (after)")
        after.append(ceiling(target.load, params.ceiling_requests, clients, deadline, target.duplicate_sid))
    for out, first, last in zip(results, before, after, strict=True):
        out["ceiling"] = {name: [first[name], last[name]] for name in first}
        for name in ("hot", "spread"):
            for baseline in ("ping_get", "ping_signed", "duplicate"):
                mean = statistics.fmean(r["req_per_s"] for r in out["ceiling"][baseline])
                out[name][f"share_of_{baseline}"] = common.ratio(out[name]["req_per_s"], mean)
        out["hot"]["ratio_to_spread"] = common.ratio(out["hot"]["req_per_s"], out["spread"]["req_per_s"])
    return results


def run(args: argparse.Namespace, params: Params, url: str, workdir: Path) -> tuple[dict, dict]:
    deadline = 60.0 if args.quick else 120.0
    sizes = Sizes(params.spread_sessions, params.growth_small, params.growth_large, params.growth_waiting)
    log("seeding")
    seeded = seed(url, sizes)
    env = server_env(url, args.redis_url)
    baseline = None if args.no_baseline else BaselineRun(args, params, workdir)
    load = None
    results: dict = {}
    try:
        server = ProcfileWeb(ROOT, env, workdir / "web.log")
    except BaseException:
        if baseline is not None:
            baseline.close()
        raise
    try:
        server.wait_ready(PING_PATH)
        log(f"web up on 127.0.0.1:{server.port}: {server.describe()} (nginx in front: {server.nginx})")
        load = LoadGenerator("127.0.0.1", server.port)
        targets = [Target("now", load, url, seeded)]
        if baseline is not None:
            targets.append(baseline.start())
        measured = measure(targets, params, args.clients, deadline)
        results.update(measured[0])
        if baseline is not None:
            baseline.stop()
            results["baseline"] = baseline.finish(measured[1])
            results["versus_baseline"] = versus(results, results["baseline"])
        log(f"(c) growth: {params.growth_joins} sequential joins into each session")
        results["growth"], results["waitlist"], results["waitlist_leaves"] = growth(
            load, params.growth_joins, seeded["growth"], seeded["waitlist"], deadline
        )
        results["waitlist_method"] = "over HTTP, each join followed by the same buyer's BATAL"
    finally:
        if load is not None:
            load.close()
        server.stop()
        if baseline is not None:
            baseline.close()
    log("SQL statements per join (in-process)")
    codes = [info["code"] for info in [*seeded["growth"].values(), seeded["waitlist"]["many"]]]
    results["join_plans"] = join_statements(url, env, codes)
    results["known_buyer_join"] = known_buyer_statements(url, env, seeded["growth"]["small"]["code"])
    results["server_log"] = server.log_problems()
    log("verifying the database")
    results["integrity"] = verify(url)
    server_info = {
        "command": server.command,
        "procfile_web": procfile_command("web", ROOT / "Procfile"),
        "nginx_in_front": server.nginx,
        "signature_checked": True,
        "public_base_url": PUBLIC_BASE_URL,
        "redis_url": args.redis_url,
    }
    return results, server_info


BASELINE_SEED = """
import json
from bench.webhook_data import Sizes, seed
print(json.dumps(seed({url!r}, Sizes({sizes}))))
"""
BASELINE_STATEMENTS = """
import json
from bench.webhook_scenarios import join_statements, server_env
plans = join_statements({url!r}, server_env({url!r}, {redis!r}), {codes!r})
print(json.dumps({{code: plan["statements"] for code, plan in plans.items()}}))
"""
BASELINE_KNOWN = """
import json
from bench.webhook_scenarios import server_env
{source}
print(json.dumps(known_buyer_statements({url!r}, server_env({url!r}, {redis!r}), {code!r})))
"""
BASELINE_VERIFY = """
import json
from bench.webhook_data import verify
print(json.dumps(verify({url!r})))
"""


class BaselineRun:
    """The baseline commit's code (a git worktree) on its own database, migrated and seeded by that code,
    served by the same Procfile web line: measured beside the current code in the same run."""

    def __init__(self, args: argparse.Namespace, params: Params, workdir: Path):
        self.args = args
        self.workdir = workdir
        self.baseline = Baseline(workdir)
        self.name = DB_NAME + "_baseline"
        self.server: ProcfileWeb | None = None
        self.load: LoadGenerator | None = None
        self.env = {**os.environ}
        try:
            self.url = common.create_database(args.postgres_url, self.name, app_root=self.baseline.root)
            small = params.growth_small
            sizes = f"{params.spread_sessions}, {small}, {2 * small}, 20"
            log(f"baseline {self.baseline.commit[:7]}: seeding")
            seeded = self.baseline.python(BASELINE_SEED.format(url=self.url, sizes=sizes), self.env)
            assert isinstance(seeded, dict)
        except BaseException:
            self.close()
            raise
        self.seeded = seeded

    def start(self) -> Target:
        self.server = ProcfileWeb(
            self.baseline.root, server_env(self.url, self.args.redis_url), self.workdir / "baseline-web.log"
        )
        self.server.wait_ready(PING_PATH)
        log(f"baseline web up on 127.0.0.1:{self.server.port}")
        self.load = LoadGenerator("127.0.0.1", self.server.port)
        return Target(f"baseline {self.baseline.commit[:7]}", self.load, self.url, self.seeded)

    def stop(self) -> None:
        if self.load is not None:
            self.load.close()
            self.load = None
        if self.server is not None:
            self.server.stop()

    def finish(self, results: dict) -> dict:
        """The baseline's statements per join, integrity and server log, added to what was measured."""
        code = self.seeded["growth"]["small"]["code"]
        log("baseline: SQL statements per join (in-process)")
        redis = self.args.redis_url
        statements = self.baseline.python(
            BASELINE_STATEMENTS.format(url=self.url, redis=redis, codes=[code]), self.env
        )
        assert isinstance(statements, dict)
        results["join_statements"] = statements
        results["known_buyer_join"] = self.baseline.python(
            BASELINE_KNOWN.format(
                source=inspect.getsource(known_buyer_statements), url=self.url, redis=redis, code=code
            ),
            self.env,
        )
        results["integrity"] = self.baseline.python(BASELINE_VERIFY.format(url=self.url), self.env)
        assert self.server is not None
        results["server_log"] = self.server.log_problems()
        results["commit"] = self.baseline.commit
        results["statements_code"] = code
        return results

    def close(self) -> None:
        self.stop()
        self.baseline.close()
        common.drop_database(self.args.postgres_url, self.name)


CANDIDATES: list[tuple[str, dict[str, str], bool]] = [
    ("as committed", {}, True),
    ("WEB_THREADS=2", {"WEB_THREADS": "2"}, True),
    ("WEB_THREADS=8", {"WEB_THREADS": "8"}, True),
    ("no gunicorn access log", {}, False),
]
"""Settings of the Procfile's web line compared by `--candidates` (the committed line among them)."""


def run_candidates(args: argparse.Namespace, params: Params, workdir: Path) -> dict:
    """Every candidate on a fresh database of its own, all up at once and measured step by step in turn
    (the same ceilings, (a) and (b)), so they meet the same minutes of the machine."""
    deadline = 60.0 if args.quick else 120.0
    names = [f"{DB_NAME}_candidate{index}" for index in range(len(CANDIDATES))]
    servers: list[ProcfileWeb] = []
    targets: list[Target] = []
    try:
        for index, (label, overrides, access_log) in enumerate(CANDIDATES):
            url = common.create_database(args.postgres_url, names[index])
            small = params.growth_small
            seeded = seed(url, Sizes(params.spread_sessions, small, 2 * small, 20))
            server = ProcfileWeb(
                ROOT,
                server_env(url, args.redis_url),
                workdir / f"candidate-{index}.log",
                overrides=overrides,
                access_log=access_log,
            )
            servers.append(server)
            server.wait_ready(PING_PATH)
            log(f"candidate {label}: {server.describe()}")
            targets.append(Target(label, LoadGenerator("127.0.0.1", server.port), url, seeded))
        measured = measure(targets, params, args.clients, deadline)
    finally:
        for target in targets:
            target.load.close()
        for server in servers:
            server.stop()
        for name in names:
            common.drop_database(args.postgres_url, name)
    return {
        target.label: {
            "command": server.describe(),
            **{key: result[key] for key in ("hot", "spread")},
            "ping_signed_req_per_s": statistics.fmean(
                r["req_per_s"] for r in result["ceiling"]["ping_signed"]
            ),
        }
        for target, server, result in zip(targets, servers, measured, strict=True)
    }


def versus(new: dict, old: dict) -> dict:
    """New over old, per scenario: throughput (higher is better) and latency (lower is better)."""
    out = {}
    for name in ("hot", "spread"):
        out[name] = {
            "req_per_s": common.ratio(new[name]["req_per_s"], old[name]["req_per_s"]),
            "p50_ms": common.ratio(new[name]["p50_ms"], old[name]["p50_ms"]),
            "p99_ms": common.ratio(new[name]["p99_ms"], old[name]["p99_ms"]),
        }
    signed = [statistics.fmean(r["req_per_s"] for r in x["ceiling"]["ping_signed"]) for x in (new, old)]
    out["ceiling_ping_signed"] = common.ratio(signed[0], signed[1])
    return out


def render(data: dict) -> str:
    """The markdown block of bench/README.md for one results file."""
    r, server = data["results"], data["server"]
    ceil = r["ceiling"]
    lines = [
        f"Run of {data['generated_at']} ({'quick' if data['quick'] else 'full'}, {data['run_seconds']} s): "
        f"the Procfile's web line (`{server['procfile_web']}`, nginx in front: "
        f"{'yes' if server.get('nginx_in_front') else 'no'}), {data['parameters']['clients']} client threads; "
        f"{common.machine_line(data['machine'])}.",
        "",
    ]
    rows = []
    for name, label in (
        ("ping_get", "ceiling: `GET /bench/ping` (Flask only)"),
        ("ping_signed", "ceiling: signed `POST /bench/ping` (+ form, signature)"),
        ("duplicate", "duplicate MessageSid (one statement)"),
    ):
        for index, s in enumerate(ceil[name]):
            when = "before" if index == 0 else "after"
            rows.append(
                [f"{label}, {when}", s["requests"], s["req_per_s"], s["p50_ms"], s["p99_ms"], s["errors"], ""]
            )
    for name, label in (("hot", "(a) hot session, all at once"), ("spread", "(b) spread over sessions")):
        s = r[name]
        share = f"{s['share_of_ping_signed']:.0%} of signed ping, {s['share_of_duplicate']:.0%} of duplicate"
        rows.append([label, s["requests"], s["req_per_s"], s["p50_ms"], s["p99_ms"], s["errors"], share])
    base = r.get("baseline")
    if base:
        for name, label in (("hot", "(a) hot session"), ("spread", "(b) spread over sessions")):
            s = base[name]
            share = f"{s['share_of_ping_signed']:.0%} of its signed ping"
            rows.append(
                [f"{label}, baseline {base['commit'][:7]}", s["requests"], s["req_per_s"], s["p50_ms"]]
                + [s["p99_ms"], s["errors"], share]
            )
    header = ["scenario", "requests", "req/s", "p50 ms", "p99 ms", "errors", "share of ceiling"]
    lines += common.md_table(header, rows, [False, True, True, True, True, True, False])
    rows = []
    for s in r["growth"].values():
        vs = "1"
        if "ratio_p50_vs_small" in s:
            vs = f"x{s['ratio_p50_vs_small']} / x{s['ratio_trimmed_mean_vs_small']}"
        rows.append(
            [
                s["code"],
                s["participants_before"],
                s["joins"],
                s["p50_ms"],
                s["p90_ms"],
                s["trimmed_mean_ms"],
                vs,
                s["errors"],
            ]
        )
    header = ["(c) sequential joins over HTTP into", "confirmed before", "joins", "p50 ms", "p90 ms"]
    header += ["trimmed mean ms", "vs smaller (p50 / trimmed mean)", "errors"]
    lines += ["", *common.md_table(header, rows, [False, True, True, True, True, True, False, True])]
    method = r.get("waitlist_method", "in-process, each join rolled back")
    rows = [
        [s["code"], s["participants_before"], s["waiting_before"], s["joins"], s["p50_ms"], s["p90_ms"]]
        + [f"x{s['ratio_p50_vs_none']}" if "ratio_p50_vs_none" in s else "1"]
        for s in r["waitlist"].values()
    ]
    header = [f"(c) waitlist: joins {method}, into", "confirmed before", "waiting before", "joins"]
    header += ["p50 ms", "p90 ms", "vs no waitlist (p50)"]
    lines += ["", *common.md_table(header, rows, [False, True, True, True, True, True, False])]
    integrity = r["integrity"]
    outcomes = {
        name: ", ".join(f"{k} {v}" for k, v in sorted(r[name]["outcomes"].items()))
        for name in ("hot", "spread")
    }
    statements = ", ".join(f"{code} {p['statements']}" for code, p in r["join_plans"].items())
    lines += [""]
    if base:
        vs, old = r["versus_baseline"], base["join_statements"]
        code = base["statements_code"]
        lines.append(
            f"- Against the baseline ({base['commit'][:7]}, same run, same Procfile line, its own database): "
            f"joins/s x{vs['hot']['req_per_s']} hot, x{vs['spread']['req_per_s']} spread; "
            f"p99 x{vs['hot']['p99_ms']} hot, x{vs['spread']['p99_ms']} spread; signed ping "
            f"x{vs['ceiling_ping_signed']}; SQL statements per accepted join into {code}: "
            f"{old.get(code)} before, {r['join_plans'].get(code, {}).get('statements')} now (a new buyer's first "
            f"join); by a known buyer already talking about the session: "
            f"{base['known_buyer_join']['statements']} before, {r['known_buyer_join']['statements']} now. "
            "Baseline integrity: "
            f"{base['integrity']['over_cap_joins']} over a cap, {base['integrity']['counter_mismatches']} "
            "counter mismatches."
        )
    lines.append(
        f"- (a) hot / (b) spread throughput: x{r['hot'].get('ratio_to_spread')}; joins at "
        f"{r['hot']['share_of_ping_signed']:.0%} (hot) and {r['spread']['share_of_ping_signed']:.0%} (spread) "
        "of the signed ping."
    )
    for label, c in r.get("candidates", {}).items():
        lines.append(
            f"- Candidate {label} (own database, measured in turn with the others): hot {c['hot']['req_per_s']} req/s (p99 {c['hot']['p99_ms']} ms), "
            f"spread {c['spread']['req_per_s']} req/s (p99 {c['spread']['p99_ms']} ms), "
            f"signed ping {c['ping_signed_req_per_s']:.0f} req/s."
        )
    lines += [
        f"- (c) SQL statements per accepted join: {statements}.",
        f"- (a) replies: {outcomes['hot']}; confirmed rows in the database {r['hot']['confirmed_in_db']}.",
        f"- (b) replies: {outcomes['spread']}; confirmed rows in the database {r['spread']['confirmed_in_db']}.",
        f"- Integrity: {integrity['sessions_checked']} sessions, {integrity['confirmed_participants']} confirmed "
        f"participants replayed in id order: {integrity['over_cap_joins']} over a cap, "
        f"{integrity['counter_mismatches']} counter mismatches, "
        f"{integrity['session_total_mismatches']} session total mismatches; "
        f"{integrity['outbox_messages']} outbox messages.",
        f"- Server log: {r['server_log']['problem_lines']} error lines.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~20 s smoke run (bench/results/quick/)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", common.DEFAULT_ADMIN_URL),
        help="an existing database on the server, used to create and drop the bench database",
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--clients", type=int, default=16, help="concurrent client threads")
    parser.add_argument(
        "--no-baseline", action="store_true", help=f"skip the baseline commit ({BASELINE_COMMIT}) run"
    )
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="also measure other web settings (threads, access log) on fresh databases, for the Procfile",
    )
    parser.add_argument("--out", type=Path, help="results directory (default bench/results)")
    parser.add_argument("--keep-db", action="store_true", help=f"keep the {DB_NAME} database afterwards")
    args = parser.parse_args(argv)
    params = QUICK if args.quick else FULL
    started = time.monotonic()
    log(f"parameters: {params}")
    url = common.create_database(args.postgres_url, DB_NAME)
    machine = common.machine_facts(url, args.redis_url)
    try:
        with tempfile.TemporaryDirectory(prefix="laku-bench-webhook-") as workdir:
            results, server = run(args, params, url, Path(workdir))
            if args.candidates:
                results["candidates"] = run_candidates(args, params, Path(workdir))
    finally:
        if not args.keep_db:
            common.drop_database(args.postgres_url, DB_NAME)
    machine["load_average_after"] = common.load_average()
    data = {
        "schema_version": SCHEMA_VERSION,
        "benchmark": NAME,
        "generated_at": common.utc_now(),
        "command": "python -m bench.webhook" + (" --quick" if args.quick else ""),
        "quick": args.quick,
        "machine": machine,
        "server": server,
        "parameters": {
            **asdict(params),
            "clients": args.clients,
            "lot_mix": MIX,
            "lead_lots": 2,
            "target_moq": BIG_MOQ,
            "waitlist": "off for HOT, SPREAD and G<n> sessions; on for the W<n> sessions of (c)",
            "seed": SEED,
        },
        "results": results,
        "run_seconds": round(time.monotonic() - started, 1),
    }
    markdown = render(data)
    print(markdown, flush=True)
    path = common.publish(NAME, data, markdown, common.output_dir(args.quick, args.out))
    log(f"wrote {path}")
    errors = sum(run["errors"] for runs in results["ceiling"].values() for run in runs)
    errors += sum(results[name]["errors"] for name in ("hot", "spread"))
    errors += sum(s["errors"] for s in [*results["growth"].values(), *results["waitlist"].values()])
    ok = errors == 0 and results["integrity"]["ok"] and results["hot"]["admin_view"]["all_within_cap"]
    if "baseline" in results:
        ok = ok and results["baseline"]["integrity"]["ok"]
    log(f"{'OK' if ok else 'FAILED'}: {errors} request errors, integrity ok={results['integrity']['ok']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
