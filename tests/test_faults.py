"""Faults while buyers chat: Redis down, PostgreSQL connections dropped between and inside requests.

Every test drives the real webhook (signed like Twilio, `tests.chat`). What must hold: the buyer always
gets a 200 TwiML answer within Twilio's time, a message is either fully handled or not at all (and then
the reply says to send it again), and nothing is lost: the outbox catches up once Redis is back, and a
re-sent message is processed normally. Twilio 5xx/429 storms are in `test_outbound.py`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import timedelta

import pytest
import time_machine
from rq import SimpleWorker
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from bot.app import create_app
from core import joining
from core.clock import now
from core.db import transaction
from core.models import (
    Buyer,
    GroupSession,
    InboundMessage,
    OutboundMessage,
    OutboundStatus,
    Participant,
    ParticipantStatus,
    SessionStatus,
    SessionVariantCounter,
)
from jobs import queues, runtime
from tests import builders
from tests.chat import AUTH_TOKEN, Phone, reply_text

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused at once
BUSY = "sistem sedang sibuk"
JOINED = "Tercatat"
TWILIO_BUDGET_SECONDS = 5  # well inside Twilio's 15 s


@pytest.fixture
def gb1(db_factory):
    """Session GB1: S/M/L/XL at 4 per lot, MOQ 4 units."""
    with transaction(db_factory) as db:
        product = builders.product(db, builders.FOUR_SIZES)
        builders.session(db, product.id, code="GB1", target_moq=4)


def state(db_factory) -> dict:
    """Everything a half-written message could leave behind."""
    with db_factory() as db:
        session = db.scalar(select(GroupSession).where(GroupSession.code == "GB1"))
        return {
            "inbound": db.scalar(select(func.count(InboundMessage.id))),
            "buyers": db.scalar(select(func.count(Buyer.id))),
            "participants": db.scalar(select(func.count(Participant.id))),
            "outbox": db.scalar(select(func.count(OutboundMessage.id))),
            "counters": sorted(
                (c.variant_id, c.ordered_units, c.waiting_units)
                for c in db.scalars(select(SessionVariantCounter))
            ),
            "ordered_units": session.ordered_units,
            "status": session.status,
        }


def post(phone: Phone, form: dict) -> tuple[int, str, str]:
    response = phone.post(form)
    return response.status_code, response.mimetype, reply_text(response)


# --- Redis down ------------------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_down_buyers_still_get_answers_and_the_outbox_catches_up(
    settings, db_factory, gb1, redis_conn, fake_twilio, caplog
):
    # The real dispatch (no override): after each commit it enqueues to a Redis that refuses connections.
    app = create_app(dataclasses.replace(settings, redis_url=DEAD_REDIS, twilio_auth_token=AUTH_TOKEN))
    client = app.test_client()
    buyers = [Phone(client, f"+628120000010{n}", f"Buyer {n}") for n in range(4)]
    told = buyers[:3]  # the fourth join reaches the MOQ: its buyer reads it in the reply

    replies, slowest = [], 0.0
    with caplog.at_level(logging.ERROR, logger="jobs.queues"):
        for buyer, body in zip(
            buyers, ("IKUT GB1 S 1", "IKUT GB1 M 1", "IKUT GB1 L 1", "IKUT GB1 XL 1"), strict=True
        ):
            started = time.monotonic()
            replies.append(buyer.send(body))  # asserts 200 and TwiML
            slowest = max(slowest, time.monotonic() - started)

    assert all(JOINED in reply for reply in replies), replies
    assert "Minimum tercapai" in replies[-1]  # the fourth join reached the MOQ: three notifications
    assert slowest < TWILIO_BUDGET_SECONDS
    assert "could not dispatch outbox messages" in caplog.text
    with db_factory() as db:
        assert db.scalar(select(GroupSession.status)) == SessionStatus.MOQ_REACHED
        statuses = db.scalars(select(Participant.status)).all()
        assert statuses == [ParticipantStatus.CONFIRMED] * 4
        outbox = db.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
        assert [(m.kind, m.status, m.attempts) for m in outbox] == [
            ("moq_reached", OutboundStatus.QUEUED, 0)
        ] * 3
        assert sorted(m.to_phone for m in outbox) == sorted(b.number for b in told)

    # Redis is back: the periodic flush (run a while later) hands the rows to RQ, a worker sends them.
    runtime.reset(fake_twilio.settings(settings))  # the real test Redis, the fake Twilio
    send_queue = queues.queue(queues.SEND_QUEUE, connection=redis_conn)
    try:
        later = now() + timedelta(seconds=queues.FLUSH_AFTER_SECONDS + 5)
        with time_machine.travel(later, tick=True):
            assert queues.flush_outbox() == 3
        SimpleWorker([send_queue], connection=redis_conn).work(burst=True)

        assert sorted(m["To"] for m in fake_twilio.accepted) == sorted(f"whatsapp:{b.number}" for b in told)
        with db_factory() as db:
            outbox = db.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
            assert [(m.status, m.attempts) for m in outbox] == [(OutboundStatus.SENT, 1)] * 3
            assert {m.provider_sid for m in outbox} == {m["sid"] for m in fake_twilio.accepted}

        # Nothing is sent twice: another flush finds nothing to do.
        with time_machine.travel(later + timedelta(minutes=5), tick=True):
            assert queues.flush_outbox() == 0
        SimpleWorker([send_queue], connection=redis_conn).work(burst=True)
        assert len(fake_twilio.messages) == 3
    finally:
        runtime.reset()


# --- PostgreSQL connections dropped ----------------------------------------------------------------


def terminate_other_backends(database_url: str) -> int:
    """What a failover or an idle-connection reaper does: kill this database's other connections."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            killed = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
    finally:
        engine.dispose()
    time.sleep(0.1)  # termination is asynchronous; let the backends go
    return int(killed or 0)


