"""Hostile input: fuzzed commands, webhook posts and admin requests, and concurrent redelivery.

What a request may write is defined exactly (see `expected_webhook_effect` and `expected_admin_rows`);
everything else must stay as it was, and no request is ever answered with a 5xx.

Control characters that XML cannot carry are removed from webhook fields before anything is stored
(`bot.webhooks.clean`), so every reply must be well-formed TwiML.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
import uuid
from datetime import datetime, timedelta
from xml.etree import ElementTree

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from bot.webhooks import clean
from core.clock import now
from core.commands import BUYER, FACTORY, FACTORY_COMMANDS, SESSION_CODE, SIZE, Command, Vocabulary, parse
from core.conversation_state import CONFIRM, Pending
from core.db import transaction
from core.models import (
    Buyer,
    ConversationState,
    GroupSession,
    InboundMessage,
    Participant,
    SessionVariantCounter,
)
from core.phones import InvalidPhone, normalise
from core.understanding import COMMAND_WORDS, MAX_QUANTITY, NAMES
from tests import builders
from tests.builders import ADMIN_HEADERS as ADMIN
from tests.builders import counts
from tests.chat import WEBHOOK, Phone, reply_text, sign

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")
FUZZ = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    database=None,
)
BUSY = "Maaf, sistem sedang sibuk."


# ------------------------------------------------------------------------------------------- strategies


def weighted(*choices):
    """One of the strategies, picked with the given weights: `weighted((3, a), (1, b))`."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(table.__getitem__)


CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from(
    "\x7f\u0085\u2028\u2029\ufeff\u200b"
)
EMOJI = st.sampled_from("🎉🙏👍🏽❤️‍🔥🇮🇩😀👨‍👩‍👧‍👦✅🔒")
ANY_TEXT = st.text()  # hypothesis' text: all of Unicode but surrogates, NUL included
# The words of the first grammar (`WORD CODE SIZE [QTY]`); the one table has many more (tests/test_parser*.py).
OLD_WORDS = (
    "MENU HELP BANTUAN SESI LIST INFO IKUT JOIN ANTRE WAIT BATAL LEAVE STATUS CEK ALAMAT ADDRESS "
    "SIAP CONFIRM TOLAK DECLINE KIRIM SHIPPED"
).split()
FUZZ_VOCABULARY = Vocabulary.of({"FUZZ1": ["S", "M", "L", "XL"]})
WORDS = st.sampled_from(
    [
        *OLD_WORDS,
        *(w.lower() for w in OLD_WORDS),
        "GB1",
        "FUZZ1",
        "M",
        "S",
        "XL",
        "0",
        "-1",
        "1",
        "2",
        "101",
        "1e3",
        "🎉",
    ]
)
COMMANDISH = st.lists(WORDS | st.text(max_size=8), min_size=1, max_size=6).map(" ".join)
JOIN_LIKE = st.builds(
    "{} FUZZ1 {} {}".format,
    st.sampled_from(["IKUT", "join", "ANTRE", "wait", "BATAL"]),
    st.sampled_from(["S", "m", "L", "XL", "XXL"]),
    st.integers(-2, 120),
)
BODY = weighted(
    (2, ANY_TEXT),
    (1, st.text(CONTROL, max_size=20)),
    (1, st.text(EMOJI, max_size=20)),
    (2, st.lists(ANY_TEXT | CONTROL | EMOJI, max_size=30).map("".join)),
    (2, COMMANDISH),
    (1, st.integers(1590, 10_000).map(lambda n: ("IKUT FUZZ1 M 1 " * 800)[:n])),
    (
        1,
        st.sampled_from(
            ["", " ", "\n", "IKUT FUZZ1 M 1", "JOIN FUZZ1 S", "BATAL FUZZ1", "ANTRE FUZZ1 L 2", "STATUS"]
            # the guided flow and its answers, so that steps and proposals are fuzzed too
            + ["IKUT FUZZ1", "ikut", "ikuut FUZZ1 M 2", "batal", "ya", "tidak", "2", "M", "M 2, L 1"]
        ),
    ),
    (3, JOIN_LIKE),
)


# ------------------------------------------------------------------------------------------ the parser


def read(body: str | None, payload: str | None = None, sender: str = BUYER) -> Command:
    """As the webhook reads a buyer's message: with the open session's vocabulary."""
    return parse(body, payload, vocabulary=FUZZ_VOCABULARY, sender=sender)


