"""The expiry benchmark's reminders run: open sessions whose reminder slot is due, planned in memory (so
who must be told is known before the sweep runs), seeded in bulk, swept by the product's reminder job
(`jobs.reminders.send_deadline_reminders`, the one `rq cron` runs), then checked.

Half the sessions are inside their 3-hour slot (the 24-hour one passed too: only the 3-hour reminder may
go), half inside their 24-hour slot (the next look must be scheduled at 3 hours). Outcomes: short of the
minimum (every buyer is told, a third of these sessions with a waiting request), at the minimum with
nobody waiting (nobody is told), at the minimum with requests waiting (only their buyers are told). A
tenth of the buyers sent BERHENTI. Every buyer already has a referral tag (their join reply gave one).
"""

from __future__ import annotations

import datetime as _dt
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, text

from bench.common import engine
from bench.expiry_checks import drain_waiting
from bench.expiry_data import (
    EN_SHARE,
    MIX,
    SIZES,
    buyer_row,
    continue_ids,
    participant_row,
    phone,
    seed_catalog,
    session_row,
)
from core.models import Buyer, GroupSession, Participant, SessionVariantCounter
from core.understanding import REFERRAL_ALPHABET

REMINDER_JOB = "jobs.reminders.send_deadline_reminders"
OUTCOMES = ("short", "reached", "reached_waiting")
OUTCOME_SHARES = {"short": 0.60, "reached": 0.25, "reached_waiting": 0.15}
OPTED_OUT_SHARE = 0.10
WAITING_IN_SHORT_SHARE = 1 / 3
SLOTS = (24, 3)  # the product's default REMINDER_HOURS, which the benchmark's workers run with


@dataclass
class SessionPlan:
    code: str
    outcome: str
    product: str
    slot: int  # the slot due now
    ends_in_seconds: float
    target_moq: int
    joins: list[tuple[int, str, int, str]]  # (buyer index, size, quantity, status)

    @property
    def units(self) -> int:
        return sum(q for _, _, q, status in self.joins if status == "confirmed")

    @property
    def buyers(self) -> int:
        return len({b for b, *_ in self.joins})

    def told(self, opted_out: set[int]) -> set[int]:
        """The buyers a reminder must reach (derived here from the rule, not taken from core)."""
        short = self.units < self.target_moq
        return {b for b, _, _, status in self.joins if (short or status == "waiting") and b not in opted_out}


@dataclass
class Plan:
    sessions: list[SessionPlan]
    buyers: int
    languages: list[str]
    opted_out: set[int]
    products: list[str]

    def expected(self) -> dict[str, Any]:
        per_session = {s.code: len(s.told(self.opted_out)) for s in self.sessions}
        return {
            "sessions": len(self.sessions),
            "by_outcome": dict(Counter(s.outcome for s in self.sessions)),
            "by_slot": dict(Counter(s.slot for s in self.sessions)),
            "participants": sum(len(s.joins) for s in self.sessions),
            "messages": sum(per_session.values()),
            "messages_by_kind": {"reminder": sum(per_session.values())},
            "per_session_messages": per_session,
        }


