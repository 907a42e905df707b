"""The factory's WhatsApp loop: SIAP / TOLAK / KIRIM on a purchase order, and one reminder."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import closing, purchase_orders
from core.clock import now
from core.conversation import Inbound, handle
from core.factory_replies import handle_factory_command, remind_unanswered_purchase_orders
from core.models import OutboundMessage, PurchaseOrder, PurchaseOrderStatus, SessionStatus
from core.settings import Settings
from jobs import expiry, runtime
from tests import builders
from tests.builders import close, demand_s3_m7_l4_xl1, expire, messages, reload, tshirt_session

ADMIN = "+6281199999999"


@pytest.fixture
def factory_settings(database_url):
    return Settings(database_url=database_url, admin_whatsapp=ADMIN)


@pytest.fixture
def ordered(db, settings):
    """A closed session waiting for PO-GB1-1 from the builders' factory; returns (factory, session, buyers)."""
    _, session = tshirt_session(db, moq=15)
    buyers = demand_s3_m7_l4_xl1(db, session)
    buyers[1].language = "en"
    expire(db, session)
    close(db, settings, session)
    factory = db.scalar(select(PurchaseOrder)).factory
    return factory, session, buyers


def po(db) -> PurchaseOrder:
    db.expire_all()
    return db.scalar(select(PurchaseOrder))


def outbox_count(db) -> int:
    return db.scalar(select(func.count()).select_from(OutboundMessage))


def test_siap_confirms_with_eta_and_tells_the_buyers(db, factory_settings, ordered):
    factory, session, buyers = ordered
    before = outbox_count(db)
    reply = handle_factory_command(db, factory, "confirm", "po-gb1-1", "  Jumat 14 Nov ", factory_settings)
    db.commit()
    assert reply == (
        "Terima kasih! Pesanan PO-GB1-1 dikonfirmasi, perkiraan siap Jumat 14 Nov. "
        "Balas KIRIM PO-GB1-1 <no. resi> saat barang dikirim."
    )
    row = po(db)
    assert (row.status, row.eta) == (PurchaseOrderStatus.CONFIRMED, "Jumat 14 Nov")
    assert row.confirmed_at is not None
    told = messages(db, "factory_confirmed")
    assert [m.to_phone for m in told] == [b.phone for b in buyers]
    assert [m.idempotency_key for m in told][0] == f"po_confirmed:{row.id}:{buyers[0].id}"
    assert "Perkiraan siap: Jumat 14 Nov." in told[0].body
    assert "Expected: Jumat 14 Nov." in told[1].body
    assert outbox_count(db) == before + 4

    # the button tapped twice: answered, nothing changes
    again = handle_factory_command(db, factory, "SIAP", "PO-GB1-1", "Senin", factory_settings)
    db.commit()
    assert (
        again
        == "Pesanan PO-GB1-1 sudah dikonfirmasi sebelumnya, perkiraan siap Jumat 14 Nov. Tidak ada yang diubah."
    )
    assert po(db).eta == "Jumat 14 Nov" and outbox_count(db) == before + 4


def test_confirm_without_eta_in_english(db, factory_settings, ordered):
    factory, _, _ = ordered
    reply = handle_factory_command(db, factory, "confirm", "PO-GB1-1", None, factory_settings, language="en")
    assert reply.startswith("Thank you! Purchase order PO-GB1-1 is confirmed. Reply SHIPPED PO-GB1-1")
    assert "Perkiraan siap: belum ditentukan." in messages(db, "factory_confirmed")[0].body


