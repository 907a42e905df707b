"""The WhatsApp webhook end to end: signed Twilio posts in, TwiML out, the database after each message.

Every test drives the real Flask app through `tests.chat.Phone` and reads the outcome back from the
database and from the admin API (`GET /api/v1/sessions/<code>`).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
from sqlalchemy import func, select, update

from bot.app import create_app
from core import catalog
from core.clock import as_utc, now
from core.db import transaction
from core.models import (
    Buyer,
    GroupSession,
    InboundMessage,
    OutboundMessage,
    Participant,
    SessionStatus,
    SessionVariantCounter,
)
from tests import builders
from tests.builders import counts, make_session, participants, session_json
from tests.chat import AUTH_TOKEN, WEBHOOK, Phone, reply_text, sign, squash, without_share_line

A, B, C, D = "+6281200000001", "+6281200000002", "+6281200000003", "+6281200000004"
E = "+6281200000005"


# --------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def phones(client):
    made: dict[str, Phone] = {}

    def phone(number: str, name: str | None = None) -> Phone:
        if number not in made:
            made[number] = Phone(client, number, name or f"Buyer {number[-2:]}")
        return made[number]

    return phone


def snapshot(db_factory) -> dict:
    """Everything a message could change, except the inbound log and the buyer's last-seen time."""
    with db_factory() as db:
        return {
            "counts": {k: v for k, v in counts(db_factory).items() if k != "inbound_messages"},
            "sessions": sorted(
                (s.code, s.status, s.ordered_units, s.moq_reached_at is not None)
                for s in db.scalars(select(GroupSession))
            ),
            "counters": sorted(
                (c.session_id, c.variant_id, c.ordered_units, c.waiting_units)
                for c in db.scalars(select(SessionVariantCounter))
            ),
            "participants": sorted(
                (p.id, p.buyer_id, p.variant_id, p.quantity, p.status)
                for p in db.scalars(select(Participant))
            ),
            "buyers": sorted((b.phone, b.name, b.language, b.address) for b in db.scalars(select(Buyer))),
            "outbound": sorted((m.idempotency_key, m.status) for m in db.scalars(select(OutboundMessage))),
        }


def inbound_count(db_factory) -> int:
    with db_factory() as db:
        return db.scalar(select(func.count()).select_from(InboundMessage))


def sizes(client, code="GB1") -> dict[str, tuple[int, int, int, bool]]:
    """size -> (ordered, cap, available, locked), from the admin API."""
    return {
        s["size"]: (s["ordered"], s["cap"], s["available"], s["locked"])
        for s in session_json(client, code)["sizes"]
    }


def say(phone: Phone, body: str) -> str:
    return squash(phone.send(body))


# ------------------------------------------------------------------------------------------- signature


def test_valid_signature_gets_twiml(client, db_factory):
    phone = Phone(client, A, "Sari")
    response = phone.post(phone.form("MENU"))
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    root = ElementTree.fromstring(response.data)
    assert root.tag == "Response"
    assert [child.tag for child in root] == ["Message"]
    assert reply_text(response).startswith("Halo Sari! Laku Grosir")
    assert counts(db_factory)["inbound_messages"] == 1


@pytest.mark.parametrize(
    "signature",
    [
        None,  # no header at all
        "",
        "bm90IGEgc2lnbmF0dXJl",
        "wrong-token",
        "other-url",
        "tampered",
    ],
)
def test_bad_signature_is_403_and_nothing_is_stored(client, db_factory, signature):
    make_session(db_factory, builders.TWO_SIZES)
    before = snapshot(db_factory)
    phone = Phone(client, A)
    form = phone.form("IKUT GB1 M 2")
    headers = {}
    if signature == "wrong-token":
        headers["X-Twilio-Signature"] = sign("http://localhost" + WEBHOOK, form, token="another-token")
    elif signature == "other-url":
        headers["X-Twilio-Signature"] = sign("https://evil.example.com" + WEBHOOK, form)
    elif signature == "tampered":
        headers["X-Twilio-Signature"] = sign("http://localhost" + WEBHOOK, form)
        form = {**form, "Body": "IKUT GB1 M 8"}
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    response = client.post(WEBHOOK, data=form, headers=headers)
    assert response.status_code == 403
    assert inbound_count(db_factory) == 0
    assert snapshot(db_factory) == before
    assert counts(db_factory)["buyers"] == 0


def test_status_callback_needs_a_signature_too(client):
    form = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    assert client.post("/webhooks/twilio/status", data=form).status_code == 403


def test_signature_is_computed_on_public_base_url(settings, db_factory):
    app = create_app(
        dataclasses.replace(
            settings, twilio_auth_token=AUTH_TOKEN, public_base_url="https://laku.example.com"
        ),
        dispatch=lambda ids: None,
    )
    client = app.test_client()
    public = Phone(client, A, base_url="https://laku.example.com")
    assert public.post(public.form("MENU")).status_code == 200
    # the URL Flask sees behind the proxy is not what Twilio signed
    local = Phone(client, B, base_url="http://localhost")
    assert local.post(local.form("MENU")).status_code == 403
    assert inbound_count(db_factory) == 1
    assert counts(db_factory)["buyers"] == 1


