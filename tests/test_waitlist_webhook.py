"""The waitlist through signed WhatsApp webhooks (docs/design.md, "Waitlist", the worked example), and how
its line is settled at close (the worked examples of "Settlement at close" are in test_settlement_webhook).

Buyers talk to the real Flask app (`tests.chat.Phone`); after every step the admin API's
`GET /api/v1/sessions/<code>` shows each size as (ordered, cap, available, locked, waiting). Outbound
messages are outbox rows handed to `dispatch` after the commit: here a list, so "told once" means one
outbox row of kind `waitlist_admitted` for that buyer and its id handed to the queue once.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest
from sqlalchemy import select

from core.clock import format_wib
from core.models import OutboundMessage, PurchaseOrder, SessionStatus
from tests import builders
from tests.builders import ADMIN_HEADERS as ADMIN
from tests.builders import participants, session_json
from tests.chat import talk, without_prompts

FACTORY = builders.FACTORY_PHONE
A, B, C, D = "+6281400000001", "+6281400000002", "+6281400000003", "+6281400000004"
E, F, G, H = "+6281400000005", "+6281400000006", "+6281400000007", "+6281400000008"
X = "+6281400000009"

JOINED_HEAD = "✅ Tercatat: {q} pcs Kaos TS ukuran {size} di sesi GB1, total {total}"


@pytest.fixture
def say(client):
    """Share prompts and STATUS's reminders line left out (`tests.chat.without_prompts`)."""
    return talk(client, clean=without_prompts)


def make_session(db_factory, mix, *, target_moq: int = 24) -> None:
    builders.make_session(db_factory, mix, target_moq=target_moq, waitlist=True)


def sizes(client, code: str = "GB1") -> dict[str, tuple[int, int, int, bool, int]]:
    """size -> (ordered, cap, available, locked, waiting), from the admin API."""
    return {
        s["size"]: (s["ordered"], s["cap"], s["available"], s["locked"], s["waiting"])
        for s in session_json(client, code)["sizes"]
    }


def outbox(db_factory) -> list[tuple[int, str, str]]:
    """(id, to, kind) in order."""
    with db_factory() as db:
        rows = db.execute(
            select(OutboundMessage.id, OutboundMessage.to_phone, OutboundMessage.kind).order_by(
                OutboundMessage.id
            )
        )
        return [tuple(row) for row in rows]


def body_to(db_factory, phone: str, kind: str) -> str:
    with db_factory() as db:
        [body] = db.scalars(
            select(OutboundMessage.body).where(
                OutboundMessage.to_phone == phone, OutboundMessage.kind == kind
            )
        ).all()
        return body


def four(s, m, l, xl):  # noqa: E741 - the size is called L
    return {"S": s, "M": m, "L": l, "XL": xl}


def status_line(size: str, quantity: int, state: str, session: str = "mengumpulkan") -> str:
    total = f"Rp {quantity * 50:,}.000".replace(",", ".")
    return f"• GB1 Kaos TS {size} x{quantity} = {total}: {state} (sesi: {session})"


def refused_too_many(available: int, quantity: int) -> str:
    """The three ways on: what is free now, all of it by waiting, or both."""
    return (
        f"Maaf, ukuran M di sesi GB1 tinggal {available} pcs, jadi {quantity} pcs belum bisa.\n"
        f"Ambil {available} pcs sekarang: IKUT GB1 M {available}\n"
        f"Atau antre untuk {quantity} pcs sekaligus: ANTRE GB1 M {quantity}\n"
        f"Atau keduanya: ambil {available} pcs sekarang dan antre sisanya. Kirim IKUT GB1 M {available}, "
        f"lalu ANTRE GB1 M {quantity - available}"
    )


def deadline(client, code: str = "GB1") -> str:
    """The session's deadline as a buyer reads it (WIB)."""
    return format_wib(datetime.fromisoformat(session_json(client, code)["ends_at"]), "id")


