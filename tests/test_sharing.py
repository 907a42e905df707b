"""Share links, referral credit and BERHENTI/MULAI through signed webhooks (docs/design.md, "Reminders and
sharing"), the admin API's referrals, the reminder schedule and its settings.

The app is the console default here (no `TWILIO_WHATSAPP_FROM`), so links open a chat with the demo number
`DEMO_BOT_NUMBER` (+62 000 000 0000); the reminders themselves are in tests/test_reminders.py.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core import reminders, session_rows, sharing
from core.db import transaction
from core.models import Buyer, GroupSession, Participant, Product, Referral
from core.settings import ConfigError, Settings
from tests import builders
from tests.builders import ADMIN_HEADERS as ADMIN
from tests.chat import talk

A, B, C, D, E = (f"+628150000000{n}" for n in range(1, 6))
DEMO = "https://wa.me/620000000000?text="


@pytest.fixture
def say(client):
    return talk(client)


@pytest.fixture
def two_sessions(db_factory):
    """GB1 and GB2, open, sizes S/M/L/XL at 4 a lot, minimum 24 and 10."""
    builders.make_session(db_factory, builders.FOUR_SIZES, code="GB1")
    with transaction(db_factory) as db:
        product = db.scalar(select(Product))
        builders.session(db, product.id, code="GB2", target_moq=10)


def tag_of(db_factory, phone: str) -> str | None:
    with db_factory() as db:
        return db.scalar(select(Buyer.referral_tag).where(Buyer.phone == phone))


def referrals(db_factory) -> list[tuple[str, str, str]]:
    """(session code, sharer phone, referred phone), oldest first."""
    with db_factory() as db:
        rows = db.scalars(select(Referral).order_by(Referral.id)).all()
        return [
            (
                db.get(GroupSession, r.session_id).code,
                db.get(Buyer, r.sharer_id).phone,
                db.get(Buyer, r.referred_id).phone,
            )
            for r in rows
        ]


def last_line(reply: str) -> str:
    return reply.splitlines()[-1]


# --- the share link ---------------------------------------------------------------------------------------


def test_info_and_the_join_reply_carry_the_buyers_own_stable_share_link(two_sessions, say, db_factory):
    info = say(A, "INFO GB1")
    tag = tag_of(db_factory, A)
    assert tag is not None and len(tag) == 6 and set(tag) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert last_line(info) == f"📣 Ajak teman ikut GB1: {DEMO}IKUT%20GB1%20REF-{tag}"
    assert info.splitlines()[-2] == "Ikut: IKUT GB1 <ukuran> [jumlah]"

    joined = say(A, "IKUT GB2 M 2")
    assert joined.startswith("✅ Tercatat: 2 pcs Kaos TS ukuran M di sesi GB2")
    assert last_line(joined) == f"📣 Ajak teman ikut GB2: {DEMO}IKUT%20GB2%20REF-{tag}"  # same tag

    english = say(B, "JOIN GB1 S 1")
    assert english.startswith("✅ Done: 1 pc of Kaos TS size S in session GB1")
    assert last_line(english) == f"📣 Invite friends to GB1: {DEMO}JOIN%20GB1%20REF-{tag_of(db_factory, B)}"
    assert tag_of(db_factory, B) != tag


def test_the_link_opens_a_chat_with_the_bot_number_and_prefills_the_join():
    settings = Settings.from_env({"TWILIO_WHATSAPP_FROM": "whatsapp:+1 415-523-8886"})
    assert settings.share_number == "14155238886"
    assert sharing.share_link(settings, "KAOS1", "7K2Q9A", "id") == (
        "https://wa.me/14155238886?text=IKUT%20KAOS1%20REF-7K2Q9A"
    )
    assert sharing.share_link(Settings(), "KAOS-1", "7K2Q9A", "en") == (
        "https://wa.me/620000000000?text=JOIN%20KAOS-1%20REF-7K2Q9A"
    )
    assert Settings.from_env({"DEMO_BOT_NUMBER": "+62 800 1234 5678"}).share_number == "6280012345678"


def test_info_on_a_closed_session_has_no_share_link(two_sessions, say, db_factory):
    with transaction(db_factory) as db:
        builders.expire(db, session_rows.find_session(db, "GB1"))
    info = say(A, "INFO GB1")
    assert "wa.me" not in info and "IKUT GB1 <ukuran>" not in info


# --- referral credit --------------------------------------------------------------------------------------


def test_a_tagged_join_credits_the_sharer_once_per_new_buyer_and_session(
    two_sessions, say, db_factory, client
):
    say(A, "IKUT GB1 M 1")
    tag = tag_of(db_factory, A)

    # B taps A's link: the join names no size yet, so the guided flow asks for the size, then the
    # quantity, then a yes; the tag rides along and A is credited when B's join is written
    assert say(B, f"IKUT GB1 REF-{tag}").startswith("Sesi GB1: Kaos TS, Rp 50.000/pcs. Pilih ukuran:")
    assert say(B, "M").startswith("Sesi GB1, ukuran M (sisa 7 pcs). Berapa pcs?")
    assert say(B, "2").startswith("Ikut sesi GB1: 2 pcs ukuran M, total Rp 100.000.")
    assert referrals(db_factory) == []
    assert say(B, "YA").startswith("✅ Tercatat: 2 pcs Kaos TS ukuran M di sesi GB1")
    assert referrals(db_factory) == [("GB1", A, B)]
    # B's second tagged join is not a new buyer
    assert say(B, f"ikut gb1 s 1 ref-{tag.lower()}").startswith("✅ Tercatat: 1 pcs")
    # A's own tag on A's join: never credited; C joined before, so C is not new either
    say(A, f"IKUT GB1 L 1 REF-{tag}")
    say(C, "IKUT GB1 S 1")
    say(C, f"IKUT GB1 L 1 REF-{tag}")
    # D with a tag nobody has: the join goes through, nobody is credited
    assert say(D, "IKUT GB1 XL 1 REF-ZZZZZZ").startswith("✅ Tercatat: 1 pcs")
    # a refused tagged join credits nobody and writes nothing
    assert say(E, f"IKUT GB1 M 101 REF-{tag}").startswith("Maksimal 100 pcs per permintaan.")
    # B in another session through A's link: a new buyer there, credited again (once per session)
    say(B, f"IKUT GB2 S 1 REF-{tag}")
    assert referrals(db_factory) == [("GB1", A, B), ("GB2", A, B)]

    status = say(A, "STATUS")
    assert status.splitlines()[-2:] == [
        "👥 2 teman ikut lewat link Anda.",
        "🔔 Pengingat: menyala (BERHENTI untuk mematikan)",
    ]
    assert "teman" not in say(B, "STATUS")

    # the admin sees referrals per session and the top sharers
    session = client.get("/api/v1/sessions/GB1", headers=ADMIN).get_json()
    assert session["referrals"] == {
        "count": 1,
        "top_sharers": [{"phone": A, "name": "Pembeli 1", "count": 1}],
    }
    listed = client.get("/api/v1/referrals?session=gb1", headers=ADMIN).get_json()
    assert listed["session"] == "GB1" and listed["count"] == 1
    assert [(r["sharer"], r["referred"]) for r in listed["referrals"]] == [(A, B)]
    assert listed["referrals"][0]["created_at"].endswith("+00:00")
    assert client.get("/api/v1/referrals", headers=ADMIN).status_code == 422
    assert client.get("/api/v1/referrals?session=NOPE", headers=ADMIN).status_code == 404


def test_top_sharers_most_friends_first(two_sessions, say, db_factory, client):
    for sharer in (A, B):
        say(sharer, "INFO GB1")
    tag_a, tag_b = tag_of(db_factory, A), tag_of(db_factory, B)
    say(C, f"IKUT GB1 S 1 REF-{tag_b}")
    say(D, f"IKUT GB1 M 1 REF-{tag_a}")
    say(E, f"IKUT GB1 L 1 REF-{tag_a}")
    assert client.get("/api/v1/sessions/GB1", headers=ADMIN).get_json()["referrals"] == {
        "count": 3,
        "top_sharers": [
            {"phone": A, "name": "Pembeli 1", "count": 2},
            {"phone": B, "name": "Pembeli 2", "count": 1},
        ],
    }
    assert say(B, "STATUS") == "\n".join(
        [
            "Anda belum ikut sesi apa pun. Kirim SESI untuk melihat sesi yang buka.",
            "👥 1 teman ikut lewat link Anda.",
        ]
    )


def test_credit_counts_the_friends_first_participation_whenever_it_is_called(two_sessions, db_factory):
    """Called before or after the join's rows are written (the guided flow may do either)."""
    with transaction(db_factory) as db:
        sharer, friend, other = (builders.buyer(db) for _ in range(3))
        session = session_rows.find_session(db, "GB1")
        tag = sharing.referral_tag(db, sharer)
        assert sharing.referral_tag(db, sharer) == tag  # stable
        assert sharing.credit_referral(db, session=session, buyer=friend, tag=tag)  # before the join
        builders.add_join(db, session, friend, "M", 1)
        assert not sharing.credit_referral(db, session=session, buyer=friend, tag=tag)  # once
        joined = builders.add_join(db, session, other, "S", 1)
        assert sharing.credit_referral(db, session=session, buyer=other, tag=tag, joined=[joined])  # after
        assert not sharing.credit_referral(db, session=session, buyer=sharer, tag=tag)  # oneself
        count = db.scalar(select(func.count()).select_from(Referral))
    assert count == 2