def test_without_an_auth_token_no_signature_is_needed(settings, db_factory):
    client = create_app(settings, dispatch=lambda ids: None).test_client()
    response = client.post(WEBHOOK, data=Phone(client, A).form("MENU"))
    assert response.status_code == 200
    assert inbound_count(db_factory) == 1


@pytest.mark.parametrize(
    "part",
    ["Content-Disposition: form-data\r\n\r\nx", 'Content-Disposition: form-data; name="\\"\r\n\r\nx'],
    ids=["no name", "backslash name"],
)
def test_a_multipart_part_without_a_name_is_not_a_500(client, db_factory, part):
    body = f"--XX\r\n{part}\r\n--XX--\r\n"
    response = client.post(
        WEBHOOK,
        data=body,
        content_type="multipart/form-data; boundary=XX",
        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
    )
    assert response.status_code == 403
    assert inbound_count(db_factory) == 0


@pytest.mark.parametrize("missing", ["MessageSid", "From"])
def test_missing_message_sid_or_from_is_400_and_nothing_stored(client, db_factory, missing):
    phone = Phone(client, A)
    form = phone.form("MENU")
    del form[missing]
    response = phone.post(form)
    assert response.status_code == 400
    assert ElementTree.fromstring(response.data).tag == "Response"
    assert reply_text(response) == ""
    assert counts(db_factory)["inbound_messages"] == 0
    assert counts(db_factory)["buyers"] == 0


def test_over_long_message_sid_is_400_and_nothing_stored(client, db_factory):
    phone = Phone(client, A)
    response = phone.post(phone.form("MENU", sid="SM" + "a" * 63))
    assert response.status_code == 400
    assert counts(db_factory)["inbound_messages"] == 0


# --------------------------------------------------------------------------------- once per MessageSid


def test_the_same_message_redelivered_gets_the_same_reply_and_changes_nothing(client, db_factory, dispatched):
    make_session(db_factory, builders.TWO_SIZES, target_moq=3)
    assert "Tercatat" in Phone(client, B).send("IKUT GB1 S 1")
    phone = Phone(client, A)
    form = phone.form("IKUT GB1 M 2")  # reaches the MOQ: B is told by WhatsApp, A in this reply
    first = phone.post(form)
    assert first.status_code == 200
    text = reply_text(first)
    assert squash(text).startswith("✅ Tercatat: 2 pcs Kaos TS ukuran M di sesi GB1, total Rp 100.000")
    assert "🎉 Minimum tercapai!" in text
    assert len(dispatched) == 1
    after_first = snapshot(db_factory)
    for _ in range(3):
        again = phone.post(form)
        assert again.status_code == 200
        assert reply_text(again) == text
    assert snapshot(db_factory) == after_first
    assert inbound_count(db_factory) == 2
    assert participants(db_factory) == [(B, "S", 1, "confirmed"), (A, "M", 2, "confirmed")]
    assert sizes(client)["M"] == (2, 9, 7, False)
    assert session_json(client)["units"] == 3
    assert len(dispatched) == 1  # the MOQ notification is handed to the queue once


def test_a_redelivered_refusal_gets_the_same_refusal(client, db_factory):
    make_session(db_factory, builders.TWO_SIZES)
    phone = Phone(client, A)
    form = phone.form("IKUT GB1 M 9")
    first = reply_text(phone.post(form))
    assert squash(first) == (
        "Maaf, ukuran M di sesi GB1 paling banyak 8 pcs per permintaan (supaya ukuran seimbang per grosir). "
        "Tersedia sekarang 8 pcs: IKUT GB1 M 8"
    )
    assert reply_text(phone.post(form)) == first
    assert inbound_count(db_factory) == 1
    assert participants(db_factory) == []


def test_every_inbound_message_is_stored_with_its_command_and_reply(client, db_factory):
    phone = Phone(client, A, "Sari")
    bodies = ["halo kak", "", "🎉", "MENU", "IKUT GB404 M 1", "SIAP PO-1"]
    replies = [phone.send(body) for body in bodies]
    with db_factory() as db:
        stored = list(db.scalars(select(InboundMessage).order_by(InboundMessage.id)))
    assert [m.body for m in stored] == bodies
    assert [m.command for m in stored] == ["menu", "empty", "empty", "menu", "join", "confirm"]
    assert [m.reply for m in stored] == replies
    assert {m.from_phone for m in stored} == {f"whatsapp:{A}"}
    assert {m.profile_name for m in stored} == {"Sari"}
    assert len({m.message_sid for m in stored}) == 6


# ------------------------------------------------------------------------------- buyers, phones, texts


