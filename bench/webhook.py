"""Webhook benchmark: the real server (gunicorn + PostgreSQL), signed Twilio requests from another process.

Run `python -m bench.webhook` (full run, about a minute, always under five) or `--quick` (a ~20 s smoke run
that writes nothing into the repository unless `--output` is given). See `bench/webhook.md`.

What happens, in order:

1. A database of its own (`laku_bench_webhook` on the PostgreSQL of `--postgres-url`) is created and
   migrated with `alembic upgrade head`; it is dropped at the end (`--keep-db` keeps it).
2. Data is seeded through `core.catalog` (products with the 2/5/4/1 lot mix, sessions with a MOQ far out
   of reach, so no notification fan-out muddies the timing); the participants of scenario (c) are
   inserted in bulk.
3. gunicorn serves `bench.webhook_app:create_bench_app()` (the real `bot.app.create_app()` plus a
   trivial `/bench/ping`) on a free loopback port, with TWILIO_AUTH_TOKEN (every request signature-checked
   against PUBLIC_BASE_URL), ADMIN_TOKEN and REDIS_URL set.
4. A separate load-generator process (`bench.webhook_load`) sends the pre-signed requests:
   - ceiling, before and after the join scenarios: `GET /bench/ping` (Flask only), `POST /bench/ping`
     signed (Flask + form + signature check) and the webhook's duplicate path (a MessageSid already
     processed: signature check + one SELECT in one transaction);
   - (a) hot: every buyer joins one session at once, sizes drawn uniformly, so the cap refuses many;
   - (b) spread: joins over many sessions, two per session, sizes following the lot mix;
   - (c) growth: sequential joins into a session with 100 and one with 10,000 confirmed participants,
     and one with 10,000 confirmed plus 1,000 waiting requests (waitlist on), taking turns request by
     request so machine noise hits them alike.
5. The database is checked: counters equal participant sums, and confirmed participants replayed in id
   order (commit order: a join holds the session lock from before its insert until commit) through
   `core.allocation.size_availability` never exceed a cap.
6. Results go to `bench/results/webhook.json` and the table in `bench/webhook.md`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode
from xml.etree import ElementTree

from sqlalchemy import create_engine, event, func, insert, select, text
from twilio.request_validator import RequestValidator

from bench import database
from bench.webhook_app import PING_PATH
from bench.webhook_load import NO_ANSWER, NOT_SENT, LoadGenerator, Outcome, Request, RunResult

ROOT = Path(__file__).resolve().parent.parent
RESULTS_JSON = ROOT / "bench" / "results" / "webhook.json"
REPORT_MD = ROOT / "bench" / "webhook.md"
TABLE_START, TABLE_END = "<!-- results:start -->", "<!-- results:end -->"
SCHEMA_VERSION = 1
SEED = 20240611

WEBHOOK = "/webhooks/twilio/whatsapp"
AUTH_TOKEN = "bench-twilio-auth-token-0123456789"
ADMIN_TOKEN = "bench-admin-token"
PUBLIC_BASE_URL = "https://laku.bench.invalid"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
DB_NAME = "laku_bench_webhook"

MIX = {"S": 2, "M": 5, "L": 4, "XL": 1}
LOT_ORDER = [size for size, units in MIX.items() for _ in range(units)]  # S S M M M M M L L L L XL
BIG_MOQ = 1_000_000
PRICE = 45_000


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
    clients: int
    workers: int
    threads: int
    worker_class: str
    deadline_seconds: float


FULL = dict(
    ceiling_requests=6000,
    hot_buyers=2000,
    spread_sessions=1000,
    spread_joins=2000,
    growth_small=100,
    growth_large=10_000,
    growth_joins=300,
    growth_waiting=1000,
)
QUICK = dict(
    ceiling_requests=400,
    hot_buyers=300,
    spread_sessions=100,
    spread_joins=200,
    growth_small=100,
    growth_large=2000,
    growth_joins=60,
    growth_waiting=200,
)


# ---------------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench.webhook {time.strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sid() -> str:
    return "SM" + secrets.token_hex(16)


def phone(prefix: int, n: int) -> str:
    """Distinct valid Indonesian mobile numbers: +62 81x followed by 8 digits."""
    return f"+62{prefix}{10_000_000 + n:08d}"


def signed_post(path: str, form: dict[str, str], tag: str) -> Request:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + path, form)
    return Request(
        "POST",
        path,
        urlencode(form).encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        tag,
    )


def whatsapp(number: str, body: str, message_sid: str | None = None, tag: str = "") -> Request:
    form = {
        "MessageSid": message_sid or sid(),
        "AccountSid": "AC" + "0" * 32,
        "From": f"whatsapp:{number}",
        "To": "whatsapp:+14155238886",
        "WaId": number.lstrip("+"),
        "ProfileName": f"Pembeli {number[-4:]}",
        "Body": body,
        "NumMedia": "0",
    }
    return signed_post(WEBHOOK, form, tag)


def reply_text(body: str) -> str | None:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    return "\n".join((m.findtext("Body") or m.text or "") for m in root.iter("Message"))


def classify(outcome: Outcome) -> str:
    if outcome.status == NO_ANSWER:
        return "no_answer"
    if outcome.status == NOT_SENT:
        return "not_sent"
    if outcome.status != 200:
        return f"http_{outcome.status}"
    reply = reply_text(outcome.text)
    if reply is None:
        return "bad_twiml"
    if not reply:
        return "empty_reply"
    if reply.startswith("✅ Tercatat"):
        return "joined"
    if reply.startswith("🔒"):
        return "refused_locked"
    if reply.startswith("Maaf, ukuran") and "paling banyak" in reply:
        return "refused_over_max_request"
    if reply.startswith("Maaf, ukuran"):
        return "refused_too_many"
    if "sistem sedang sibuk" in reply:
        return "busy"
    return "other_reply"


def summarise(result: RunResult, tags: set[str] | None = None) -> dict:
    outcomes = [o for o in result.outcomes if tags is None or o.tag in tags]
    answered = [o.seconds for o in outcomes if o.status >= 0]
    errors = [o for o in outcomes if o.status != 200]
    summary = {
        "requests": len(outcomes),
        "clients": result.clients,
        "wall_seconds": round(result.wall_seconds, 3),
        "req_per_s": round(len(outcomes) / result.wall_seconds, 1) if result.wall_seconds else None,
        "p50_ms": round(percentile(answered, 50) * 1000, 2) if answered else None,
        "p99_ms": round(percentile(answered, 99) * 1000, 2) if answered else None,
        "max_ms": round(max(answered) * 1000, 2) if answered else None,
        "errors": len(errors),
    }
    if errors:
        summary["error_examples"] = sorted({f"{o.status}: {o.text[:120]}" for o in errors})[:5]
    return summary


# ---------------------------------------------------------------------------------------------------------
# Database: create, migrate, seed, verify, drop
# ---------------------------------------------------------------------------------------------------------


def create_database(admin_url: str) -> str:
    return database.create_database(admin_url, DB_NAME)


def drop_database(admin_url: str) -> None:
    database.drop_database(admin_url, DB_NAME)


def seed(url: str, params: Params) -> dict:
    """Factory, products and sessions through `core.catalog`; returns the codes and ids used."""
    from core import catalog
    from core.catalog import VariantSpec
    from core.clock import now
    from core.db import session_factory, transaction

    factory = session_factory(url)
    ends = now() + timedelta(hours=6)
    with transaction(factory) as db:
        maker = catalog.create_factory(db, name="Konveksi Bench", phone="+6281100000001", address="Bandung")
        products = {}
        for name in ("HOT", "SPREAD", "GROWTH", "WAITLIST"):
            products[name] = catalog.create_product(
                db,
                factory_id=maker.id,
                name=f"Kaos {name.title()}",
                sku=f"BENCH-{name}",
                price=PRICE,
                variants=[VariantSpec(size, f"BENCH-{name}-{size}", units) for size, units in MIX.items()],
                grosir_unit_size=sum(MIX.values()),
                # Off: every locked request is refused, so replaying confirmed joins in id order checks
                # the cap exactly (a waitlist admission confirms an older row later than younger ones).
                # WAITLIST (scenario c, third session) has it on, with requests that never fit.
                waitlist_enabled=name == "WAITLIST",
            ).id
        catalog.create_session(db, product_id=products["HOT"], target_moq=BIG_MOQ, ends_at=ends, code="HOT")
        spread_codes = [f"SP{n:04d}" for n in range(1, params.spread_sessions + 1)]
        for code in spread_codes:
            catalog.create_session(
                db, product_id=products["SPREAD"], target_moq=BIG_MOQ, ends_at=ends, code=code
            )
        growth = {}
        for label, count in (("small", params.growth_small), ("large", params.growth_large)):
            code = f"G{count}"
            session = catalog.create_session(
                db, product_id=products["GROWTH"], target_moq=BIG_MOQ, ends_at=ends, code=code
            )
            sizes = [LOT_ORDER[n % len(LOT_ORDER)] for n in range(count)]
            growth[label] = {"code": code, "session_id": session.id, "confirmed": sizes, "waiting": []}
        waitlist = {}
        lots = params.growth_large // len(LOT_ORDER)
        for label, count in zip(("none", "some", "many"), waitlist_lengths(params), strict=True):
            code = f"W{count}"
            session = catalog.create_session(
                db, product_id=products["WAITLIST"], target_moq=BIG_MOQ, ends_at=ends, code=code
            )
            # Whole lots plus one XL: XL has 1 unit free, so `ANTRE <code> XL 2` waits (for M, L and S
            # to complete the next lot), while `IKUT <code> S 1` is accepted and admits nobody.
            sizes = LOT_ORDER * lots + ["XL"]
            waitlist[label] = {
                "code": code,
                "session_id": session.id,
                "confirmed": sizes,
                "waiting": [("XL", 2)] * count,
            }
    for prefix, info in zip((821, 822, 823, 851, 852), [*growth.values(), *waitlist.values()], strict=True):
        confirmed, waiting = info.pop("confirmed"), info.pop("waiting")
        info["participants"], info["waiting"] = len(confirmed), len(waiting)
        bulk_participants(factory, info["session_id"], confirmed, waiting, prefix)
    with factory() as db:
        db.execute(text("ANALYZE"))
        db.commit()
    return {"spread_codes": spread_codes, "growth": growth, "waitlist": waitlist}


def waitlist_lengths(params: Params) -> tuple[int, int, int]:
    return 0, params.growth_waiting, 5 * params.growth_waiting


def bulk_participants(
    factory, session_id: int, confirmed: list[str], waiting: list[tuple[str, int]], buyer_prefix: int
) -> None:
    """Confirmed joins of one unit of each size in `confirmed` (lot order, so each was within its cap), then
    waiting requests `(size, quantity)`; one new buyer each; counters and the session total to match."""
    from core.clock import now
    from core.db import transaction
    from core.models import Buyer, GroupSession, Participant, SessionVariantCounter, Variant

    stamp = now()
    rows = [(size, 1, "confirmed") for size in confirmed] + [(size, q, "waiting") for size, q in waiting]
    with transaction(factory) as db:
        session = db.get(GroupSession, session_id)
        variant_of = {
            v.size: v.id for v in db.scalars(select(Variant).where(Variant.product_id == session.product_id))
        }
        buyer_ids = db.scalars(
            insert(Buyer).returning(Buyer.id, sort_by_parameter_order=True),
            [
                {"phone": phone(buyer_prefix, n), "name": f"Bulk {n}", "language": "id", "created_at": stamp}
                for n in range(len(rows))
            ],
        ).all()
        db.execute(
            insert(Participant),
            [
                {
                    "session_id": session_id,
                    "buyer_id": buyer_id,
                    "variant_id": variant_of[size],
                    "quantity": quantity,
                    "unit_price": session.price,
                    "total": quantity * session.price,
                    "status": status,
                    "requested_at": stamp,
                    "joined_at": stamp if status == "confirmed" else None,
                }
                for buyer_id, (size, quantity, status) in zip(buyer_ids, rows, strict=True)
            ],
        )
        ordered = Counter(confirmed)
        queued: Counter[str] = Counter()
        for size, quantity in waiting:
            queued[size] += quantity
        db.execute(
            insert(SessionVariantCounter),
            [
                {
                    "session_id": session_id,
                    "variant_id": variant_of[s],
                    "ordered_units": ordered.get(s, 0),
                    "waiting_units": queued.get(s, 0),
                }
                for s in MIX
            ],
        )
        session.ordered_units = len(confirmed)


def verify(url: str) -> dict:
    """Every session: counters == participant sums, and no confirmed join ever exceeded its size's cap."""
    from core.allocation import size_availability
    from core.catalog import product_allocations
    from core.db import session_factory
    from core.models import (
        GroupSession,
        InboundMessage,
        OutboundMessage,
        Participant,
        Product,
        SessionVariantCounter,
        Variant,
    )

    factory = session_factory(url)
    report = {
        "sessions_checked": 0,
        "confirmed_participants": 0,
        "over_cap_joins": 0,
        "counter_mismatches": 0,
        "session_total_mismatches": 0,
        "examples": [],
    }
    with factory() as db:
        products = {p.id: p for p in db.scalars(select(Product))}
        sessions = {s.id: s for s in db.scalars(select(GroupSession))}
        size_of = {v.id: v.size for v in db.scalars(select(Variant))}
        counters: dict[int, dict[str, int]] = defaultdict(dict)
        for counter in db.scalars(select(SessionVariantCounter)):
            counters[counter.session_id][size_of[counter.variant_id]] = counter.ordered_units
        rows = db.execute(
            select(Participant.session_id, Participant.variant_id, Participant.quantity)
            .where(Participant.status == "confirmed")
            .order_by(Participant.id)
        ).all()
        by_session: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for session_id, variant_id, quantity in rows:
            by_session[session_id].append((variant_id, quantity))
        for session_id, session in sessions.items():
            product = products[session.product_id]
            allocations = product_allocations(product)
            ordered: dict[str, int] = {}
            for variant_id, quantity in by_session.get(session_id, []):
                size = size_of[variant_id]
                state = size_availability(
                    size, allocations, ordered, product.lead_lots, product.allocation_policy
                )
                if not state.accepts(quantity):
                    report["over_cap_joins"] += 1
                    if len(report["examples"]) < 5:
                        report["examples"].append(
                            f"{session.code}: {quantity} {size} joined with {state.available} available"
                        )
                ordered[size] = ordered.get(size, 0) + quantity
            stored = {size: units for size, units in counters.get(session_id, {}).items() if units}
            if stored != {size: units for size, units in ordered.items() if units}:
                report["counter_mismatches"] += 1
                if len(report["examples"]) < 5:
                    report["examples"].append(f"{session.code}: counters {stored} != participants {ordered}")
            if session.ordered_units != sum(ordered.values()):
                report["session_total_mismatches"] += 1
            report["sessions_checked"] += 1
            report["confirmed_participants"] += len(by_session.get(session_id, []))
        report["inbound_messages"] = db.scalar(select(func.count(InboundMessage.id)))
        report["outbox_messages"] = db.scalar(select(func.count(OutboundMessage.id)))
    report["ok"] = not (
        report["over_cap_joins"] or report["counter_mismatches"] or report["session_total_mismatches"]
    )
    return report


