"""Deadline reminders end to end (docs/design.md, "Reminders and sharing"), on the real RQ path.

Buyers join through signed webhooks; the reminder job (`jobs.reminders.send_deadline_reminders`, the one
`rq cron` schedules) runs in a burst `SimpleWorker` on real Redis, which also sends what it enqueued
through the real twilio client to the loopback fake Twilio. time-machine moves the clock (the worker runs
in this process, so its jobs read the same clock). Two sweeps racing on PostgreSQL are at the end.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rq import SimpleWorker
from sqlalchemy import select, update

from bot.app import create_app
from core import catalog, reminders
from core.clock import format_wib
from core.db import transaction
from core.models import Buyer, GroupSession, OutboundMessage
from jobs import queues, runtime
from tests import builders
from tests.chat import WEBHOOK, Phone

pytestmark = pytest.mark.redis

A, B, C, D, E, F, G = (f"+628160000000{n}" for n in range(1, 8))
BOT = "14155238886"  # the fake Twilio's sender: share links open a chat with it
TEMPLATE = "HX" + "7" * 32
MIX = {"S": 4, "M": 4, "L": 4, "XL": 4}


class World:
    """The app wired to the fake Twilio, our Redis and a clock we move."""

    def __init__(self, client, fake, redis_conn, db_factory, clock, start: datetime):
        self.client, self.fake, self.db_factory = client, fake, db_factory
        self.clock, self.start = clock, start
        self.queue = queues.queue(queues.DEFAULT, connection=redis_conn)
        self.phones: dict[str, Phone] = {}

    def say(self, number: str, body: str) -> str:
        phone = self.phones.setdefault(number, Phone(self.client, number, f"Pembeli {number[-1]}"))
        form = phone.form(body)
        response = phone.post(form, self.fake.sign(phone.base_url + WEBHOOK, form))
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def api(self, method: str, path: str, json_body=None, status: int = 200):
        return builders.admin(self.client, method, path, json_body, status)

    def product(self) -> int:
        factory = self.api("POST", "/factories", {"name": "Konveksi", "phone": "0811-0000-0001"}, 201)
        variants = [{"size": s, "sku": f"KR-{s}", "units_per_lot": n} for s, n in MIX.items()]
        body = {"factory_id": factory["id"], "name": "Kaos Reminder", "sku": "KR", "price": 40_000}
        return self.api("POST", "/products", body | {"grosir_unit_size": 16, "variants": variants}, 201)["id"]

    def session(self, product_id: int, code: str, moq: int, hours: float) -> None:
        ends = self.start + timedelta(hours=hours)
        body = {"product_id": product_id, "target_moq": moq, "ends_at": ends.isoformat(), "code": code}
        self.api("POST", "/sessions", body, 201)

    def at(self, hours: float) -> None:
        """Move the clock to `hours` after the start."""
        self.clock.move_to(self.start + timedelta(hours=hours))

    def work(self) -> None:
        builders.work(self.queue)

    def remind(self) -> dict:
        """One cron tick of the reminder job, run (with the sends it enqueued) by a worker."""
        return builders.run_job(self.queue, "jobs.reminders.send_deadline_reminders")

    def reminders(self) -> list[OutboundMessage]:
        with self.db_factory() as db:
            query = (
                select(OutboundMessage).where(OutboundMessage.kind == "reminder").order_by(OutboundMessage.id)
            )
            return list(db.scalars(query))

    def told(self, kind: str = "reminder") -> Counter:
        with self.db_factory() as db:
            rows = db.scalars(select(OutboundMessage.to_phone).where(OutboundMessage.kind == kind))
            return Counter(rows)

    def on_the_wire(self) -> Counter:
        """phone -> reminders the fake Twilio accepted (matched to the outbox by provider SID)."""
        sids = {m.provider_sid: m.to_phone for m in self.reminders()}
        return Counter(sids[r["sid"]] for r in self.fake.accepted if r["sid"] in sids)

    def tag(self, phone: str) -> str:
        with self.db_factory() as db:
            return db.scalar(select(Buyer.referral_tag).where(Buyer.phone == phone))

    def link(self, phone: str, code: str) -> str:
        return f"https://wa.me/{BOT}?text=IKUT%20{code}%20REF-{self.tag(phone)}"


@pytest.fixture
def world(settings, fake_twilio, redis_conn, db_factory):
    configured = fake_twilio.settings(settings, content_sids={"REMINDER": TEMPLATE})
    runtime.reset(configured)
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    with time_machine.travel(start, tick=False) as clock:
        yield World(create_app(configured).test_client(), fake_twilio, redis_conn, db_factory, clock, start)
    runtime.reset()


def missing(units: int, moq: int) -> str:
    return (
        f"Masih kurang {moq - units} pcs untuk mencapai minimum ({units}/{moq} pcs). Kalau tidak tercapai, "
        "sesi batal dan tidak ada yang perlu dibayar."
    )


def body(world: World, phone: str, code: str, news: list[str]) -> str:
    ends = format_wib(world.start + timedelta(hours=30), "id")
    return (
        f"⏰ Sesi {code} (Kaos Reminder) tutup {ends}.\n" + "\n".join(news) + "\n"
        f"Ajak teman supaya cepat terkumpul: {world.link(phone, code)}\nTidak mau pengingat lagi? Balas BERHENTI."
    )


def test_reminders_go_once_at_each_slot_to_whom_they_help(world, fake_twilio):
    product = world.product()
    world.session(product, "GB1", 24, 30)  # short of its minimum, one request waits
    world.session(product, "GB2", 5, 30)  # at its minimum, nobody waits: no reminders
    world.session(product, "GB3", 8, 30)  # at its minimum, one request waits: only its buyer
    world.say(A, "IKUT GB1 M 5")
    world.say(B, "IKUT GB1 M 3")  # M is locked at 8/8
    assert "antrean" in world.say(C, "IKUT GB1 M 1")
    world.say(D, "IKUT GB1 S 2")
    world.say(D, "IKUT GB2 S 2")
    assert "🔕" in world.say(D, "BERHENTI")  # D: no reminders, but news about D's own joins still comes
    assert "Minimum tercapai" in world.say(E, "IKUT GB2 S 3")
    world.say(F, "IKUT GB3 M 8")
    assert "antrean" in world.say(G, "IKUT GB3 M 1")
    world.work()
    assert world.told("moq_reached") == {D: 1}

    # 5 hours in: no slot yet
    world.at(5)
    assert world.remind() == {"reminded": {}, "retry_later": {}}

    # 24 hours before the deadline (6 hours in), and a minute
    world.at(6 + 1 / 60)
    assert world.remind() == {"reminded": {"GB1": 3, "GB2": 0, "GB3": 1}, "retry_later": {}}
    assert world.told() == world.on_the_wire() == {A: 1, B: 1, C: 1, G: 1}
    texts = {m.to_phone: m for m in world.reminders()}
    assert texts[A].body == body(world, A, "GB1", [missing(10, 24)])
    waits = "Antrean Anda M x1 masuk setelah 1 pcs L dan 1 pcs XL lagi dipesan."
    assert texts[C].body == body(world, C, "GB1", [missing(10, 24), waits])
    assert texts[G].body == body(
        world, G, "GB3", ["Antrean Anda M x1 masuk setelah 1 pcs S, 1 pcs L dan 1 pcs XL lagi dipesan."]
    )
    assert {m.content_sid for m in texts.values()} == {None}  # everyone wrote within 24 hours: free text
    with world.db_factory() as db:
        ids = dict(db.execute(select(Buyer.phone, Buyer.id)).tuples().all())
        session_ids = dict(db.execute(select(GroupSession.code, GroupSession.id)).tuples().all())
    assert texts[A].idempotency_key == f"reminder:{session_ids['GB1']}:24:{ids[A]}"

    # the job again, on two workers (two cron ticks): nothing more
    jobs = [world.queue.enqueue("jobs.reminders.send_deadline_reminders") for _ in range(2)]
    for _ in jobs:
        SimpleWorker([world.queue], connection=world.queue.connection).work(burst=True, max_jobs=1)
    assert [job.return_value() for job in jobs] == [{"reminded": {}, "retry_later": {}}] * 2
    assert world.told() == {A: 1, B: 1, C: 1, G: 1}

    # C writes 20 hours in; A, B and G last wrote at the start
    world.at(20)
    world.say(C, "STATUS")
    # 3 hours before the deadline: the template for those who wrote more than 24 hours ago
    world.at(27 + 1 / 60)
    assert world.remind() == {"reminded": {"GB1": 3, "GB2": 0, "GB3": 1}, "retry_later": {}}
    assert world.remind() == {"reminded": {}, "retry_later": {}}
    assert world.told() == world.on_the_wire() == {A: 2, B: 2, C: 2, G: 2}
    late = {m.to_phone: m for m in world.reminders()[4:]}
    assert {phone: m.content_sid for phone, m in late.items()} == {
        A: TEMPLATE,
        B: TEMPLATE,
        C: None,
        G: TEMPLATE,
    }
    assert late[A].idempotency_key == f"reminder:{session_ids['GB1']}:3:{ids[A]}"
    [request] = [r for r in fake_twilio.accepted if r["sid"] == late[A].provider_sid]
    assert request["ContentSid"] == TEMPLATE and "Body" not in request
    assert json.loads(request["ContentVariables"]) == {
        "1": "GB1",
        "2": "Kaos Reminder",
        "3": format_wib(world.start + timedelta(hours=30), "id"),
        "4": missing(10, 24),
        "5": world.link(A, "GB1"),
    }

    # the deadline passed: nothing, and the sweep no longer looks at these sessions
    world.at(30 + 1 / 60)
    assert world.remind() == {"reminded": {}, "retry_later": {}}
    with world.db_factory() as db:
        assert set(db.scalars(select(GroupSession.next_reminder_at))) == {None}
    assert world.told("reminder")[D] == 0 and world.told("moq_reached") == {D: 1}


def test_a_slot_missed_while_the_clock_was_down_still_goes_but_never_two_at_once(world):
    product = world.product()
    world.session(product, "GB1", 24, 30)  # slots 6 and 27 hours in
    world.session(product, "GB2", 24, 40)  # slots 16 and 37 hours in
    world.session(product, "GB3", 24, 5)  # shorter than a day: only the 3-hour slot (2 hours in)
    for code in ("GB1", "GB2", "GB3"):
        world.say(A, f"IKUT {code} S 1")

    # the clock comes back 28 hours in: GB1 gets its 3-hour reminder only, GB2 its 24-hour one (late), GB3
    # (deadline passed) nothing
    world.at(28)
    assert world.remind() == {"reminded": {"GB1": 1, "GB2": 1}, "retry_later": {}}
    keys = sorted(m.idempotency_key.split(":")[2] for m in world.reminders())
    assert keys == ["24", "3"]
    assert world.remind() == {"reminded": {}, "retry_later": {}}
    world.at(37 + 1 / 60)
    assert world.remind() == {"reminded": {"GB2": 1}, "retry_later": {}}
    assert world.told() == world.on_the_wire() == {A: 3}
    assert {m.content_sid for m in world.reminders()} == {TEMPLATE}  # A last wrote more than 24 hours before


# --- two sweeps racing (PostgreSQL) -----------------------------------------------------------------------


def test_two_sweeps_racing_send_each_reminder_once(requires_postgres, settings, db_factory):
    sessions = 30
    stamp = datetime.now(UTC)
    with transaction(db_factory) as db:
        product = builders.product(db, MIX, sku="KR")
        for n in range(sessions):
            session = catalog.create_session(
                db,
                product_id=product.id,
                target_moq=24,
                starts_at=stamp - timedelta(hours=5),
                ends_at=stamp + timedelta(hours=1),  # the 3-hour slot came 2 hours ago
                code=f"R{n:02d}",
            )
            for size in ("S", "M"):
                builders.add_join(db, session, builders.buyer(db), size, 1)

    dispatched: list[list[int]] = [[], []]

    def sweeper(index: int):
        return lambda: reminders.sweep_reminders(
            db_factory, settings, batch_size=3, dispatch=dispatched[index].extend
        )

    results = builders.race(sweeper(0), sweeper(1))

    reminded = [result.reminded for result in results]
    assert set(reminded[0]).isdisjoint(reminded[1])
    assert {**reminded[0], **reminded[1]} == {f"R{n:02d}": 2 for n in range(sessions)}
    assert set(dispatched[0]).isdisjoint(dispatched[1])
    with db_factory() as db:
        rows = db.execute(select(OutboundMessage.id, OutboundMessage.idempotency_key)).all()
        assert sorted(dispatched[0] + dispatched[1]) == sorted(i for i, _ in rows)
        assert len(rows) == 2 * sessions and len({key for _, key in rows}) == len(rows)
        assert {key.split(":")[2] for _, key in rows} == {"3"}
        assert set(db.scalars(select(GroupSession.next_reminder_at))) == {None}  # the last slot went
    assert reminders.sweep_reminders(db_factory, settings).reminded == {}


def test_a_buyer_busy_with_a_message_is_not_waited_for(requires_postgres, settings, db_factory):
    """The sweep holds the session's lock; a buyer's message holds the buyer's row and may wait for that
    session (a join). Giving that buyer a tag would wait for the row: the session is left for the next
    sweep instead of risking a deadlock."""
    stamp = datetime.now(UTC)
    with transaction(db_factory) as db:
        product = builders.product(db, MIX, sku="KR")
        session = catalog.create_session(
            db,
            product_id=product.id,
            target_moq=24,
            starts_at=stamp - timedelta(hours=5),
            ends_at=stamp + timedelta(hours=1),
            code="BUSY1",
        )
        writer = builders.buyer(db)
        builders.add_join(db, session, writer, "M", 1)
        writer_id = writer.id
    with db_factory() as busy:  # the buyer's own message, mid-transaction
        busy.execute(update(Buyer).where(Buyer.id == writer_id).values(last_inbound_at=stamp))
        result = reminders.sweep_reminders(db_factory, settings)
        assert result.reminded == {} and list(result.retry_later) == ["BUSY1"]
        busy.commit()
    assert reminders.sweep_reminders(db_factory, settings).reminded == {"BUSY1": 1}
    with db_factory() as db:
        assert db.scalar(select(Buyer.referral_tag).where(Buyer.id == writer_id)) is not None