def test_buyer_is_registered_on_first_message_with_e164_phone_and_profile_name(client, db_factory):
    phone = Phone(client, "+62 812-0000-0001", "Sari Wulandari")
    assert say(phone, "MENU").startswith("Halo Sari Wulandari! Laku Grosir")
    Phone(client, "+6281200000001", "Other Name").send("STATUS")
    with db_factory() as db:
        buyers = list(db.scalars(select(Buyer)))
        stored = db.scalars(select(InboundMessage.from_phone).order_by(InboundMessage.id)).all()
    assert [(b.phone, b.name, b.language) for b in buyers] == [("+6281200000001", "Sari Wulandari", "id")]
    assert buyers[0].last_inbound_at is not None
    assert stored == ["whatsapp:+62 812-0000-0001", "whatsapp:+6281200000001"]


def test_a_local_number_in_from_is_normalised_with_the_default_country(client, db_factory):
    phone = Phone(client, "081200000009", "Budi")
    phone.send("MENU")
    with db_factory() as db:
        assert db.scalars(select(Buyer.phone)).all() == ["+6281200000009"]


def test_an_unreadable_sender_gets_a_reply_but_no_buyer_row(client, db_factory):
    phone = Phone(client, "not-a-number")
    assert phone.send("MENU") == "Maaf, nomor pengirim tidak dikenali."
    assert counts(db_factory)["buyers"] == 0
    assert counts(db_factory)["inbound_messages"] == 1


def test_english_commands_get_english_replies_and_indonesian_get_indonesian(client, db_factory):
    make_session(db_factory, builders.TWO_SIZES)
    en, idn = Phone(client, A, "Sari"), Phone(client, B, "Budi")
    assert say(en, "HELP").startswith("Hi Sari! Laku Grosir: group buying by the wholesale lot")
    assert say(en, "MENU").startswith("Hi Sari!")  # MENU keeps the buyer's language
    assert say(en, "JOIN GB1 M 2").startswith(
        "✅ Done: 2 pcs of Kaos TS size M in session GB1, total Rp 100.000"
    )
    assert say(en, "STATUS").startswith("Your joins: • GB1 Kaos TS M x2 = Rp 100.000: confirmed")
    assert say(en, "LIST").startswith("Open sessions: • GB1: Kaos TS, Rp 50.000/pc, 2/24 pcs, closes ")
    assert say(en, "INFO GB1").startswith("GB1: Kaos TS Price Rp 50.000/pc · closes ")
    assert say(en, "blah").startswith("Sorry, I did not quite get that 🙏 I am the Laku Grosir ordering bot.")
    assert say(idn, "BANTUAN").startswith("Halo Budi! Laku Grosir: beli bareng per grosir")
    assert say(idn, "IKUT GB1 S 1").startswith(
        "✅ Tercatat: 1 pcs Kaos TS ukuran S di sesi GB1, total Rp 50.000"
    )
    assert say(idn, "CEK").startswith("Pesanan Anda: • GB1 Kaos TS S x1 = Rp 50.000: terkonfirmasi")
    assert say(idn, "SESI").startswith(
        "Sesi yang sedang buka: • GB1: Kaos TS, Rp 50.000/pcs, 3/24 pcs, tutup "
    )
    assert say(idn, "blah").startswith("Maaf kak, saya belum paham maksudnya 🙏")
    # switching language follows the alias
    assert say(idn, "LEAVE GB1") == "You left session GB1: 1 pc released. Nothing is owed for them."
    with db_factory() as db:
        assert dict(db.execute(select(Buyer.phone, Buyer.language)).tuples().all()) == {A: "en", B: "en"}


def test_reply_is_cut_to_1600_characters(client, db_factory):
    mix = {f"SIZE{index:02d}-LONGLABEL-X": 1 for index in range(50)}
    make_session(db_factory, mix)
    text = Phone(client, A).send("INFO GB1")
    assert len(text) == 1600
    assert text.endswith("…")
    assert text.startswith("GB1: Kaos TS")


# -------------------------------------------------- the allocation worked examples (docs/design.md), live


def test_worked_example_two_sizes(client, db_factory, phones):
    make_session(db_factory, builders.TWO_SIZES)
    assert sizes(client) == {"S": (0, 8, 8, False), "M": (0, 8, 8, False)}

    assert say(phones(A), "IKUT GB1 M 5").startswith("✅ Tercatat: 5 pcs Kaos TS ukuran M di sesi GB1")
    assert sizes(client) == {"S": (0, 8, 8, False), "M": (5, 8, 3, False)}

    reply = say(phones(B), "IKUT GB1 M 4")
    assert reply == (
        "Maaf, ukuran M di sesi GB1 tinggal 3 pcs, jadi 4 pcs belum bisa. Ambil 3 pcs sekarang: IKUT GB1 M 3"
    )  # waitlist off: no ANTRE offered
    assert sizes(client) == {"S": (0, 8, 8, False), "M": (5, 8, 3, False)}

    assert say(phones(B), "IKUT GB1 M 3").startswith("✅ Tercatat: 3 pcs Kaos TS ukuran M")
    assert sizes(client) == {"S": (0, 8, 8, False), "M": (8, 8, 0, True)}
    assert session_json(client)["sizes"][1]["unlocks_after"] == [{"size": "S", "units": 1}]

    reply = say(phones(C), "IKUT GB1 M 1")
    assert reply.startswith(
        "🔒 Ukuran M di sesi GB1 sedang terkunci supaya ukuran tetap seimbang per grosir."
    )
    assert "Terbuka lagi setelah 1 pcs S lagi dipesan." in reply
    assert sizes(client) == {"S": (0, 8, 8, False), "M": (8, 8, 0, True)}

    assert say(phones(C), "IKUT GB1 S 5").startswith("✅ Tercatat: 5 pcs Kaos TS ukuran S")
    assert sizes(client) == {"S": (5, 13, 8, False), "M": (8, 13, 5, False)}

    assert say(phones(D), "IKUT GB1 M 1").startswith("✅ Tercatat: 1 pcs Kaos TS ukuran M")
    assert sizes(client) == {"S": (5, 13, 8, False), "M": (9, 13, 4, False)}

    assert participants(db_factory) == [
        (A, "M", 5, "confirmed"),
        (B, "M", 3, "confirmed"),
        (C, "S", 5, "confirmed"),
        (D, "M", 1, "confirmed"),
    ]
    session = session_json(client)
    assert (session["units"], session["status"], session["waiting_units"]) == (14, "forming", 0)
    assert counts(db_factory)["inbound_messages"] == 6