def test_tolak_declines_alerts_the_admin_and_tells_the_buyers_of_a_delay(db, factory_settings, ordered):
    factory, session, buyers = ordered
    reply = handle_factory_command(db, factory, "decline", "PO-GB1-1", "kain habis", factory_settings)
    db.commit()
    assert reply.startswith("Pesanan PO-GB1-1 kami catat DITOLAK (kain habis).")
    row = po(db)
    assert (row.status, row.decline_reason) == (PurchaseOrderStatus.DECLINED, "kain habis")
    assert row.declined_at is not None
    [alert] = messages(db, "admin_alert")
    assert alert.to_phone == ADMIN and alert.idempotency_key == f"po_declined_admin:{row.id}"
    assert "PO-GB1-1" in alert.body and "Konveksi Bandung: kain habis" in alert.body
    delayed = messages(db, "factory_declined")
    assert len(delayed) == 4 and "tertunda" in delayed[0].body and "Nothing to pay yet" in delayed[1].body
    assert reload(db, session).status == SessionStatus.PENDING_STOCK

    count = outbox_count(db)
    assert "sudah ditolak sebelumnya" in handle_factory_command(
        db, factory, "TOLAK", "PO-GB1-1", "", factory_settings
    )
    assert "sudah ditolak, jadi SIAP tidak berlaku" in handle_factory_command(
        db, factory, "SIAP", "PO-GB1-1", "besok", factory_settings
    )
    assert "sudah ditolak, jadi KIRIM tidak berlaku" in handle_factory_command(
        db, factory, "KIRIM", "PO-GB1-1", "JNE1", factory_settings
    )
    db.commit()
    assert po(db).status == PurchaseOrderStatus.DECLINED and outbox_count(db) == count


def test_decline_without_admin_number_only_logs(db, settings, ordered, caplog):
    factory, _, _ = ordered
    handle_factory_command(db, factory, "decline", "PO-GB1-1", None, settings)
    assert messages(db, "admin_alert") == []
    assert "PO-GB1-1 (session GB1) declined" in caplog.text


def test_kirim_after_siap_ships_with_tracking(db, factory_settings, ordered):
    factory, _, buyers = ordered
    handle_factory_command(db, factory, "confirm", "PO-GB1-1", "besok", factory_settings)
    reply = handle_factory_command(db, factory, "ship", "PO-GB1-1", "JNE 1234", factory_settings)
    db.commit()
    assert reply == "Terima kasih! Pesanan PO-GB1-1 tercatat dikirim (resi JNE 1234)."
    row = po(db)
    assert (row.status, row.tracking, row.eta) == (PurchaseOrderStatus.SHIPPED, "JNE 1234", "besok")
    shipped = messages(db, "stock_shipped")
    assert (
        len(shipped) == 4
        and "(resi JNE 1234)" in shipped[0].body
        and "(tracking JNE 1234)" in shipped[1].body
    )

    count = outbox_count(db)
    assert handle_factory_command(db, factory, "KIRIM", "PO-GB1-1", "JNE 9", factory_settings) == (
        "Pesanan PO-GB1-1 sudah tercatat dikirim (resi JNE 1234). Tidak ada yang diubah."
    )
    assert "sudah tercatat dikirim" in handle_factory_command(
        db, factory, "SIAP", "PO-GB1-1", "", factory_settings
    )
    assert "sudah dikirim, jadi tidak bisa ditolak" in handle_factory_command(
        db, factory, "TOLAK", "PO-GB1-1", "", factory_settings
    )
    db.commit()
    assert po(db).tracking == "JNE 1234" and outbox_count(db) == count


def test_kirim_straight_from_requested_and_received_pos_change_nothing(
    db, settings, factory_settings, ordered
):
    factory, _, _ = ordered
    assert "tercatat dikirim." in handle_factory_command(
        db, factory, "KIRIM", "PO-GB1-1", None, factory_settings
    )
    purchase_orders.receive_purchase_order(db, "PO-GB1-1", settings)
    db.commit()
    count = outbox_count(db)
    for word in ("SIAP", "KIRIM"):
        assert "sudah diterima di gudang" in handle_factory_command(
            db, factory, word, "PO-GB1-1", "", factory_settings
        )
    assert "sudah diterima di gudang, jadi tidak bisa ditolak" in handle_factory_command(
        db, factory, "TOLAK", "PO-GB1-1", "x", factory_settings
    )
    assert po(db).status == PurchaseOrderStatus.RECEIVED and outbox_count(db) == count


