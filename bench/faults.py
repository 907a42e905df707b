"""Fault benchmark: the Procfile's web command under a bad day's faults, next to the old one in the same run.

`python -m bench.faults` (`make bench-faults`, about 3 minutes) or `--quick` (about a minute, written to
`bench/results/quick/`); `--configs old,procfile,gthread,gevent` also measures the other candidates.
Needs nginx (Debian's `nginx-light`): the Procfile's web puts it in front of gunicorn.

**Slow clients.** For each configuration (`bench/faults_web.py`: the Procfile's `web` line as committed,
and the old sync line as the in-run baseline), on PostgreSQL with Redis:

1. start it as a deployment does; wait for `GET /healthz`;
2. capacity: the same signed webhooks from 16 keep-alive clients as fast as it answers (closed loop, from
   `bench/http_load.py`), so a configuration that holds is not bought with throughput;
3. for 0, 8, 32 and 64 slow connections (`bench/faults_load.py`: each trickles a webhook request one byte
   a second and never finishes it; one the server drops is reopened at once), send signed WhatsApp
   webhooks (`INFO` and `IKUT` from new buyers) at a fixed rate from another process, and time each one
   from its scheduled send time; an answer later than Twilio's 15 s, or none, is an error;
4. after each level, close the slow connections and time how long until a signed webhook is answered
   within a second again (recovery).

A level **held** when every webhook was answered 200 within 15 s and p99 < 1 s. The exit status is 1 when
the Procfile's configuration did not hold at every level.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import common
from bench.faults_load import FaultClients, Phase, PhaseResult
from bench.faults_web import CONFIGS, DESCRIPTIONS, WebFrontDoor, nginx_available
from bench.http_load import LoadGenerator, Request
from bench.webhook_data import phone
from bench.webhook_scenarios import server_env, whatsapp
from core import catalog

NAME = "faults"
SCHEMA_VERSION = 1
DB_NAME = "laku_bench_faults"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
TWILIO_TIMEOUT = 15.0
TARGET_P99 = 1.0
SIZES = ("S", "M", "L", "XL")
log = common.logger(NAME)


@dataclass(frozen=True)
class Params:
    slow_levels: tuple[int, ...]
    seconds_per_level: float
    rate: float  # signed webhooks per second (each level's webhooks may all be outstanding at once)
    capacity_requests: int  # closed loop, CAPACITY_CLIENTS at once


FULL = Params((0, 8, 32, 64), 10.0, 10.0, 1200)
QUICK = Params((0, 8, 64), 4.0, 10.0, 300)
CAPACITY_CLIENTS = 16
_buyers = itertools.count(1)


def seed(url: str) -> None:
    """One factory, a four-size product (4 of each per lot) and session GB1 with a minimum out of reach."""
    import datetime as _dt

    with common.sessions(url).begin() as db:
        factory = catalog.create_factory(db, name="Konveksi Faults", phone="+6281100000002", address="Solo")
        product = catalog.create_product(
            db,
            factory_id=factory.id,
            name="Kaos Faults",
            sku="FAULTS",
            price=45_000,
            variants=[catalog.VariantSpec(size, f"FAULTS-{size}", 4) for size in SIZES],
            grosir_unit_size=16,
        )
        ends = _dt.datetime.now(_dt.UTC) + _dt.timedelta(hours=6)
        catalog.create_session(db, product_id=product.id, target_moq=1_000_000, ends_at=ends, code="GB1")


def webhooks(count: int, tag: str) -> list[Request]:
    """Alternately `INFO GB1` and a one-unit join in rotating sizes (so no size locks), each from a new
    buyer with a new MessageSid: every one is a real, signed, stored message."""
    made = []
    for n in range(count):
        number = phone(857, next(_buyers))
        body = "INFO GB1" if n % 2 == 0 else f"IKUT GB1 {SIZES[(n // 2) % len(SIZES)]} 1"
        made.append(whatsapp(number, body, tag=tag))
    return made


def until_answered_fast(port: int, limit: float = 45.0) -> float | None:
    """Seconds until a signed webhook is answered 200 within TARGET_P99 again (None: not within `limit`)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        request = webhooks(1, "recovery")[0]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TARGET_P99)
        try:
            connection.request(request.method, request.path, body=request.body, headers=request.headers)
            if connection.getresponse().status == 200:
                return round(time.monotonic() - started, 2)
        except (OSError, http.client.HTTPException):
            time.sleep(0.2)
        finally:
            connection.close()
    return None