def check_command(command: Command) -> None:
    assert isinstance(command, Command)
    assert command.name in NAMES
    assert command.language in (None, "id", "en")
    if command.error is not None or command.name in ("empty", "unknown"):
        return
    for inner in (command, command.proposal) if command.proposal else (command,):
        if inner.name in ("join", "wait", "info", "leave", *FACTORY_COMMANDS) and inner.code is not None:
            assert SESSION_CODE.match(inner.code), inner  # None: the session from context
        if inner.name in FACTORY_COMMANDS:
            assert inner.code is not None
        for line in inner.lines:
            assert line.size is None or SIZE.match(line.size), inner
            assert line.quantity is None or 1 <= line.quantity <= MAX_QUANTITY, inner
        if inner.name == "wait":
            assert inner.lines and all(line.size and line.quantity for line in inner.lines), inner
        if inner.name == "address":
            assert 10 <= len(inner.text) <= 500


@FUZZ
@given(body=st.one_of(st.none(), BODY), payload=st.one_of(st.none(), BODY))
def test_parse_never_raises_and_returns_a_consistent_command(body, payload):
    command = read(body, payload)
    check_command(command)
    assert read(body, payload) == command  # deterministic
    if payload and payload.strip():
        assert command == read(None, payload)  # a button payload wins over the body


NOT_WORDS = st.sampled_from(
    ["GB1", "FUZZ1", "M", "S", "XL", "0", "-1", "1", "2", "101", "1e3", "🎉", ",", "."]
)


@FUZZ
@given(
    word=st.sampled_from(OLD_WORDS),
    args=st.lists(NOT_WORDS | st.text("0123456789#%*/()[]", max_size=4), max_size=5),
)
def test_the_old_words_keep_their_command_whatever_codes_sizes_and_numbers_follow(word, args):
    entry = COMMAND_WORDS[word]
    sender = FACTORY if entry.audience == FACTORY else BUYER
    command = read(" ".join([word, *args]), sender=sender)
    check_command(command)
    meant = command.proposal.name if command.name == "ask" else command.name
    # SESI/LIST naming a session asks about it ("sesi KAOS1 tutup kapan?"): that session's INFO
    names_a_code = any(code in args for code in ("GB1", "FUZZ1"))
    assert meant == ("info" if entry.name == "list" and names_a_code else entry.name), command


# --------------------------------------------------------------------------------------- the webhook


def consistency(db_factory, code: str = "FUZZ1") -> None:
    """Counters, the session total and the participant rows agree (no half-written join)."""
    with db_factory() as db:
        session = db.scalar(select(GroupSession).where(GroupSession.code == code))
        confirmed = db.scalar(
            select(func.coalesce(func.sum(Participant.quantity), 0)).where(
                Participant.session_id == session.id, Participant.status == "confirmed"
            )
        )
        counted = db.scalar(
            select(func.coalesce(func.sum(SessionVariantCounter.ordered_units), 0)).where(
                SessionVariantCounter.session_id == session.id
            )
        )
        assert session.ordered_units == confirmed == counted


PHONES = ["+6281200000001", "+6281200000002", "+6285712345678"]  # never the factory's number
_fresh = itertools.count(1)


def fresh_sid() -> str:
    return f"SM{uuid.uuid4().hex}"


SID = weighted(
    (12, st.builds(fresh_sid)),
    (2, st.text(max_size=80)),
    (1, st.sampled_from(["SMrepeat000000000000000000000001", "SMrepeat000000000000000000000002"])),
    (1, st.sampled_from(["", "   ", "x" * 65])),
)
FROM = weighted(
    (8, st.sampled_from([f"whatsapp:{p}" for p in PHONES])),
    (1, st.text(max_size=50)),
    (1, st.text(max_size=30).map(lambda t: "whatsapp:" + t)),
    (
        1,
        st.sampled_from(
            ["", "whatsapp:", "whatsapp:+62", "whatsapp:081200000001", "+6281200000002", "sms:+6281200000002"]
        ),
    ),
)
OPTIONAL = weighted((4, st.none()), (1, ANY_TEXT), (1, st.text(EMOJI)), (1, st.text(CONTROL)), (1, JOIN_LIKE))


