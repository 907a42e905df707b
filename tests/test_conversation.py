"""A buyer's conversation through signed webhooks: context, guesses asked first, several sizes in one
join, and what a plain join costs in SQL."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from core.clock import format_wib
from core.db import engine_for
from core.models import GroupSession
from tests import builders
from tests.builders import FACTORY_PHONE, counts, make_session, participants
from tests.chat import Phone, squash, without_share_line

A, B = "+6281200000001", "+6281200000002"


@pytest.fixture
def kaos1(db_factory):
    """KAOS1 as the demo has it (2 S + 5 M + 4 L + 1 XL a lot: caps 4, 10, 8, 2), waitlist on, and FLANEL1."""
    make_session(db_factory, builders.TSHIRT_MIX, code="KAOS1", waitlist=True, target_moq=15)
    make_session(db_factory, builders.FOUR_SIZES, code="FLANEL1", sku="FL")


def say(phone: Phone, text: str, **extra) -> str:
    return squash(phone.send(text, **extra))


def test_the_menu_example_is_a_session_the_buyer_can_join(client, db_factory):
    phone = Phone(client, A)
    assert "(contoh: IKUT GB1234 M 2)" in say(phone, "MENU")  # nothing open: the placeholder code
    make_session(db_factory, builders.TSHIRT_MIX, code="KAOS1")
    assert "(contoh: IKUT KAOS1 M 2)" in say(phone, "MENU")
    assert "(e.g. JOIN KAOS1 M 2)" in say(phone, "HELP")


def test_a_code_left_out_is_the_session_asked_about_last_and_is_said_back(client, db_factory, kaos1):
    phone = Phone(client, A)
    assert say(phone, "INFO FLANEL1").startswith("FLANEL1: Kaos FL")
    assert say(phone, "ikut M 2 ya kak").startswith(
        "(Sesi FLANEL1, dari percakapan tadi.) ✅ Tercatat: 2 pcs Kaos FL ukuran M di sesi FLANEL1"
    )
    assert say(phone, "kaos1").startswith("KAOS1: Kaos TS")  # a bare code is INFO, and the new context
    assert say(phone, "harganya berapa?").startswith("KAOS1: Kaos TS Harga Rp 50.000/pcs")
    assert say(phone, "antri XL 1").startswith(
        "(Sesi KAOS1, dari percakapan tadi.) ✅ Tercatat: 1 pcs Kaos TS"
    )
    assert participants(db_factory, "FLANEL1") == [(A, "M", 2, "confirmed")]
    assert participants(db_factory, "KAOS1") == [(A, "XL", 1, "confirmed")]
    # with two sessions open and nothing asked yet, a join without a code asks which session
    assert say(Phone(client, B), "ikut M 1").startswith("Mau ikut sesi yang mana? 1. ")


def test_a_guess_never_changes_an_order_without_a_yes(client, db_factory, kaos1):
    phone = Phone(client, A)
    assert say(phone, "ikut KASO1 M 2") == (
        'Maksud Anda: IKUT KAOS1 M 2? (Kode "KASO1" saya baca KAOS1.) Balas YA untuk lanjut, atau TIDAK.'
    )
    assert participants(db_factory) == []
    assert say(phone, "bukan") == "Baik, tidak jadi. Tidak ada yang berubah."
    assert say(phone, "gabng KAOS1 L 1").startswith(
        'Maksud Anda: IKUT KAOS1 L 1? ("GABNG" saya baca GABUNG.)'
    )
    assert say(phone, "oke kak").startswith("✅ Tercatat: 1 pcs Kaos TS ukuran L di sesi KAOS1")
    assert say(phone, "batl KAOS1") == (
        'Maksud Anda: BATAL KAOS1? ("BATL" saya baca BATAL.) Balas YA untuk lanjut, atau TIDAK.'
    )
    assert participants(db_factory) == [(A, "L", 1, "confirmed")]
    assert say(phone, "ya").startswith("Anda keluar dari sesi KAOS1: 1 pcs dilepas.")
    assert participants(db_factory) == [(A, "L", 1, "left")]
    # sizes with nothing asked: a join of the session in context, asked first
    assert say(phone, "M 2") == (
        "Maksud Anda: IKUT KAOS1 M 2? (Pesan Anda tanpa kata IKUT, jadi saya pastikan dulu.) "
        "Balas YA untuk lanjut, atau TIDAK."
    )
    assert say(phone, "MENU").startswith("Halo Buyer!")  # a full command drops the question
    assert say(phone, "ya").startswith("Saat ini tidak ada yang perlu dijawab YA atau TIDAK.")
    assert participants(db_factory) == [(A, "L", 1, "left")]


def test_a_leave_with_its_code_from_context_is_asked_first(client, db_factory, kaos1):
    phone = Phone(client, A)
    say(phone, "IKUT KAOS1 M 2")
    assert say(phone, "gak jadi deh kak") == (
        "Keluar dari sesi KAOS1? Semua pesanan dan antrean Anda di sesi itu dilepas. "
        "Balas YA untuk keluar, atau TIDAK."
    )
    assert participants(db_factory) == [(A, "M", 2, "confirmed")]
    assert (
        say(phone, "iya")
        == "Anda keluar dari sesi KAOS1: 2 pcs dilepas. Tidak ada yang perlu dibayar untuk itu."
    )
    assert participants(db_factory) == [(A, "M", 2, "left")]


def deadline(db_factory, code: str) -> str:
    """A session's deadline as a buyer reads it (WIB)."""
    with db_factory() as db:
        return format_wib(db.scalar(select(GroupSession.ends_at).where(GroupSession.code == code)), "id")


