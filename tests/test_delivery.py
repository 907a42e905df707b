"""Delivery at the provider's rate, and the faults around it (docs/design.md, "Messages and the outbox").

Real Redis and real RQ workers (burst `SimpleWorker`), the real twilio client against the loopback fake
Twilio. What must hold: a message Twilio accepted but answered too late for is found by asking Twilio,
not sent again; a buyer's messages go out one at a time in order; the send rate is shared by every
sender; periodic work runs before sending; a Redis that accepts connections and never answers costs a
webhook about 2 s, never the reply, and the flush sends what could not be handed on.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from datetime import timedelta

import pytest
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import func, select, update

from bot.app import create_app
from core import outbox, sending
from core.clock import as_utc, now
from core.db import transaction
from core.delivery import SendStatus, UnconfirmedSendError, send_outbox_message
from core.models import OutboundMessage, OutboundStatus
from jobs import queues, runtime
from jobs.throttle import SendRateLimit
from tests import builders
from tests.chat import AUTH_TOKEN, Phone
from tests.fakes.twilio_server import Reply

pytestmark = pytest.mark.redis

BUYER, OTHER = "+6281234567890", "+6281234567891"


@pytest.fixture
def wired(settings, fake_twilio, redis_conn):
    """Jobs in this process: the test database and Redis, the fake Twilio, a 0.5 s answer timeout."""
    configured = fake_twilio.settings(settings, twilio_timeout_seconds=0.5)
    runtime.reset(configured)
    yield configured
    runtime.reset()


def add(db_factory, key: str, to: str = BUYER, body: str | None = None) -> int:
    with transaction(db_factory) as db:
        return outbox.enqueue(db, key=key, to_phone=to, kind="buyer_notice", body=body or f"pesan {key}")


def row(db_factory, message_id: int) -> OutboundMessage:
    with db_factory() as db:
        return db.get(OutboundMessage, message_id)


def work(redis_conn) -> None:
    ordered = [queues.queue(name, redis_conn) for name in queues.QUEUE_NAMES]
    SimpleWorker(ordered, connection=redis_conn).work(burst=True)


def retries_due(db_factory) -> None:
    """As if every waiting retry's backoff had passed; then a drain is woken."""
    with transaction(db_factory) as db:
        db.execute(
            update(OutboundMessage).where(OutboundMessage.status == "queued").values(next_attempt_at=now())
        )
    queues.dispatch([0])


# --- an answer that never came ---------------------------------------------------------------------


def test_accepted_but_answered_after_the_timeout_is_found_not_sent_again(
    db_factory, fake_twilio, wired, redis_conn
):
    fake_twilio.script(Reply(late=1.5))  # Twilio takes the message at once and answers after 1.5 s
    message_id = add(db_factory, "late:1")
    queues.dispatch([message_id])
    work(redis_conn)

    waiting = row(db_factory, message_id)
    assert (waiting.status, waiting.attempts, waiting.provider_sid) == (OutboundStatus.QUEUED, 1, None)
    assert waiting.unconfirmed_since is not None and "it may have arrived" in waiting.last_error
    assert 3 <= (as_utc(waiting.next_attempt_at) - now()).total_seconds() <= 5  # the first backoff step

    retries_due(db_factory)
    work(redis_conn)

    assert len(fake_twilio.messages) == 1  # one request to create, never a second
    [lookup] = fake_twilio.lookups  # one question: what did you get for this recipient since then?
    assert (
        lookup["To"] == f"whatsapp:{BUYER}" and lookup["From"] == fake_twilio.settings().twilio_whatsapp_from
    )
    assert (
        lookup["DateSent>"] == (as_utc(waiting.unconfirmed_since) - timedelta(minutes=2)).date().isoformat()
    )
    sent = row(db_factory, message_id)
    assert (sent.status, sent.attempts, sent.unconfirmed_since) == (OutboundStatus.SENT, 2, None)
    assert sent.provider_sid == fake_twilio.accepted[0]["sid"]