@st.composite
def webhook_requests(draw):
    fields: list[tuple[str, str]] = []
    for name, strategy in (("MessageSid", SID), ("From", FROM), ("Body", BODY)):
        if draw(st.integers(0, 19)) == 0:
            continue  # missing
        fields.append((name, draw(strategy)))
        if draw(st.integers(0, 19)) == 0:
            fields.append((name, draw(strategy)))  # duplicated
    for name in ("ProfileName", "ButtonPayload", "WaId"):
        value = draw(OPTIONAL)
        if value is not None:
            fields.append((name, value))
    encoding = draw(st.sampled_from(["form", "form", "form", "form", "json", "text", "multipart"]))
    names = st.text(min_size=1, max_size=10)
    fields.extend(draw(st.lists(st.tuples(names, ANY_TEXT), max_size=2)))
    signing = draw(st.sampled_from(["signed", "signed", "signed", "signed", "missing", "wrong"]))
    return fields, encoding, signing


def expected_webhook_effect(db_factory, fields, encoding, signing):
    """(status, inbound rows added, buyers added, stored reply or None) for one request."""
    if signing != "signed" or encoding != "form":  # Twilio only ever posts url-encoded forms
        return 403, 0, 0, None
    form = MultiDict(fields)
    sid = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
    sender = clean(form.get("From")).strip()
    if not re.fullmatch(r"[A-Za-z0-9]{1,64}", sid) or not sender:
        return 400, 0, 0, None
    with db_factory() as db:
        previous = db.scalar(select(InboundMessage.reply).where(InboundMessage.message_sid == sid))
        if previous is not None:
            return 200, 0, 0, previous
        command = read(clean(form.get("Body")), clean(form.get("ButtonPayload")) or None)
        try:
            phone = normalise(sender)
        except InvalidPhone:
            phone = None
        new_buyer = (
            phone is not None
            and command.name not in FACTORY_COMMANDS
            and db.scalar(select(Buyer.id).where(Buyer.phone == phone)) is None
        )
    return 200, 1, int(new_buyer), None


def step_awaited(db_factory, fields) -> str | None:
    """The step the sender's conversation waits for before the request (a yes may then join)."""
    try:
        phone = normalise(clean(MultiDict(fields).get("From")).strip())
    except InvalidPhone:
        return None
    with db_factory() as db:
        row = db.get(ConversationState, phone)
    pending = Pending.from_json(row.pending) if row is not None and row.pending else None
    return pending.step if pending is not None else None


def message_text(response) -> str:
    """The reply text; parsing it also proves the TwiML is well-formed XML."""
    return "\n".join(m.text or "" for m in ElementTree.fromstring(response.data).iter("Message"))


def post_webhook(client, fields, encoding, signing):
    form = MultiDict(fields)
    url = "http://localhost" + WEBHOOK
    if encoding == "form":
        kwargs = {"data": form}
    elif encoding == "multipart":
        kwargs = {"data": form, "content_type": "multipart/form-data"}
    elif encoding == "json":
        kwargs = {"data": json.dumps(dict(fields)), "content_type": "application/json"}
        form = MultiDict()  # Twilio signs the form parameters; a JSON body has none
    else:
        kwargs = {"data": "\n".join(f"{k}={v}" for k, v in fields), "content_type": "text/plain"}
        form = MultiDict()
    headers = {}
    if signing == "signed":
        headers["X-Twilio-Signature"] = sign(url, form)
    elif signing == "wrong":
        headers["X-Twilio-Signature"] = sign(url, form, token="not-the-token")
    return client.post(WEBHOOK, headers=headers, **kwargs)