def confirmed_in(url: str, codes: list[str]) -> int:
    from core.db import session_factory
    from core.models import GroupSession, Participant

    with session_factory(url)() as db:
        return db.scalar(
            select(func.count(Participant.id))
            .join(GroupSession, GroupSession.id == Participant.session_id)
            .where(GroupSession.code.in_(codes), Participant.status == "confirmed")
        )


def join_query_plans(url: str, code: str, size: str, settings_env: dict[str, str]) -> dict:
    """One join run in-process (then rolled back): how many SQL statements it issues, and the executed
    plan (EXPLAIN ANALYZE, actual rows) of each SELECT that reads `participants`, so growth with the
    session's size can be explained."""
    from core import conversation
    from core.db import engine_for, session_factory
    from core.settings import Settings

    settings = Settings.from_env(settings_env)
    engine = engine_for(url)
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with session_factory(url)() as db:
            db.begin()
            inbound = conversation.Inbound(sid(), f"whatsapp:{phone(819, 1)}", f"IKUT {code} {size} 1")
            reply = conversation.handle(db, inbound, settings)
            db.flush()  # the reply is written at the end of the transaction, still under the session lock
            event.remove(engine, "before_cursor_execute", capture)
            plans = []
            for statement, parameters in captured:
                if "participants" not in statement or not statement.lstrip().upper().startswith("SELECT"):
                    continue
                explained = db.connection().exec_driver_sql(
                    "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
                )
                plan = explained.scalar()
                plans.append(
                    {"sql": " ".join(statement.split())[:160], "nodes": _plan_nodes(plan[0]["Plan"])}
                )
            db.rollback()
    finally:
        if event.contains(engine, "before_cursor_execute", capture):
            event.remove(engine, "before_cursor_execute", capture)
    return {
        "joined": reply.text.startswith("✅"),
        "statements": len(captured),
        "participants_selects": plans,
    }