def test_only_the_pos_own_factory_may_act(db, factory_settings, ordered):
    _, _, _ = ordered
    stranger = builders.factory(db, phone="+6281100000099", name="Pabrik Lain")
    count = outbox_count(db)
    for word in ("SIAP", "TOLAK", "KIRIM"):
        reply = handle_factory_command(db, stranger, word, "PO-GB1-1", "x", factory_settings)
        assert reply == "Pesanan PO-GB1-1 bukan untuk Pabrik Lain. Tidak ada yang diubah."
    db.commit()
    assert po(db).status == PurchaseOrderStatus.REQUESTED and outbox_count(db) == count


def test_unknown_or_missing_po_code(db, factory_settings, ordered):
    factory, _, _ = ordered
    assert handle_factory_command(db, factory, "confirm", "PO-NOPE-9", None, factory_settings).startswith(
        "Pesanan PO-NOPE-9 tidak ditemukan."
    )
    assert handle_factory_command(db, factory, "decline", "", None, factory_settings, language="en") == (
        "Please give the purchase order code, e.g. DECLINE PO-GB1234-1"
    )


def test_a_cancelled_sessions_po_is_void(db, settings, factory_settings, ordered):
    factory, _, _ = ordered
    closing.cancel_session(db, "GB1", settings)
    db.commit()
    assert "sudah dibatalkan" in handle_factory_command(db, factory, "SIAP", "PO-GB1-1", "", factory_settings)
    assert po(db).status == PurchaseOrderStatus.REQUESTED


# --- reminders ------------------------------------------------------------------------------------------


def test_an_unanswered_po_gets_exactly_one_reminder(db, settings, ordered):
    factory, _, _ = ordered
    row = po(db)
    assert remind_unanswered_purchase_orders(db, settings, at=now() + timedelta(hours=23)) == []
    later = now() + timedelta(hours=settings.factory_reminder_hours, minutes=1)
    assert remind_unanswered_purchase_orders(db, settings, at=later) == ["PO-GB1-1"]
    assert remind_unanswered_purchase_orders(db, settings, at=later + timedelta(days=3)) == []
    db.commit()
    [reminder] = messages(db, "factory_reminder")
    assert reminder.to_phone == factory.phone and reminder.idempotency_key == f"factory_reminder:{row.id}"
    assert "PO-GB1-1 (Kaos TS, 24 pcs) belum dijawab" in reminder.body
    assert po(db).reminded_at is not None


def test_an_answered_po_is_not_reminded(db, settings, ordered):
    factory, _, _ = ordered
    handle_factory_command(db, factory, "SIAP", "PO-GB1-1", "besok", settings)
    later = now() + timedelta(hours=48)
    assert remind_unanswered_purchase_orders(db, settings, at=later) == []


def test_reminder_job_dispatches_after_commit(db, settings, ordered, monkeypatch):
    db.commit()
    dispatched: list[list[int]] = []
    monkeypatch.setattr("jobs.queues.dispatch_outbox", lambda ids: dispatched.append(ids) or len(ids))
    monkeypatch.setattr("core.factory_replies.now", lambda: now() + timedelta(hours=25))
    runtime.reset(settings)
    try:
        assert expiry.remind_factories() == ["PO-GB1-1"]
        assert expiry.remind_factories() == []
    finally:
        runtime.reset()
    assert len(dispatched) == 1 and len(dispatched[0]) == 1


# --- through the conversation (the webhook's core), as the factory types it or taps a button --------------


def test_factory_messages_reach_the_handler_through_the_conversation(db, factory_settings, ordered):
    factory, _, _ = ordered
    db.commit()
    reply = handle(
        db, Inbound("SM1", f"whatsapp:{factory.phone}", body="siap po-gb1-1 Jumat 14 Nov"), factory_settings
    )
    assert reply.text.startswith("Terima kasih! Pesanan PO-GB1-1 dikonfirmasi, perkiraan siap Jumat 14 Nov.")
    tapped = handle(
        db,
        Inbound("SM2", f"whatsapp:{factory.phone}", body="Siap", button_payload="SIAP PO-GB1-1"),
        factory_settings,
    )
    assert "sudah dikonfirmasi sebelumnya" in tapped.text
    db.commit()
    assert po(db).eta == "Jumat 14 Nov"
