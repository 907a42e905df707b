"""The guided join through signed webhooks: `IKUT KAOS1` alone (or a tap) leads through the size and the
quantity to a yes; as numbered text in the reply, or as WhatsApp list pickers and buttons sent through the
outbox when Content SIDs are set. The state lives in the database, expires, and no step runs twice.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select, update

from bot.app import create_app
from core import delivery
from core.adapters import transport_for
from core.clock import now
from core.conversation_state import Pending
from core.db import transaction
from core.models import ConversationState, GroupSession, InboundMessage, OutboundMessage
from tests import builders
from tests.builders import counts, make_session, participants
from tests.chat import WEBHOOK, Phone, reply_text

A, B = "+6281200000001", "+6281200000002"
SIZE_PROMPT = (
    "Sesi KAOS1: Kaos TS, Rp 50.000/pcs. Pilih ukuran:\n"
    "1. S: sisa 4 pcs\n2. M: sisa 10 pcs\n3. L: sisa 8 pcs\n4. XL: sisa 2 pcs\n"
    "Balas angkanya (1-4) atau ukurannya, misalnya S."
)
CONTENT_SIDS = {
    "CHOOSE_SIZE": "HXsize",
    "CHOOSE_SIZE_4": "HXsize4",
    "CHOOSE_QUANTITY": "HXquantity",
    "CONFIRM": "HXconfirm",
    "CHOOSE_SESSION": "HXsession",
}


@pytest.fixture
def kaos1(db_factory):
    """KAOS1 as the demo has it: 2 S + 5 M + 4 L + 1 XL a lot (caps 4, 10, 8, 2)."""
    make_session(db_factory, builders.TSHIRT_MIX, code="KAOS1")


def waits_for(db_factory, phone: str) -> tuple[str, dict] | None:
    with db_factory() as db:
        row = db.get(ConversationState, phone)
    pending = Pending.from_json(row.pending) if row is not None and row.pending else None
    return None if pending is None else (pending.step, pending.command.outcome())


# ------------------------------------------------------------------------------------- numbered text


def test_ikut_with_a_code_alone_is_guided_to_a_yes_and_only_the_yes_joins(client, db_factory, kaos1):
    phone = Phone(client, A)
    assert phone.send("IKUT KAOS1") == SIZE_PROMPT
    assert waits_for(db_factory, A) == ("size", {"action": "join", "code": "KAOS1", "lines": []})
    assert phone.send("2") == (
        "Sesi KAOS1, ukuran M (sisa 10 pcs). Berapa pcs?\nBalas jumlahnya dalam angka, misalnya 2."
    )
    assert waits_for(db_factory, A) == (
        "quantity",
        {"action": "join", "code": "KAOS1", "lines": [["M", None]]},
    )
    assert phone.send("3 pcs") == (
        "Ikut sesi KAOS1: 3 pcs ukuran M, total Rp 150.000. Dibayar setelah pesanan dibuat.\n"
        "Balas YA untuk ikut, atau TIDAK."
    )
    assert participants(db_factory) == []
    assert phone.send("ya kak").startswith(
        "✅ Tercatat: 3 pcs Kaos TS ukuran M di sesi KAOS1, total Rp 150.000"
    )
    assert participants(db_factory) == [(A, "M", 3, "confirmed")]
    assert waits_for(db_factory, A) is None
    assert phone.send("ya").startswith("Saat ini tidak ada yang perlu dijawab YA atau TIDAK.")
    assert participants(db_factory) == [(A, "M", 3, "confirmed")]


def test_the_size_list_says_what_is_locked_and_what_opens_it(client, db_factory):
    make_session(db_factory, builders.TWO_SIZES, code="KAOS1", waitlist=True)
    assert Phone(client, B).send("IKUT KAOS1 M 8").startswith("✅ Tercatat")  # M at its cap of 8
    assert Phone(client, A).send("gabung kaos1 dong kak") == (
        "Sesi KAOS1: Kaos TS, Rp 50.000/pcs. Pilih ukuran:\n"
        "1. S: sisa 8 pcs\n"
        "2. M: 🔒 antre dulu; terbuka setelah 1 pcs S lagi dipesan\n"
        "Balas angkanya (1-2) atau ukurannya, misalnya S."
    )


def test_sizes_and_quantities_can_come_in_any_form_and_order(client, db_factory, kaos1):
    phone = Phone(client, A)
    phone.send("ikut 2 ya kak")  # the only open session, a quantity without a size
    assert waits_for(db_factory, A) == ("size", {"action": "join", "code": "KAOS1", "lines": [[None, 2]]})
    assert phone.send("XL aja").startswith("Ikut sesi KAOS1: 2 pcs ukuran XL, total Rp 100.000.")
    assert phone.send("1 pcs aja").startswith("Ikut sesi KAOS1: 1 pcs ukuran XL, total Rp 50.000.")  # changed
    phone.send("IKUT KAOS1")
    assert phone.send("M 2, L 1").startswith(
        "Ikut sesi KAOS1: 2 pcs ukuran M, 1 pcs ukuran L, total Rp 150.000."
    )
    assert phone.send("ukuran XXXL").startswith("Ukuran XXXL tidak ada di sesi KAOS1.\nSesi KAOS1: Kaos TS")
    assert waits_for(db_factory, A)[0] == "size"
    assert phone.send("7").startswith("Sesi KAOS1: Kaos TS, Rp 50.000/pcs. Pilih ukuran:")  # no option 7
    assert participants(db_factory) == []


def test_a_full_command_in_the_middle_of_a_flow_works_and_ends_it(client, db_factory, kaos1):
    phone = Phone(client, A)
    phone.send("IKUT KAOS1")
    assert phone.send("IKUT KAOS1 L 1").startswith("✅ Tercatat: 1 pcs Kaos TS ukuran L")
    assert waits_for(db_factory, A) is None
    assert phone.send("2").startswith("Maaf kak, saya belum paham maksudnya")  # nothing asked any more
    phone.send("IKUT KAOS1")
    assert phone.send("STATUS").startswith("Pesanan Anda:")
    assert waits_for(db_factory, A) is None
    assert participants(db_factory) == [(A, "L", 1, "confirmed")]


def test_no_drops_the_flow_and_chit_chat_leaves_it_waiting(client, db_factory, kaos1):
    phone = Phone(client, A)
    phone.send("IKUT KAOS1")
    assert phone.send("makasih kak").startswith("Sama-sama kak 🙏")
    assert waits_for(db_factory, A)[0] == "size"
    assert phone.send("M").startswith("Sesi KAOS1, ukuran M")
    assert phone.send("gak jadi deh") == (
        "Keluar dari sesi KAOS1? Semua pesanan dan antrean Anda di sesi itu dilepas.\n"
        "Balas YA untuk keluar, atau TIDAK."
    )  # a leave with its session from context is asked first (it replaces the flow)
    assert phone.send("tidak") == "Baik, tidak jadi. Tidak ada yang berubah."
    assert waits_for(db_factory, A) is None
    assert participants(db_factory) == []


def test_a_lapsed_step_says_so_and_changes_nothing(client, db_factory, kaos1):
    phone = Phone(client, A)
    phone.send("IKUT KAOS1")
    phone.send("M")
    with time_machine.travel(now() + timedelta(minutes=31), tick=False):
        assert phone.send("2") == (
            "Maaf, pilihan tadi sudah kedaluwarsa (lebih dari 30 menit) dan tidak ada yang dicatat. "
            "Mulai lagi dengan IKUT <kode>, atau kirim SESI."
        )
        assert waits_for(db_factory, A) is None
        assert phone.send("ya").startswith("Saat ini tidak ada yang perlu dijawab")
    assert participants(db_factory) == []


def test_the_session_list_when_nothing_says_which(client, db_factory, kaos1):
    make_session(db_factory, builders.FOUR_SIZES, code="FLANEL1", sku="FL")
    phone = Phone(client, A)
    reply = phone.send("mau ikut kak")
    assert reply.startswith("Mau ikut sesi yang mana?\n1. KAOS1: Kaos TS, Rp 50.000/pcs, tutup ")
    assert "\n2. FLANEL1: Kaos FL, Rp 50.000/pcs, tutup " in reply
    assert reply.endswith("Balas angkanya (1-2) atau kode sesinya.")
    assert phone.send("2").startswith("Sesi FLANEL1: Kaos FL, Rp 50.000/pcs. Pilih ukuran:\n1. S: sisa 8 pcs")
    assert phone.send("S").startswith("Sesi FLANEL1, ukuran S")
    # FLANEL1 is now the context: a join without a code is in it, said back
    assert phone.send("IKUT M 2").startswith(
        "(Sesi FLANEL1, dari percakapan tadi.)\n✅ Tercatat: 2 pcs Kaos FL"
    )


# ------------------------------------------------------------------------------------ once per message


def test_a_redelivered_answer_does_not_advance_the_flow_twice(client, db_factory, kaos1):
    phone = Phone(client, A)
    phone.send("IKUT KAOS1")
    answer = phone.form("2")
    first = reply_text(phone.post(answer))
    assert waits_for(db_factory, A)[0] == "quantity"
    assert reply_text(phone.post(answer)) == first
    assert waits_for(db_factory, A) == (
        "quantity",
        {"action": "join", "code": "KAOS1", "lines": [["M", None]]},
    )
    phone.send("2")
    yes = phone.form("YA")
    joined = reply_text(phone.post(yes))
    assert reply_text(phone.post(yes)) == joined
    assert participants(db_factory) == [(A, "M", 2, "confirmed")]
    with db_factory() as db:
        assert len(db.scalars(select(InboundMessage)).all()) == 4


def test_any_web_process_continues_the_conversation(settings, signed_settings, db_factory, kaos1):
    first = create_app(signed_settings, dispatch=lambda ids: None).test_client()
    second = create_app(signed_settings, dispatch=lambda ids: None).test_client()
    Phone(first, A).send("IKUT KAOS1")
    Phone(second, A).send("L")
    Phone(first, A).send("1")
    assert Phone(second, A).send("YA").startswith("✅ Tercatat: 1 pcs Kaos TS ukuran L")


# --------------------------------------------------------------------------- WhatsApp interactive messages


@pytest.fixture
def interactive(signed_settings, fake_twilio, dispatched, db_factory, kaos1):
    """The app with Content SIDs for the flow and a Twilio account (the fake): steps go out as templates."""
    wired = fake_twilio.settings(signed_settings, content_sids=CONTENT_SIDS)
    client = create_app(wired, dispatch=dispatched).test_client()
    return client, wired


def tap(client, settings, fake_twilio, sid: str, **fields) -> str:
    phone = Phone(client, A)
    form = phone.form(fields.pop("Body", ""), sid=sid, **fields)
    response = phone.post(form, signature=fake_twilio.sign("http://localhost" + WEBHOOK, form))
    assert response.status_code == 200
    return response.data.decode()


def test_steps_go_out_as_list_pickers_and_buttons_and_the_reply_stays_empty(
    interactive, fake_twilio, db_factory, dispatched
):
    client, settings = interactive
    empty = '<?xml version="1.0" encoding="UTF-8"?><Response />'
    assert tap(client, settings, fake_twilio, "SM1", Body="IKUT KAOS1") == empty
    with db_factory() as db:
        size = db.scalars(select(OutboundMessage)).one()
    assert (size.kind, size.content_sid, size.idempotency_key, size.to_phone) == (
        "choose_size",
        "HXsize4",  # a template with exactly four items is preferred
        "reply:SM1",
        A,
    )
    assert size.body == SIZE_PROMPT  # the numbered text, kept for the log and the console
    variables = json.loads(size.content_variables)
    assert variables["1"] == "Sesi KAOS1: Kaos TS, Rp 50.000/pcs. Pilih ukuran:"
    assert [variables[str(n)] for n in range(2, 9)] == [
        "Pilih",
        "S",
        "IKUT KAOS1 S",
        "sisa 4 pcs",
        "M",
        "IKUT KAOS1 M",
        "sisa 10 pcs",
    ]
    assert len(variables) == 2 + 4 * 3  # the six unused items are not sent
    assert dispatched == [size.id]
    # redelivered: the same empty answer, no second message
    assert tap(client, settings, fake_twilio, "SM1", Body="IKUT KAOS1") == empty
    assert counts(db_factory)["outbound_messages"] == 1

    # the buyer picks M from the list (Twilio posts its id as ListId), then taps "2 pcs"
    assert tap(client, settings, fake_twilio, "SM2", Body="M", ListId="IKUT KAOS1 M") == empty
    assert tap(client, settings, fake_twilio, "SM3", Body="2 pcs", ButtonPayload="IKUT KAOS1 M 2") == empty
    with db_factory() as db:
        sent = db.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
    quantity, confirm = sent[1], sent[2]
    assert (quantity.kind, quantity.content_sid) == ("choose_quantity", "HXquantity")
    assert json.loads(quantity.content_variables) == {
        "1": "Sesi KAOS1, ukuran M (sisa 10 pcs). Berapa pcs?",
        "2": "1 pcs",
        "3": "IKUT KAOS1 M 1",
        "4": "2 pcs",
        "5": "IKUT KAOS1 M 2",
        "6": "3 pcs",
        "7": "IKUT KAOS1 M 3",
    }
    assert (confirm.kind, confirm.content_sid) == ("confirm", "HXconfirm")
    assert json.loads(confirm.content_variables) == {
        "1": "Ikut sesi KAOS1: 2 pcs ukuran M, total Rp 100.000. Dibayar setelah pesanan dibuat.",
        "2": "YA",
        "3": "YA",
        "4": "TIDAK",
        "5": "TIDAK",
    }
    assert participants(db_factory) == []
    # the yes is answered in the reply itself
    joined = tap(client, settings, fake_twilio, "SM4", Body="YA", ButtonPayload="YA")
    assert "✅ Tercatat: 2 pcs Kaos TS ukuran M di sesi KAOS1" in joined
    assert participants(db_factory) == [(A, "M", 2, "confirmed")]

    # and the interactive message really goes out as the template, through the real Twilio client
    outcome = delivery.send_outbox_message(db_factory, size.id, transport_for(settings), settings)
    assert outcome.status == delivery.SendStatus.SENT
    request = fake_twilio.accepted[-1]
    assert (request["ContentSid"], request["To"]) == ("HXsize4", f"whatsapp:{A}")
    assert json.loads(request["ContentVariables"])["4"] == "IKUT KAOS1 S"


def test_a_stale_tap_still_carries_its_meaning(interactive, fake_twilio, db_factory):
    client, settings = interactive
    # an item tapped long after the list was sent: the quantity step for that size, not a join
    assert tap(client, settings, fake_twilio, "SM1", Body="L", ListId="IKUT KAOS1 L").endswith("<Response />")
    with db_factory() as db:
        db.execute(update(ConversationState).values(expires_at=now() - timedelta(minutes=1)))
        db.commit()
    tap(client, settings, fake_twilio, "SM2", Body="1 pcs", ButtonPayload="IKUT KAOS1 L 1")
    assert waits_for(db_factory, A) == ("confirm", {"action": "join", "code": "KAOS1", "lines": [["L", 1]]})
    assert participants(db_factory) == []


def test_the_console_transport_always_gets_the_numbered_text(signed_settings, db_factory, kaos1):
    with_sids = dataclasses.replace(signed_settings, content_sids=CONTENT_SIDS)  # no Twilio account
    client = create_app(with_sids, dispatch=lambda ids: None).test_client()
    assert Phone(client, A).send("IKUT KAOS1") == SIZE_PROMPT
    assert counts(db_factory)["outbound_messages"] == 0


def test_a_closed_session_ends_the_flow_with_the_reason(client, db_factory, kaos1):
    phone = Phone(client, A)
    phone.send("IKUT KAOS1")
    with transaction(db_factory) as db:
        db.execute(update(GroupSession).values(status="failed"))
    assert phone.send("M") == (
        "Sesi KAOS1 sudah tutup, jadi tidak bisa diikuti lagi. Kirim SESI untuk sesi yang masih buka."
    )
    assert waits_for(db_factory, A) is None