def waiting_reply(client, position: int, catch_up: str, quantity: int = 1) -> str:
    return (
        f"⏳ Ukuran M di sesi GB1 sedang terkunci, jadi permintaan {quantity} pcs Anda masuk antrean "
        f"(urutan ke-{position}). BELUM terkonfirmasi dan belum ada yang perlu dibayar.\n"
        f"Ukuran M terbuka lagi setelah {catch_up} lagi dipesan. Kami kabari lewat WhatsApp begitu "
        f"terkonfirmasi; paling lambat diputuskan saat sesi tutup, {deadline(client)}.\n"
        "Batalkan antrean: BATAL GB1"
    )


def up_to_the_locked_m(say, client) -> None:
    """A 5 M, B's 4 M refused with "only 3", B 3 M, C 5 S: M is locked at 8/8 (four sizes)."""
    assert say(A, "IKUT GB1 M 5").startswith(JOINED_HEAD.format(q=5, size="M", total="Rp 250.000"))
    assert sizes(client) == four(
        (0, 8, 8, False, 0), (5, 8, 3, False, 0), (0, 8, 8, False, 0), (0, 8, 8, False, 0)
    )
    assert say(B, "IKUT GB1 M 4") == refused_too_many(3, 4)
    assert sizes(client)["M"] == (5, 8, 3, False, 0)
    assert say(B, "IKUT GB1 M 3").startswith(JOINED_HEAD.format(q=3, size="M", total="Rp 150.000"))
    assert sizes(client)["M"] == (8, 8, 0, True, 0)
    assert say(C, "IKUT GB1 S 5").startswith(JOINED_HEAD.format(q=5, size="S", total="Rp 250.000"))
    assert sizes(client) == four(
        (5, 8, 3, False, 0), (8, 8, 0, True, 0), (0, 8, 8, False, 0), (0, 8, 8, False, 0)
    )


# --- the worked example -----------------------------------------------------------------------------------


def test_waitlist_worked_example_four_sizes(client, say, db_factory, dispatched):
    make_session(db_factory, builders.FOUR_SIZES)
    up_to_the_locked_m(say, client)

    # C's 1 M waits, first in line; D's 1 M waits, second
    assert say(C, "IKUT GB1 M 1") == waiting_reply(client, 1, "1 pcs L dan 1 pcs XL")
    assert sizes(client) == four(
        (5, 8, 3, False, 0), (8, 8, 0, True, 1), (0, 8, 8, False, 0), (0, 8, 8, False, 0)
    )
    assert say(D, "IKUT GB1 M 1") == waiting_reply(client, 2, "1 pcs L dan 1 pcs XL")
    assert sizes(client)["M"] == (8, 8, 0, True, 2)
    assert session_json(client)["units"] == 13 and session_json(client)["waiting_units"] == 2
    assert say(C, "STATUS") == "\n".join(
        ["Pesanan Anda:", status_line("M", 1, "antre ke-1"), status_line("S", 5, "terkonfirmasi")]
    )
    assert say(D, "STATUS") == "\n".join(["Pesanan Anda:", status_line("M", 1, "antre ke-2")])
    assert "• M: 8/8 🔒 terkunci sampai 1 pcs L dan 1 pcs XL lagi dipesan, 2 antre" in say(E, "INFO GB1")
    assert outbox(db_factory) == [] and dispatched == []

    # E's 1 L alone is not enough (XL still has none)
    assert say(E, "IKUT GB1 L 1").startswith(JOINED_HEAD.format(q=1, size="L", total="Rp 50.000"))
    assert sizes(client) == four(
        (5, 8, 3, False, 0), (8, 8, 0, True, 2), (1, 8, 7, False, 0), (0, 8, 8, False, 0)
    )
    assert outbox(db_factory) == []

    # F's 1 XL: M's cap is 8 + min(5, 8, 1, 1) = 9, C is admitted and told once, D still waits
    assert say(F, "IKUT GB1 XL 1").startswith(JOINED_HEAD.format(q=1, size="XL", total="Rp 50.000"))
    assert sizes(client) == four(
        (5, 9, 4, False, 0), (9, 9, 0, True, 1), (1, 9, 8, False, 0), (1, 9, 8, False, 0)
    )
    [(c_message, to, kind)] = outbox(db_factory)
    assert (to, kind) == (C, "waitlist_admitted")
    assert dispatched == [c_message]
    assert body_to(db_factory, C, "waitlist_admitted") == (
        "✅ Antrean Anda terkonfirmasi: 1 pcs Kaos TS ukuran M di sesi GB1, total Rp 50.000."
    )
    assert say(D, "STATUS") == "\n".join(["Pesanan Anda:", status_line("M", 1, "antre ke-1")])
    assert say(C, "CEK").splitlines()[1] == status_line("M", 1, "terkonfirmasi")

    # G's 1 L: cap still 9; H's 1 XL: cap 10, D is admitted and told once
    say(G, "IKUT GB1 L 1")
    assert sizes(client) == four(
        (5, 9, 4, False, 0), (9, 9, 0, True, 1), (2, 9, 7, False, 0), (1, 9, 8, False, 0)
    )
    assert len(outbox(db_factory)) == 1
    say(H, "IKUT GB1 XL 1")
    assert sizes(client) == four(
        (5, 10, 5, False, 0), (10, 10, 0, True, 0), (2, 10, 8, False, 0), (2, 10, 8, False, 0)
    )
    messages = outbox(db_factory)
    assert [(to, kind) for _, to, kind in messages] == [(C, "waitlist_admitted"), (D, "waitlist_admitted")]
    assert dispatched == [m[0] for m in messages]  # each handed to the queue once
    assert session_json(client)["units"] == 19 and session_json(client)["waiting_units"] == 0
    assert [p for p in participants(db_factory) if p[1] == "M"] == [
        (A, "M", 5, "confirmed"),
        (B, "M", 3, "confirmed"),
        (C, "M", 1, "confirmed"),
        (D, "M", 1, "confirmed"),
    ]