def test_a_dropped_request_that_never_arrived_is_sent_after_asking(
    db_factory, fake_twilio, wired, redis_conn
):
    earlier = add(db_factory, "drop:0", body="Halo Kak")  # an earlier message to the same buyer, same text
    message_id = add(db_factory, "drop:1", body="Halo Kak")
    fake_twilio.script(201, "drop")  # the second connection closes before Twilio created anything
    queues.dispatch([earlier, message_id])
    work(redis_conn)
    assert row(db_factory, earlier).status == OutboundStatus.SENT
    assert row(db_factory, message_id).unconfirmed_since is not None

    retries_due(db_factory)
    work(redis_conn)

    # The earlier message is listed, but its id is already in the outbox: not this one. So it is sent.
    assert len(fake_twilio.lookups) == 1
    assert [m["response_status"] for m in fake_twilio.messages] == [201, None, 201]
    sent = row(db_factory, message_id)
    assert (sent.status, sent.attempts) == (OutboundStatus.SENT, 2)
    assert sent.provider_sid == fake_twilio.accepted[1]["sid"]


def test_when_twilio_cannot_be_asked_nothing_is_sent(db_factory, fake_twilio, wired):
    message_id = add(db_factory, "ask:1")
    with transaction(db_factory) as db:
        db.execute(update(OutboundMessage).values(unconfirmed_since=now() - timedelta(seconds=30)))

    class Unreachable:
        def sent_since(self, to, since):
            raise UnconfirmedSendError("listing messages: network")

        def send(self, *args):
            raise AssertionError("sent without knowing whether the first attempt arrived")

    outcome = send_outbox_message(db_factory, message_id, Unreachable(), wired)
    assert outcome.status == SendStatus.RETRY
    assert row(db_factory, message_id).unconfirmed_since is not None


# --- order per buyer, and the flush ------------------------------------------------------------------


def test_only_the_oldest_unsent_message_of_each_buyer_is_claimed(db_factory):
    first, second, third = (add(db_factory, f"order:{n}") for n in range(3))
    other = add(db_factory, "order:other", to=OTHER)

    def claim() -> list[int]:
        with transaction(db_factory) as db:
            return [c.id for c in outbox.claim_due(db, 10)]

    assert claim() == [first, other]
    assert claim() == []  # the buyer's first message is being sent: the second waits for it
    with transaction(db_factory) as db:  # sent; the third waits for a retry of the second, later
        db.execute(update(OutboundMessage).where(OutboundMessage.id == first).values(status="sent"))
    assert claim() == [second]
    with transaction(db_factory) as db:
        later = now() + timedelta(seconds=30)
        db.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == second)
            .values(status="queued", next_attempt_at=later)
        )
    assert claim() == []  # the second's retry is not due, and the third may not overtake it
    assert row(db_factory, third).status == OutboundStatus.QUEUED


def test_two_drains_over_one_backlog_send_every_message_once_in_order_per_buyer(
    db_factory, settings, requires_postgres
):
    """The production path (`core.sending.drain`, batches claimed with SKIP LOCKED) with two senders at
    once on 20 buyers x 3 messages: every message sent exactly once, each buyer's in outbox order."""
    buyers = [f"+62812345{n:05d}" for n in range(20)]
    for phone in buyers:
        for k in range(3):
            add(db_factory, f"drains:{phone}:{k}", to=phone)
    sent: list[tuple[str, str]] = []
    lock = threading.Lock()

    class SlowTransport:
        def send(self, to, body, content_sid=None, content_variables=None):
            time.sleep(0.01)
            with lock:
                sent.append((to, body))
                return f"SM{len(sent):032d}"

    start = threading.Barrier(2)
    reports = []

    def sender() -> None:
        start.wait()
        reports.append(
            sending.drain(db_factory, SlowTransport(), settings, pace=lambda: None, threads=4, max_seconds=20)
        )

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(sent) == len(set(sent)) == 60
    for phone in buyers:
        assert [body for to, body in sent if to == phone] == [f"pesan drains:{phone}:{k}" for k in range(3)]
    with db_factory() as db:
        statuses = db.execute(select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status))
        assert dict(statuses.all()) == {OutboundStatus.SENT: 60}
    assert sum(r.outcomes[SendStatus.SENT] for r in reports) == 60