def test_worked_example_four_sizes_d_is_refused_naming_l_and_xl(client, db_factory, phones):
    make_session(db_factory, builders.FOUR_SIZES)
    free = (0, 8, 8, False)
    assert say(phones(A), "IKUT GB1 M 5").startswith("✅ Tercatat")
    assert sizes(client) == {"S": free, "M": (5, 8, 3, False), "L": free, "XL": free}
    assert "tinggal 3 pcs" in say(phones(B), "IKUT GB1 M 4")
    assert say(phones(B), "IKUT GB1 M 3").startswith("✅ Tercatat")
    assert sizes(client) == {"S": free, "M": (8, 8, 0, True), "L": free, "XL": free}
    assert "Terbuka lagi setelah 1 pcs S, 1 pcs L dan 1 pcs XL lagi dipesan." in say(
        phones(C), "IKUT GB1 M 1"
    )
    assert say(phones(C), "IKUT GB1 S 5").startswith("✅ Tercatat")
    assert sizes(client) == {"S": (5, 8, 3, False), "M": (8, 8, 0, True), "L": free, "XL": free}

    before = snapshot(db_factory)
    reply = say(phones(D), "IKUT GB1 M 1")
    assert reply.startswith("🔒 Ukuran M di sesi GB1 sedang terkunci")
    assert "Terbuka lagi setelah 1 pcs L dan 1 pcs XL lagi dipesan." in reply
    assert "pcs S" not in reply
    after = snapshot(db_factory)
    assert after["counts"]["buyers"] == before["counts"]["buyers"] + 1  # D wrote to us for the first time
    after["counts"]["buyers"] -= 1
    assert (
        after["counts"]["conversation_states"] == before["counts"]["conversation_states"] + 1
    )  # context GB1
    after["counts"]["conversation_states"] -= 1
    after["buyers"] = [b for b in after["buyers"] if b[0] != D]
    assert after == before
    m = next(s for s in session_json(client)["sizes"] if s["size"] == "M")
    assert m["unlocks_after"] == [{"size": "L", "units": 1}, {"size": "XL", "units": 1}]
    assert participants(db_factory) == [
        (A, "M", 5, "confirmed"),
        (B, "M", 3, "confirmed"),
        (C, "S", 5, "confirmed"),
    ]

    english = say(phones(D), "JOIN GB1 M 1")
    assert "It opens again once someone orders 1 more L and 1 more XL." in english


def test_worked_example_tshirt_mix_caps_and_demand_that_follows_the_mix(client, db_factory, phones):
    make_session(db_factory, builders.TSHIRT_MIX, target_moq=1000)
    assert sizes(client) == {
        "S": (0, 4, 4, False),
        "M": (0, 10, 10, False),
        "L": (0, 8, 8, False),
        "XL": (0, 2, 2, False),
    }
    session = session_json(client)
    assert [(s["size"], s["allocation"]) for s in session["sizes"]] == [
        ("S", 2),
        ("M", 5),
        ("L", 4),
        ("XL", 1),
    ]
    # three whole lots of demand, each in a different order, never refused
    orders = [
        [("S", 2), ("M", 5), ("L", 4), ("XL", 1)],
        [("XL", 1), ("L", 4), ("M", 5), ("S", 2)],
        [("M", 5), ("XL", 1), ("S", 2), ("L", 4)],
    ]
    numbers = [f"+62812000001{n:02d}" for n in range(12)]
    for lot, order in enumerate(orders):
        for index, (size, quantity) in enumerate(order):
            reply = say(phones(numbers[lot * 4 + index]), f"IKUT GB1 {size} {quantity}")
            assert reply.startswith(f"✅ Tercatat: {quantity} pcs Kaos TS ukuran {size}"), reply
        k = lot + 1
        assert sizes(client) == {
            "S": (2 * k, 2 * (2 + k), 4, False),
            "M": (5 * k, 5 * (2 + k), 10, False),
            "L": (4 * k, 4 * (2 + k), 8, False),
            "XL": (k, 2 + k, 2, False),
        }
    assert session_json(client)["units"] == 36
    assert len(participants(db_factory)) == 12