def test_waitlist_worked_example_two_sizes(client, say, db_factory, dispatched):
    make_session(db_factory, builders.TWO_SIZES)
    assert say(A, "IKUT GB1 M 5").startswith(JOINED_HEAD.format(q=5, size="M", total="Rp 250.000"))
    assert say(B, "IKUT GB1 M 4") == refused_too_many(3, 4)
    say(B, "IKUT GB1 M 3")
    assert sizes(client) == {"S": (0, 8, 8, False, 0), "M": (8, 8, 0, True, 0)}
    assert say(C, "IKUT GB1 M 1") == waiting_reply(client, 1, "1 pcs S")
    assert sizes(client) == {"S": (0, 8, 8, False, 0), "M": (8, 8, 0, True, 1)}

    # C's own 5 S raise M's cap to 8 + min(5, 8) = 13: C's 1 M is admitted, and told once
    assert say(C, "IKUT GB1 S 5").startswith(JOINED_HEAD.format(q=5, size="S", total="Rp 250.000"))
    assert sizes(client) == {"S": (5, 13, 8, False, 0), "M": (9, 13, 4, False, 0)}
    [(c_message, to, kind)] = outbox(db_factory)
    assert (to, kind) == (C, "waitlist_admitted") and dispatched == [c_message]

    # D's 1 M is accepted at once
    assert say(D, "IKUT GB1 M 1").startswith(JOINED_HEAD.format(q=1, size="M", total="Rp 50.000"))
    assert sizes(client) == {"S": (5, 13, 8, False, 0), "M": (10, 13, 3, False, 0)}
    assert len(outbox(db_factory)) == 1 and dispatched == [c_message]
    assert [status for *_, status in participants(db_factory)] == ["confirmed"] * 5