def _plan_nodes(node: dict) -> list[str]:
    label = node["Node Type"]
    if node.get("Index Name"):
        label += f" using {node['Index Name']}"
    if node.get("Relation Name"):
        label += f" on {node['Relation Name']}"
    label += f" ({node.get('Actual Rows')} rows)"
    out = [label]
    for child in node.get("Plans", []):
        out.extend(_plan_nodes(child))
    return out


# ---------------------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------------------


class Server:
    """gunicorn serving the real app (plus /bench/ping) on a free loopback port."""

    def __init__(self, env: dict[str, str], params: Params, log_path: Path):
        self.port = free_port()
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(params.workers),
            "--worker-class",
            params.worker_class,
            "--threads",
            str(params.threads),
            "--timeout",
            "30",
            "--keep-alive",
            "10",
            "--log-level",
            "warning",
            "bench.webhook_app:create_bench_app()",
        ]
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{PING_PATH}", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"gunicorn did not answer within {timeout} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()

    def log_problems(self) -> dict:
        lines = self.log_path.read_text(errors="replace").splitlines()
        problems = [line for line in lines if re.search(r"Traceback|\bERROR\b|CRITICAL|WORKER TIMEOUT", line)]
        return {"lines": len(lines), "problem_lines": len(problems), "examples": problems[:5]}


