"""The webhook benchmark's scenarios: signed WhatsApp requests, sent to the running server, and what came
back. Every request is built and signed here, so the load generator only sends."""

from __future__ import annotations

import json
import os
import random
import secrets
import statistics
from collections import Counter
from urllib.parse import urlencode
from xml.etree import ElementTree

from sqlalchemy import Engine, event
from twilio.request_validator import RequestValidator

from bench.common import engine, percentile, ratio
from bench.http_load import NO_ANSWER, NOT_SENT, LoadGenerator, Outcome, Request, RunResult
from bench.processes import product_env
from bench.webhook_app import PING_PATH
from bench.webhook_data import LOT_ORDER, MIX, confirmed_in, phone
from bot.app import create_app

WEBHOOK = "/webhooks/twilio/whatsapp"
AUTH_TOKEN = "bench-twilio-auth-token-0123456789"
ADMIN_TOKEN = "bench-admin-token"
PUBLIC_BASE_URL = "https://laku.bench.invalid"
SEED = 20240611


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment of a benchmark's server: its database and Redis, signed webhooks, the admin API."""
    return product_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        ADMIN_TOKEN=ADMIN_TOKEN,
    )


def sid() -> str:
    return "SM" + secrets.token_hex(16)


def signed_form(path: str, form: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + path, form)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return urlencode(form).encode(), headers


def whatsapp_form(number: str, body: str, message_sid: str | None = None) -> dict[str, str]:
    return {
        "MessageSid": message_sid or sid(),
        "AccountSid": "AC" + "0" * 32,
        "From": f"whatsapp:{number}",
        "To": "whatsapp:+14155238886",
        "WaId": number.lstrip("+"),
        "ProfileName": f"Pembeli {number[-4:]}",
        "Body": body,
        "NumMedia": "0",
    }


def whatsapp(number: str, body: str, message_sid: str | None = None, tag: str = "") -> Request:
    return Request("POST", WEBHOOK, *signed_form(WEBHOOK, whatsapp_form(number, body, message_sid)), tag)


def reply_text(body: str) -> str | None:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    return "\n".join((m.findtext("Body") or m.text or "") for m in root.iter("Message"))


def classify(outcome: Outcome) -> str:
    """What the buyer was told, from the reply's first words (unknown wording counts as 'other_reply')."""
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
    if reply.startswith("Anda keluar dari sesi"):
        return "left"
    if reply.startswith("🔒"):
        return "refused_locked"
    if reply.startswith("Maaf, ukuran") and "paling banyak" in reply:
        return "refused_over_max_request"
    if reply.startswith("Maaf, ukuran"):
        return "refused_too_many"
    if "sistem sedang sibuk" in reply:
        return "busy"
    return "other_reply"


def summarise(result: RunResult) -> dict:
    answered = [o.seconds for o in result.outcomes if o.status >= 0]
    errors = [o for o in result.outcomes if o.status != 200 or reply_text(o.text) is None]
    summary = {
        "requests": len(result.outcomes),
        "clients": result.clients,
        "wall_seconds": round(result.wall_seconds, 3),
        "req_per_s": round(len(result.outcomes) / result.wall_seconds, 1) if result.wall_seconds else None,
        "p50_ms": round(percentile(answered, 50) * 1000, 2) if answered else None,
        "p99_ms": round(percentile(answered, 99) * 1000, 2) if answered else None,
        "max_ms": round(max(answered) * 1000, 2) if answered else None,
        "errors": len(errors),
    }
    if errors:
        summary["error_examples"] = sorted({f"{o.status}: {o.text[:120]}" for o in errors})[:5]
    return summary


# ---------------------------------------------------------------------------------------------------------
# Ceiling and the two rushes
# ---------------------------------------------------------------------------------------------------------


def ceiling(load: LoadGenerator, requests: int, clients: int, deadline: float, duplicate_sid: str) -> dict:
    """Three baselines on the same server: Flask only, + form and signature, + one SELECT (a MessageSid
    already processed: the cheapest real webhook path)."""
    ping_form = {"MessageSid": "SM" + "0" * 32, "From": "whatsapp:+6281200000000", "Body": "PING"}
    batches = {
        "ping_get": [Request("GET", PING_PATH, None, {}, "ping_get")] * requests,
        "ping_signed": [Request("POST", PING_PATH, *signed_form(PING_PATH, ping_form), "ping_signed")]
        * requests,
        "duplicate": [whatsapp(phone(812, 0), "MENU", duplicate_sid, "duplicate")] * requests,
    }
    return {name: summarise(load.run(batch, clients, deadline)) for name, batch in batches.items()}