@settings(FUZZ, max_examples=250)
@given(request=webhook_requests())
def test_webhook_fuzz_never_500_and_writes_only_what_is_defined(app, db_factory, request):
    if not hasattr(app, "_fuzz_ready"):
        with transaction(db_factory) as db:
            product = builders.product(db, builders.FOUR_SIZES)
            builders.session(db, product.id, code="FUZZ1", target_moq=100_000)
        app._fuzz_ready = True
    client = app.test_client()
    fields, encoding, signing = request
    status, inbound_added, buyers_added, previous = expected_webhook_effect(
        db_factory, fields, encoding, signing
    )
    before = counts(db_factory)
    awaited = step_awaited(db_factory, fields)

    response = post_webhook(client, fields, encoding, signing)

    after = counts(db_factory)
    event(f"webhook {response.status_code} {encoding} {signing}")
    assert response.status_code == status, (response.status_code, response.data[:300])
    if status == 200:
        assert response.mimetype == "text/xml"
        assert response.data.startswith(b'<?xml version="1.0" encoding="UTF-8"?><Response>')
        assert len(message_text(response)) <= 1600
    if previous is not None:
        assert message_text(response) == previous
    assert BUSY.encode() not in response.data
    assert after["inbound_messages"] == before["inbound_messages"] + inbound_added
    assert after["buyers"] == before["buyers"] + buyers_added
    joins = after["participants"] - before["participants"]
    assert 0 <= joins <= 4  # FUZZ1 has four sizes
    event(f"inbound +{inbound_added}, buyers +{buyers_added}, participants +{joins}")
    command = read(
        clean(MultiDict(fields).get("Body")), clean(MultiDict(fields).get("ButtonPayload")) or None
    )
    if inbound_added:
        event(f"command {command.name}")
    if joins:
        # a typed join or wait of FUZZ1 (named, or the only open session), one participant per size;
        # or a yes to a join the conversation had proposed (a guess, or the guided flow's last step)
        if command.name == "yes":
            assert awaited == CONFIRM, (command, awaited)
        else:
            assert command.name in ("join", "wait") and command.code in ("FUZZ1", None), command
            assert command.error is None
            tapped = bool(clean(MultiDict(fields).get("ButtonPayload")))
            assert not (tapped and command.name == "join" and len(command.lines) <= 1)  # a tap asks first
            assert joins <= len(command.lines)
    changed = {name for name in after if after[name] != before[name]}
    allowed = {
        "inbound_messages",
        "buyers",
        "participants",
        "session_variant_counters",
        "conversation_states",
    }
    assert changed <= allowed
    consistency(db_factory)


# ----------------------------------------------------------------------------------------- admin API


TEXT_FOR_ADMIN = ANY_TEXT  # NUL and other control characters included
JSON_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)  # far beyond the database's integer range too
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT_FOR_ADMIN,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT_FOR_ADMIN, children, max_size=3),
    max_leaves=6,
)
DATETIME_TEXT = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.none() | st.timezones()
).map(lambda d: d.isoformat())


def base_payloads(n: int, factory_id: int, product_id: int) -> dict[str, dict]:
    return {
        "/factories": {"name": f"Pabrik {n}", "phone": f"+62812{n:08d}", "address": "Bandung"},
        "/products": {
            "factory_id": factory_id,
            "name": f"Kaos {n}",
            "sku": f"SKU{n}",
            "price": 45_000,
            "grosir_unit_size": 8,
            "lead_lots": 2,
            "allocation_policy": "lot_balanced",
            "waitlist_enabled": True,
            "variants": [
                {"size": "S", "sku": f"SKU{n}-S", "units_per_lot": 4},
                {"size": "M", "sku": f"SKU{n}-M", "units_per_lot": 4},
            ],
        },
        "/sessions": {
            "product_id": product_id,
            "target_moq": 24,
            "ends_at": (now() + timedelta(days=2)).isoformat(),
            "starts_at": (now() - timedelta(minutes=1)).isoformat(),
            "price": 40_000,
            "code": f"FZ{n}",
        },
        "/inventory/BASE-M": {"on_hand": 5},
    }


@st.composite
def admin_requests(draw):
    path = draw(st.sampled_from(["/factories", "/products", "/sessions", "/inventory/BASE-M"]))
    mutations = []
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3]))):  # 0: the valid base payload
        kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "variant"]))
        value = draw(
            JSON_VALUE | DATETIME_TEXT | st.sampled_from(["0812", "+6281300000001", "S", "lot_balanced"])
        )
        mutations.append((kind, draw(st.sampled_from(range(10))), draw(TEXT_FOR_ADMIN), value))
    whole_body = draw(st.one_of(st.none(), st.none(), st.none(), JSON_VALUE))
    return path, mutations, whole_body


def apply_mutations(payload: dict, mutations) -> dict:
    payload = json.loads(json.dumps(payload))
    for kind, index, name, value in mutations:
        keys = sorted(payload)
        if kind == "variant" and isinstance(payload.get("variants"), list) and payload["variants"]:
            variant = payload["variants"][index % len(payload["variants"])]
            if isinstance(variant, dict):
                variant[sorted(variant)[index % len(variant)] if variant else name] = value
        elif kind == "add":
            payload[name] = value
        elif kind == "delete" and keys:
            payload.pop(keys[index % len(keys)])
        elif keys:
            payload[keys[index % len(keys)]] = value
    return payload


def expected_admin_rows(path: str, response_json) -> dict[str, int]:
    if path == "/factories":
        return {"factories": 1}
    if path == "/products":
        variants = response_json["variants"]
        return {
            "products": 1,
            "variants": len(variants),
            "warehouse_inventory": len(variants),
            "grosir_variant_allocations": sum(v["units_per_lot"] is not None for v in variants),
        }
    if path == "/sessions":  # with a counter row per size of its product
        return {"sessions": 1, "session_variant_counters": len(response_json["sizes"])}
    return {}