def summarise(slow: int, result: PhaseResult) -> dict:
    seconds = sorted(
        p.seconds if 200 <= p.status < 300 and p.seconds <= TWILIO_TIMEOUT else float("inf")
        for p in result.probes
    )
    errors = sum(s == float("inf") for s in seconds)
    kinds: dict[str, int] = {}
    for probe in result.probes:
        if not (200 <= probe.status < 300 and probe.seconds <= TWILIO_TIMEOUT):
            key = probe.error.split(":")[0] if probe.error else f"HTTP {probe.status}"
            key = "later than 15 s" if 200 <= probe.status < 300 else key
            kinds[key] = kinds.get(key, 0) + 1

    def ms(q: float) -> float | None:
        value = common.percentile(seconds, q)
        return None if value == float("inf") else round(value * 1000, 1)

    p99 = ms(99)
    return {
        "slow_connections": slow,
        "webhooks": len(seconds),
        "errors": errors,
        "error_kinds": kinds,
        "p50_ms": ms(50),
        "p99_ms": p99,
        "max_ms": ms(100),
        "slow_opened": result.slow_opened,
        "slow_dropped_by_server": result.slow_answered,
        "held": errors == 0 and p99 is not None and p99 < TARGET_P99 * 1000,
    }


def measure_capacity(port: int, requests: int) -> dict:
    load = LoadGenerator("127.0.0.1", port)
    try:
        result = load.run(webhooks(requests, "capacity"), CAPACITY_CLIENTS, deadline_seconds=120)
    finally:
        load.close()
    answered = [o.seconds for o in result.outcomes if o.status == 200]
    return {
        "clients": CAPACITY_CLIENTS,
        "requests": requests,
        "errors": requests - len(answered),
        "req_per_s": round(requests / result.wall_seconds, 1) if result.wall_seconds else None,
        "p50_ms": round(common.percentile(answered, 50) * 1000, 1) if answered else None,
        "p99_ms": round(common.percentile(answered, 99) * 1000, 1) if answered else None,
    }


def run_config(config: str, params: Params, env: dict[str, str], workdir: Path) -> dict:
    server = WebFrontDoor(config, env, workdir)
    clients = None
    levels = []
    try:
        started_in = server.wait_ready()
        log(f"{config}: up in {started_in:.1f} s: {server.command}")
        clients = FaultClients("127.0.0.1", server.port)
        clients.run(Phase(0, webhooks(20, "warm"), 20.0, 4, TWILIO_TIMEOUT))  # every worker's first requests
        capacity = measure_capacity(server.port, params.capacity_requests)
        log(f"{config}: capacity {capacity['req_per_s']} webhooks/s, p99 {capacity['p99_ms']} ms")
        for slow in params.slow_levels:
            count = int(params.seconds_per_level * params.rate)
            phase = Phase(slow, webhooks(count, f"slow-{slow}"), params.rate, count, TWILIO_TIMEOUT)
            level = summarise(slow, clients.run(phase))
            level["recovery_s"] = until_answered_fast(server.port) if slow else None
            log(
                f"{config}: {slow:>2} slow: {level['errors']}/{level['webhooks']} errors, "
                f"p50 {level['p50_ms']} ms, p99 {level['p99_ms']} ms, recovered in {level['recovery_s']} s"
            )
            levels.append(level)
    finally:
        if clients is not None:
            clients.close()
        server.stop()
    return {
        "description": DESCRIPTIONS[config],
        "command": server.command,
        "capacity": capacity,
        "levels": levels,
        "held_everywhere": all(level["held"] for level in levels),
        "server_log": server.log_counts(),
    }


# ---------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return f"≥ {TWILIO_TIMEOUT * 1000:,.0f}" if value is None else f"{value:,.0f}"


def _level_line(level: dict) -> str:
    return (
        f"{level['slow_connections']} slow: p99 {_ms(level['p99_ms'])} ms, "
        f"{level['errors']}/{level['webhooks']} errors"
    )