def plan_reminders(count: int, seed: int, buyers_per_session: tuple[int, int], products: int) -> Plan:
    rng = random.Random(f"laku-reminders-bench|{seed}|{count}|{buyers_per_session}|{products}")
    keys = [f"RM{n:03d}" for n in range(1, products + 1)]
    shares = [(o, round(count * OUTCOME_SHARES[o])) for o in OUTCOMES[1:]]
    outcomes = [o for o, n in shares for _ in range(n)]
    outcomes += ["short"] * (count - len(outcomes))
    rng.shuffle(outcomes)
    buyers = max(3 * count, 10 * buyers_per_session[1])
    planned = []
    for n, outcome in enumerate(outcomes, 1):
        who = rng.sample(range(buyers), rng.randint(*buyers_per_session) + 1)
        waiter, joiners = who[0], who[1:]
        joins = [
            (b, rng.choices(SIZES, list(MIX.values()))[0], rng.randint(1, 3), "confirmed") for b in joiners
        ]
        units = sum(q for _, _, q, _ in joins)
        if outcome == "reached_waiting" or (outcome == "short" and rng.random() < WAITING_IN_SHORT_SHARE):
            joins.append((waiter, rng.choice(SIZES), rng.randint(1, 3), "waiting"))
        target = units + rng.randint(1, 12) if outcome == "short" else rng.randint(max(1, units // 2), units)
        slot = rng.choice(SLOTS)
        ends_in = rng.uniform(0.5, 2.5) if slot == 3 else rng.uniform(4, 20)
        planned.append(
            SessionPlan(f"RM{n:05d}", outcome, rng.choice(keys), slot, ends_in * 3600, target, joins)
        )
    languages = ["en" if rng.random() < EN_SHARE else "id" for _ in range(buyers)]
    opted_out = {b for b in range(buyers) if rng.random() < OPTED_OUT_SHARE}
    return Plan(planned, buyers, languages, opted_out, keys)


def referral_tag(n: int) -> str:
    """A distinct tag per buyer, in the tags' own alphabet."""
    digits = []
    for _ in range(6):
        n, digit = divmod(n, len(REFERRAL_ALPHABET))
        digits.append(REFERRAL_ALPHABET[digit])
    return "".join(reversed(digits))


def seed(url: str, plan: Plan) -> None:
    """Into empty tables: the catalogue through `core.catalog`, the rest in bulk with explicit ids."""
    stamp = _dt.datetime.now(_dt.UTC)
    products = seed_catalog(url, plan.products)
    with engine(url).begin() as db:
        db.execute(
            insert(Buyer.__table__),
            [
                buyer_row(
                    b,
                    plan.languages[b],
                    stamp - _dt.timedelta(days=3),
                    referral_tag=referral_tag(b),
                    opted_out_at=stamp - _dt.timedelta(days=1) if b in plan.opted_out else None,
                    last_inbound_at=stamp - _dt.timedelta(hours=(b % 48) + 1),  # half inside 24 hours
                )
                for b in range(plan.buyers)
            ],
        )
        rows, participants, counters = [], [], []
        for n, s in enumerate(plan.sessions, 1):
            ends = stamp + _dt.timedelta(seconds=s.ends_in_seconds)
            row = session_row(n, s.code, products[s.product][0], s.target_moq, s.units, ends)
            reached_at = row["starts_at"] + _dt.timedelta(hours=1) if row["moq_reached_at"] else None
            # the next look where the last one left it: at the slot due now
            rows.append(
                row | {"moq_reached_at": reached_at, "next_reminder_at": ends - _dt.timedelta(hours=s.slot)}
            )
            variants = products[s.product][1]
            demand: Counter[tuple[str, str]] = Counter()
            for m, (buyer, size, quantity, status) in enumerate(s.joins):
                at = row["starts_at"] + _dt.timedelta(minutes=m + 1)
                demand[(size, status)] += quantity
                participants.append(participant_row(n, buyer, variants[size], quantity, at, status))
            for size in {size for size, _ in demand}:
                counters.append(
                    {
                        "session_id": n,
                        "variant_id": variants[size],
                        "ordered_units": demand[(size, "confirmed")],
                        "waiting_units": demand[(size, "waiting")],
                    }
                )
        db.execute(insert(GroupSession.__table__), rows)
        continue_ids(db, "buyers", "sessions")
        db.execute(insert(Participant.__table__), participants)
        db.execute(insert(SessionVariantCounter.__table__), counters)


def still_to_remind(url: str) -> int:
    """Sessions whose next look is due (none once the sweep is done)."""
    with engine(url).connect() as connection:
        count = connection.execute(
            text(
                "SELECT count(*) FROM sessions WHERE next_reminder_at IS NOT NULL AND next_reminder_at <= now()"
            )
        ).scalar()
    return int(count or 0)


def verify(url: str, redis_url: str, plan: Plan, returns: list[dict]) -> dict[str, dict]:
    """Each session looked at once with its planned count; the outbox rows exactly the planned (session,
    buyer, slot) reminders, each queued; the next look scheduled; one RQ send job per row, none run."""
    expected = plan.expected()
    checks: dict[str, dict] = {}

    def check(name: str, ok: bool, **detail: Any) -> None:
        checks[name] = {"ok": bool(ok), **detail}

    looked = [r["result"]["reminded"] for r in returns]
    all_looked = Counter(code for result in looked for code in result)
    wrong = [
        c for result in looked for c, n in result.items() if expected["per_session_messages"].get(c) != n
    ]
    retried = [c for r in returns for c in r["result"]["retry_later"]]
    check(
        "each_session_reminded_once",
        set(all_looked) == set(expected["per_session_messages"])
        and max(all_looked.values(), default=1) == 1
        and not wrong,
        looked_at=sum(all_looked.values()),
        twice=sum(1 for n in all_looked.values() if n > 1),
        wrong_count=len(wrong),
        per_job=[len(result) for result in looked],
        retried_then_closed=len(retried),
    )
    want = {(s.code, phone(b), s.slot) for s in plan.sessions for b in s.told(plan.opted_out)}
    with engine(url).connect() as db:
        rows = db.execute(
            text(
                "SELECT s.code, m.to_phone, m.idempotency_key, m.kind, m.status, m.attempts, m.id "
                "FROM outbound_messages m JOIN sessions s ON s.id = m.session_id"
            )
        ).all()
        total = db.execute(text("SELECT count(*) FROM outbound_messages")).scalar()
        got = {(code, to, int(key.split(":")[2])) for code, to, key, *_ in rows}
        check(
            "outbox_rows_exactly_as_computed",
            got == want
            and len(rows) == total == len(want) == expected["messages"]
            and len({key for _, _, key, *_ in rows}) == len(rows)
            and all(
                kind == "reminder" and status == "queued" and attempts == 0
                for *_, kind, status, attempts, _ in rows
            ),
            rows=total,
            expected=expected["messages"],
            missing=len(want - got),
            unexpected=len(got - want),
        )
        ids = {row[-1] for row in rows}
        slot_of = {s.code: s.slot for s in plan.sessions}
        scheduled = db.execute(
            text("SELECT code, ends_at - next_reminder_at, next_reminder_at IS NULL FROM sessions")
        ).all()
        off = [
            code
            for code, before, cleared in scheduled
            if (slot_of[code] == 3 and not cleared)
            or (slot_of[code] == 24 and before != _dt.timedelta(hours=3))
        ]
        check("next_look_scheduled", not off and len(scheduled) == len(plan.sessions), wrong=len(off))

    held, drains = drain_waiting(redis_url, ids)
    check("a_drain_waiting_none_run", held, drain_jobs=drains)
    return checks
