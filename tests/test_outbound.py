"""The outbound pipeline end to end: outbox row -> a drain job (real Redis, burst worker) -> the real
twilio client -> a loopback fake Twilio; then status callbacks.

A retry's time is in its outbox row (`next_attempt_at`); tests check the backoff delays there, then move
the retries along by making them due (as if the backoff had passed) and waking a drain.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from rq import SimpleWorker
from rq.job import Job
from sqlalchemy import func, select, update

from core import outbox
from core.adapters.console import ConsoleTransport
from core.clock import as_utc, now
from core.db import transaction
from core.delivery import (
    ADMIN_ALERT_KIND,
    FACTORY_PO_KIND,
    PermanentSendError,
    SendStatus,
    TransientSendError,
    record_status,
    send_outbox_message,
)
from core.models import GroupSession, OutboundMessage, OutboundStatus
from core.settings import Settings
from core.unit_of_work import unit_of_work
from jobs import queues, runtime
from tests import builders
from tests.builders import Dispatched
from tests.fakes.twilio_server import WHATSAPP_FROM

BUYER = "+6281234567890"
ADMIN = "+6281299990000"
NO_ADMIN = Settings()
WITH_ADMIN = Settings(admin_whatsapp=ADMIN)

pytestmark = pytest.mark.redis


# --- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture
def twilio_settings(settings, fake_twilio):
    """Jobs in this process use the test database, the test Redis and the fake Twilio."""
    wired = fake_twilio.settings(settings, admin_whatsapp=ADMIN)
    runtime.reset(wired)
    yield wired
    runtime.reset()


@pytest.fixture
def send_queue(redis_conn, twilio_settings):
    return queues.queue(queues.SEND_QUEUE, connection=redis_conn)


def add_message(
    db_factory, key="notice:1", *, to=BUYER, kind="buyer_notice", body="Halo Kak", **fields
) -> int:
    with transaction(db_factory) as db:
        message_id = outbox.enqueue(db, key=key, to_phone=to, kind=kind, body=body, **fields)
        assert outbox.new_message_ids(db) == [message_id]
    return message_id


def load(db_factory, message_id: int) -> OutboundMessage:
    with db_factory() as db:
        return db.get(OutboundMessage, message_id)


def outbox_count(db_factory) -> int:
    with db_factory() as db:
        return db.scalar(select(func.count()).select_from(OutboundMessage))


def run_worker(send_queue) -> None:
    queues_in_order = [queues.queue(name, send_queue.connection) for name in queues.QUEUE_NAMES]
    SimpleWorker(queues_in_order, connection=send_queue.connection).work(burst=True)


def waiting_retries(db_factory) -> list[OutboundMessage]:
    with db_factory() as db:
        return list(
            db.scalars(
                select(OutboundMessage).where(
                    OutboundMessage.status == OutboundStatus.QUEUED, OutboundMessage.next_attempt_at > now()
                )
            )
        )


def retry_delays(db_factory) -> list[float]:
    """Seconds from now until each waiting retry (the rows' next attempt times)."""
    return [(as_utc(row.next_attempt_at) - now()).total_seconds() for row in waiting_retries(db_factory)]


def run_due_retries(db_factory) -> int:
    """Every waiting retry made due, as if its backoff had passed, and a drain woken for them."""
    ids = [row.id for row in waiting_retries(db_factory)]
    with transaction(db_factory) as db:
        db.execute(update(OutboundMessage).where(OutboundMessage.id.in_(ids)).values(next_attempt_at=now()))
    queues.dispatch(ids)
    return len(ids)


def drain(send_queue, db_factory) -> list[float]:
    """Run the worker, and each retry when due, until nothing is left; returns the delays."""
    delays: list[float] = []
    for _ in range(10):
        run_worker(send_queue)
        pending = retry_delays(db_factory)
        if not pending:
            return delays
        delays.extend(pending)
        run_due_retries(db_factory)
    raise AssertionError("the outbox did not drain")


def close_to(actual: list[float], expected: list[int]) -> bool:
    return len(actual) == len(expected) and all(
        e - 3 <= a <= e + 0.5 for a, e in zip(actual, expected, strict=True)
    )


# --- sending with retries -------------------------------------------------------------------------


def test_rate_limited_then_accepted_sends_exactly_once(db_factory, fake_twilio, send_queue):
    fake_twilio.script(429)
    message_id = add_message(db_factory)

    assert queues.dispatch_outbox([message_id]) == 1
    run_worker(send_queue)

    row = load(db_factory, message_id)
    assert (row.status, row.attempts, row.provider_sid) == (OutboundStatus.QUEUED, 1, None)
    assert "429" in row.last_error
    assert close_to(retry_delays(db_factory), [5])
    run_worker(send_queue)  # the retry is not due yet: nothing happens
    assert len(fake_twilio.messages) == 1

    run_due_retries(db_factory)
    run_worker(send_queue)

    assert [m["response_status"] for m in fake_twilio.messages] == [429, 201]
    row = load(db_factory, message_id)
    assert (row.status, row.attempts, row.last_error) == (OutboundStatus.SENT, 2, None)
    assert row.provider_sid == fake_twilio.accepted[0]["sid"]
    assert row.sent_at is not None
    request = fake_twilio.accepted[0]
    assert (request["To"], request["From"], request["Body"]) == (
        f"whatsapp:{BUYER}",
        WHATSAPP_FROM,
        "Halo Kak",
    )
    assert request["account"] == fake_twilio.account_sid
    assert "ContentSid" not in request and "StatusCallback" not in request
    assert retry_delays(db_factory) == [] and len(send_queue) == 0


def test_server_error_storm_backs_off_then_sends(db_factory, fake_twilio, send_queue):
    fake_twilio.script(500, 503, "drop")  # two 5xx and a dropped connection
    message_id = add_message(db_factory)

    queues.dispatch_outbox([message_id])
    delays = drain(send_queue, db_factory)

    assert close_to(delays, [5, 30, 120])
    assert [m["response_status"] for m in fake_twilio.messages] == [500, 503, None, 201]
    row = load(db_factory, message_id)
    assert (row.status, row.attempts) == (OutboundStatus.SENT, 4)
    assert row.provider_sid == fake_twilio.accepted[0]["sid"]


def test_out_of_attempts_fails_and_alerts(db_factory, fake_twilio, send_queue):
    fake_twilio.script(*[500] * queues.MAX_SEND_ATTEMPTS)
    message_id = add_message(db_factory)

    queues.dispatch_outbox([message_id])
    delays = drain(send_queue, db_factory)

    assert close_to(delays, list(queues.RETRY_INTERVALS))
    row = load(db_factory, message_id)
    assert (row.status, row.attempts) == (OutboundStatus.FAILED, queues.MAX_SEND_ATTEMPTS)
    assert row.last_error.startswith(f"gave up after {queues.MAX_SEND_ATTEMPTS} attempts")
    # six refused attempts, then the admin alert, which goes through
    assert [m["To"] for m in fake_twilio.accepted] == [f"whatsapp:{ADMIN}"]
    assert len(fake_twilio.messages) == queues.MAX_SEND_ATTEMPTS + 1


def test_permanent_error_fails_at_once_and_alerts_the_admin_once(db_factory, fake_twilio, send_queue):
    fake_twilio.script((400, 21211))
    message_id = add_message(db_factory)

    queues.dispatch_outbox([message_id])
    run_worker(send_queue)

    row = load(db_factory, message_id)
    assert (row.status, row.attempts, row.provider_sid) == (OutboundStatus.FAILED, 1, None)
    assert "21211" in row.last_error
    assert retry_delays(db_factory) == []
    with db_factory() as db:
        alerts = db.scalars(select(OutboundMessage).where(OutboundMessage.kind == ADMIN_ALERT_KIND)).all()
    assert [(a.idempotency_key, a.to_phone, a.status) for a in alerts] == [
        (f"alert:{message_id}", ADMIN, OutboundStatus.SENT)
    ]
    assert str(message_id) in alerts[0].body and "21211" in alerts[0].body
    assert [m["response_status"] for m in fake_twilio.messages] == [400, 201]

    # Dispatching the failed message again sends nothing and alerts no more.
    assert queues.dispatch_outbox([message_id]) == 1
    run_worker(send_queue)
    assert len(fake_twilio.messages) == 2
    assert outbox_count(db_factory) == 2


def test_a_failed_alert_is_not_alerted_about(db_factory, fake_twilio, send_queue):
    fake_twilio.script((400, 63016), (400, 21211))  # the message, then the alert about it
    message_id = add_message(db_factory)

    queues.dispatch_outbox([message_id])
    run_worker(send_queue)

    with db_factory() as db:
        statuses = db.execute(
            select(OutboundMessage.kind, OutboundMessage.status).order_by(OutboundMessage.id)
        )
        assert statuses.all() == [("buyer_notice", "failed"), (ADMIN_ALERT_KIND, "failed")]
    assert len(fake_twilio.messages) == 2


def test_without_an_admin_number_a_permanent_failure_is_logged(
    db_factory,
    fake_twilio,
    send_queue,
    twilio_settings,
    caplog,
):
    runtime.reset(dataclasses.replace(twilio_settings, admin_whatsapp=None))
    fake_twilio.script((400, 21211))
    message_id = add_message(db_factory)

    queues.dispatch_outbox([message_id])
    run_worker(send_queue)

    assert load(db_factory, message_id).status == OutboundStatus.FAILED
    assert outbox_count(db_factory) == 1
    errors = [r for r in caplog.records if r.name == "core.delivery" and r.levelname == "ERROR"]
    assert len(errors) == 1 and "21211" in errors[0].getMessage()


def test_the_same_message_dispatched_twice_is_sent_once(db_factory, fake_twilio, send_queue):
    message_id = add_message(db_factory)

    assert queues.dispatch_outbox([message_id]) == 1
    assert queues.dispatch_outbox([message_id, message_id]) == 1  # handed on; the drain already waiting
    assert len(send_queue) == 1  # ...is the only job: one drain sends whatever is due
    assert Job.fetch(send_queue.job_ids[0], connection=send_queue.connection).func_name == queues.DRAIN_JOB
    run_worker(send_queue)
    # Once sent, another drain may run, but the outbox row stops it from sending again.
    assert queues.dispatch_outbox([message_id]) == 1
    run_worker(send_queue)

    assert len(fake_twilio.messages) == 1
    row = load(db_factory, message_id)
    assert (row.status, row.attempts) == (OutboundStatus.SENT, 1)


def test_a_pending_retry_is_not_sent_early_by_a_second_dispatch(db_factory, fake_twilio, send_queue):
    fake_twilio.script(429)
    message_id = add_message(db_factory)
    queues.dispatch_outbox([message_id])
    run_worker(send_queue)

    assert queues.dispatch_outbox([message_id]) == 1  # a drain looks, and leaves it until its time
    run_worker(send_queue)
    assert len(fake_twilio.messages) == 1


def test_two_workers_never_send_the_same_message(db_factory):
    """The claim is one conditional update: of two concurrent senders, exactly one sends."""
    message_id = add_message(db_factory)
    calls: list[str] = []
    both_started = threading.Barrier(2)

    class SlowTransport:
        def send(self, to, body, content_sid=None, content_variables=None):
            calls.append(to)
            time.sleep(0.2)
            return f"SM-{len(calls)}"

    outcomes = []

    def worker():
        both_started.wait()
        outcomes.append(send_outbox_message(db_factory, message_id, SlowTransport(), NO_ADMIN).status)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == [SendStatus.SENT, SendStatus.SKIPPED]
    assert calls == [BUYER]
    assert load(db_factory, message_id).attempts == 1


def test_a_template_is_sent_with_its_content_sid(db_factory, fake_twilio, send_queue, twilio_settings):
    runtime.reset(dataclasses.replace(twilio_settings, public_base_url="https://laku.example"))
    message_id = add_message(
        db_factory, content_sid="HX" + "a" * 32, content_variables={"1": "GB1", "2": "3"}
    )

    queues.dispatch_outbox([message_id])
    run_worker(send_queue)

    (request,) = fake_twilio.messages
    assert request["ContentSid"] == "HX" + "a" * 32
    assert json.loads(request["ContentVariables"]) == {"1": "GB1", "2": "3"}
    assert "Body" not in request
    assert request["StatusCallback"] == "https://laku.example/webhooks/twilio/status"
    assert load(db_factory, message_id).status == OutboundStatus.SENT


# --- the factory purchase order ------------------------------------------------------------------


def make_session(db_factory) -> int:
    with transaction(db_factory) as db:
        product = builders.product(db, builders.FOUR_SIZES)
        return builders.session(db, product.id).id


def factory_flags(db_factory, session_id):
    with db_factory() as db:
        session = db.get(GroupSession, session_id)
        return session.factory_whatsapp_sent, session.factory_notified_at


def factory_po_message(db_factory) -> tuple[int, int]:
    """A session and the purchase order message to its factory; (session id, message id)."""
    session_id = make_session(db_factory)
    message_id = add_message(
        db_factory,
        "po:PO1",
        to=builders.FACTORY_PHONE,
        kind=FACTORY_PO_KIND,
        body="PO PO1",
        session_id=session_id,
    )
    return session_id, message_id


def test_an_accepted_factory_po_marks_the_factory_notified(db_factory, fake_twilio, send_queue):
    session_id, message_id = factory_po_message(db_factory)
    fake_twilio.script(503)

    queues.dispatch_outbox([message_id])
    run_worker(send_queue)
    assert factory_flags(db_factory, session_id) == (False, None)  # not yet accepted
    drain(send_queue, db_factory)

    sent, notified_at = factory_flags(db_factory, session_id)
    row = load(db_factory, message_id)
    assert sent is True and notified_at is not None
    assert as_utc(notified_at) == as_utc(row.sent_at)
    assert fake_twilio.accepted[0]["To"] == f"whatsapp:{builders.FACTORY_PHONE}"


def test_a_failed_factory_po_leaves_the_factory_not_notified(db_factory, fake_twilio, send_queue):
    session_id, message_id = factory_po_message(db_factory)
    fake_twilio.script((400, 63016))

    queues.dispatch_outbox([message_id])
    run_worker(send_queue)

    assert load(db_factory, message_id).status == OutboundStatus.FAILED
    assert factory_flags(db_factory, session_id) == (False, None)
    with db_factory() as db:
        alert = db.scalar(
            select(OutboundMessage).where(OutboundMessage.idempotency_key == f"alert:{message_id}")
        )
    assert alert is not None and f"sesi #{session_id}" in alert.body


# --- console transport ---------------------------------------------------------------------------


def test_console_transport_prints_and_marks_sent(db_factory, redis_conn, settings, capsys):
    runtime.reset(settings)  # no Twilio credentials
    try:
        message_id = add_message(db_factory, body="Sesi GB1 sudah mencapai MOQ!")
        assert queues.dispatch_outbox([message_id]) == 1
        run_worker(queues.queue(connection=redis_conn))
    finally:
        runtime.reset()

    assert f"[WhatsApp -> {BUYER}] Sesi GB1 sudah mencapai MOQ!" in capsys.readouterr().out
    row = load(db_factory, message_id)
    assert row.status == OutboundStatus.SENT and row.provider_sid.startswith("CONSOLE-")


def test_console_transport_mentions_the_template():
    lines: list[str] = []
    ConsoleTransport(lines.append).send(BUYER, "Halo", "HX1", '{"1": "a"}')
    assert lines == [f'[WhatsApp -> {BUYER}] Halo  (template HX1 {{"1": "a"}})']


# --- status callbacks ----------------------------------------------------------------------------


def sent_message(db_factory, key="notice:1", **fields) -> tuple[int, str]:
    message_id = add_message(db_factory, key, **fields)
    outcome = send_outbox_message(db_factory, message_id, ConsoleTransport(lambda _line: None), NO_ADMIN)
    return message_id, outcome.provider_sid


def callback(db_factory, provider_sid, status, code=None, text=None) -> tuple[bool, list[int]]:
    """A status callback as the webhook applies it: one unit of work; returns the alert ids it dispatched."""
    added = Dispatched()
    with unit_of_work(db_factory, added) as db:
        known = record_status(db, provider_sid, status, code, text, settings=WITH_ADMIN)
    return known, list(added)


def test_status_callbacks_only_move_forward(db_factory):
    message_id, sid = sent_message(db_factory)

    assert callback(db_factory, sid, "queued") == (True, [])  # late: it is already sent
    assert load(db_factory, message_id).status == OutboundStatus.SENT
    assert callback(db_factory, sid, "delivered") == (True, [])
    assert load(db_factory, message_id).status == OutboundStatus.DELIVERED
    assert callback(db_factory, sid, "read") == (True, [])
    assert load(db_factory, message_id).status == OutboundStatus.READ
    for late in ("sent", "delivered", "read", "undelivered", "failed"):
        assert callback(db_factory, sid, late) == (True, [])
        assert load(db_factory, message_id).status == OutboundStatus.READ
    assert callback(db_factory, sid, "no-such-status") == (True, [])

    assert callback(db_factory, "SM" + "f" * 32, "delivered") == (False, [])
    assert load(db_factory, message_id).status == OutboundStatus.READ


def test_an_undelivered_callback_is_final_and_alerts_once(db_factory):
    message_id, sid = sent_message(db_factory)

    known, added = callback(db_factory, sid, "undelivered", "63016", "Outside the allowed window")
    assert known is True and len(added) == 1
    row = load(db_factory, message_id)
    assert row.status == OutboundStatus.UNDELIVERED
    assert row.last_error == "63016 Outside the allowed window"
    assert callback(db_factory, sid, "undelivered", "63016", "Outside the allowed window") == (True, [])
    assert callback(db_factory, sid, "delivered") == (True, [])
    assert load(db_factory, message_id).status == OutboundStatus.UNDELIVERED
    assert load(db_factory, added[0]).idempotency_key == f"alert:{message_id}"


# --- Redis outages and dead workers --------------------------------------------------------------


def test_dispatch_with_redis_down_returns_0_and_the_flush_sends_later(
    db_factory,
    fake_twilio,
    send_queue,
    twilio_settings,
):
    redis_down = dataclasses.replace(twilio_settings, redis_url="redis://127.0.0.1:1/0")
    message_id = add_message(db_factory)
    started = time.monotonic()
    assert queues.dispatch_outbox([message_id], settings=redis_down) == 0  # the web app's way
    runtime.reset(redis_down)
    assert queues.dispatch_outbox([message_id]) == 0  # a job's way
    assert time.monotonic() - started < 2

    runtime.reset(twilio_settings)  # Redis is back
    assert queues.flush_outbox() == 0  # too young: its own dispatch may still be on the way
    with time_machine.travel(now() + timedelta(seconds=queues.FLUSH_AFTER_SECONDS + 1), tick=False):
        assert queues.flush_outbox() == 1
    run_worker(send_queue)

    assert len(fake_twilio.messages) == 1
    assert load(db_factory, message_id).status == OutboundStatus.SENT


def test_the_flush_sends_again_what_a_dead_worker_left_sending(db_factory, fake_twilio, send_queue):
    message_id = add_message(db_factory)
    stale = now() - timedelta(seconds=queues.STALE_SENDING_SECONDS + 5)
    with transaction(db_factory) as db:
        db.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id)
            .values(status=OutboundStatus.SENDING, attempts=1, updated_at=stale, created_at=stale)
        )
    fresh_id = add_message(db_factory, "notice:2")
    with transaction(db_factory) as db:
        db.execute(update(OutboundMessage).where(OutboundMessage.id == fresh_id).values(status="sending"))

    assert queues.flush_outbox() == 1
    run_worker(send_queue)

    row = load(db_factory, message_id)
    assert (row.status, row.attempts) == (OutboundStatus.SENT, 2)
    assert load(db_factory, fresh_id).status == OutboundStatus.SENDING  # a live send is left alone
    assert len(fake_twilio.messages) == 1