@settings(FUZZ, max_examples=250)
@given(request=admin_requests())
def test_admin_api_fuzz_is_4xx_never_500_and_never_a_partial_write(app, db_factory, request):
    client = app.test_client()
    if not hasattr(app, "_fuzz_ids"):
        with transaction(db_factory) as db:
            product = builders.product(db, {"S": 4, "M": 4}, sku="BASE")
            app._fuzz_ids = (product.factory_id, product.id)
    path, mutations, whole_body = request
    n = next(_fresh)
    payload = base_payloads(n, *app._fuzz_ids)[path]
    body = whole_body if whole_body is not None else apply_mutations(payload, mutations)
    before = counts(db_factory)

    if path.startswith("/inventory"):
        response = client.put(f"/api/v1{path}", json=body, headers=ADMIN)
    else:
        response = client.post(f"/api/v1{path}", json=body, headers=ADMIN)

    after = counts(db_factory)
    assert response.status_code < 500, (path, body, response.data[:500])
    assert response.mimetype == "application/json"
    delta = {name: after[name] - before[name] for name in after if after[name] != before[name]}
    event(f"admin {path} {response.status_code}")
    if response.status_code in (200, 201):
        assert response.status_code == (200 if path.startswith("/inventory") else 201)
        assert delta == expected_admin_rows(path, response.json)
    else:
        assert 400 <= response.status_code < 500
        assert delta == {}
        assert isinstance(response.json["error"], str) and response.json["error"]
        assert "field" in response.json


# ------------------------------------------------------------------------------------------ concurrency


def run_concurrently(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def runner(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_the_same_message_sid_posted_20_times_at_once_changes_state_once(app, db_factory, requires_postgres):
    with transaction(db_factory) as db:
        product = builders.product(db, builders.TWO_SIZES)
        builders.session(db, product.id)
    form = Phone(None, "+6281200000001").form("IKUT GB1 M 2")
    signature = sign("http://localhost" + WEBHOOK, form)

    def post(_index):
        response = app.test_client().post(WEBHOOK, data=form, headers={"X-Twilio-Signature": signature})
        return response.status_code, reply_text(response)

    results = run_concurrently(20, post)
    assert {status for status, _ in results} == {200}
    replies = {text for _, text in results}
    assert len(replies) == 1
    assert replies.pop().startswith("✅ Tercatat: 2 pcs Kaos TS ukuran M di sesi GB1")
    rows = counts(db_factory)
    assert (rows["participants"], rows["inbound_messages"], rows["buyers"]) == (1, 1, 1)
    with db_factory() as db:
        assert db.scalar(select(GroupSession.ordered_units)) == 2
        ordered = select(SessionVariantCounter.ordered_units).order_by(SessionVariantCounter.variant_id)
        assert db.scalars(ordered).all() == [0, 2]  # S (a row of zeros since the session began), M


def test_twenty_buyers_joining_a_size_at_once_never_oversell_it(app, db_factory, requires_postgres):
    with transaction(db_factory) as db:
        product = builders.product(db, builders.TWO_SIZES)
        builders.session(db, product.id)

    def join(index):
        phone = Phone(app.test_client(), f"+628120000{index:04d}")
        return phone.send("IKUT GB1 M 1")

    replies = run_concurrently(20, join)
    joined = [r for r in replies if r.startswith("✅ Tercatat: 1 pcs")]
    locked = [r for r in replies if r.startswith("🔒 Ukuran M di sesi GB1 sedang terkunci")]
    assert (len(joined), len(locked)) == (8, 12)  # M's cap is 2 lots * 4 = 8 with no S ordered
    rows = counts(db_factory)
    assert (rows["participants"], rows["inbound_messages"], rows["buyers"]) == (8, 20, 20)
    consistency(db_factory, "GB1")
    with db_factory() as db:
        assert db.scalar(select(GroupSession.ordered_units)) == 8


def test_one_new_buyer_sending_ten_messages_at_once_is_registered_once(app, db_factory, requires_postgres):
    def menu(index):
        return Phone(app.test_client(), "+6281200000001", "Sari").send("MENU")

    replies = run_concurrently(10, menu)
    assert all(r.startswith("Halo Sari! Laku Grosir") for r in replies), replies
    rows = counts(db_factory)
    assert (rows["buyers"], rows["inbound_messages"]) == (1, 10)