def test_a_waiting_request_is_not_overtaken_by_a_younger_one_for_the_same_size(
    client, say, db_factory, dispatched
):
    make_session(db_factory, builders.FOUR_SIZES)
    up_to_the_locked_m(say, client)
    assert say(D, "IKUT GB1 M 2") == waiting_reply(client, 1, "2 pcs L dan 2 pcs XL", quantity=2)
    assert say(E, "IKUT GB1 M 1") == waiting_reply(client, 2, "1 pcs L dan 1 pcs XL")

    # cap 9: one unit of M is free; D's 2 do not fit, and E's 1 must not jump the line
    say(F, "IKUT GB1 L 1")
    say(G, "IKUT GB1 XL 1")
    assert sizes(client)["M"] == (8, 9, 1, False, 3)
    assert outbox(db_factory) == [] and dispatched == []

    # cap 10: D's whole request fits and is admitted; E waits on, now first in line
    say(F, "IKUT GB1 L 1")
    say(G, "IKUT GB1 XL 1")
    assert sizes(client)["M"] == (10, 10, 0, True, 1)
    messages = outbox(db_factory)
    assert [(to, kind) for _, to, kind in messages] == [(D, "waitlist_admitted")]
    assert dispatched == [messages[0][0]]
    assert body_to(db_factory, D, "waitlist_admitted") == (
        "✅ Antrean Anda terkonfirmasi: 2 pcs Kaos TS ukuran M di sesi GB1, total Rp 100.000."
    )
    assert say(E, "STATUS") == "\n".join(["Pesanan Anda:", status_line("M", 1, "antre ke-1")])


def test_antre_offered_by_a_refusal_waits_for_the_whole_request(client, say, db_factory, dispatched):
    make_session(db_factory, builders.FOUR_SIZES)
    say(A, "IKUT GB1 M 5")
    assert say(B, "IKUT GB1 M 4") == refused_too_many(3, 4)

    reply = say(B, "ANTRE GB1 M 4")  # the second way on the refusal offered
    assert "(urutan ke-1)" in reply and "BELUM terkonfirmasi dan belum ada yang perlu dibayar." in reply
    assert "setelah 1 pcs S, 1 pcs L dan 1 pcs XL lagi dipesan" in reply and reply.endswith("BATAL GB1")
    assert sizes(client)["M"] == (5, 8, 3, False, 4)  # nothing taken: the whole 4 wait
    assert session_json(client)["units"] == 5
    assert say(B, "STATUS") == "\n".join(["Pesanan Anda:", status_line("M", 4, "antre ke-1")])

    # S, L and XL each get one: M's cap is 9, B's 4 fit and are admitted, B is told once
    for who, size in ((C, "S"), (D, "L"), (E, "XL")):
        say(who, f"IKUT GB1 {size} 1")
    assert sizes(client)["M"] == (9, 9, 0, True, 0)
    messages = outbox(db_factory)
    assert [(to, kind) for _, to, kind in messages] == [(B, "waitlist_admitted")]
    assert dispatched == [messages[0][0]]


def test_antre_on_a_size_that_is_not_locked_does_not_say_it_is_locked(client, say, db_factory):
    make_session(db_factory, builders.FOUR_SIZES)
    say(A, "IKUT GB1 M 5")
    assert sizes(client)["M"] == (5, 8, 3, False, 0)
    reply = say(B, "ANTRE GB1 M 4")
    assert "(urutan ke-1)" in reply and "BELUM terkonfirmasi" in reply  # it does wait...
    assert "terkunci" not in reply  # ...but M is not locked: 3 pcs are free (INFO says "sisa 3")
    assert "3 pcs" in reply


# --- withdrawing ------------------------------------------------------------------------------------------