# ------------------------------------------------------------------------------------------------- MOQ


def test_moq_reached_tells_each_buyer_once_and_leaving_below_goes_back_to_forming(
    client, db_factory, phones, dispatched
):
    make_session(db_factory, builders.TWO_SIZES, target_moq=10)
    assert "minimum" not in say(phones(A), "IKUT GB1 M 5").lower()
    assert without_share_line(say(phones(B), "IKUT GB1 M 3")).endswith(
        "Terkumpul 8/10 pcs. Keluar: BATAL GB1"
    )
    session = session_json(client)
    assert (session["status"], session["moq_reached_at"], session["moq_reached"]) == ("forming", None, False)
    assert dispatched == []

    reply = say(phones(C), "IKUT GB1 S 5")
    assert "Terkumpul 13/10 pcs. 🎉 Minimum tercapai! Pesanan diproses setelah sesi tutup" in reply
    session = session_json(client)
    assert (session["status"], session["moq_reached"], session["units"]) == ("moq_reached", True, 13)
    assert session["moq_reached_at"] is not None
    with db_factory() as db:
        rows = list(db.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))
        reached_at = as_utc(db.scalar(select(GroupSession.moq_reached_at)))
    # C reads it in the reply to the join that reached it; the others are told by WhatsApp
    assert [(m.kind, m.to_phone, m.status) for m in rows] == [
        ("moq_reached", A, "queued"),
        ("moq_reached", B, "queued"),
    ]
    assert (
        rows[0].body
        == "🎉 Sesi GB1 (Kaos TS) mencapai minimum pesanan! Pesanan Anda diproses setelah sesi tutup."
    )
    assert dispatched == [m.id for m in rows]
    assert abs(reached_at - now()) < timedelta(minutes=1)

    assert "Minimum sudah tercapai; pesanan diproses setelah sesi tutup" in say(phones(D), "IKUT GB1 M 1")
    assert counts(db_factory)["outbound_messages"] == 2
    assert len(dispatched) == 2

    assert say(phones(C), "BATAL GB1") == (
        "Anda keluar dari sesi GB1: 5 pcs dilepas. Tidak ada yang perlu dibayar untuk itu."
    )
    session = session_json(client)
    assert (session["status"], session["units"], session["moq_reached"]) == ("forming", 9, False)
    assert counts(db_factory)["outbound_messages"] == 2

    # reaching it again tells only the buyer who was never told (D); A and B are not told twice, and C
    # reads it in the reply again
    assert "🎉 Minimum tercapai!" in say(phones(C), "IKUT GB1 S 5")
    assert session_json(client)["status"] == "moq_reached"
    with db_factory() as db:
        rows = list(db.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))
    assert [(m.kind, m.to_phone) for m in rows] == [
        ("moq_reached", A),
        ("moq_reached", B),
        ("moq_reached", D),
    ]
    assert dispatched == [m.id for m in rows]


# ------------------------------------------------------------------------------------------- bad input


@pytest.fixture
def joined(client, db_factory, phones):
    """GB1 (S/M, 4 each, waitlist off) with A in for 2 M; GB2 exists and A is not in it."""
    make_session(db_factory, builders.TWO_SIZES)
    make_session(db_factory, builders.TWO_SIZES, code="GB2", sku="TS2")
    assert say(phones(A), "IKUT GB1 M 2").startswith("✅ Tercatat")
    return phones(A)