# ---------------------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------------------


def ceiling(load: LoadGenerator, params: Params, duplicate_sid: str) -> dict:
    n = params.ceiling_requests
    get_ping = [Request("GET", PING_PATH, None, {}, "ping_get")] * n
    ping_form = {"MessageSid": "SM" + "0" * 32, "From": "whatsapp:+6281200000000", "Body": "PING"}
    post_ping = [signed_post(PING_PATH, ping_form, "ping_signed")] * n
    duplicate = [whatsapp(phone(812, 0), "MENU", duplicate_sid, "duplicate")] * n
    out = {}
    for name, batch in (("ping_get", get_ping), ("ping_signed", post_ping), ("duplicate", duplicate)):
        result = load.run(batch, params.clients, params.deadline_seconds)
        out[name] = summarise(result)
        bad = [o for o in result.outcomes if o.status == 200 and reply_text(o.text) is None]
        out[name]["errors"] += len(bad)
        log(
            f"  {name:12s} {out[name]['req_per_s']:>8} req/s  p50 {out[name]['p50_ms']} ms  "
            f"p99 {out[name]['p99_ms']} ms  errors {out[name]['errors']}"
        )
    return out


def hot(load: LoadGenerator, params: Params, url: str) -> dict:
    rng = random.Random(SEED)
    batch = [
        whatsapp(phone(813, n), f"IKUT HOT {rng.choice(list(MIX))} {rng.randint(1, 3)}", tag="hot")
        for n in range(params.hot_buyers)
    ]
    result = load.run(batch, params.clients, params.deadline_seconds)
    summary = summarise(result)
    summary["outcomes"] = dict(Counter(classify(o) for o in result.outcomes))
    summary["confirmed_in_db"] = confirmed_in(url, ["HOT"])
    summary["joined_replies_match_db"] = summary["outcomes"].get("joined", 0) == summary["confirmed_in_db"]
    # What the admin sees afterwards (the real admin API, bearer token): every size within its cap.
    view = load.run(
        [Request("GET", "/api/v1/sessions/HOT", None, {"Authorization": f"Bearer {ADMIN_TOKEN}"})], 1
    )
    answer = view.outcomes[0]
    sizes = json.loads(answer.text)["sizes"] if answer.status == 200 else []
    summary["admin_view"] = {
        "status": answer.status,
        "sizes": {s["size"]: {k: s[k] for k in ("ordered", "cap", "available", "locked")} for s in sizes},
        "all_within_cap": bool(sizes) and all(s["ordered"] <= s["cap"] for s in sizes),
    }
    return summary


