"""Expiry benchmark: real RQ workers close due sessions (SPEC section 6), with one worker and with two.

`python -m bench.expiry` runs the **main** section (1,000 and 10,000 due sessions, 1 and 2 workers; under
six minutes); `--experiments` runs the **experiments** section (a hot catalogue where both workers lock
the same inventory rows, the proposed changes emulated, an in-process statement profile; about 3
minutes); each writes its section of `bench/results/expiry.json` (keeping the other) and the table in
`bench/expiry.md`. `--quick` is a smoke run of both with tiny sizes, written only to
`bench/results/quick/expiry.json` (git-ignored). See `bench/expiry.md`.

Per run (scenario x size x workers x what-if):

1. The benchmark's own database (`laku_bench_expiry`, created and migrated with `alembic upgrade head`
   once per command, dropped at the end) is emptied (TRUNCATE ... RESTART IDENTITY) and seeded: a factory
   and products (lot mix 2/5/4/1) through `core.catalog`, then in bulk buyers with distinct phones, due
   sessions (`ends_at` in the past) with 2-4 buyers each (a fifth of them joining twice, for two sizes),
   their participants and counters (`SessionVariantCounter` and `GroupSession.ordered_units` equal the
   participant sums). Sessions are a seeded shuffle of three outcomes: MOQ missed (30 %, `failed`), served
   from stock (35 %, on stocked products whose inventory covers every size of every such session:
   `orders_created`) and purchase orders (35 %, on products without stock: `pending_stock`). Same seed,
   same data for the 1- and 2-worker runs of a size.
2. N `rq worker -c jobs.rq_settings` processes (DATABASE_URL / REDIS_URL in their environment; Redis DB 14
   by default, flushed before every run) listen on a queue of their own. Once all are registered and
   idle, N sweep jobs are enqueued at once, one per worker. The sweep (`jobs.expiry.sweep_expired_sessions`,
   timed by the wrapper in `bench/expiry_job.py`) loops until nothing is claimable, so N jobs keep N
   workers busy until every session is closed, as overlapping cron runs would. Sessions every worker left
   for later (a deadlock, say) get one more, untimed sweep job: the next cron tick.
3. Send jobs are never run: the sweep hands each committed outbox row to RQ (`send-<id>` in the `default`
   queue of the benchmark's Redis DB), where no worker listens. Messages are counted as outbox rows and
   as send jobs, not as Twilio calls.
4. Checks: no session still due; every session closed exactly once (the sweep results of the jobs are
   disjoint and cover every session, each with its planned outcome); one purchase order per PO session
   with `k = max_v ceil(d_v / a_v)` lots of `k * a_v` units per size and `grosir_units_needed = k`; one
   order per participant of the stock sessions; inventory reserved exactly the stock sessions' demand;
   outbox rows = the count computed from the data (one per buyer and session, plus one factory message
   per PO), idempotency keys unique, each row still queued, and one RQ send job per row.

The main section also times the claim query alone at each size (as is, with the sweep's exclude list at
its longest, with the proposed partial index).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, insert, text

from bench import database

ROOT = Path(__file__).resolve().parent.parent
RESULTS_JSON = ROOT / "bench" / "results" / "expiry.json"
QUICK_JSON = ROOT / "bench" / "results" / "quick" / "expiry.json"
REPORT_MD = ROOT / "bench" / "expiry.md"
APP_ROOT = ROOT  # where migrations and the workers' code come from (--app-root)
MIGRATED_DUE_INDEX = False  # the migrations already made the proposed index (an --app-root with it applied)
TABLE_START, TABLE_END = "<!-- results:start -->", "<!-- results:end -->"
SCHEMA_VERSION = 1
SEED = 20240611

DB_NAME = "laku_bench_expiry"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
BENCH_QUEUE = "bench-expiry"
TIMED_JOB = "bench.expiry_job.timed_sweep"
PLAIN_JOB = "jobs.expiry.sweep_expired_sessions"
SWEEP_JOB_TIMEOUT = 300  # what jobs/cron.py gives the sweep: max(EXPIRY_SWEEP_SECONDS=60, 60) * 5
SWEEP_BATCH = 20  # sweep_due_sessions' default batch_size, which jobs.expiry uses

MIX = {"S": 2, "M": 5, "L": 4, "XL": 1}
SIZES = tuple(MIX)
OUTCOMES = ("failed", "orders_created", "pending_stock")
OUTCOME_SHARES = {"failed": 0.30, "orders_created": 0.35, "pending_stock": 0.35}
SPARE_UNITS = 5  # free units per size left over after every stock session is served
PRICE = 45_000
EN_SHARE = 0.2
ADDRESS_SHARE = 0.7
SECOND_JOIN_SHARE = 0.2


@dataclass(frozen=True)
class Params:
    sizes: tuple[int, ...]  # main scenario, due sessions: the first is the small size, the last the large
    products: int  # main scenario: stocked products, and as many without stock
    workers: tuple[int, ...]
    extra_repetitions: int  # full mode: more (reversed-order) pairs of the small size, if time is left
    hot_sessions: int  # experiments: few products, so both workers lock the same inventory rows
    hot_products: int
    fixes_sessions: int  # experiments: the main scenario as is and with the proposed changes emulated
    buyers_per_session: tuple[int, int]
    profile_sessions: int  # experiments: per in-process profile run (A B A B: as is / cacheable insert)
    profile_large_sessions: int
    profile_large_buyers: tuple[int, int]
    claim_samples: int
    deadline_seconds: float  # the whole command, database creation and drop included
    smoke: bool = False  # experiments: only the hot scenario with 2 workers, as is and with every change
    experiment_repetitions: int = 2  # experiments: later repetitions run only if time is left


FULL = Params(
    sizes=(1000, 10_000),
    products=50,
    workers=(1, 2),
    extra_repetitions=2,
    hot_sessions=500,
    hot_products=10,
    fixes_sessions=1000,
    buyers_per_session=(2, 4),
    profile_sessions=150,
    profile_large_sessions=30,
    profile_large_buyers=(24, 32),
    claim_samples=11,
    deadline_seconds=345,
)
QUICK = Params(
    sizes=(100, 200),
    products=50,
    workers=(1, 2),
    extra_repetitions=0,
    hot_sessions=100,
    hot_products=10,
    fixes_sessions=100,
    buyers_per_session=(2, 4),
    profile_sessions=20,
    profile_large_sessions=3,
    profile_large_buyers=(24, 32),
    claim_samples=3,
    deadline_seconds=60,
    smoke=True,
    experiment_repetitions=1,
)
# The changes proposed in bench/expiry.md, emulated in what-if runs (see bench/expiry_job.py).
FIXES = ("exclude-failed", "sorted-batch", "cached-insert", "partial-index")
PROPOSED_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_sessions_due_ends_at ON sessions (ends_at, id) "
    "WHERE status IN ('forming', 'moq_reached')"
)


@dataclass(frozen=True)
class RunSpec:
    scenario: str  # main | hot
    sessions: int
    products: int
    workers: int
    rep: int
    what_if: tuple[str, ...] = ()
    essential: bool = False

    @property
    def group(self) -> str:
        fixes = " +" + "+".join(self.what_if) if self.what_if else ""
        return f"{self.scenario} {self.sessions} {self.workers}w{fixes}"

    @property
    def label(self) -> str:
        return f"{self.group} rep {self.rep}"


def schedule(params: Params, section: str) -> list[RunSpec]:
    """`main`: the 1- and 2-worker runs at both sizes (essential; the large size first, while the time
    budget is fresh), then more pairs of the small size in reversed order if time is left.
    `experiments`: the hot scenario (as is, sorted batches, every fix) and the main scenario's small size
    as is and with every fix, alternating so machine noise hits both alike."""
    lo, hi = min(params.workers), max(params.workers)
    if section == "main":
        runs = [
            RunSpec("main", size, params.products, w, 1, essential=True)
            for size in reversed(params.sizes)
            for w in params.workers
        ]
        for rep in range(2, 2 + params.extra_repetitions):
            order = params.workers if rep % 2 else tuple(reversed(params.workers))
            runs += [RunSpec("main", params.sizes[0], params.products, w, rep) for w in order]
        return runs
    hot = params.hot_sessions, params.hot_products
    main = params.fixes_sessions, params.products
    if params.smoke:
        return [
            RunSpec("hot", *hot, hi, 1, essential=True),
            RunSpec("hot", *hot, hi, 1, FIXES, essential=True),
        ]
    specs: list[RunSpec] = []
    for rep in range(1, params.experiment_repetitions + 1):
        first = rep == 1  # the first repetition always runs; later ones if time is left
        pairs = [
            (RunSpec("hot", *hot, lo, rep, essential=first), RunSpec("hot", *hot, hi, rep, essential=first)),
            (
                RunSpec("hot", *hot, hi, rep, ("sorted-batch",), essential=first),
                RunSpec("hot", *hot, hi, rep, FIXES, essential=first),
            ),
            (
                RunSpec("main", *main, lo, rep, essential=first),
                RunSpec("main", *main, lo, rep, FIXES, essential=first),
            ),
            (
                RunSpec("main", *main, hi, rep, essential=first),
                RunSpec("main", *main, hi, rep, FIXES, essential=first),
            ),
        ]
        for pair in pairs:
            specs += pair if rep % 2 else pair[::-1]  # alternate which side of a pair runs first
    return specs


def log(message: str) -> None:
    print(f"[bench.expiry {time.strftime('%H:%M:%S')}] {message}", flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rnd(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


# ---------------------------------------------------------------------------------------------------------
# The data: planned in memory (so the expected result is known), inserted in bulk
# ---------------------------------------------------------------------------------------------------------


@dataclass
class SessionPlan:
    code: str
    outcome: str
    product: str
    joins: list[tuple[int, str, int]]  # (buyer index, size, quantity)
    target_moq: int
    ended_seconds_ago: float

    @property
    def units(self) -> int:
        return sum(q for _, _, q in self.joins)

    def demand(self) -> dict[str, int]:
        d: Counter[str] = Counter()
        for _, size, q in self.joins:
            d[size] += q
        return dict(d)

    @property
    def buyers(self) -> int:
        return len({b for b, _, _ in self.joins})

    def lots(self) -> int:
        """SPEC 6 with no stock: k = max_v ceil(d_v / a_v) (re-derived here, not taken from core)."""
        return max(math.ceil(units / MIX[size]) for size, units in self.demand().items())


@dataclass
class Plan:
    sessions: list[SessionPlan]
    buyers: int
    languages: list[str]
    addresses: list[str | None]
    stock_products: list[str]
    po_products: list[str]

    def expected(self) -> dict[str, Any]:
        by_outcome = Counter(s.outcome for s in self.sessions)
        messages: Counter[str] = Counter()
        per_session_messages = {}
        for s in self.sessions:
            kind = {"failed": "session_failed", "orders_created": "order_created"}.get(
                s.outcome, "waiting_for_stock"
            )
            messages[kind] += s.buyers
            per_session_messages[s.code] = s.buyers + (s.outcome == "pending_stock")
            if s.outcome == "pending_stock":
                messages["factory_po"] += 1
        reserved: Counter[str] = Counter()
        for s in self.sessions:
            if s.outcome == "orders_created":
                for size, units in s.demand().items():
                    reserved[f"{s.product}-{size}"] += units
        return {
            "sessions": len(self.sessions),
            "by_outcome": dict(by_outcome),
            "participants": sum(len(s.joins) for s in self.sessions),
            "orders": sum(len(s.joins) for s in self.sessions if s.outcome == "orders_created"),
            "purchase_orders": by_outcome["pending_stock"],
            "messages": sum(messages.values()),
            "messages_by_kind": dict(messages),
            "per_session_messages": per_session_messages,
            "reserved": dict(reserved),
        }


def plan_sessions(
    count: int, seed: int, buyers_per_session: tuple[int, int], products_per_kind: int, tag: str = ""
) -> Plan:
    rng = random.Random(f"laku-expiry-bench|{seed}|{count}|{buyers_per_session}|{products_per_kind}|{tag}")
    stock_products = [f"STOCK{n:03d}" for n in range(1, products_per_kind + 1)]
    po_products = [f"PO{n:03d}" for n in range(1, products_per_kind + 1)]
    shares = [(o, round(count * OUTCOME_SHARES[o])) for o in OUTCOMES[1:]]
    outcomes = [o for o, n in shares for _ in range(n)]
    outcomes += ["failed"] * (count - len(outcomes))
    rng.shuffle(outcomes)
    buyers = max(3 * count, 10 * buyers_per_session[1])
    size_weights = list(MIX.values())
    sessions = []
    for n, outcome in enumerate(outcomes, 1):
        who = rng.sample(range(buyers), rng.randint(*buyers_per_session))
        joins = []
        for buyer in who:
            first = rng.choices(SIZES, size_weights)[0]
            joins.append((buyer, first, rng.randint(1, 3)))
            if rng.random() < SECOND_JOIN_SHARE:
                second = rng.choice([s for s in SIZES if s != first])
                joins.append((buyer, second, rng.randint(1, 3)))
        units = sum(q for _, _, q in joins)
        if outcome == "failed":
            target = units + rng.randint(1, 12)
            product = rng.choice(stock_products + po_products)
        else:
            target = rng.randint(max(1, units // 2), units)
            product = rng.choice(stock_products if outcome == "orders_created" else po_products)
        sessions.append(SessionPlan(f"EX{n:05d}", outcome, product, joins, target, rng.uniform(60, 6 * 3600)))
    languages = ["en" if rng.random() < EN_SHARE else "id" for _ in range(buyers)]
    addresses = [
        f"Jl. Bench No. {b + 1}, Bandung" if rng.random() < ADDRESS_SHARE else None for b in range(buyers)
    ]
    return Plan(sessions, buyers, languages, addresses, stock_products, po_products)


def phone(n: int) -> str:
    """Distinct Indonesian mobile numbers: +62 812 followed by 8 digits."""
    return f"+62812{10_000_000 + n:08d}"


def reset(url: str) -> None:
    from core.models import Base

    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE TABLE {tables} RESTART IDENTITY CASCADE"))
        if not MIGRATED_DUE_INDEX:
            connection.execute(text("DROP INDEX IF EXISTS ix_sessions_due_ends_at"))  # a what-if run's
    engine.dispose()


def seed(url: str, plan: Plan) -> None:
    """Factory and products through `core.catalog`; buyers, sessions, participants, counters in bulk."""
    from core import catalog
    from core.catalog import VariantSpec
    from core.clock import now
    from core.db import session_factory, transaction
    from core.models import (
        Buyer,
        GroupSession,
        Participant,
        SessionStatus,
        SessionVariantCounter,
        WarehouseInventory,
    )

    factory = session_factory(url)
    stamp = now()
    stock_products, po_products = plan.stock_products, plan.po_products
    with transaction(factory) as db:
        maker = catalog.create_factory(db, name="Konveksi Bench", phone="+6281100000001", address="Bandung")
        products: dict[str, tuple[int, dict[str, int]]] = {}
        for key in stock_products + po_products:
            product = catalog.create_product(
                db,
                factory_id=maker.id,
                name=f"Kaos {key.title()}",
                sku=f"EXB-{key}",
                price=PRICE,
                variants=[VariantSpec(size, f"{key}-{size}", units) for size, units in MIX.items()],
                grosir_unit_size=sum(MIX.values()),
            )
            products[key] = (product.id, {v.size: v.id for v in product.variants})
        # Core executemany with explicit ids (the tables were just emptied with RESTART IDENTITY): the ORM's
        # bulk INSERT ... RETURNING is quadratic in the row count here (90 s for 10,000 sessions).
        buyer_ids = list(range(1, plan.buyers + 1))
        db.execute(
            insert(Buyer.__table__),
            [
                {
                    "id": buyer_ids[b],
                    "phone": phone(b),
                    "name": f"Pembeli {b}",
                    "language": plan.languages[b],
                    "address": plan.addresses[b],
                    "created_at": stamp,
                }
                for b in range(plan.buyers)
            ],
        )
        session_rows = []
        for n, s in enumerate(plan.sessions, 1):
            ends = stamp - timedelta(seconds=s.ended_seconds_ago)
            reached = s.units >= s.target_moq
            session_rows.append(
                {
                    "id": n,
                    "code": s.code,
                    "product_id": products[s.product][0],
                    "status": SessionStatus.MOQ_REACHED if reached else SessionStatus.FORMING,
                    "target_moq": s.target_moq,
                    "price": PRICE,
                    "ordered_units": s.units,
                    "starts_at": ends - timedelta(days=2),
                    "ends_at": ends,
                    "moq_reached_at": ends - timedelta(hours=1) if reached else None,
                    "factory_whatsapp_sent": False,
                    "created_at": ends - timedelta(days=2),
                }
            )
        db.execute(insert(GroupSession.__table__), session_rows)
        session_ids = [row["id"] for row in session_rows]
        for table in ("buyers", "sessions"):
            db.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            )
        participants, counters = [], []
        for s, session_id, row in zip(plan.sessions, session_ids, session_rows, strict=True):
            variants = products[s.product][1]
            for n, (buyer, size, quantity) in enumerate(s.joins):
                at = row["starts_at"] + timedelta(minutes=n + 1)
                participants.append(
                    {
                        "session_id": session_id,
                        "buyer_id": buyer_ids[buyer],
                        "variant_id": variants[size],
                        "quantity": quantity,
                        "unit_price": PRICE,
                        "total": quantity * PRICE,
                        "status": "confirmed",
                        "requested_at": at,
                        "joined_at": at,
                    }
                )
            for size, units in s.demand().items():
                counters.append(
                    {
                        "session_id": session_id,
                        "variant_id": variants[size],
                        "ordered_units": units,
                        "waiting_units": 0,
                    }
                )
        db.execute(insert(Participant.__table__), participants)
        db.execute(insert(SessionVariantCounter.__table__), counters)
        reserved = plan.expected()["reserved"]
        for key in stock_products:
            for size, variant_id in products[key][1].items():
                db.query(WarehouseInventory).filter(WarehouseInventory.variant_id == variant_id).update(
                    {"on_hand": reserved.get(f"{key}-{size}", 0) + SPARE_UNITS}, synchronize_session=False
                )


def maintenance(url: str) -> None:
    """VACUUM ANALYZE and a CHECKPOINT, so every timed run starts from the same state."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("VACUUM ANALYZE"))
        connection.execute(text("CHECKPOINT"))
    engine.dispose()