BAD_INPUT = [
    ("IKUT GB9 M 1", "Sesi GB9 tidak ditemukan. Kirim SESI untuk melihat sesi yang buka."),
    ("INFO GB9", "Sesi GB9 tidak ditemukan. Kirim SESI untuk melihat sesi yang buka."),
    ("BATAL GB9", "Sesi GB9 tidak ditemukan. Kirim SESI untuk melihat sesi yang buka."),
    ("IKUT GB1 XXL 1", "Ukuran XXL tidak ada di sesi GB1. Pilihan ukuran: S, M."),
    ("IKUT GB1 M 0", "Jumlah harus minimal 1 pcs. Contoh: IKUT GB1 M 2"),
    ("IKUT GB1 M -3", "Jumlah harus minimal 1 pcs. Contoh: IKUT GB1 M 2"),
    ("IKUT GB1 M 1.5", "Jumlah harus berupa angka, misalnya 2. Contoh: IKUT GB1 M 2"),
    ("IKUT GB1 M 101", "Maksimal 100 pcs per permintaan. Untuk jumlah lebih besar, hubungi admin."),
    (
        "IKUT GB1 M 7",
        "Maaf, ukuran M di sesi GB1 tinggal 6 pcs, jadi 7 pcs belum bisa. Ambil 6 pcs sekarang: IKUT GB1 M 6",
    ),
    ("ANTRE GB1 M 7", "Antrean tidak tersedia untuk produk di sesi GB1. Ukuran M tersisa 6 pcs."),
    ("BATAL GB2", "Anda belum ikut sesi GB2, jadi tidak ada yang dibatalkan."),
    # no size typed: the example is the session the buyer acted on last (GB1), not a made-up code
    ("ANTRE", "Ukuran belum ada. Contoh: ANTRE GB1 M 2"),
    ("IKUT ÄB1 M", '"ÄB1" bukan kode sesi yang benar (huruf dan angka, misalnya GB1).'),
    (
        "IKUT GB1 M 2 3",
        "Jumlahnya kurang jelas untuk ukuran yang mana. Tulis jumlah setelah ukurannya, misalnya: IKUT GB1 M 2, L 1",
    ),
    (
        "IKUT GB1 M 2, M 3",
        "Ukuran yang sama tertulis dua kali. Tulis setiap ukuran sekali, misalnya: IKUT GB1 M 2, L 1",
    ),
    (
        "INFO GB1 GB2",
        "Satu pesan untuk satu sesi ya. Tulis dulu INFO GB1 ..., lalu sesi lainnya di pesan berikutnya.",
    ),
    (
        "ALAMAT rumah yang kemarin",
        "Alamatnya belum lengkap: tulis jalan dan nomor rumah, kota dan kode pos. Contoh: ALAMAT Jl. Melati No. 5, Bandung 40111",
    ),
    ("ALAMAT dekat", "Alamat terlalu pendek. Contoh: ALAMAT Jl. Melati No. 5, Bandung 40111"),
    ("", "Halo! Kirim MENU untuk daftar perintah, atau SESI untuk melihat sesi yang buka."),
    ("   ", "Halo! Kirim MENU untuk daftar perintah, atau SESI untuk melihat sesi yang buka."),
    ("🎉🙏", "Halo! Kirim MENU untuk daftar perintah, atau SESI untuk melihat sesi yang buka."),
    # a thumbs-up and a bare "mau" are a yes: with nothing asked, nothing to do
    (
        "🎉🙏👍",
        "Saat ini tidak ada yang perlu dijawab YA atau TIDAK. Kirim SESI untuk sesi yang buka, atau MENU untuk semua perintah.",
    ),
    (
        "mau dong",
        "Saat ini tidak ada yang perlu dijawab YA atau TIDAK. Kirim SESI untuk sesi yang buka, atau MENU untuk semua perintah.",
    ),
    (
        "bahannya adem ga kak?",
        "Maaf kak, saya belum paham maksudnya 🙏 Saya bot pemesanan Laku Grosir. • SESI: sesi yang sedang buka "
        "• INFO <kode>: harga dan stok per ukuran • IKUT <kode>: ikut sesi, saya pandu pilih ukuran dan jumlahnya "
        "Kirim MENU untuk semua perintah.",
    ),
    ("x" * 2000, "Pesan terlalu panjang. Kirim MENU untuk daftar perintah."),
    (
        "SIAP PO-1",
        "Perintah SIAP hanya untuk pabrik dari nomor terdaftar. Kirim MENU untuk perintah pembeli.",
    ),
    (
        "KIRIM PO-1 JNE123",
        "Perintah KIRIM hanya untuk pabrik dari nomor terdaftar. Kirim MENU untuk perintah pembeli.",
    ),
]


@pytest.mark.parametrize(("body", "expected"), BAD_INPUT, ids=[b[:20] or "empty" for b, _ in BAD_INPUT])
def test_bad_input_gets_a_specific_reply_and_changes_nothing_but_the_inbound_row(
    client, db_factory, joined, body, expected
):
    before, inbound_before = snapshot(db_factory), inbound_count(db_factory)
    assert squash(joined.send(body)) == expected
    assert snapshot(db_factory) == before
    assert inbound_count(db_factory) == inbound_before + 1
    assert participants(db_factory) == [(A, "M", 2, "confirmed")]
    assert sizes(client) == {"S": (0, 8, 8, False), "M": (2, 8, 6, False)}


def test_a_request_over_the_per_request_maximum_suggests_what_is_left(client, db_factory, joined):
    # M: 2 ordered, cap 8, 6 left; the reply offers "IKUT GB1 M 8", which would be refused in turn
    before = snapshot(db_factory)
    reply = say(joined, "IKUT GB1 M 9")
    assert snapshot(db_factory) == before
    assert reply.startswith("Maaf, ukuran M di sesi GB1 paling banyak 8 pcs per permintaan")
    assert "IKUT GB1 M 8" not in reply
    assert "IKUT GB1 M 6" in reply


def test_a_huge_quantity_is_refused_as_too_large(client, db_factory, joined):
    assert squash(joined.send("IKUT GB1 M 1000000000")) == (
        "Maksimal 100 pcs per permintaan. Untuk jumlah lebih besar, hubungi admin."
    )