def test_several_sizes_in_one_join_each_against_its_own_cap(client, db_factory, kaos1):
    assert say(Phone(client, B), "IKUT KAOS1 XL 2").startswith("✅ Tercatat")  # XL at its cap: locked
    reply = without_share_line(Phone(client, A).send("ikut kaos1 M 2, XL 1, L 1, S 9 ya kak"))
    assert reply == (
        "Sesi KAOS1 (Kaos TS), per ukuran:\n"
        "• M 2 pcs: ✅ tercatat, Rp 100.000\n"
        "• XL 1 pcs: ⏳ antre ke-1, terbuka setelah 2 pcs S, 3 pcs M dan 3 pcs L lagi dipesan (belum perlu bayar)\n"
        "• L 1 pcs: ✅ tercatat, Rp 50.000\n"
        # 9 S > T * a_S = 4: no join can make room, only settlement at close (docs/design.md, "Waitlist")
        "• S 9 pcs: ⏳ antre ke-1, hanya bisa diputuskan saat sesi tutup (belum perlu bayar)\n"
        f"Antrean paling lambat diputuskan saat sesi tutup, {deadline(db_factory, 'KAOS1')}; tidak ada yang "
        "perlu dibayar sebelum terkonfirmasi.\n"
        "Total tercatat Rp 150.000 (dibayar setelah pesanan dibuat). Terkumpul 5/15 pcs.\n"
        "Keluar: BATAL KAOS1"
    )
    assert participants(db_factory, "KAOS1") == [
        (B, "XL", 2, "confirmed"),
        (A, "M", 2, "confirmed"),
        (A, "XL", 1, "waiting"),
        (A, "L", 1, "confirmed"),
        (A, "S", 9, "waiting"),
    ]
    english = Phone(client, "+6281200000003").send("order KAOS1 M 1 and L 1")
    assert english.startswith("Session KAOS1 (Kaos TS), per size:\n• M 1 pc: ✅ done, Rp 50.000\n")


def test_what_is_not_an_order_changes_no_order(client, db_factory, kaos1):
    phone = Phone(client, A)
    say(phone, "IKUT KAOS1 M 2")
    before = counts(db_factory)
    for text in ("halo kak", "makasih kak 🙏", "kapan dikirim?", "bahannya adem ga?", "KAOS1", "SESI", "cek"):
        say(phone, text)
    after = counts(db_factory)
    assert after["participants"] == before["participants"] == 1
    assert after["inbound_messages"] == before["inbound_messages"] + 7
    assert participants(db_factory) == [(A, "M", 2, "confirmed")]


def test_reminders_off_and_on_are_answered(client, db_factory):
    assert say(Phone(client, A), "BERHENTI").startswith(
        "🔕 Baik, pengingat dan ajakan berbagi tidak kami kirim lagi."
    )
    assert say(Phone(client, A), "START").startswith("🔔 Reminders are back on.")


def test_the_factory_is_read_as_the_factory(client, db_factory, kaos1):
    factory = Phone(client, FACTORY_PHONE)
    assert say(factory, "Siap") == "Sebutkan kode pesanan, contoh: SIAP PO-GB1234-1"  # not a buyer's text
    assert say(Phone(client, A), "siap kak").startswith(
        "Saat ini tidak ada yang perlu dijawab YA atau TIDAK."
    )


def statements_for(client, database_url, phone: str, text: str) -> list[str]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE; PostgreSQL's is implicit
            seen.append(statement)

    engine = engine_for(database_url)
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert say(Phone(client, phone), text).startswith("✅ Tercatat")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return seen


def test_statements_per_plain_join(client, db_factory, database_url, kaos1, capsys):
    phone = Phone(client, A)
    say(phone, "MENU")  # a known buyer, as most joins are
    first = statements_for(client, database_url, A, "IKUT KAOS1 M 2")  # the context becomes KAOS1
    again = statements_for(client, database_url, A, "IKUT KAOS1 M 2")
    with capsys.disabled():
        print(f"\nstatements per join: {len(first)} (context changed), {len(again)} (context already KAOS1)")
    # The first join also reads the new product's catalog (then cached), gives the buyer a referral tag for
    # the share line and writes the new context. Every join on PostgreSQL: the stored reply, the factory,
    # the state and the buyer upserted (1, `core.sender_rows`), the session, its catalog version and counters
    # locked (1), the join (1), the inbound row with its reply (1). SQLite has no data-modifying CTEs: the
    # sender takes two statements and the join three.
    postgres = database_url.startswith("postgresql")
    assert (len(first), len(again)) == ((7, 4) if postgres else (10, 7))
    assert not any(s.startswith(("SAVEPOINT", "RELEASE")) for s in first + again)
    assert sum("FROM products" in s for s in first + again) == 1

    def state_writes(statements: list[str]) -> int:
        return sum(s.startswith(("INSERT", "UPDATE")) and "conversation_states" in s for s in statements)

    assert (state_writes(first), state_writes(again)) == (1, 0)