def spread(load: LoadGenerator, params: Params, url: str, codes: list[str]) -> dict:
    rng = random.Random(SEED + 1)
    sizes, weights = list(MIX), list(MIX.values())
    jobs = [codes[n % len(codes)] for n in range(params.spread_joins)]
    rng.shuffle(jobs)
    batch = [
        whatsapp(
            phone(814, n), f"IKUT {code} {rng.choices(sizes, weights)[0]} {rng.randint(1, 3)}", tag="spread"
        )
        for n, code in enumerate(jobs)
    ]
    result = load.run(batch, params.clients, params.deadline_seconds)
    summary = summarise(result)
    summary["sessions"] = len(codes)
    summary["outcomes"] = dict(Counter(classify(o) for o in result.outcomes))
    summary["confirmed_in_db"] = confirmed_in(url, codes)
    summary["joined_replies_match_db"] = summary["outcomes"].get("joined", 0) == summary["confirmed_in_db"]
    return summary


def growth(load: LoadGenerator, params: Params, sessions: dict) -> dict:
    """Sequential joins (one client), the sessions taking turns request by request."""
    labels = list(sessions)
    batch = []
    for n in range(params.growth_joins):
        for index, label in enumerate(labels):
            info = sessions[label]
            size = LOT_ORDER[(info["participants"] + n) % len(LOT_ORDER)]  # demand that follows the mix
            batch.append(
                whatsapp(phone(815, index * 100_000 + n), f"IKUT {info['code']} {size} 1", tag=label)
            )
    result = load.run(batch, 1, params.deadline_seconds)
    out: dict = {}
    for label in labels:
        outcomes = [o for o in result.outcomes if o.tag == label]
        latencies = [o.seconds for o in outcomes if o.status == 200]
        trimmed = sorted(latencies)[: max(1, int(len(latencies) * 0.9))]
        out[label] = {
            "code": sessions[label]["code"],
            "participants_before": sessions[label]["participants"],
            "waiting_before": sessions[label]["waiting"],
            "joins": len(outcomes),
            "p50_ms": round(percentile(latencies, 50) * 1000, 2),
            "p90_ms": round(percentile(latencies, 90) * 1000, 2),
            "p99_ms": round(percentile(latencies, 99) * 1000, 2),
            "trimmed_mean_ms": round(statistics.fmean(trimmed) * 1000, 2),
            "errors": sum(1 for o in outcomes if o.status != 200),
            "outcomes": dict(Counter(classify(o) for o in outcomes)),
        }
    for label in labels[1:]:
        out[label]["ratio_p50_vs_small"] = round(out[label]["p50_ms"] / out["small"]["p50_ms"], 3)
        out[label]["ratio_trimmed_mean_vs_small"] = round(
            out[label]["trimmed_mean_ms"] / out["small"]["trimmed_mean_ms"], 3
        )
    return out