def test_connections_dropped_between_requests_are_replaced(
    requires_postgres, app, signed_settings, db_factory, gb1
):
    client = app.test_client()
    ani, budi = Phone(client, "+6281200000201", "Ani"), Phone(client, "+6281200000202", "Budi")
    assert JOINED in ani.send("IKUT GB1 S 1")

    assert terminate_other_backends(signed_settings.database_url) >= 1  # the app's pooled connection
    assert JOINED in budi.send("IKUT GB1 M 1")  # pool_pre_ping noticed and reconnected

    assert terminate_other_backends(signed_settings.database_url) >= 1
    assert "GB1" in ani.send("STATUS")
    assert state(db_factory)["participants"] == 2


class FailOnce:
    """Wraps `joining.add_participant`: fails right after the participant row is written, mid-transaction."""

    def __init__(self, original, fail):
        self.original = original
        self.fail = fail
        self.calls = 0

    def __call__(self, db, *args, **kwargs):
        self.calls += 1
        result = self.original(db, *args, **kwargs)
        if self.calls == 1:
            self.fail(db)
        return result


def raise_operational_error(db):
    raise OperationalError(
        "UPDATE session_variant_counters ...", {}, Exception("server closed the connection unexpectedly")
    )


def kill_own_connection(db):
    """Terminate the backend this transaction runs on; its next statement fails for real."""
    pid = db.execute(text("SELECT pg_backend_pid()")).scalar()
    engine = create_engine(db.get_bind().url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        engine.dispose()
    time.sleep(0.1)


def join_failing_once(app, db_factory, monkeypatch, fail):
    """Citra's "IKUT GB1 M 2", with `fail(db)` right after her participant row is written the first time.
    Returns her phone, the form, the state before, the wrapper and the first answer."""
    phone = Phone(app.test_client(), "+6281200000301", "Citra")
    before = state(db_factory)
    form = phone.form("IKUT GB1 M 2")
    fail_once = FailOnce(joining.add_participant, fail)
    monkeypatch.setattr(joining, "add_participant", fail_once)
    return phone, form, before, fail_once, post(phone, form)


def assert_joined_once(db_factory, before: dict) -> dict:
    after = state(db_factory)
    assert (after["inbound"], after["buyers"], after["participants"]) == (
        before["inbound"] + 1,
        before["buyers"] + 1,
        before["participants"] + 1,
    )
    assert after["ordered_units"] == before["ordered_units"] + 2
    return after


def test_database_error_inside_a_request_answers_busy_and_writes_nothing(
    app, dispatched, db_factory, gb1, monkeypatch
):
    phone, form, before, fail_once, (status, mimetype, reply) = join_failing_once(
        app, db_factory, monkeypatch, raise_operational_error
    )

    assert (status, mimetype) == (200, "text/xml")
    assert BUSY in reply
    assert fail_once.calls == 1
    assert state(db_factory) == before  # no inbound row, no buyer, no participant, counters unchanged

    # Twilio does not redeliver a message that got a 200; the buyer sends the very same one again.
    status, _, reply = post(phone, form)
    assert status == 200 and JOINED in reply, reply
    after = assert_joined_once(db_factory, before)
    assert [units for _, units, _ in after["counters"] if units] == [2]

    # And a redelivery of it changes nothing twice.
    status, _, again = post(phone, form)
    assert (status, again) == (200, reply)
    assert state(db_factory) == after
    assert dispatched == []


def test_connection_killed_inside_a_request_is_retried_on_a_fresh_connection(
    requires_postgres, app, db_factory, gb1, monkeypatch
):
    """A lost connection invalidates it and nothing was committed, so the webhook handles the message
    again on a new connection: the buyer gets the normal answer, and everything is written exactly once."""
    phone, form, before, fail_once, (status, mimetype, reply) = join_failing_once(
        app, db_factory, monkeypatch, kill_own_connection
    )

    assert (status, mimetype) == (200, "text/xml")
    assert JOINED in reply and BUSY not in reply
    assert fail_once.calls >= 2  # the killed attempt and the retry
    after = assert_joined_once(db_factory, before)
    # A redelivery changes nothing, and the dead connection was not handed to the next request.
    assert post(phone, form)[2] == reply
    assert state(db_factory) == after
    assert JOINED in Phone(app.test_client(), "+6281200000302", "Dewi").send("IKUT GB1 S 1")