def rush(
    load: LoadGenerator, url: str, requests: list[Request], codes: list[str], clients: int, deadline: float
):
    result = load.run(requests, clients, deadline)
    summary = summarise(result)
    summary["outcomes"] = dict(Counter(classify(o) for o in result.outcomes))
    summary["confirmed_in_db"] = confirmed_in(url, codes)
    summary["joined_replies_match_db"] = summary["outcomes"].get("joined", 0) == summary["confirmed_in_db"]
    return summary


def hot(load: LoadGenerator, url: str, buyers: int, clients: int, deadline: float) -> dict:
    """Every buyer joins one session at once; sizes uniform (not the mix), so the cap refuses many."""
    rng = random.Random(SEED)
    batch = [
        whatsapp(phone(813, n), f"IKUT HOT {rng.choice(list(MIX))} {rng.randint(1, 3)}", tag="hot")
        for n in range(buyers)
    ]
    summary = rush(load, url, batch, ["HOT"], clients, deadline)
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


def spread(
    load: LoadGenerator, url: str, codes: list[str], joins: int, clients: int, deadline: float
) -> dict:
    """Joins over many sessions, sizes following the lot mix."""
    rng = random.Random(SEED + 1)
    sizes, weights = list(MIX), list(MIX.values())
    targets = [codes[n % len(codes)] for n in range(joins)]
    rng.shuffle(targets)
    batch = [
        whatsapp(
            phone(814, n), f"IKUT {code} {rng.choices(sizes, weights)[0]} {rng.randint(1, 3)}", tag="spread"
        )
        for n, code in enumerate(targets)
    ]
    summary = rush(load, url, batch, codes, clients, deadline)
    summary["sessions"] = len(codes)
    return summary


# ---------------------------------------------------------------------------------------------------------
# (c) Growth: one client, the sessions taking turns request by request
# ---------------------------------------------------------------------------------------------------------


def growth(load: LoadGenerator, joins: int, growth_sessions: dict, waitlist_sessions: dict, deadline: float):
    """Sequential joins into sessions with few and many confirmed participants (demand following the
    mix: every join accepted), and into sessions with a growing waitlist, where each join
    (`IKUT <code> S 1`, admitting nobody) is followed by the same buyer's `BATAL <code>`, so the state
    every join meets stays the same. Only the joins are reported."""
    batch = []
    for n in range(joins):
        for index, (label, info) in enumerate(growth_sessions.items()):
            size = LOT_ORDER[(info["participants"] + n) % len(LOT_ORDER)]
            batch.append(
                whatsapp(phone(815, index * 100_000 + n), f"IKUT {info['code']} {size} 1", tag=f"g:{label}")
            )
        for index, (label, info) in enumerate(waitlist_sessions.items()):
            number = phone(818, index * 100_000 + n)
            batch.append(whatsapp(number, f"IKUT {info['code']} S 1", tag=f"w:{label}"))
            batch.append(whatsapp(number, f"BATAL {info['code']}", tag=f"leave:{label}"))
    result = load.run(batch, 1, deadline)

    def stats(tag: str, info: dict) -> dict:
        outcomes = [o for o in result.outcomes if o.tag == tag]
        latencies = [o.seconds for o in outcomes if o.status == 200]
        trimmed = sorted(latencies)[: max(1, int(len(latencies) * 0.9))]
        return {
            "code": info["code"],
            "participants_before": info["participants"],
            "waiting_before": info["waiting"],
            "joins": len(outcomes),
            "p50_ms": round(percentile(latencies, 50) * 1000, 2),
            "p90_ms": round(percentile(latencies, 90) * 1000, 2),
            "p99_ms": round(percentile(latencies, 99) * 1000, 2),
            "trimmed_mean_ms": round(statistics.fmean(trimmed) * 1000, 2),
            "errors": sum(1 for o in outcomes if o.status != 200),
            "outcomes": dict(Counter(classify(o) for o in outcomes)),
        }

    grown = {label: stats(f"g:{label}", info) for label, info in growth_sessions.items()}
    small = grown[next(iter(grown))]
    for label in list(grown)[1:]:
        grown[label]["ratio_p50_vs_small"] = ratio(grown[label]["p50_ms"], small["p50_ms"])
        grown[label]["ratio_trimmed_mean_vs_small"] = ratio(
            grown[label]["trimmed_mean_ms"], small["trimmed_mean_ms"]
        )
    waits = {label: stats(f"w:{label}", info) for label, info in waitlist_sessions.items()}
    none = waits[next(iter(waits))]
    for label in list(waits)[1:]:
        waits[label]["ratio_p50_vs_none"] = ratio(waits[label]["p50_ms"], none["p50_ms"])
    leaves = [o for o in result.outcomes if o.tag.startswith("leave:")]
    left = {"requests": len(leaves), "left": sum(classify(o) == "left" for o in leaves)}
    return grown, waits, left