def waitlist_cost(url: str, params: Params, sessions: dict, settings_env: dict[str, str]) -> dict:
    """In-process (no HTTP), each join rolled back so the state never changes: the cost of one accepted
    join (`IKUT <code> S 1`, which admits nobody) as the session's waitlist grows. Rolled back because
    over HTTP the joins would eventually complete lots and admit the waiting requests."""
    from core import conversation
    from core.db import session_factory
    from core.settings import Settings

    settings = Settings.from_env(settings_env)
    factory = session_factory(url)
    labels = list(sessions)
    timings: dict[str, list[float]] = {label: [] for label in labels}
    joined: Counter[str] = Counter()
    for n in range(params.growth_joins):
        for index, label in enumerate(labels):
            code = sessions[label]["code"]
            inbound = conversation.Inbound(
                sid(), f"whatsapp:{phone(818, index * 100_000 + n)}", f"IKUT {code} S 1"
            )
            with factory() as db:
                begin = time.perf_counter()
                db.begin()
                reply = conversation.handle(db, inbound, settings)
                db.flush()
                timings[label].append(time.perf_counter() - begin)
                db.rollback()
            joined[label] += reply.text.startswith("✅")
    out: dict = {}
    for label in labels:
        values = timings[label]
        out[label] = {
            "code": sessions[label]["code"],
            "participants_before": sessions[label]["participants"],
            "waiting_before": sessions[label]["waiting"],
            "joins": len(values),
            "joined": joined[label],
            "p50_ms": round(percentile(values, 50) * 1000, 2),
            "p90_ms": round(percentile(values, 90) * 1000, 2),
        }
    for label in labels[1:]:
        out[label]["ratio_p50_vs_none"] = round(out[label]["p50_ms"] / out[labels[0]]["p50_ms"], 3)
    return out


# ---------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------


def machine_info(url: str) -> dict:
    from importlib.metadata import version

    with create_engine(url).connect() as connection:
        pg_version = connection.execute(text("SHOW server_version")).scalar()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": pg_version,
        **{name: version(name) for name in ("gunicorn", "flask", "sqlalchemy", "psycopg", "twilio")},
    }


def mean_rps(runs: list[dict]) -> float:
    return statistics.fmean(r["req_per_s"] for r in runs)