def test_english_bad_input_gets_english_replies(client, db_factory, joined):
    before = snapshot(db_factory)
    assert say(joined, "JOIN GB9 M 1") == "There is no session GB9. Send LIST to see open sessions."
    assert say(joined, "JOIN GB1 XXL") == "Size XXL is not available in session GB1. Sizes: S, M."
    assert say(joined, "JOIN GB1 M 0") == "The quantity must be at least 1 pc. Example: JOIN GB1 M 2"
    assert say(joined, "LEAVE GB2") == "You have not joined session GB2, so there is nothing to leave."
    assert say(joined, "CONFIRM PO-1") == (
        "CONFIRM is a factory command, accepted only from the factory's registered number. "
        "Send HELP for buyer commands."
    )
    after = snapshot(db_factory)
    assert after["buyers"] == [(A, "Buyer 01", "en", None)]  # only the language followed the alias
    after["buyers"] = before["buyers"]
    assert after == before


def test_examples_in_error_replies_use_a_real_session_code(client, db_factory, phones):
    # no session open at all: the made-up example code
    assert say(phones(B), "BATAL") == (
        "Kode sesi belum ada. Contoh: BATAL GB1234 ... Kirim SESI untuk kode sesi yang buka."
    )
    # one open session: that one (it is the context of a message without a code)
    make_session(db_factory, builders.TWO_SIZES, code="KAOS7")
    assert say(phones(B), "ANTRE") == "Ukuran belum ada. Contoh: ANTRE KAOS7 M 2"
    assert (
        say(phones(B), "JOIN GB_1 M")
        == '"GB_1" is not a valid session code (letters and digits, e.g. KAOS7).'
    )
    # two open sessions: none in context, a made-up code; then the one the buyer joined
    make_session(db_factory, builders.TWO_SIZES, code="KAOS8", sku="TS8")
    assert say(phones(C), "BATAL") == (
        "Kode sesi belum ada. Contoh: BATAL GB1234 ... Kirim SESI untuk kode sesi yang buka."
    )
    assert say(phones(C), "IKUT KAOS8 M 1").startswith("✅ Tercatat")
    assert say(phones(C), "ANTRE") == "Ukuran belum ada. Contoh: ANTRE KAOS8 M 2"


def test_dates_are_written_in_the_readers_language(client, db_factory, phones):
    with transaction(db_factory) as db:
        product = builders.product(db, builders.TWO_SIZES)
        for code, month in (("GBDES", 12), ("GBAGU", 8), ("GBOKT", 10), ("GBMEI", 5)):
            catalog.create_session(
                db,
                product_id=product.id,
                target_moq=10,
                ends_at=datetime(2030, month, 2, 3, 0, tzinfo=UTC),  # 10:00 WIB
                code=code,
            )
    listing = say(phones(A), "SESI")
    for shown in ("02 Des 2030 10:00 WIB", "02 Agu 2030 10:00 WIB", "02 Okt 2030 10:00 WIB", "02 Mei 2030"):
        assert shown in listing
    assert "Dec" not in listing and "Aug" not in listing and "Oct" not in listing
    assert "02 Des 2030 10:00 WIB" in say(phones(A), "INFO GBDES")
    assert "Terkumpul 1/10 pcs" in say(phones(A), "IKUT GBDES M 1")
    english = say(phones(B), "LIST")
    for shown in ("02 Dec 2030 10:00 WIB", "02 Aug 2030", "02 Oct 2030", "02 May 2030"):
        assert shown in english
    assert "02 Dec 2030 10:00 WIB" in say(phones(B), "INFO GBDES")


def test_factory_command_from_a_new_phone_registers_nobody(client, db_factory):
    make_session(db_factory, builders.TWO_SIZES)
    before = snapshot(db_factory)
    reply = say(Phone(client, E), "SIAP PO-1 besok")
    assert (
        reply == "Perintah SIAP hanya untuk pabrik dari nomor terdaftar. Kirim MENU untuk perintah pembeli."
    )
    assert snapshot(db_factory) == before
    assert counts(db_factory)["buyers"] == 0
    assert counts(db_factory)["purchase_orders"] == 0


@pytest.mark.parametrize("how", ["failed", "ended"])
def test_a_closed_session_refuses_joins_and_leaves(client, db_factory, joined, how):
    with transaction(db_factory) as db:
        values = (
            {"status": SessionStatus.FAILED}
            if how == "failed"
            else {"starts_at": now() - timedelta(hours=3), "ends_at": now() - timedelta(minutes=1)}
        )
        db.execute(update(GroupSession).where(GroupSession.code == "GB1").values(**values))
    before, inbound_before = snapshot(db_factory), inbound_count(db_factory)
    assert say(joined, "IKUT GB1 S 1") == (
        "Sesi GB1 sudah tutup, jadi tidak bisa diikuti lagi. Kirim SESI untuk sesi yang masih buka."
    )
    assert say(joined, "BATAL GB1") == (
        "Sesi GB1 sudah tutup; keikutsertaan tidak bisa dibatalkan lagi. Hubungi admin bila perlu."
    )
    listing = say(joined, "SESI")
    assert listing.startswith("Sesi yang sedang buka: • GB2: Kaos TS2, Rp 50.000/pcs, 0/24 pcs, tutup ")
    assert "GB1" not in listing
    assert snapshot(db_factory) == before
    assert inbound_count(db_factory) == inbound_before + 3
    assert participants(db_factory) == [(A, "M", 2, "confirmed")]