# ---------------------------------------------------------------------------------------------------------
# Database and machine
# ---------------------------------------------------------------------------------------------------------


def create_database(admin_url: str) -> str:
    global MIGRATED_DUE_INDEX
    url = database.create_database(admin_url, DB_NAME, APP_ROOT)
    engine = create_engine(url)
    with engine.connect() as connection:
        MIGRATED_DUE_INDEX = bool(
            connection.execute(
                text("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_sessions_due_ends_at'")
            ).first()
        )
    engine.dispose()
    return url


def drop_database(admin_url: str) -> None:
    database.drop_database(admin_url, DB_NAME)


def machine(url: str, redis_url: str) -> dict:
    import psycopg
    import rq
    import sqlalchemy
    from redis import Redis

    engine = create_engine(url)
    with engine.connect() as connection:
        pg = connection.execute(text("SHOW server_version")).scalar()
        settings = {
            name: connection.execute(text(f"SHOW {name}")).scalar()
            for name in ("shared_buffers", "synchronous_commit", "fsync", "max_connections")
        }
    engine.dispose()
    connection = Redis.from_url(redis_url)
    redis_version = connection.info("server")["redis_version"]
    connection.close()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": pg,
        "postgresql_settings": settings,
        "redis": redis_version,
        "rq": rq.__version__ if hasattr(rq, "__version__") else rq.VERSION,
        "sqlalchemy": sqlalchemy.__version__,
        "psycopg": psycopg.__version__,
        "loadavg_at_start": os.getloadavg(),
        "code": code_version(),
    }