def test_a_transport_that_raises_unexpectedly_is_retried(db_factory):
    message_id = add_message(db_factory)

    class Broken:
        def send(self, to, body, content_sid=None, content_variables=None):
            raise TransientSendError("twilio 429 code 20429: slow down")

    outcome = send_outbox_message(db_factory, message_id, Broken(), NO_ADMIN, max_attempts=2)
    assert (outcome.status, outcome.attempts) == (SendStatus.RETRY, 1)
    outcome = send_outbox_message(db_factory, message_id, Broken(), NO_ADMIN, max_attempts=2)
    assert (outcome.status, outcome.attempts) == (SendStatus.FAILED, 2)
    assert outcome.alert_ids == []  # no admin number given: the log only
    assert (
        load(db_factory, message_id).last_error
        == "gave up after 2 attempts: twilio 429 code 20429: slow down"
    )


def test_the_failed_send_alert_uses_its_approved_template_when_configured(db_factory):
    message_id = add_message(db_factory, kind="order_created", session_id=None)

    class Refusing:
        def send(self, to, body, content_sid=None, content_variables=None):
            raise PermanentSendError("twilio 400 code 21211: invalid To")

    templated = Settings(admin_whatsapp=ADMIN, content_sids={"ADMIN_ALERT": "HXalert"})
    dispatched = Dispatched()
    outcome = send_outbox_message(db_factory, message_id, Refusing(), templated, dispatch=dispatched)
    assert outcome.status == SendStatus.FAILED and outcome.alert_ids == dispatched.batches[0]
    alert = load(db_factory, outcome.alert_ids[0])
    assert (alert.kind, alert.to_phone, alert.content_sid) == (ADMIN_ALERT_KIND, ADMIN, "HXalert")
    assert json.loads(alert.content_variables) == {
        "1": str(message_id),
        "2": "order_created",
        "3": BUYER,
        "4": "twilio 400 code 21211: invalid To",
    }
    assert alert.body == (
        f"⚠️ Laku: pesan #{message_id} (order_created) ke {BUYER} gagal terkirim: twilio 400 code 21211: invalid To"
    )