def markdown_table(data: dict) -> str:
    r = data["results"]
    ceil = r["ceiling"]
    lines = [
        f"Run of {data['generated_at']} ({'quick' if data['quick'] else 'full'}), "
        f"{data['machine']['cpu_count']} CPUs, PostgreSQL {data['machine']['postgresql']}, "
        f"gunicorn {data['server']['worker_class']} {data['server']['workers']} workers x "
        f"{data['server']['threads']} threads, {data['parameters']['clients']} client threads.",
        "",
        "| scenario | requests | req/s | p50 ms | p99 ms | errors | share of ceiling |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, label in (
        ("ping_get", "ceiling: `GET /bench/ping` (Flask only)"),
        ("ping_signed", "ceiling: signed `POST /bench/ping` (+ form, signature)"),
        ("duplicate", "duplicate MessageSid (+ one SELECT)"),
    ):
        for index, run in enumerate(ceil[name]):
            lines.append(
                f"| {label}, {'before' if index == 0 else 'after'} | {run['requests']} | {run['req_per_s']} | "
                f"{run['p50_ms']} | {run['p99_ms']} | {run['errors']} | |"
            )
    for name, label in (("hot", "(a) hot session, all at once"), ("spread", "(b) spread over sessions")):
        s = r[name]
        lines.append(
            f"| {label} | {s['requests']} | {s['req_per_s']} | {s['p50_ms']} | {s['p99_ms']} | {s['errors']} | "
            f"{s['share_of_ping_signed']:.0%} of signed ping, {s['share_of_duplicate']:.0%} of duplicate |"
        )
    g = r["growth"]
    integrity = r["integrity"]
    lines += [
        "",
        "| (c) sequential joins over HTTP into | confirmed before | joins | p50 ms | p90 ms | "
        "trimmed mean ms | vs smaller (p50 / trimmed mean) | errors |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for s in g.values():
        ratio = (
            f"x{s['ratio_p50_vs_small']} / x{s['ratio_trimmed_mean_vs_small']}"
            if "ratio_p50_vs_small" in s
            else "1"
        )
        lines.append(
            f"| {s['code']} | {s['participants_before']} | {s['joins']} | {s['p50_ms']} | "
            f"{s['p90_ms']} | {s['trimmed_mean_ms']} | {ratio} | {s['errors']} |"
        )
    lines += [
        "",
        "| (c) waitlist, in-process joins rolled back, into | confirmed before | waiting before | joins | "
        "p50 ms | p90 ms | vs no waitlist (p50) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for s in r["waitlist"].values():
        ratio = f"x{s['ratio_p50_vs_none']}" if "ratio_p50_vs_none" in s else "1"
        lines.append(
            f"| {s['code']} | {s['participants_before']} | {s['waiting_before']} | {s['joins']} | "
            f"{s['p50_ms']} | {s['p90_ms']} | {ratio} |"
        )
    hot_outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["hot"]["outcomes"].items()))
    spread_outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["spread"]["outcomes"].items()))
    statements = ", ".join(f"{code} {p['statements']}" for code, p in r["join_plans"].items())
    lines += [
        "",
        f"- (c) SQL statements per accepted join: {statements}.",
        f"- (a) replies: {hot_outcomes}; confirmed rows in the database {r['hot']['confirmed_in_db']}.",
        f"- (b) replies: {spread_outcomes}; confirmed rows in the database {r['spread']['confirmed_in_db']}.",
        f"- Integrity: {integrity['sessions_checked']} sessions, {integrity['confirmed_participants']} confirmed "
        f"participants replayed in id order: {integrity['over_cap_joins']} over a cap, "
        f"{integrity['counter_mismatches']} counter mismatches, "
        f"{integrity['session_total_mismatches']} session total mismatches; "
        f"{integrity['outbox_messages']} outbox messages.",
        f"- Server log: {r['server_log']['problem_lines']} error lines. Total run {data['run_seconds']} s.",
    ]
    return "\n".join(lines)


def update_markdown(table: str) -> None:
    if not REPORT_MD.exists():
        return
    content = REPORT_MD.read_text()
    if TABLE_START not in content or TABLE_END not in content:
        return
    head, rest = content.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    REPORT_MD.write_text(f"{head}{TABLE_START}\n{table}\n{TABLE_END}{tail}")