def test_a_buyer_cannot_leave_someone_elses_join(client, db_factory, joined, phones):
    assert say(phones(B), "IKUT GB1 S 1").startswith("✅ Tercatat: 1 pcs")
    assert say(phones(C), "BATAL GB1") == "Anda belum ikut sesi GB1, jadi tidak ada yang dibatalkan."
    assert participants(db_factory) == [(A, "M", 2, "confirmed"), (B, "S", 1, "confirmed")]
    assert say(phones(B), "BATAL GB1") == (
        "Anda keluar dari sesi GB1: 1 pcs dilepas. Tidak ada yang perlu dibayar untuk itu."
    )
    assert participants(db_factory) == [(A, "M", 2, "confirmed"), (B, "S", 1, "left")]
    assert sizes(client) == {"S": (0, 8, 8, False), "M": (2, 8, 6, False)}
    assert session_json(client)["units"] == 2
    # B's second BATAL finds nothing of B's left, and still does not touch A
    assert say(phones(B), "BATAL GB1") == "Anda belum ikut sesi GB1, jadi tidak ada yang dibatalkan."
    assert participants(db_factory) == [(A, "M", 2, "confirmed"), (B, "S", 1, "left")]


def test_leaving_releases_every_join_of_the_buyer_in_that_session_only(client, db_factory, joined):
    assert say(joined, "IKUT GB1 S 3").startswith("✅ Tercatat")
    assert say(joined, "IKUT GB2 M 1").startswith("✅ Tercatat")
    assert (
        say(joined, "BATAL GB1")
        == "Anda keluar dari sesi GB1: 5 pcs dilepas. Tidak ada yang perlu dibayar untuk itu."
    )
    assert participants(db_factory, "GB1") == [(A, "M", 2, "left"), (A, "S", 3, "left")]
    assert participants(db_factory, "GB2") == [(A, "M", 1, "confirmed")]
    assert sizes(client, "GB1") == {"S": (0, 8, 8, False), "M": (0, 8, 8, False)}


def test_a_tapped_button_is_read_as_its_payload_and_a_join_by_tap_waits_for_a_yes(client, db_factory):
    make_session(db_factory, builders.TWO_SIZES)
    phone = Phone(client, A)
    text = phone.send("Ikut sesi ini", ButtonPayload="IKUT GB1 S 2")
    assert squash(text) == (
        "Ikut sesi GB1: 2 pcs ukuran S, total Rp 100.000. Dibayar setelah pesanan dibuat. "
        "Balas YA untuk ikut, atau TIDAK."
    )
    assert participants(db_factory) == []
    assert squash(phone.send("Ya", ButtonPayload="YA")).startswith(
        "✅ Tercatat: 2 pcs Kaos TS ukuran S di sesi GB1"
    )
    assert participants(db_factory) == [(A, "S", 2, "confirmed")]
    with db_factory() as db:
        stored = db.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
    assert [(m.body, m.button_payload, m.command) for m in stored] == [
        ("Ikut sesi ini", "IKUT GB1 S 2", "join"),
        ("Ya", "YA", "yes"),
    ]


def test_what_the_old_grammar_refused_now_joins(client, db_factory, joined):
    # "IKUT GB1 M dua" was "the quantity must be a number", "IKUT GB1 M 2 pcs" "could not read that"
    assert say(joined, "IKUT GB1 M dua").startswith("✅ Tercatat: 2 pcs Kaos TS ukuran M di sesi GB1")
    assert say(joined, "ikut gb1 s 2 pcs ya kak").startswith(
        "✅ Tercatat: 2 pcs Kaos TS ukuran S di sesi GB1"
    )
    assert participants(db_factory) == [
        (A, "M", 2, "confirmed"),
        (A, "M", 2, "confirmed"),
        (A, "S", 2, "confirmed"),
    ]


# ----------------------------------------------------------------------- characters TwiML cannot carry


CONTROL_CASES = [
    pytest.param({"Body": "halo\x01kak"}, id="C0 control echoed"),
    pytest.param({"Body": "ALAMAT Jl. Melati\x08 No. 5, Bandung"}, id="backspace in address"),
    pytest.param({"Body": "MENU\x00"}, id="NUL in body"),
    pytest.param({"Body": "MENU", "ProfileName": "Sa\x00ri"}, id="NUL in profile name"),
    pytest.param({"Body": "MENU", "ProfileName": "Sa\x02ri"}, id="C0 in profile name"),
]


@pytest.mark.parametrize("fields", CONTROL_CASES)
def test_control_characters_are_stored_and_the_reply_is_well_formed_twiml(client, db_factory, fields):
    phone = Phone(client, A)
    form = {**phone.form(""), **fields}
    response = phone.post(form)
    assert response.status_code == 200
    ElementTree.fromstring(response.data)  # well-formed: Twilio can read it
    assert "sibuk" not in reply_text(response)
    assert inbound_count(db_factory) == 1


def test_a_message_sid_with_control_characters_is_400(client, db_factory):
    phone = Phone(client, A)
    response = phone.post(phone.form("MENU", sid="SM\x00123"))
    assert response.status_code == 400
    assert inbound_count(db_factory) == 0