# --- BERHENTI / MULAI -------------------------------------------------------------------------------------


def test_berhenti_stops_share_prompts_and_mulai_brings_them_back(two_sessions, say, db_factory):
    say(A, "IKUT GB1 M 1")
    assert say(A, "BERHENTI") == (
        "🔕 Baik, pengingat dan ajakan berbagi tidak kami kirim lagi. Kabar tentang pesanan Anda sendiri "
        "tetap kami kirim. Kirim MULAI untuk menyalakannya lagi."
    )
    assert say(A, "berhenti").startswith("🔕 Pengingat sudah mati.")
    with db_factory() as db:
        assert db.scalar(select(Buyer.opted_out_at).where(Buyer.phone == A)) is not None
    assert "wa.me" not in say(A, "INFO GB1")
    assert "wa.me" not in say(A, "IKUT GB1 S 1")
    assert last_line(say(A, "STATUS")) == "🔕 Pengingat: mati (MULAI untuk menyalakan)"

    assert say(A, "MULAI") == "🔔 Pengingat menyala lagi. Kirim BERHENTI kapan saja untuk mematikannya."
    assert say(A, "MULAI").startswith("🔔 Pengingat sudah menyala.")
    assert "wa.me" in last_line(say(A, "INFO GB1"))
    assert last_line(say(A, "STATUS")) == "🔔 Pengingat: menyala (BERHENTI untuk mematikan)"

    # English words answer in English; a buyer who never joined sees the state only once it is off
    assert say(B, "STOP") == (
        "🔕 OK, no more reminders or invitations to share. News about your own joins and orders still comes. "
        "Send START to turn them back on."
    )
    assert say(B, "STATUS").splitlines() == [
        "You have not joined any session yet. Send LIST to see open sessions.",
        "🔕 Reminders: off (START to turn them on)",
    ]
    assert say(B, "START") == "🔔 Reminders are back on. Send STOP any time to turn them off."
    assert say(B, "STATUS") == "You have not joined any session yet. Send LIST to see open sessions."
    with db_factory() as db:
        assert db.scalar(select(Buyer.opted_out_at).where(Buyer.phone == B)) is None
        assert db.scalar(select(func.count()).select_from(Participant)) == 2