# ---------------------------------------------------------------------------------------------------------
# SQL per join: the app in this process, its statements seen through SQLAlchemy's engine events
# ---------------------------------------------------------------------------------------------------------


def join_statements(url: str, env: dict[str, str], codes: list[str]) -> dict:
    """For each session, one signed `IKUT <code> S 1` through the app's WSGI interface in this process
    (then `BATAL`, so the state is as before): how many SQL statements the join issued, and the executed
    plan (EXPLAIN ANALYZE, actual rows) of each SELECT that reads `participants`, so growth with the
    session's size can be explained. Only SQLAlchemy's own event hook is used; no product code is touched."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        client = create_app().test_client()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    explain = engine(url)
    out = {}
    for n, code in enumerate(codes):
        captured: list[tuple[str, object, bool]] = []

        def capture(conn, cursor, statement, parameters, context, executemany, into=captured):
            into.append((statement, parameters, executemany))

        number = phone(819, n)
        body, headers = signed_form(WEBHOOK, whatsapp_form(number, f"IKUT {code} S 1"))
        event.listen(Engine, "before_cursor_execute", capture)
        try:
            answer = client.post(WEBHOOK, data=body, headers=headers)
        finally:
            event.remove(Engine, "before_cursor_execute", capture)
        plans = []
        with explain.connect() as connection:
            for statement, parameters, many in captured:
                if (
                    many
                    or "participants" not in statement
                    or not statement.lstrip().upper().startswith("SELECT")
                ):
                    continue
                plan = connection.exec_driver_sql(
                    "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
                ).scalar()
                plans.append(
                    {"sql": " ".join(statement.split())[:160], "nodes": _plan_nodes(plan[0]["Plan"])}
                )
            connection.rollback()
        body, headers = signed_form(WEBHOOK, whatsapp_form(number, f"BATAL {code}"))
        client.post(WEBHOOK, data=body, headers=headers)
        out[code] = {
            "joined": (reply_text(answer.get_data(as_text=True)) or "").startswith("✅"),
            "statements": len(captured),
            "participants_selects": plans,
        }
    return out


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


def known_buyer_statements(url: str, env: dict[str, str], code: str, size: str = "S") -> dict:
    """The SQL statements of the most common join: a buyer the bot knows, whose conversation is already
    about the session (`INFO <code>` first, then `IKUT <code> <size> 1`), through the app's WSGI interface
    in this process; then `BATAL`. Self-contained (the standard library, SQLAlchemy, twilio and the app's
    `create_app` only), so the benchmark runs the very same function against the baseline's code."""
    import os as _os
    from urllib.parse import urlencode as _urlencode

    from sqlalchemy import Engine as _Engine
    from sqlalchemy import event as _event
    from twilio.request_validator import RequestValidator as _Validator

    from bot.app import create_app as _create_app

    saved = {key: _os.environ.get(key) for key in env}
    _os.environ.update(env)
    try:
        client = _create_app().test_client()
    finally:
        for key, value in saved.items():
            if value is None:
                _os.environ.pop(key, None)
            else:
                _os.environ[key] = value
    number = "+6281977700001"
    counter = iter(range(1, 100))

    def post(body: str):
        form = {
            "MessageSid": f"SM{next(counter):02d}" + "7" * 30,
            "From": f"whatsapp:{number}",
            "WaId": number.lstrip("+"),
            "ProfileName": "Pembeli Tetap",
            "Body": body,
        }
        signature = _Validator(env["TWILIO_AUTH_TOKEN"]).compute_signature(
            env["PUBLIC_BASE_URL"] + "/webhooks/twilio/whatsapp", form
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
        return client.post("/webhooks/twilio/whatsapp", data=_urlencode(form), headers=headers)

    post("MENU")
    post(f"INFO {code}")
    seen: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    _event.listen(_Engine, "before_cursor_execute", capture)
    try:
        answer = post(f"IKUT {code} {size} 1")
    finally:
        _event.remove(_Engine, "before_cursor_execute", capture)
    post(f"BATAL {code}")
    return {
        "joined": "Tercatat" in answer.get_data(as_text=True),
        "statements": len(seen),
        "sql": [" ".join(s.split())[:100] for s in seen],
    }