def test_batal_withdraws_a_waiting_request(client, say, db_factory, dispatched):
    make_session(db_factory, builders.FOUR_SIZES)
    up_to_the_locked_m(say, client)
    assert say(X, "IKUT GB1 M 1") == waiting_reply(client, 1, "1 pcs L dan 1 pcs XL")
    assert say(C, "IKUT GB1 M 1") == waiting_reply(client, 2, "1 pcs L dan 1 pcs XL")
    assert sizes(client)["M"] == (8, 8, 0, True, 2)

    assert say(X, "BATAL GB1") == (
        "Anda keluar dari sesi GB1: 0 pcs dilepas, 1 pcs antrean ditarik. Tidak ada yang perlu dibayar untuk itu."
    )
    assert sizes(client) == four(
        (5, 8, 3, False, 0), (8, 8, 0, True, 1), (0, 8, 8, False, 0), (0, 8, 8, False, 0)
    )
    assert session_json(client)["waiting_units"] == 1
    assert say(X, "STATUS") == "\n".join(["Pesanan Anda:", status_line("M", 1, "antrean ditarik")])
    assert say(C, "STATUS").splitlines()[1] == status_line("M", 1, "antre ke-1")  # moved up

    # room opens twice: C is admitted (cap 9), then M has a free unit (cap 10) and nobody waits for it
    for who, size in ((E, "L"), (F, "XL"), (G, "L"), (H, "XL")):
        say(who, f"IKUT GB1 {size} 1")
    assert sizes(client)["M"] == (9, 10, 1, False, 0)
    messages = outbox(db_factory)
    assert [(to, kind) for _, to, kind in messages] == [(C, "waitlist_admitted")]
    assert dispatched == [messages[0][0]]
    assert participants(db_factory)[3:5] == [(X, "M", 1, "withdrawn"), (C, "M", 1, "confirmed")]


# --- closing: settlement -------------------------------------------------------------------------------


def settling_reply(client, position: int, quantity: int, maximum: int) -> str:
    return (
        f"⏳ Permintaan {quantity} pcs ukuran M di sesi GB1 masuk antrean (urutan ke-{position}). Selama sesi "
        f"berjalan, ukuran M paling banyak {maximum} pcs per permintaan, jadi permintaan ini hanya bisa "
        f"diputuskan saat sesi tutup, paling lambat {deadline(client)}. BELUM terkonfirmasi dan belum ada "
        "yang perlu dibayar; kami kabari lewat WhatsApp apa pun hasilnya.\nBatalkan antrean: BATAL GB1"
    )