# ---------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~20 s smoke run (writes no results file)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="an existing database on the server, used to create and drop the bench database",
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--clients", type=int, default=16, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    parser.add_argument("--output", type=Path, help=f"results JSON (full run default: {RESULTS_JSON})")
    parser.add_argument("--keep-db", action="store_true", help=f"keep the {DB_NAME} database afterwards")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    sizes = QUICK if args.quick else FULL
    params = Params(
        **sizes,
        clients=args.clients,
        workers=args.workers,
        threads=args.threads if args.worker_class == "gthread" else 1,
        worker_class=args.worker_class,
        deadline_seconds=60.0 if args.quick else 120.0,
    )
    output = args.output or (None if args.quick else RESULTS_JSON)
    log(f"parameters: {params}")
    load_before = os.getloadavg()

    url = create_database(args.postgres_url)
    server = load = None
    workdir = Path(tempfile.mkdtemp(prefix="laku-bench-webhook-"))
    try:
        log(f"database {DB_NAME} migrated; seeding")
        seeded = seed(url, params)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "WAREHOUSE_"))},
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": url,
            "REDIS_URL": args.redis_url,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "ADMIN_TOKEN": ADMIN_TOKEN,
        }
        server = Server(env, params, workdir / "gunicorn.log")
        server.wait_ready()
        log(f"gunicorn up on 127.0.0.1:{server.port}: {' '.join(server.command[2:])}")
        load = LoadGenerator("127.0.0.1", server.port)

        # Warm-up: every worker's pool and code paths; also stores the message the duplicate path repeats.
        duplicate_sid = sid()
        warm = load.run([whatsapp(phone(812, 0), "MENU", duplicate_sid, "warm")], 1)
        assert warm.outcomes[0].status == 200, warm.outcomes[0]
        warm_batch = [Request("GET", PING_PATH, None, {}, "warm")] * 200
        warm_batch += [whatsapp(phone(812, 1 + n), "INFO HOT", tag="warm") for n in range(40)]
        warm = load.run(warm_batch, params.clients)
        assert all(o.status == 200 for o in warm.outcomes), [o for o in warm.outcomes if o.status != 200][:3]

        results: dict = {"ceiling": {}}
        log("ceiling (before)")
        before = ceiling(load, params, duplicate_sid)
        log(f"(a) hot session: {params.hot_buyers} buyers join HOT at once")
        results["hot"] = hot(load, params, url)
        log(f"    {results['hot']}")
        log(f"(b) spread: {params.spread_joins} joins over {params.spread_sessions} sessions")
        results["spread"] = spread(load, params, url, seeded["spread_codes"])
        log(f"    {results['spread']}")
        log("ceiling (after)")
        after = ceiling(load, params, duplicate_sid)
        for name in before:
            results["ceiling"][name] = [before[name], after[name]]
        for name in ("hot", "spread"):
            rps = results[name]["req_per_s"]
            results[name]["share_of_ping_signed"] = round(
                rps / mean_rps(results["ceiling"]["ping_signed"]), 3
            )
            results[name]["share_of_duplicate"] = round(rps / mean_rps(results["ceiling"]["duplicate"]), 3)
            results[name]["share_of_ping_get"] = round(rps / mean_rps(results["ceiling"]["ping_get"]), 3)
        log(
            f"(c) growth: {params.growth_joins} sequential joins each, {params.growth_small} vs "
            f"{params.growth_large} participants"
        )
        results["growth"] = growth(load, params, seeded["growth"])
        log("    " + ", ".join(f"{k} p50 {v['p50_ms']} ms" for k, v in results["growth"].items()))
        log("(c) waitlist: in-process joins, rolled back, as the waitlist grows")
        results["waitlist"] = waitlist_cost(url, params, seeded["waitlist"], env)
        log("    " + ", ".join(f"{v['code']} p50 {v['p50_ms']} ms" for v in results["waitlist"].values()))
        results["join_plans"] = {
            info["code"]: join_query_plans(url, info["code"], "S", env)
            for info in [*seeded["growth"].values(), seeded["waitlist"]["many"]]
        }
    finally:
        if load is not None:
            load.close()
        if server is not None:
            server.stop()
    try:
        results["server_log"] = server.log_problems()
        log("verifying the database")
        results["integrity"] = verify(url)
        log(f"    {results['integrity']}")
        data = {
            "schema_version": SCHEMA_VERSION,
            "benchmark": "webhook",
            "generated_at": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": "python -m bench.webhook" + (" --quick" if args.quick else ""),
            "quick": args.quick,
            "machine": {
                **machine_info(url),
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
            },
            "server": {
                "command": " ".join(server.command[2:]),
                "worker_class": params.worker_class,
                "workers": params.workers,
                "threads": params.threads,
                "signature_checked": True,
                "public_base_url": PUBLIC_BASE_URL,
                "redis_url": args.redis_url,
            },
            "parameters": {
                **{k: v for k, v in vars(params).items()},
                "lot_mix": MIX,
                "lead_lots": 2,
                "target_moq": BIG_MOQ,
                "waitlist": "off for HOT, SPREAD and G<n> sessions; on for the W<n> sessions of (c)",
                "seed": SEED,
            },
            "results": results,
        }
    finally:
        if not args.keep_db:
            drop_database(args.postgres_url)
    data["run_seconds"] = round(time.monotonic() - started, 1)
    table = markdown_table(data)
    print(table, flush=True)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        log(f"wrote {output}")
        if output == RESULTS_JSON:
            update_markdown(table)
    errors = (
        sum(run["errors"] for runs in results["ceiling"].values() for run in runs)
        + results["hot"]["errors"]
        + results["spread"]["errors"]
        + results["growth"]["small"]["errors"]
        + results["growth"]["large"]["errors"]
    )
    ok = errors == 0 and results["integrity"]["ok"] and results["hot"]["admin_view"]["all_within_cap"]
    log(f"{'OK' if ok else 'FAILED'}: {errors} request errors, integrity ok={results['integrity']['ok']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