# --- the schedule and its settings, pure ------------------------------------------------------------------

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
END = START + timedelta(hours=30)


def at(hours_before_end: float) -> datetime:
    return END - timedelta(hours=hours_before_end)


@pytest.mark.parametrize(
    ("hours_before_end", "due", "next_in"),
    [
        (29, None, 24),  # before the first slot: look again at 24 hours left
        (24, 24, 3),  # at the slot
        (10, 24, 3),  # the 24-hour slot missed while the clock was down still goes...
        (2, 3, None),  # ...but past the 3-hour slot only that one goes: never two at once
        (0.01, 3, None),
        (0, None, None),  # the deadline: nothing any more
        (-1, None, None),
    ],
)
def test_the_latest_due_slot_is_sent_and_the_next_one_scheduled(hours_before_end, due, next_in):
    when = at(hours_before_end)
    assert reminders.due_slot(START, END, (24, 3), when) == due
    assert reminders.next_look(START, END, (24, 3), when) == (None if next_in is None else at(next_in))


def test_a_slot_before_the_session_started_does_not_exist_for_it():
    short_start = END - timedelta(hours=2)
    assert reminders.slot_times(short_start, END, (24, 3)) == []
    assert reminders.due_slot(short_start, END, (24, 3), END - timedelta(hours=1)) is None
    assert reminders.slot_times(START, END, (3, 24, 3)) == [(24, at(24)), (3, at(3))]


def test_reminder_hours_are_parsed_once_and_fail_fast():
    assert Settings.from_env({}).reminder_hours == (24, 3)
    assert Settings.from_env({"REMINDER_HOURS": " 3, 24,3 "}).reminder_hours == (24, 3)
    assert Settings.from_env({"REMINDER_HOURS": "48,12,1"}).reminder_hours == (48, 12, 1)
    assert Settings.from_env({"REMINDER_HOURS": "off"}).reminder_hours == ()
    for bad in ("0", "24,x", "-3", "1000", ","):
        with pytest.raises(ConfigError, match="REMINDER_HOURS"):
            Settings.from_env({"REMINDER_HOURS": bad})
    with pytest.raises(ConfigError, match="DEMO_BOT_NUMBER"):
        Settings.from_env({"DEMO_BOT_NUMBER": "bot"})
    with pytest.raises(ConfigError, match="TWILIO_WHATSAPP_FROM"):
        Settings.from_env({"TWILIO_WHATSAPP_FROM": "whatsapp:+1"})
    assert dataclasses.replace(Settings(), reminder_hours=()).reminder_hours == ()