def test_a_request_larger_than_t_lots_waits_for_settlement_without_holding_up_the_line(
    client, say, db_factory, dispatched
):
    make_session(db_factory, builders.FOUR_SIZES, target_moq=18)
    up_to_the_locked_m(say, client)  # S 5, M 8: 13 confirmed
    assert say(X, "IKUT GB1 M 9") == settling_reply(client, 1, 9, maximum=8)  # 9 > T * a_M = 8
    assert say(C, "IKUT GB1 M 1") == waiting_reply(client, 2, "1 pcs L dan 1 pcs XL")
    assert say(D, "IKUT GB1 M 2") == waiting_reply(client, 3, "2 pcs L dan 2 pcs XL", quantity=2)
    assert sizes(client)["M"] == (8, 8, 0, True, 12)

    # E's 1 L and F's 1 XL: M's cap is 9. X, older, can never fit during the session: C goes in.
    say(E, "IKUT GB1 L 1")
    say(F, "IKUT GB1 XL 1")
    assert sizes(client)["M"] == (9, 9, 0, True, 11)
    assert [(to, kind) for _, to, kind in outbox(db_factory)] == [(C, "waitlist_admitted")]

    # As if it closed now: 16 confirmed. k = 3 holds D's 2 M but not X's 9 (18 units, E = 48 - 18 = 30,
    # R = 9, cost 39); k = 5 would hold both (27 units, E = 53, R = 0, cost 53).
    assert session_json(client)["settlement"] == {
        "reached": True,
        "lots": 3,
        "admitted_units": four(0, 2, 0, 0),
        "excess": 30,
        "refused_units": 9,
        "cost": 39.0,
        "admitted_requests": 1,
        "not_admitted_requests": 1,
        "free_stock": four(0, 0, 0, 0),
        "warehouse_error": None,
    }
    assert len(outbox(db_factory)) == 1  # looking wrote nothing

    response = client.post("/api/v1/sessions/GB1/close", headers=ADMIN)
    assert response.status_code == 200
    assert response.get_json() == {
        "session_code": "GB1",
        "result": SessionStatus.PENDING_STOCK,
        "status": SessionStatus.PENDING_STOCK,
        "purchase_order_code": "PO-GB1-1",
        "lots": 3,
        "orders": 0,
        "admitted": 1,
        "not_admitted": 1,
    }
    assert [p for p in participants(db_factory) if p[1] == "M"] == [
        (A, "M", 5, "confirmed"),
        (B, "M", 3, "confirmed"),
        (X, "M", 9, "not_admitted"),
        (C, "M", 1, "confirmed"),
        (D, "M", 2, "confirmed"),
    ]
    view = session_json(client)
    assert (view["status"], view["units"], view["waiting_units"], view["grosir_units_needed"]) == (
        SessionStatus.PENDING_STOCK,
        18,
        0,
        3,
    )
    assert view["settlement"] is None  # settled: nothing left to preview
    with db_factory() as db:
        po = db.scalar(select(PurchaseOrder))
        assert (po.lots, {line.variant.size: line.quantity for line in po.lines}) == (3, four(12, 12, 12, 12))

    messages = outbox(db_factory)
    assert Counter((to, kind) for _, to, kind in messages) == Counter(
        {
            (C, "waitlist_admitted"): 1,
            (D, "waitlist_admitted"): 1,
            (X, "not_admitted"): 1,
            (FACTORY, "factory_po"): 1,
            **{(who, "waiting_for_stock"): 1 for who in (A, B, C, D, E, F)},
        }
    )
    assert sorted(dispatched) == [m[0] for m in messages]
    assert body_to(db_factory, D, "waitlist_admitted") == (
        "✅ Sesi GB1 (Kaos TS) sudah ditutup dan antrean Anda terkonfirmasi: 2 pcs ukuran M, total Rp 100.000. "
        "Langkah berikutnya kami kabari lewat WhatsApp."
    )
    assert body_to(db_factory, X, "not_admitted") == (
        "Sesi GB1 (Kaos TS) sudah ditutup. Antrean Anda (M x9) tidak terkonfirmasi, jadi tidak ada yang perlu "
        "dibayar."
    )
    assert say(X, "STATUS") == "\n".join(
        [
            "Pesanan Anda:",
            status_line("M", 9, "tidak terkonfirmasi (tidak ada tagihan)", session="menunggu stok pabrik"),
        ]
    )


def test_settlement_fails_when_every_waiting_unit_together_misses_the_minimum(
    client, say, db_factory, dispatched
):
    make_session(db_factory, builders.FOUR_SIZES, target_moq=18)
    up_to_the_locked_m(say, client)  # 13 confirmed
    say(C, "IKUT GB1 M 1")
    say(D, "IKUT GB1 M 2")  # 13 + 3 < 18
    assert session_json(client)["settlement"] == {
        "reached": False,
        "lots": 0,
        "admitted_units": four(0, 0, 0, 0),
        "excess": 0,
        "refused_units": 3,
        "cost": 3.0,
        "admitted_requests": 0,
        "not_admitted_requests": 2,
        "free_stock": None,  # the minimum is out of reach whatever the warehouse holds: not asked
        "warehouse_error": None,
    }

    response = client.post("/api/v1/sessions/GB1/close", headers=ADMIN)
    assert response.status_code == 200
    assert response.get_json()["status"] == SessionStatus.FAILED
    assert (response.get_json()["admitted"], response.get_json()["not_admitted"]) == (0, 2)
    assert [status for *_, status in participants(db_factory)] == ["confirmed"] * 3 + ["not_admitted"] * 2
    assert Counter((to, kind) for _, to, kind in outbox(db_factory)) == Counter(
        {
            (C, "not_admitted"): 1,
            (D, "not_admitted"): 1,
            (A, "session_failed"): 1,
            (B, "session_failed"): 1,
            (C, "session_failed"): 1,
        }
    )
    assert "(13/18 pcs)" in body_to(db_factory, A, "session_failed")
    assert session_json(client)["waiting_units"] == 0