def test_the_flush_wakes_a_sender_for_overdue_retries_not_for_waiting_ones(db_factory, wired, redis_conn):
    overdue, waiting = add(db_factory, "flush:1"), add(db_factory, "flush:2", to=OTHER)
    with transaction(db_factory) as db:
        for message_id, at in ((overdue, -60), (waiting, 60)):
            db.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id == message_id)
                .values(attempts=1, next_attempt_at=now() + timedelta(seconds=at))
            )

    assert queues.flush_outbox() == 1  # the retry whose time has passed; not the one still waiting
    assert len(queues.queue(queues.SEND_QUEUE, redis_conn)) == 1
    work(redis_conn)
    assert row(db_factory, overdue).status == OutboundStatus.SENT
    assert row(db_factory, waiting).status == OutboundStatus.QUEUED


# --- the shared rate, and periodic work first --------------------------------------------------------


def test_the_send_rate_is_shared_by_every_sender(redis_conn):
    """Two limits on the same Redis (two worker processes), four threads each, for 1.6 s: never more than
    the limit in any one-second window, and about the limit per second in all."""
    per_second, stamps, lock = 12, [], threading.Lock()
    limits = [
        SendRateLimit(Redis.from_url(runtime_url(redis_conn)), "whatsapp:+1", per_second) for _ in range(2)
    ]
    stop = time.monotonic() + 1.6

    def sender(limit):
        while time.monotonic() < stop:
            limit()
            with lock:
                stamps.append(time.monotonic())  # a thread the limit held past the end counts too

    threads = [threading.Thread(target=sender, args=(limits[n % 2],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    stamps.sort()
    busiest = max(sum(1 for t in stamps if start <= t < start + 1) for start in stamps)
    # A thread notes its time just after the limit let it go, late by however long a busy machine keeps
    # it from running (the limit counts the moment it admits a send): a little slack.
    assert busiest <= per_second + 3
    within = [t for t in stamps if t < stop]
    assert per_second + 2 <= len(within) <= 2 * per_second  # unshared, the two limits would allow 38


def runtime_url(connection) -> str:
    kwargs = connection.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs['db']}"


def test_periodic_jobs_run_before_sends_queued_earlier(redis_conn):
    sends = queues.queue(queues.SEND_QUEUE, redis_conn)
    periodic = queues.queue(queues.PERIODIC, redis_conn)
    queued = [sends.enqueue("time.sleep", 0) for _ in range(20)]
    sweep = periodic.enqueue("time.sleep", 0)
    work(redis_conn)
    for job in queued:
        job.refresh()
    sweep.refresh()
    assert sweep.started_at < min(job.started_at for job in queued)


# --- a Redis that accepts connections and never answers ----------------------------------------------


@pytest.fixture
def hanging_redis():
    """A loopback server that accepts connections and never answers (a Redis stuck, or a black hole)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join(timeout=2)
    for connection in accepted:
        connection.close()
    server.close()


def test_a_hanging_redis_costs_a_join_about_2_s_and_the_flush_sends_later(
    settings, db_factory, fake_twilio, redis_conn, hanging_redis
):
    with transaction(db_factory) as db:
        product = builders.product(db, builders.FOUR_SIZES)
        builders.session(db, product.id, code="GB1", target_moq=4)
    app = create_app(dataclasses.replace(settings, redis_url=hanging_redis, twilio_auth_token=AUTH_TOKEN))
    client = app.test_client()
    buyers = [Phone(client, f"+62812000002{n}", f"Buyer {n}") for n in range(4)]
    timings = []
    for buyer, size in zip(buyers, ("S", "M", "L", "XL"), strict=True):
        started = time.monotonic()
        assert "Tercatat" in buyer.send(f"IKUT GB1 {size} 1")  # committed, and the buyer is told
        timings.append(time.monotonic() - started)
    assert timings[-1] < 3.5  # the join that wrote three notifications waited on Redis about 2 s at most
    with db_factory() as db:
        assert (
            db.scalar(select(func.count(OutboundMessage.id)).where(OutboundMessage.status == "queued")) == 3
        )

    runtime.reset(fake_twilio.settings(settings))  # the workers' Redis answers
    try:
        with transaction(db_factory) as db:  # the flush looks FLUSH_AFTER_SECONDS later
            db.execute(update(OutboundMessage).values(next_attempt_at=now() - timedelta(minutes=1)))
        assert queues.flush_outbox() == 3
        work(redis_conn)
    finally:
        runtime.reset()
    assert sorted(m["To"] for m in fake_twilio.accepted) == sorted(f"whatsapp:{b.number}" for b in buyers[:3])