def code_version() -> dict:
    """The commit the workers ran, and whether core/, jobs/ or migrations/ differed from it."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=APP_ROOT, capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "app_root": str(APP_ROOT),
        "migrated_due_index": MIGRATED_DUE_INDEX,
        "commit": git("rev-parse", "HEAD") or None,
        "app_changes_not_committed": bool(git("status", "--porcelain", "--", "core", "jobs", "migrations")),
    }


def cpu_times() -> tuple[int, int, int]:
    """(busy, total, steal) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    steal = values[7] if len(values) > 7 else 0
    return sum(values) - idle, sum(values), steal


def process_cpu(pid: int) -> tuple[float, float] | None:
    """(own, reaped children) CPU seconds of a process, from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


# ---------------------------------------------------------------------------------------------------------
# The claim query alone
# ---------------------------------------------------------------------------------------------------------


def claim_microbench(url: str, size: int, samples: int) -> dict:
    """`claim_due_sessions` with everything due, in transactions rolled back: without an exclude list, with
    one as long as the sweep's at its end (`size` ids; none matches, like the ids of closed sessions), and
    with the proposed partial index (created, measured, dropped)."""
    from core.clock import now
    from core.db import session_factory
    from core.fulfilment import claim_due_sessions

    factory = session_factory(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE sessions"))  # as the timed runs will see it
    at = now()
    result: dict[str, Any] = {"due": size}

    def measure(exclude: list[int]) -> float:
        timings = []
        for _ in range(samples):
            with factory() as db:
                started = time.perf_counter()
                claimed = claim_due_sessions(db, at, SWEEP_BATCH, exclude=exclude)
                timings.append(time.perf_counter() - started)
                assert len(claimed) == min(SWEEP_BATCH, size)
                db.rollback()
        return rnd(median(timings) * 1000)

    def plan() -> list[str]:
        with factory() as db:
            lines = db.execute(
                text(
                    "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT * FROM sessions "
                    "WHERE status IN ('forming', 'moq_reached') AND ends_at <= now() "
                    f"ORDER BY ends_at, id LIMIT {SWEEP_BATCH} FOR UPDATE SKIP LOCKED"
                )
            ).scalars()
            out = [line for line in lines]
            db.rollback()
        return out

    result["no_exclude_ms"] = measure([])
    result["exclude_all_closed_ms"] = measure(list(range(10**8, 10**8 + size)))
    result["plan"] = plan()
    with engine.begin() as connection:
        connection.execute(text(PROPOSED_INDEX))
        connection.execute(text("ANALYZE sessions"))
    result["partial_index_ms"] = measure([])
    result["partial_index_plan"] = plan()
    if not MIGRATED_DUE_INDEX:
        with engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_sessions_due_ends_at"))
    engine.dispose()
    return result


# ---------------------------------------------------------------------------------------------------------
# One timed run: N RQ workers, N sweep jobs
# ---------------------------------------------------------------------------------------------------------


def worker_env(url: str, redis_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TWILIO_") and k not in ("WAREHOUSE_SERVICE_URL", "ADMIN_WHATSAPP")
    }
    env.update(DATABASE_URL=url, REDIS_URL=redis_url, PYTHONPATH=str(APP_ROOT), PYTHONUNBUFFERED="1")
    return env


def start_workers(
    url: str, redis_url: str, count: int, tag: str, logdir: Path, what_if: tuple[str, ...] = ()
) -> list[subprocess.Popen]:
    from bench.expiry_job import WHAT_IF_ENV

    rq_bin = str(Path(sys.executable).with_name("rq"))
    env = {**worker_env(url, redis_url), WHAT_IF_ENV: ",".join(what_if)}
    procs = []
    for n in range(count):
        log_file = open(logdir / f"{tag}-w{n + 1}.log", "wb")  # noqa: SIM115 - closed with the process
        procs.append(
            subprocess.Popen(
                [rq_bin, "worker", "-c", "jobs.rq_settings", "--name", f"{tag}-w{n + 1}", BENCH_QUEUE],
                cwd=APP_ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log_file.close()
    return procs


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def stop_workers(procs: list[subprocess.Popen]) -> None:
    """Warm shutdown (idle workers exit at once); a worker still busy after 15 s (a run that timed out) is
    killed, and so is its work horse (the horses are these workers' own children)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            horses = children(proc.pid)  # read while the worker is alive: its own children, nothing else
            proc.kill()
            for pid in horses:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait(timeout=5)


def wait_until_idle(connection, names: set[str], timeout: float) -> None:
    from rq import Queue, Worker

    queue = Queue(BENCH_QUEUE, connection=connection)
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        workers = {w.name: w for w in Worker.all(connection=connection, queue=queue)}
        if names <= set(workers) and all(workers[n].get_state() == "idle" for n in names):
            return
        time.sleep(0.05)
    raise TimeoutError(f"RQ workers {sorted(names)} not idle after {timeout} s")


class ActivitySampler:
    """Polls pg_stat_activity (and /proc for backend CPU) of the benchmark database during a run."""

    def __init__(self, url: str):
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)
        self.connection = self.engine.connect()
        self.before = set(self._rows_by_pid())
        self.samples = 0
        self.states: Counter[str] = Counter()
        self.waits: Counter[str] = Counter()
        self.cpu: dict[int, float] = {}

    def _rows_by_pid(self) -> dict[int, tuple]:
        rows = self.connection.execute(
            text(
                "SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )
        )
        return {row[0]: tuple(row[1:]) for row in rows}

    def sample(self) -> None:
        self.samples += 1
        for pid, (state, wait_type, wait_event) in self._rows_by_pid().items():
            if pid in self.before:
                continue
            self.states[state or "unknown"] += 1
            if state == "active":
                self.waits[f"{wait_type}:{wait_event}" if wait_type else "running (no wait)"] += 1
            cpu = process_cpu(pid)
            if cpu is not None:
                self.cpu[pid] = cpu[0]

    def close(self, workers: int) -> dict:
        self.connection.close()
        self.engine.dispose()
        locks = sum(n for k, n in self.waits.items() if k.startswith("Lock:"))
        return {
            "samples": self.samples,
            "backends_seen": len(self.cpu),
            "backend_state_samples": dict(self.states.most_common()),
            "active_wait_samples": dict(self.waits.most_common(8)),
            # share of the run each worker's connection spent waiting for a row lock held by the other
            "lock_wait_share": rnd(locks / (self.samples * workers) if self.samples else 0.0),
            "backend_cpu_seconds": rnd(sum(self.cpu.values())),
        }


def wait_for(jobs: list, timeout: float, sampler: ActivitySampler | None = None) -> bool:
    from rq.job import JobStatus

    done = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        if all(j.get_status(refresh=True) in done for j in jobs):
            return True
        if sampler:
            sampler.sample()
        time.sleep(0.1)
    return False


def still_due(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        count = connection.execute(
            text("SELECT count(*) FROM sessions WHERE status IN ('forming', 'moq_reached')")
        ).scalar()
    engine.dispose()
    return int(count or 0)


def collect(jobs: list, connection, plain: bool) -> tuple[list[dict], list[dict]]:
    from rq.job import Job, JobStatus

    returns, failures = [], []
    for job in jobs:
        job = Job.fetch(job.id, connection=connection)
        if job.get_status() == JobStatus.FINISHED:
            value = job.return_value()
            if plain:
                value = {
                    "result": value,
                    "started": job.started_at.timestamp(),
                    "ended": job.ended_at.timestamp(),
                }
            returns.append(value)
        else:
            failures.append(
                {"job": job.id, "status": str(job.get_status()), "exc": (job.exc_info or "")[-2000:]}
            )
    return returns, failures


def timed_run(
    url: str, redis_url: str, spec: RunSpec, tag: str, logdir: Path, timeout: float, plain: bool
) -> dict:
    """Start `spec.workers` RQ workers, enqueue as many sweep jobs at once, time them. Sessions still due
    afterwards (left for later by every worker that tried them) get one more sweep job: the next cron tick,
    not timed."""
    from redis import Redis
    from rq import Queue

    workers, size = spec.workers, spec.sessions
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    procs = start_workers(url, redis_url, workers, tag, logdir, spec.what_if)
    follow_up: dict[str, Any] = {"left_due_after_timed_sweep": None}
    try:
        names = {f"{tag}-w{n + 1}" for n in range(workers)}
        wait_until_idle(connection, names, 60)
        children_before = [process_cpu(p.pid) for p in procs]
        sampler = ActivitySampler(url)
        queue = Queue(BENCH_QUEUE, connection=connection)

        def enqueue(n: int, what: str):
            return queue.enqueue(
                PLAIN_JOB if plain else TIMED_JOB,
                job_timeout=SWEEP_JOB_TIMEOUT,
                result_ttl=3600,
                failure_ttl=3600,
                description=f"bench expiry {what} {n + 1}/{workers}",
            )

        cpu_before = cpu_times()
        enqueued_at = time.time()
        jobs = [enqueue(n, "sweep") for n in range(workers)]
        finished = wait_for(jobs, timeout, sampler)
        done_at = time.time()
        cpu_after = cpu_times()
        activity = sampler.close(workers)
        if finished:
            wait_until_idle(connection, names, 15)  # each worker has reaped its work horse
        children_after = [process_cpu(p.pid) for p in procs]
        returns, failures = collect(jobs, connection, plain)
        if finished:
            left = still_due(url)
            follow_up["left_due_after_timed_sweep"] = left
            if left:
                extra = [enqueue(0, "follow-up sweep")]
                started = time.perf_counter()
                wait_for(extra, 120)
                follow_up["follow_up_seconds"] = rnd(time.perf_counter() - started)
                more, more_failures = collect(extra, connection, plain)
                follow_up["follow_up_closed"] = sum(len(r["result"]["closed"]) for r in more)
                returns_all = returns + more
                failures += more_failures
            else:
                returns_all = returns
        else:
            returns_all = returns
    finally:
        stop_workers(procs)
    horse_cpu = sum(
        (a[1] - b[1]) for a, b in zip(children_after, children_before, strict=True) if a is not None and b
    )
    busy = (cpu_after[0] - cpu_before[0]) / os.sysconf("SC_CLK_TCK")
    total = cpu_after[1] - cpu_before[1]
    wall = done_at - enqueued_at
    run: dict[str, Any] = {
        "scenario": spec.scenario,
        "sessions": size,
        "products": spec.products,
        "workers": workers,
        "rep": spec.rep,
        "what_if": list(spec.what_if),
        "timed_out": not finished,
        "failed_jobs": failures,
        "enqueue_to_done_seconds": rnd(wall),
        "machine_cpu_busy_pct": rnd(100 * (cpu_after[0] - cpu_before[0]) / total if total else 0.0, 1),
        "machine_cpu_steal_pct": rnd(100 * (cpu_after[2] - cpu_before[2]) / total if total else 0.0, 1),
        "worker_cpu_seconds": rnd(horse_cpu),
        # CPU used by everything else on the machine (other users, PostgreSQL's own background processes,
        # this process polling), in cores: the noise indicator of the run
        "other_load_cores": rnd(
            (busy - horse_cpu - activity["backend_cpu_seconds"]) / wall if wall > 0 else 0.0, 2
        ),
        "postgres": activity,
        **follow_up,
        "loadavg_after": os.getloadavg(),
    }
    if finished and len(returns) == workers:
        start = min(r["started"] for r in returns)
        seconds = max(r["ended"] for r in returns) - start
        run.update(
            seconds=rnd(seconds),
            sessions_per_s=rnd(size / seconds, 1),
            ms_per_session=rnd(1000 * seconds / size),
            per_worker=[
                {
                    "closed": len(r["result"]["closed"]),
                    "left_for_later": len(r["result"]["retry_later"]),
                    "seconds": rnd(r["ended"] - r["started"]),
                    "late_start_ms": rnd(1000 * (r["started"] - start), 1),
                }
                for r in returns
            ],
            worker_cpu_ms_per_session=rnd(1000 * horse_cpu / size),
            postgres_cpu_ms_per_session=rnd(1000 * activity["backend_cpu_seconds"] / size),
        )
        if not plain:
            run["breakdown"] = breakdown(returns, size)
    run["_returns"] = returns_all
    return run


def breakdown(returns: list[dict], size: int) -> dict:
    """Where the sweep's time went, summed over the workers (seconds and ms per session)."""
    claims = [c for r in returns for c in r["claims"]]
    claim_s = sum(c[2] for c in claims)
    close_s = sum(sum(r["close_seconds"].values()) for r in returns)
    dispatch_s = sum(r["dispatch"]["seconds"] for r in returns)
    total_s = sum(r["seconds"] for r in returns)
    messages = sum(r["dispatch"]["messages"] for r in returns)
    per_outcome: dict[str, dict] = {}
    for outcome in sorted({k for r in returns for k in r["close_count"]}):
        n = sum(r["close_count"].get(outcome, 0) for r in returns)
        s = sum(r["close_seconds"].get(outcome, 0.0) for r in returns)
        per_outcome[outcome] = {"calls": n, "ms_per_call": rnd(1000 * s / n if n else 0.0)}
    firsts, lasts = [], []
    for r in returns:
        productive = [c[2] for c in r["claims"] if c[1] > 0]
        tenth = max(1, len(productive) // 10)
        firsts += productive[:tenth]
        lasts += productive[-tenth:]
    return {
        "worker_seconds": rnd(total_s),
        "claim": {
            "calls": len(claims),
            "seconds": rnd(claim_s),
            "ms_per_session": rnd(1000 * claim_s / size),
            # each worker's claims in the order they ran: the first tenth sorts many due rows with a short
            # exclude list, the last tenth few due rows with a long one
            "first_tenth_ms_per_call": rnd(1000 * median(firsts)),
            "last_tenth_ms_per_call": rnd(1000 * median(lasts)),
            "longest_exclude": max((c[0] for c in claims), default=0),
        },
        "close": {
            "seconds": rnd(close_s),
            "ms_per_session": rnd(1000 * close_s / size),
            "by_outcome": per_outcome,
        },
        "dispatch": {
            "seconds": rnd(dispatch_s),
            "messages": messages,
            "ms_per_message": rnd(1000 * dispatch_s / max(1, messages)),
        },
        "other_seconds": rnd(total_s - claim_s - close_s - dispatch_s),
    }


# ---------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------


def verify(url: str, redis_url: str, plan: Plan, returns: list[dict]) -> dict[str, dict]:
    from redis import Redis
    from rq import Queue
    from rq.registry import FinishedJobRegistry, StartedJobRegistry

    from jobs.queues import SEND_QUEUE

    expected = plan.expected()
    outcome_of = {s.code: s.outcome for s in plan.sessions}
    lots_of = {s.code: s.lots() for s in plan.sessions if s.outcome == "pending_stock"}
    joins_of = {s.code: len(s.joins) for s in plan.sessions}
    checks: dict[str, dict] = {}

    def check(name: str, ok: bool, **detail: Any) -> None:
        checks[name] = {"ok": bool(ok), **detail}

    engine = create_engine(url)
    with engine.connect() as db:
        rows = db.execute(text("SELECT code, status, grosir_units_needed, last_error FROM sessions")).all()
        status = {code: st for code, st, _, _ in rows}
        due = sum(st in ("forming", "moq_reached") for st in status.values())
        check("no_session_still_due", due == 0, still_due=due)
        wrong = sorted(c for c, o in outcome_of.items() if status.get(c) != o)
        check(
            "status_as_planned",
            not wrong and len(status) == len(outcome_of),
            mismatches=len(wrong),
            examples=wrong[:5],
            by_status=dict(Counter(status.values())),
        )
        errors = sum(1 for *_, e in rows if e)
        check("no_last_error", errors == 0, sessions_with_error=errors)

        closed_lists = [r["result"]["closed"] for r in returns]
        all_closed = Counter(code for closed in closed_lists for code in closed)
        twice = [c for c, n in all_closed.items() if n > 1]
        results_wrong = [c for closed in closed_lists for c, o in closed.items() if outcome_of.get(c) != o]
        retried = [(c, e) for r in returns for c, e in r["result"]["retry_later"].items()]
        # A session one sweep left for later (rolled back to its savepoint) and another closed is still
        # closed once; it is reported (`retried_then_closed`), not counted as a failure.
        check(
            "each_session_closed_once",
            not twice and set(all_closed) == set(outcome_of) and not results_wrong,
            closed_by_jobs=sum(all_closed.values()),
            closed_twice=len(twice),
            never_closed=len(set(outcome_of) - set(all_closed)),
            wrong_result=len(results_wrong),
            per_job=[len(c) for c in closed_lists],
            retried_then_closed=len(retried),
            retry_errors=dict(Counter(e.split("\n")[0][:160] for _, e in retried).most_common(3)),
        )

        pos = db.execute(
            text(
                "SELECT s.code, po.lots, po.status, s.grosir_units_needed, count(l.id), "
                "string_agg(v.size || ':' || l.quantity, ',' ORDER BY v.size) "
                "FROM purchase_orders po JOIN sessions s ON s.id = po.session_id "
                "JOIN purchase_order_lines l ON l.purchase_order_id = po.id JOIN variants v ON v.id = l.variant_id "
                "GROUP BY s.id, po.id"
            )
        ).all()
        bad_po = []
        po_codes = Counter(code for code, *_ in pos)
        for code, lots, po_status, needed, _lines, lines in pos:
            want_lines = ",".join(f"{size}:{lots_of.get(code, 0) * MIX[size]}" for size in sorted(MIX))
            if (
                code not in lots_of
                or lots != lots_of[code]
                or needed != lots
                or po_status != "requested"
                or lines != want_lines
            ):
                bad_po.append(code)
        check(
            "one_purchase_order_per_po_session",
            len(pos) == expected["purchase_orders"] and set(po_codes) == set(lots_of) and not bad_po,
            purchase_orders=len(pos),
            expected=expected["purchase_orders"],
            wrong=len(bad_po),
            examples=bad_po[:5],
            lots_total=sum(lots_of.values()),
        )

        orders = db.execute(
            text(
                "SELECT s.code, count(o.id), count(DISTINCT o.participant_id), "
                "sum(CASE WHEN p.status = 'confirmed' AND p.session_id = o.session_id "
                "AND p.quantity = o.quantity AND p.total = o.amount_due THEN 1 ELSE 0 END) "
                "FROM orders o JOIN sessions s ON s.id = o.session_id "
                "JOIN participants p ON p.id = o.participant_id GROUP BY s.code"
            )
        ).all()
        want_orders = {c: joins_of[c] for c, o in outcome_of.items() if o == "orders_created"}
        got_orders = {code: n for code, n, _, _ in orders}
        mismatched = [code for code, n, distinct, good in orders if not (n == distinct == good)]
        check(
            "one_order_per_participant",
            got_orders == want_orders and not mismatched,
            orders=sum(got_orders.values()),
            expected=expected["orders"],
            sessions_with_wrong_count=sum(
                1 for c in set(got_orders) | set(want_orders) if got_orders.get(c) != want_orders.get(c)
            ),
        )

        inventory = db.execute(
            text(
                "SELECT v.sku, i.on_hand, i.reserved FROM warehouse_inventory i JOIN variants v ON v.id = i.variant_id"
            )
        ).all()
        wrong_stock = [
            sku
            for sku, on_hand, reserved in inventory
            if reserved != expected["reserved"].get(sku, 0)
            or (sku.startswith("STOCK") and on_hand != expected["reserved"].get(sku, 0) + SPARE_UNITS)
        ]
        check(
            "inventory_reserved_exactly_the_stock_demand",
            not wrong_stock,
            reserved=sum(r for *_, r in inventory),
            expected=sum(expected["reserved"].values()),
            wrong_variants=wrong_stock[:5],
        )

        outbox = db.execute(
            text(
                "SELECT count(*), count(DISTINCT idempotency_key), "
                "sum(CASE WHEN status = 'queued' AND attempts = 0 THEN 1 ELSE 0 END) FROM outbound_messages"
            )
        ).one()
        by_kind = dict(db.execute(text("SELECT kind, count(*) FROM outbound_messages GROUP BY kind")).all())
        per_session = dict(
            db.execute(
                text(
                    "SELECT s.code, count(m.id) FROM outbound_messages m JOIN sessions s ON s.id = m.session_id "
                    "GROUP BY s.code"
                )
            ).all()
        )
        check(
            "outbox_rows_exactly_as_computed",
            outbox[0] == outbox[1] == expected["messages"]
            and by_kind == expected["messages_by_kind"]
            and per_session == expected["per_session_messages"]
            and outbox[2] == outbox[0],
            rows=outbox[0],
            distinct_keys=outbox[1],
            expected=expected["messages"],
            by_kind=by_kind,
            still_queued_unsent=outbox[2],
            sessions_with_wrong_count=sum(
                1 for c, n in expected["per_session_messages"].items() if per_session.get(c) != n
            ),
        )
        ids = set(db.execute(text("SELECT id FROM outbound_messages")).scalars())

        counters = db.execute(
            text(
                "SELECT count(*) FROM sessions s WHERE s.ordered_units <> "
                "(SELECT coalesce(sum(quantity), 0) FROM participants p WHERE p.session_id = s.id AND p.status = 'confirmed') "
                "OR s.ordered_units <> (SELECT coalesce(sum(ordered_units), 0) FROM session_variant_counters c "
                "WHERE c.session_id = s.id)"
            )
        ).scalar()
        check("counters_equal_participant_sums", counters == 0, sessions_off=counters)
    engine.dispose()

    connection = Redis.from_url(redis_url)
    send_queue = Queue(SEND_QUEUE, connection=connection)
    job_ids = send_queue.get_job_ids()
    want = {f"send-{i}" for i in ids}
    dispatched = (
        sum(r["dispatch"]["enqueued"] for r in returns) if all("dispatch" in r for r in returns) else None
    )
    check(
        "one_send_job_per_outbox_row_none_run",
        len(job_ids) == len(set(job_ids)) == len(ids)
        and set(job_ids) == want
        and StartedJobRegistry(queue=send_queue).count == 0
        and FinishedJobRegistry(queue=send_queue).count == 0,
        send_jobs=len(job_ids),
        reported_enqueued_by_sweep=dispatched,
    )
    connection.close()
    return checks


# ---------------------------------------------------------------------------------------------------------
# In-process profile: SQL statements and Redis round trips per closed session
# ---------------------------------------------------------------------------------------------------------


def profile(
    url: str,
    redis_url: str,
    count: int,
    buyers: tuple[int, int],
    products: int,
    tag: str,
    cached_insert: bool,
) -> dict:
    """Seed `count` due sessions, close them with `sweep_due_sessions` in this process and count, per
    closed session and outcome, SQL statements (by verb, and how many SQLAlchemy had to compile because
    the statement cannot be cached), CPU time, and the Redis round trips of the dispatch. With
    `cached_insert` the run is labelled as the cacheable-insert arm; that statement is now core.outbox's
    own, so both arms run the same code (the A/B only shows the noise)."""
    import redis.connection
    from redis import Redis

    from core import db as core_db
    from core import fulfilment
    from core.settings import Settings
    from jobs.queues import dispatch_outbox

    reset(url)
    plan = plan_sessions(count, SEED, buyers, products, tag=tag)
    seed(url, plan)
    maintenance(url)
    engine = core_db.engine_for(url)
    bucket: list[Counter[str]] = [Counter()]
    by_outcome: dict[str, Counter[str]] = defaultdict(Counter)
    close_n: Counter[str] = Counter()
    close_s: Counter[str] = Counter()
    claim_stmts: Counter[str] = Counter()
    redis_trips = [0]

    def on_statement(conn, cursor, statement, parameters, context, executemany):
        verb = statement.lstrip().split(None, 1)[0].upper()
        bucket[0][verb] += 1
        if getattr(getattr(context, "cache_hit", None), "name", None) == "NO_CACHE_KEY":
            bucket[0][f"compiled without cache ({verb})"] += 1
            bucket[0]["compiled without cache"] += 1

    originals = (
        fulfilment.close_session,
        fulfilment.claim_due_sessions,
        None,  # was the outbox insert what-if: that change is applied in core.outbox
        redis.connection.AbstractConnection.send_packed_command,
    )

    def close(*args, **kwargs):
        bucket[0] = Counter()
        started = time.perf_counter()
        outcome = originals[0](*args, **kwargs)
        close_s[outcome.result] += time.perf_counter() - started
        close_n[outcome.result] += 1
        by_outcome[outcome.result].update(bucket[0])
        bucket[0] = Counter()
        return outcome

    def claim(*args, **kwargs):
        bucket[0] = Counter()
        rows = originals[1](*args, **kwargs)
        claim_stmts.update(bucket[0])
        bucket[0] = Counter()
        return rows

    def send(self, command, check_health=True):
        redis_trips[0] += 1
        return originals[3](self, command, check_health)

    connection = Redis.from_url(redis_url)
    connection.flushdb()
    dispatched = {"messages": 0, "seconds": 0.0}

    def on_commit(ids: list[int]) -> None:
        started = time.perf_counter()
        dispatch_outbox(ids, connection=connection)
        dispatched["seconds"] += time.perf_counter() - started
        dispatched["messages"] += len(ids)

    event.listen(engine, "before_cursor_execute", on_statement)
    fulfilment.close_session = close  # type: ignore[assignment]
    fulfilment.claim_due_sessions = claim  # type: ignore[assignment]
    redis.connection.AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        settings = Settings(database_url=url, redis_url=redis_url)
        result = fulfilment.sweep_due_sessions(core_db.session_factory(url), settings, on_commit=on_commit)
    finally:
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        event.remove(engine, "before_cursor_execute", on_statement)
        fulfilment.close_session, fulfilment.claim_due_sessions = originals[:2]  # type: ignore[assignment]
        redis.connection.AbstractConnection.send_packed_command = originals[3]  # type: ignore[method-assign]
    connection.flushdb()
    connection.close()
    assert len(result.closed) == count and not result.retry_later, result.retry_later
    expected = plan.expected()
    buyers_by_outcome: dict[str, list[int]] = defaultdict(list)
    for s in plan.sessions:
        buyers_by_outcome[s.outcome].append(s.buyers)
    outcomes = {}
    for outcome in OUTCOMES:
        n = close_n.get(outcome, 0)
        if not n:
            continue
        stmts = by_outcome[outcome]
        outcomes[outcome] = {
            "sessions": n,
            "mean_buyers": rnd(statistics.mean(buyers_by_outcome[outcome]), 2),
            "statements_per_session": rnd(
                sum(v for k, v in stmts.items() if not k.startswith("compiled without cache")) / n, 2
            ),
            "by_verb_per_session": {k: rnd(v / n, 2) for k, v in stmts.most_common()},
            "ms_per_session_in_process": rnd(1000 * close_s[outcome] / n),
        }
    assert dispatched["messages"] == expected["messages"], (dispatched, expected["messages"])
    return {
        "sessions": count,
        "buyers_per_session": list(buyers),
        "cached_insert": cached_insert,
        "seconds": rnd(seconds),
        "ms_per_session": rnd(1000 * seconds / count),
        "cpu_ms_per_session": rnd(1000 * cpu / count),
        "claims": {"statements": dict(claim_stmts)},
        "by_outcome": outcomes,
        "messages": dispatched["messages"],
        "redis_round_trips_per_message": rnd(redis_trips[0] / max(1, dispatched["messages"]), 2),
        "dispatch_ms_per_message": rnd(1000 * dispatched["seconds"] / max(1, dispatched["messages"])),
    }


def profiles(url: str, redis_url: str, params: Params) -> dict:
    """Production vs the cacheable outbox insert, alternated (A B A B) so machine noise hits both; then
    large sessions (24-32 buyers), to show what grows with the number of buyers."""
    runs: dict[str, list[dict]] = {"production": [], "cached_insert": []}
    for n in range(2):
        for cached in (False, True):
            runs["cached_insert" if cached else "production"].append(
                profile(
                    url,
                    redis_url,
                    params.profile_sessions,
                    params.buyers_per_session,
                    params.products,
                    f"typical-{n}",
                    cached,
                )
            )
    large = profile(
        url,
        redis_url,
        params.profile_large_sessions,
        params.profile_large_buyers,
        params.products,
        "large",
        False,
    )
    cpu = {k: median([r["cpu_ms_per_session"] for r in v]) for k, v in runs.items()}
    return {
        "typical": runs["production"][0],
        "large": large,
        "cached_insert_ab": {
            "sessions_per_run": params.profile_sessions,
            "cpu_ms_per_session": {k: [r["cpu_ms_per_session"] for r in v] for k, v in runs.items()},
            "wall_ms_per_session": {k: [r["ms_per_session"] for r in v] for k, v in runs.items()},
            "cpu_saving_pct": rnd(100 * (1 - cpu["cached_insert"] / cpu["production"]), 1),
            "compiled_without_cache_per_session": {
                k: rnd(
                    sum(
                        o["by_verb_per_session"].get("compiled without cache", 0) * o["sessions"]
                        for o in v[0]["by_outcome"].values()
                    )
                    / v[0]["sessions"],
                    2,
                )
                for k, v in runs.items()
            },
        },
    }


# ---------------------------------------------------------------------------------------------------------
# Summary, JSON, Markdown
# ---------------------------------------------------------------------------------------------------------


def group_stats(rs: list[dict]) -> dict:
    return {
        "runs": len(rs),
        "seconds_median": rnd(median([r["seconds"] for r in rs])),
        "sessions_per_s_median": rnd(median([r["sessions_per_s"] for r in rs]), 1),
        "ms_per_session_median": rnd(median([r["ms_per_session"] for r in rs])),
        "cpu_ms_per_session_median": rnd(
            median([r["worker_cpu_ms_per_session"] + r["postgres_cpu_ms_per_session"] for r in rs])
        ),
        "messages": rs[0]["messages"],
        "messages_per_s_median": rnd(median([r["messages"] / r["seconds"] for r in rs]), 1),
        "lock_wait_share_median": rnd(median([r["postgres"]["lock_wait_share"] for r in rs])),
        "retried_median": median(
            [r["checks"]["each_session_closed_once"]["retried_then_closed"] for r in rs]
        ),
        "left_due_median": median([r["left_due_after_timed_sweep"] or 0 for r in rs]),
        "other_load_cores_median": rnd(median([r["other_load_cores"] for r in rs]), 2),
    }


def summarise(runs: list[dict], params: Params) -> dict:
    """Per group (scenario, size, workers, what-if): medians; then the ratios that matter, each from runs
    that ran back to back (pairs in run order), so a slow phase of the machine hits both sides."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for run in runs:
        if run.get("seconds") is not None and run["checks_ok"]:
            groups[run["group"]].append(run)
    lo, hi = min(params.workers), max(params.workers)

    def ratio(a: str, b: str) -> dict:
        pairs = [
            x["seconds"] / y["seconds"] for x, y in zip(groups.get(a, []), groups.get(b, []), strict=False)
        ]
        return {
            "of": f"{a} / {b}",
            "per_pair": [rnd(p) for p in pairs],
            "median": rnd(median(pairs)),
        }

    out: dict[str, Any] = {"groups": {g: group_stats(rs) for g, rs in groups.items()}, "ratios": {}}
    ratios = out["ratios"]
    for g in list(groups):
        scenario, size, workers, *fixes = g.split(" ")
        if workers == f"{hi}w" and f"{scenario} {size} {lo}w{' ' + fixes[0] if fixes else ''}" in groups:
            ratios[f"speedup {g}"] = ratio(f"{scenario} {size} {lo}w{' ' + fixes[0] if fixes else ''}", g)
        if fixes and f"{scenario} {size} {workers}" in groups:
            ratios[f"gain {g}"] = ratio(f"{scenario} {size} {workers}", g)
    if any(g.startswith("hot ") for g in groups):
        hot = f"hot {params.hot_sessions}"
        if f"{hot} {lo}w" in groups and f"{hot} {hi}w" in groups:
            ratios[f"speedup {hot} {hi}w"] = ratio(f"{hot} {lo}w", f"{hot} {hi}w")
        for fixes in ("sorted-batch", "+".join(FIXES)):
            if f"{hot} {hi}w +{fixes}" in groups:
                ratios[f"{hot} {hi}w +{fixes} vs {lo}w as is"] = ratio(
                    f"{hot} {lo}w", f"{hot} {hi}w +{fixes}"
                )
    growth = {}
    small, large = params.sizes[0], params.sizes[-1]
    for w in params.workers:
        a, b = out["groups"].get(f"main {small} {w}w"), out["groups"].get(f"main {large} {w}w")
        if a and b:
            growth[f"{w}w"] = {
                "ms_per_session_small": a["ms_per_session_median"],
                "ms_per_session_large": b["ms_per_session_median"],
                "wall_ratio": rnd(b["ms_per_session_median"] / a["ms_per_session_median"]),
                "cpu_ms_per_session_small": a["cpu_ms_per_session_median"],
                "cpu_ms_per_session_large": b["cpu_ms_per_session_median"],
                "cpu_ratio": rnd(b["cpu_ms_per_session_median"] / a["cpu_ms_per_session_median"]),
            }
    if growth:
        out["growth_small_to_large"] = {"small": small, "large": large, **growth}
    return out


def short(text_: str) -> str:
    return text_.replace("+" + "+".join(FIXES), "+all fixes")


def _group_rows(summary: dict) -> list[str]:
    rows = []
    for g, s in summary["groups"].items():
        scenario, size, workers, *fixes = g.split(" ")
        what = (
            "every proposed change"
            if fixes and fixes[0] == "+" + "+".join(FIXES)
            else (fixes[0][1:] if fixes else "as is")
        )
        speed = summary["ratios"].get(f"speedup {g}", {}).get("median")
        rows.append(
            f"| {scenario} | {int(size):,} | {workers[:-1]} | {what} | {s['runs']} | {s['seconds_median']:.2f} | "
            f"{s['sessions_per_s_median']:.0f} | {s['ms_per_session_median']:.2f} | {s['cpu_ms_per_session_median']:.2f} | "
            f"{s['messages']:,} | {s['messages_per_s_median']:.0f} | {f'{speed:.2f}x' if speed else ''} | "
            f"{100 * s['lock_wait_share_median']:.0f}% | {s['retried_median']:.0f} / {s['left_due_median']:.0f} | "
            f"{max(0.0, s['other_load_cores_median']):.2f} |"
        )
    return rows


def _breakdown_rows(runs: list[dict]) -> list[str]:
    rows = []
    for r in runs:
        b = r.get("breakdown")
        if not b:
            continue
        by = b["close"]["by_outcome"]
        rows.append(
            f"| {short(r['group'])} | {r['rep']} | {b['claim']['ms_per_session']:.2f} | "
            f"{b['claim']['first_tenth_ms_per_call']:.1f} / {b['claim']['last_tenth_ms_per_call']:.1f} | "
            f"{b['close']['ms_per_session']:.2f} | "
            + " / ".join(f"{by[o]['ms_per_call']:.1f}" if o in by else "-" for o in OUTCOMES)
            + f" | {b['dispatch']['ms_per_message']:.2f} | {b['other_seconds']:.2f} |"
        )
    return rows


TABLE_HEAD = [
    "| scenario | due sessions | workers | code | runs | seconds | sessions/s | ms/session | CPU ms/session "
    "| outbox msgs | msgs/s | 2w speed-up | lock waits | retried / left due | other load |",
    "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]
BREAKDOWN_HEAD = [
    "| run | rep | claim ms/session | claim ms/call, first / last tenth | close ms/session "
    "| close ms by outcome (failed / orders / PO) | dispatch ms/message | other s |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
]


def markdown_table(report: dict) -> str:
    lines: list[str] = []
    main = report.get("main")
    if main:
        m = main["machine"]
        lines += [
            f"**Main** ({main['mode']}, {main['date']}, {main['total_seconds']:.0f} s): {m['cpu_count']} CPUs, "
            f"Python {m['python']}, PostgreSQL {m['postgresql'].split()[0]}, Redis {m['redis']}, RQ {m['rq']}; "
            f"all checks {'passed' if main['checks_passed'] else 'FAILED'}"
            + (f"; skipped for time: {', '.join(main['skipped_runs'])}" if main["skipped_runs"] else "")
            + ".",
            "",
            *TABLE_HEAD,
            *_group_rows(main["summary"]),
        ]
        growth = main["summary"].get("growth_small_to_large")
        if growth:
            small, large = growth["small"], growth["large"]
            lines += [
                "",
                f"Growth from {small:,} to {large:,} due sessions (per session, medians):",
                "",
                f"| workers | wall ms at {small:,} | at {large:,} | ratio | CPU ms at {small:,} | at {large:,} | ratio |",
                "|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for w in ("1w", "2w"):
                if g := growth.get(w):
                    lines.append(
                        f"| {w[:-1]} | {g['ms_per_session_small']:.2f} | {g['ms_per_session_large']:.2f} | "
                        f"{g['wall_ratio']:.2f} | {g['cpu_ms_per_session_small']:.2f} | "
                        f"{g['cpu_ms_per_session_large']:.2f} | {g['cpu_ratio']:.2f} |"
                    )
        lines += ["", "Where the workers' time went (seconds summed over workers):", "", *BREAKDOWN_HEAD]
        lines += _breakdown_rows(main["runs"])
        micro = main.get("claim_microbench") or {}
        if micro:
            lines += [
                "",
                "The claim query alone (`claim_due_sessions`, 20 rows, everything due, median ms):",
                "",
                "| due sessions | as is | with an exclude list of that many closed ids | with the proposed partial index |",
                "|---:|---:|---:|---:|",
            ]
            for size, c in micro.items():
                lines.append(
                    f"| {int(size):,} | {c['no_exclude_ms']:.2f} | {c['exclude_all_closed_ms']:.2f} | "
                    f"{c['partial_index_ms']:.2f} |"
                )
    exp = report.get("experiments")
    if exp:
        lines += [
            "",
            f"**Experiments** ({exp['mode']}, {exp['date']}, {exp['total_seconds']:.0f} s; what-if runs emulate "
            f"the proposed changes in the work horse, see bench/expiry_job.py): all checks "
            f"{'passed' if exp['checks_passed'] else 'FAILED'}.",
            "",
            *TABLE_HEAD,
            *_group_rows(exp["summary"]),
            "",
            "| seconds of A / seconds of B (> 1: B is faster; pairs ran back to back) | per pair | median |",
            "|---|---|---:|",
        ]
        for r in exp["summary"]["ratios"].values():
            if r.get("median") is not None:
                lines.append(
                    f"| {short(r['of'])} | {', '.join(f'{p:.2f}' for p in r['per_pair'])} | {r['median']:.2f} |"
                )
        lines += ["", "Where the workers' time went:", "", *BREAKDOWN_HEAD, *_breakdown_rows(exp["runs"])]
        prof = exp.get("profile") or {}
        if prof:
            lines += [
                "",
                "SQL statements per closed session (in-process profile; `compiled` = statements SQLAlchemy "
                "compiled again because they cannot be cached):",
                "",
                "| sessions | outcome | mean buyers | statements | INSERT | SELECT | UPDATE | SAVEPOINT "
                "| compiled | ms (in-process) |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for label in ("typical", "large"):
                p = prof.get(label)
                for outcome in OUTCOMES if p else ():
                    o = p["by_outcome"].get(outcome)
                    if not o:
                        continue
                    v = o["by_verb_per_session"]
                    lines.append(
                        f"| {label} | {outcome} | {o['mean_buyers']:.1f} | {o['statements_per_session']:.1f} | "
                        f"{v.get('INSERT', 0):.1f} | {v.get('SELECT', 0):.1f} | {v.get('UPDATE', 0):.1f} | "
                        f"{v.get('SAVEPOINT', 0):.1f} | "
                        f"{v.get('compiled without cache', 0):.1f} | {o['ms_per_session_in_process']:.2f} |"
                    )
            ab, typical = prof.get("cached_insert_ab"), prof.get("typical")
            if ab and typical:
                cpu = ab["cpu_ms_per_session"]
                lines += [
                    "",
                    f"Cacheable outbox insert, A/B in-process ({ab['sessions_per_run']} sessions per run): CPU ms "
                    f"per session {', '.join(map(str, cpu['production']))} as is, "
                    f"{', '.join(map(str, cpu['cached_insert']))} with it ({ab['cpu_saving_pct']:.0f}% less). "
                    f"Dispatch: {typical['redis_round_trips_per_message']:.1f} Redis round trips and "
                    f"{typical['dispatch_ms_per_message']:.2f} ms per message.",
                ]
    return "\n".join(lines)


def write_markdown(report: dict) -> None:
    table = markdown_table(report)
    if REPORT_MD.exists():
        current = REPORT_MD.read_text()
        if TABLE_START in current and TABLE_END in current:
            head, rest = current.split(TABLE_START, 1)
            _, tail = rest.split(TABLE_END, 1)
            REPORT_MD.write_text(f"{head}{TABLE_START}\n{table}\n{TABLE_END}{tail}")
            return
    REPORT_MD.write_text(f"# Expiry benchmark\n\n{TABLE_START}\n{table}\n{TABLE_END}\n")


# ---------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------


def run_section(
    section: str, params: Params, url: str, redis_url: str, plain: bool, left, logdir: Path
) -> tuple[list[dict], list[str], dict]:
    runs: list[dict] = []
    skipped: list[str] = []
    claim_micro: dict[str, dict] = {}
    plans: dict[tuple[int, int], Plan] = {}
    ms_per_session = 15.0  # first guess for the time budget; then what the 1-worker runs show
    for spec in schedule(params, section):
        estimate = spec.sessions * ms_per_session / 1000 * (1 if spec.workers == 1 else 0.8) + 6
        if not spec.essential and left() < estimate:
            skipped.append(spec.label)
            log(f"skipping {spec.label}: {left():.0f} s left, about {estimate:.0f} s needed")
            continue
        key = (spec.sessions, spec.products)
        if key not in plans:
            plans[key] = plan_sessions(spec.sessions, SEED, params.buyers_per_session, spec.products)
            e = plans[key].expected()
            log(
                f"{spec.scenario} {spec.sessions:,} sessions over {2 * spec.products} products: "
                f"{e['by_outcome']}, {e['participants']:,} joins, {e['messages']:,} messages expected"
            )
        plan = plans[key]
        reset(url)
        seeded_at = time.perf_counter()
        seed(url, plan)
        seeded = time.perf_counter() - seeded_at
        if section == "main" and str(spec.sessions) not in claim_micro:
            claim_micro[str(spec.sessions)] = claim_microbench(url, spec.sessions, params.claim_samples)
        if "partial-index" in spec.what_if:
            engine = create_engine(url)
            with engine.begin() as connection:
                connection.execute(text(PROPOSED_INDEX))
            engine.dispose()
        maintenance(url)
        tag = f"bx{os.getpid()}-{section[0]}{len(runs) + 1}"
        timeout = min(SWEEP_JOB_TIMEOUT + 10, max(60.0, left() + 60))
        run = timed_run(url, redis_url, spec, tag, logdir, timeout, plain)
        returns = run.pop("_returns")
        run["group"] = spec.group
        run["seed_seconds"] = rnd(seeded)
        run["messages"] = plan.expected()["messages"]
        run["checks"] = verify(url, redis_url, plan, returns)
        run["checks_ok"] = (
            all(c["ok"] for c in run["checks"].values()) and not run["timed_out"] and not run["failed_jobs"]
        )
        runs.append(run)
        if spec.workers == 1 and not spec.what_if and run.get("ms_per_session"):
            ms_per_session = run["ms_per_session"]
        failed = [k for k, c in run["checks"].items() if not c["ok"]]
        verdict = "ok" if run["checks_ok"] else f"FAILED {failed} {run['failed_jobs']}"
        log(
            f"{spec.label}: {run.get('seconds')} s, {run.get('sessions_per_s')} sessions/s, lock waits "
            f"{run['postgres']['lock_wait_share']}, retried "
            f"{run['checks']['each_session_closed_once']['retried_then_closed']}, left due "
            f"{run.get('left_due_after_timed_sweep')}, other load {run['other_load_cores']} cores, checks {verdict}"
        )
        if run["failed_jobs"] or run["timed_out"]:
            for f in sorted(logdir.glob(f"{tag}-*.log")):
                log(f"{f.name}:\n{f.read_text()[-3000:]}")
    return runs, skipped, claim_micro


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.expiry", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="~25 s smoke run of both sections, tiny sizes")
    parser.add_argument(
        "--experiments",
        action="store_true",
        help="run the experiments section (hot products, proposed changes, profile; ~2.5 min) instead of main",
    )
    parser.add_argument("--sizes", help="main scenario sizes, comma-separated (default 1000,10000)")
    parser.add_argument(
        "--products", type=int, help="main scenario: stocked products, and as many without stock"
    )
    parser.add_argument(
        "--repetitions", type=int, help="extra pairs of the small size if time allows (default 2)"
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="an existing database, used for CREATE/DROP DATABASE",
    )
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS_URL, help="a Redis DB index of its own: it is flushed"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="JSON path (default bench/results/expiry.json; quick: bench/results/quick/)",
    )
    parser.add_argument(
        "--plain-job", action="store_true", help=f"enqueue {PLAIN_JOB} itself (no time breakdown)"
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    parser.add_argument(
        "--app-root",
        type=Path,
        help="run migrations and workers from another checkout (a proposed change applied, say); it needs "
        "bench/expiry_job.py, or use --plain-job; combine with --output",
    )
    args = parser.parse_args(argv)
    if args.app_root:
        global APP_ROOT
        APP_ROOT = args.app_root.resolve()

    params = QUICK if args.quick else FULL
    changes: dict[str, Any] = {}
    if args.sizes:
        changes["sizes"] = tuple(int(s) for s in args.sizes.split(","))
    if args.products:
        changes["products"] = args.products
    if args.repetitions is not None:
        changes["extra_repetitions"] = args.repetitions
    params = replace(params, **changes)
    sections = ("main", "experiments") if args.quick else ("experiments",) if args.experiments else ("main",)
    if args.plain_job and "experiments" in sections:
        parser.error("--plain-job has no time breakdown and no what-if runs: use it without --experiments")
    output = args.output or (QUICK_JSON if args.quick else RESULTS_JSON)
    started = time.monotonic()

    def left() -> float:
        return params.deadline_seconds - (time.monotonic() - started)

    log(
        f"{' + '.join(sections)} ({'quick' if args.quick else 'full'}); database {DB_NAME}, Redis {args.redis_url}"
    )
    try:
        report = json.loads(output.read_text()) if output.exists() and not args.quick else {}
    except ValueError:
        report = {}
    if report.get("schema_version") != SCHEMA_VERSION:
        report = {}
    report.update(schema_version=SCHEMA_VERSION, benchmark="expiry")
    url = create_database(args.postgres_url)
    try:
        for section in sections:
            section_started = time.monotonic()
            entry: dict[str, Any] = {
                "mode": "quick" if args.quick else "full",
                "command": " ".join(
                    ["python -m bench.expiry", *(argv if argv is not None else sys.argv[1:])]
                ),
                "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "machine": machine(url, args.redis_url),
                "parameters": {
                    **params.__dict__,
                    "job": PLAIN_JOB if args.plain_job else f"{TIMED_JOB} (calls {PLAIN_JOB})",
                    "job_timeout_seconds": SWEEP_JOB_TIMEOUT,
                    "sweep_batch_size": SWEEP_BATCH,
                    "outcome_shares": OUTCOME_SHARES,
                    "lot_mix": MIX,
                    "second_join_share": SECOND_JOIN_SHARE,
                    "seed": SEED,
                    "redis_url": args.redis_url,
                    "database": DB_NAME,
                    "proposed_changes_emulated": list(FIXES),
                },
            }
            with tempfile.TemporaryDirectory(prefix="bench-expiry-") as logdir:
                runs, skipped, micro = run_section(
                    section, params, url, args.redis_url, args.plain_job, left, Path(logdir)
                )
            entry.update(runs=runs, skipped_runs=skipped)
            if micro:
                entry["claim_microbench"] = micro
            if section == "experiments" and params.profile_sessions:
                log("in-process profile: statements, compilations and Redis round trips per session")
                entry["profile"] = profiles(url, args.redis_url, params)
            entry["summary"] = summarise(runs, params)
            entry["checks_passed"] = bool(runs) and all(r["checks_ok"] for r in runs)
            entry["machine"]["loadavg_at_end"] = os.getloadavg()
            entry["total_seconds"] = rnd(time.monotonic() - section_started, 1)
            report[section] = entry
    finally:
        if not args.keep_db:
            drop_database(args.postgres_url)
        from redis import Redis

        connection = Redis.from_url(args.redis_url)
        connection.flushdb()
        connection.close()
    for section in sections:
        report[section]["command_seconds"] = rnd(time.monotonic() - started, 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    log(f"wrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    if not args.quick and args.output is None:
        write_markdown(report)
        log(f"updated the table in {REPORT_MD.relative_to(ROOT)}")
    print(markdown_table(report))
    return 0 if all(report[s]["checks_passed"] for s in sections) else 1


if __name__ == "__main__":
    sys.exit(main())