def render(data: dict) -> str:
    configs = data["results"]["slow_clients"]
    procfile = configs["procfile"]
    worst = max(data["parameters"]["slow_levels"])
    lines = [
        f"Run of {data['generated_at']} ({'quick' if data['quick'] else 'full'}, {data['run_seconds']} s); "
        f"{common.machine_line(data['machine'])}.",
        "",
        "**The slow-client fault, measured** (its row in the table of faults above).",
        "",
        *common.md_table(
            ["fault", "before (old Procfile web)", "now (Procfile web)", "held"],
            [
                [
                    f"{worst} connections sending a webhook request 1 byte/s (slowloris), signed webhooks "
                    f"at {data['parameters']['rate']:g}/s meanwhile",
                    _level_line(configs["old"]["levels"][-1]) if "old" in configs else "not run",
                    _level_line(procfile["levels"][-1]),
                    "yes" if procfile["held_everywhere"] else "**no**",
                ]
            ],
            right=[False, False, False, False],
        ),
        "",
        f"**Slow clients**: signed webhooks (half `INFO`, half one-unit joins, each from a new buyer) at "
        f"{data['parameters']['rate']:g}/s for {data['parameters']['seconds_per_level']:g} s per level, "
        f"timed from their scheduled send time; an answer after {TWILIO_TIMEOUT:g} s (Twilio's limit) or "
        f"none is an error. Held = no error and p99 < {TARGET_P99 * 1000:,.0f} ms. Recovery = seconds "
        "after the slow connections closed until a webhook is answered within 1 s again.",
        "",
        *common.md_table(
            [
                "configuration",
                "slow conns",
                "webhooks",
                "errors",
                "p50 ms",
                "p99 ms",
                "max ms",
                "recovery s",
                "held",
            ],
            [
                [
                    result["description"],
                    level["slow_connections"],
                    level["webhooks"],
                    level["errors"],
                    _ms(level["p50_ms"]),
                    _ms(level["p99_ms"]),
                    _ms(level["max_ms"]),
                    "–"
                    if level["recovery_s"] is None and not level["slow_connections"]
                    else common.fmt(level["recovery_s"], 1)
                    if level["recovery_s"] is not None
                    else "> 45",
                    "yes" if level["held"] else "no",
                ]
                for result in configs.values()
                for level in result["levels"]
            ],
            right=[False, True, True, True, True, True, True, True, False],
        ),  # fmt: skip
        "",
        "",
        f"**Capacity** (no slow clients): the same webhooks from {CAPACITY_CLIENTS} keep-alive clients, "
        "each sending the next as soon as the last is answered.",
        "",
        *common.md_table(
            ["configuration", "webhooks", "errors", "webhooks/s", "p50 ms", "p99 ms", "vs old"],
            [
                [
                    result["description"],
                    result["capacity"]["requests"],
                    result["capacity"]["errors"],
                    common.fmt(result["capacity"]["req_per_s"], 1),
                    common.fmt(result["capacity"]["p50_ms"], 1),
                    common.fmt(result["capacity"]["p99_ms"], 1),
                    common.fmt(
                        common.ratio(
                            result["capacity"]["req_per_s"],
                            configs.get("old", {}).get("capacity", {}).get("req_per_s"),
                        ),
                        2,
                        "x",
                    ),
                ]
                for result in configs.values()
            ],
        ),
        "",
        "Commands: " + "; ".join(f"{r['description']}: `{r['command']}`" for r in configs.values()) + ".",
        "Worker timeouts in the server logs: "
        + ", ".join(f"{name} {r['server_log']['worker_timeouts']}" for name, r in configs.items())
        + ".",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~1 min smoke run (bench/results/quick/)")
    parser.add_argument(
        "--configs",
        default="old,procfile",
        help=f"comma-separated, of {', '.join(CONFIGS)} (gevent needs `pip install gevent`); procfile is required",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", common.DEFAULT_ADMIN_URL),
        help="an existing database, used to create and drop the benchmark's own",
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--out", type=Path, help="results directory (default bench/results)")
    parser.add_argument("--keep-db", action="store_true", help=f"keep the {DB_NAME} database afterwards")
    args = parser.parse_args(argv)
    params = QUICK if args.quick else FULL
    configs = [name.strip() for name in args.configs.split(",") if name.strip()]
    if "procfile" not in configs or not set(configs) <= set(CONFIGS):
        parser.error(f"--configs: procfile and any of {', '.join(CONFIGS)}")
    if not nginx_available():
        parser.error(
            "no nginx on the PATH, so the Procfile's web would run without its proxy (apt-get install nginx-light)"
        )
    started = time.monotonic()
    url = common.create_database(args.postgres_url, DB_NAME)
    results: dict = {"slow_clients": {}}
    try:
        seed(url)
        facts = common.machine_facts(url, args.redis_url)
        env = server_env(url, args.redis_url)
        with tempfile.TemporaryDirectory(prefix="laku-bench-faults-") as tmp:
            workdir = Path(tmp)
            for config in configs:
                results["slow_clients"][config] = run_config(config, params, env, workdir)
    finally:
        if not args.keep_db:
            common.drop_database(args.postgres_url, DB_NAME)
    report = {
        "benchmark": NAME,
        "schema_version": SCHEMA_VERSION,
        "generated_at": common.utc_now(),
        "quick": args.quick,
        "run_seconds": round(time.monotonic() - started),
        "parameters": {**params.__dict__, "twilio_timeout_s": TWILIO_TIMEOUT, "target_p99_s": TARGET_P99,
                       "configs": configs},
        "machine": facts,
        "results": results,
    }  # fmt: skip
    path = common.publish(NAME, report, render(report), common.output_dir(args.quick, args.out))
    log(f"wrote {path}")
    held = results["slow_clients"]["procfile"]["held_everywhere"]
    if not held:
        print("the Procfile's web command did not hold every level", file=sys.stderr)
    return 0 if held else 1


if __name__ == "__main__":
    raise SystemExit(main())
