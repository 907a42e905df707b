"""The expiry benchmark's checks, after every run, from the database (SQL) and Redis (RQ's registries).

No session still due; every session closed exactly once (the jobs' sweep results are disjoint, cover every
session, each with its planned outcome); one purchase order per PO session with `k = max_v ceil(d_v / a_v)`
lots of `k * a_v` units per size; one order per participant of the stock sessions; inventory reserved
exactly the stock sessions' demand; outbox rows exactly as computed from the data, each still queued;
a drain job waiting in the send queue, none run (the sweep's dispatcher woke a sender; nothing was sent
before the delivery step); counters still equal to the participant sums.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from redis import Redis
from rq import Queue
from rq.registry import FinishedJobRegistry, StartedJobRegistry
from sqlalchemy import text

from bench.common import engine
from bench.expiry_data import MIX, SPARE_UNITS, Plan
from jobs.queues import DRAIN_JOB, SEND_QUEUE


def verify(url: str, redis_url: str, plan: Plan, returns: list[dict]) -> dict[str, dict]:
    expected = plan.expected()
    outcome_of = {s.code: s.outcome for s in plan.sessions}
    lots_of = {s.code: s.lots() for s in plan.sessions if s.outcome == "pending_stock"}
    joins_of = {s.code: len(s.joins) for s in plan.sessions}
    checks: dict[str, dict] = {}

    def check(name: str, ok: bool, **detail: Any) -> None:
        checks[name] = {"ok": bool(ok), **detail}

    with engine(url).connect() as db:
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

    held, drains = drain_waiting(redis_url, ids)
    check("a_drain_waiting_none_run", held, drain_jobs=drains)
    return checks


def drain_waiting(redis_url: str, outbox_ids) -> tuple[bool, int]:
    """Whether the sweep's dispatcher woke a sender for the rows it wrote and nothing ran yet: drain jobs
    waiting in the send queue, none started or finished. Returns (held, drain jobs waiting)."""
    connection = Redis.from_url(redis_url)
    try:
        send_queue = Queue(SEND_QUEUE, connection=connection)
        jobs = send_queue.get_jobs()
        held = (
            bool(outbox_ids)
            and bool(jobs)
            and all(job.func_name == DRAIN_JOB for job in jobs)
            and StartedJobRegistry(queue=send_queue).count == 0
            and FinishedJobRegistry(queue=send_queue).count == 0
        )
        return held, len(jobs)
    finally:
        connection.close()
