"""One inbound WhatsApp message -> stored once -> one command -> one reply text.

The sender is looked up by phone first (a factory's SIAP/TOLAK/KIRIM read as its commands), then the
message is read with the open sessions' vocabulary (`core.commands.parse`), and a buyer's message is
answered in their conversation so far (`core.dialogue`, `core.conversation_state`).

The inbound row, the command's writes, the conversation state and the reply are one unit of work, so a
message is either fully handled with its reply stored, or not at all. A redelivered `MessageSid` gets the
stored reply back and changes nothing (a guided step included: it never advances twice). A refused
command is rolled back to a savepoint (a join refuses before it writes, so it needs none): only the inbound
row remains. A reply sent as an interactive
message through the outbox is stored as "" (the webhook answers an empty TwiML, again on redelivery).
`receive` is what the webhook calls: it also decides what happens when the database gets in the way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, case, insert, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core import dialogue, texts
from core.clock import now
from core.commands import BUYER, FACTORY, FACTORY_COMMANDS, Command, parse
from core.conversation_state import State, Turn, who
from core.dialogue import EXAMPLE_CODE
from core.factory_replies import handle_factory_command
from core.models import Buyer, Factory, InboundMessage
from core.phones import InvalidPhone, normalise
from core.sender_rows import read_sender
from core.settings import Settings
from core.unit_of_work import Dispatch, unit_of_work
from core.vocabulary import open_vocabulary

log = logging.getLogger(__name__)

MAX_REPLY = 1600  # Twilio's limit for one WhatsApp message
ATTEMPTS = 3


@dataclass(frozen=True)
class Inbound:
    message_sid: str
    from_address: str
    body: str = ""
    profile_name: str | None = None
    button_payload: str | None = None


@dataclass(frozen=True)
class Reply:
    text: str
    duplicate: bool = False
    handled: bool = True  # False: nothing was stored, the text asks the sender to send it again


def receive(
    db_factory: sessionmaker[Session], dispatch: Dispatch, inbound: Inbound, settings: Settings
) -> Reply:
    """Handle one message in its own unit of work, whatever the database does meanwhile.

    - The same MessageSid committed by another request first (a redelivery racing the original): the
      unique MessageSid refuses ours, and the sender gets the reply the first one stored.
    - The same new buyer writing twice at once: their buyer row is refused once; handled again, it exists.
    - The connection died (a database restart, a failover): nothing was committed, so it is handled
      again on a new connection.
    Anything else, or still failing after `ATTEMPTS`: nothing is stored and the reply says to send the
    message again (Twilio does not redeliver a message that got an answer).
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with unit_of_work(db_factory, dispatch) as db:
                return handle(db, inbound, settings)
        except IntegrityError:
            with db_factory() as db:
                previous = stored_reply(db, inbound.message_sid)
            if previous is not None:
                return previous
        except DBAPIError as error:
            if not (error.connection_invalidated and attempt < ATTEMPTS):
                log.error("inbound %s not processed, database error: %s", inbound.message_sid, error)
                break
            log.warning("inbound %s: database connection lost, retrying", inbound.message_sid)
    else:
        log.error("inbound %s not processed after %s attempts", inbound.message_sid, ATTEMPTS)
    return Reply(texts.render("id", "busy"), handled=False)


def stored_reply(db: Session, message_sid: str) -> Reply | None:
    reply = db.scalar(select(InboundMessage.reply).where(InboundMessage.message_sid == message_sid))
    return None if reply is None else Reply(reply, duplicate=True)


def handle(db: Session, inbound: Inbound, settings: Settings) -> Reply:
    """Handle one message inside the caller's transaction.

    The inbound row is written once, at the end, with its reply. A message handled before (a redelivery)
    is found by the first statement and answered with the stored reply; one being handled at this moment
    by another request (a redelivery racing the original) is handled here too, but only one of the two
    commits: the other's INSERT fails on the unique MessageSid, its whole transaction rolls back, and
    `receive` answers it with the reply the first stored."""
    at = now()
    try:
        phone: str | None = normalise(inbound.from_address, settings.default_country)
    except InvalidPhone:
        phone = None
    buyer: Buyer | None = None
    factory_id: int | None = None
    state = None
    guess: Command | None = None
    vocabulary = open_vocabulary(db, settings.vocabulary_cache_seconds)
    if phone is not None and db.get_bind().dialect.name == "postgresql":
        # One statement: a stored reply, the factory, the state, and the buyer upserted, for a buyer's
        # command; read before we know who wrote, so the message is parsed as a buyer's first.
        guess = parse(inbound.body, inbound.button_payload, vocabulary=vocabulary, sender=BUYER)
    if guess is not None and guess.name not in FACTORY_COMMANDS:
        assert phone is not None
        sender_row = read_sender(
            db,
            phone=phone,
            message_sid=inbound.message_sid,
            profile_name=inbound.profile_name,
            language=guess.language,
            at=at,
        )
        if sender_row.seen_reply is not None:
            return Reply(sender_row.seen_reply, duplicate=True)
        factory_id, state, buyer = sender_row.factory_id, sender_row.state, sender_row.buyer
    elif phone is not None:
        factory, state, previous = who(db, phone, inbound.message_sid)
        if previous is not None and previous.reply is not None:
            return Reply(previous.reply, duplicate=True)
        factory_id = factory.id if factory is not None else None
    else:
        stored = stored_reply(db, inbound.message_sid)
        if stored is not None:
            return stored
    factory = db.get(Factory, factory_id) if factory_id is not None else None
    if guess is not None and factory is None:
        command = guess
    else:
        sender = FACTORY if factory is not None else BUYER
        command = parse(inbound.body, inbound.button_payload, vocabulary=vocabulary, sender=sender)
    record = InboundMessage(
        message_sid=inbound.message_sid,
        command=command.name,
        from_phone=inbound.from_address[:64],
        profile_name=(inbound.profile_name or "")[:200] or None,
        body=(inbound.body or "")[:4096],
        button_payload=(inbound.button_payload or "")[:256] or None,
        received_at=at,
    )

    if phone is None:
        record.reply = _fit(texts.render(command.language or "id", "invalid_phone"))
    elif command.name in FACTORY_COMMANDS:
        record.reply = _fit(_factory_command(db, factory, command, settings))
    else:
        if buyer is None:  # SQLite, a factory's phone sending a buyer's command, or a factory word
            buyer = _buyer(db, phone, inbound.profile_name, command, at)
        turn = Turn(
            db,
            settings,
            buyer,
            State.of(phone, state, at),
            command,
            vocabulary,
            inbound.message_sid,
            at,
            tap=inbound.button_payload,
        )
        # "" when the reply went out as an interactive message (core.guided_flow)
        record.reply = _fit(dialogue.respond(turn))
        turn.state.save(db, inbound.message_sid, at, settings.conversation_flow_minutes)
    # Written last, with its reply; a concurrent duplicate fails here on the unique MessageSid.
    db.flush()
    db.connection().execute(_INSERT_INBOUND, {c: getattr(record, c) for c in _INBOUND_COLUMNS})
    return Reply(record.reply)


_INBOUND_COLUMNS = (
    "message_sid",
    "command",
    "from_phone",
    "profile_name",
    "body",
    "button_payload",
    "reply",
    "received_at",
)
_INSERT_INBOUND = insert(InboundMessage)
"""The inbound row as one plain INSERT (built once), not through the ORM's unit of work."""


def _fit(text: str) -> str:
    return text if len(text) <= MAX_REPLY else text[: MAX_REPLY - 1] + "…"


def _buyer(db: Session, phone: str, profile_name: str | None, command: Command, at: datetime) -> Buyer:
    """The sender as a buyer, created or brought up to date by one upsert (`INSERT ... ON CONFLICT (phone)
    DO UPDATE ... RETURNING`): the time of this message, the language the command was written in, and the
    WhatsApp profile name if the buyer has none. Two messages of a new buyer at once both get the one row."""
    insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Buyer).values(
        phone=phone,
        name=(profile_name or "").strip()[:200] or None,
        language=command.language or "id",
        last_inbound_at=at,
        created_at=at,
    )
    changes: dict[str, Any] = {"last_inbound_at": statement.excluded.last_inbound_at}
    if command.language:
        changes["language"] = statement.excluded.language
    if profile_name:
        changes["name"] = case(
            (or_(Buyer.name.is_(None), Buyer.name == ""), literal(profile_name.strip()[:200], String)),
            else_=Buyer.name,
        )
    upsert = statement.on_conflict_do_update(index_elements=[Buyer.phone], set_=changes).returning(Buyer)
    return db.scalars(upsert, execution_options={"populate_existing": True}).one()


def _factory_command(db: Session, factory: Factory | None, command: Command, settings: Settings) -> str:
    language = command.language or "id"
    if factory is None:
        return texts.render(language, "factory_only", word=command.word)
    if command.error and command.error != "missing_code":  # a missing PO code is the factory reply's to tell
        return texts.render(
            language, command.error, word=command.word, code=command.code or "", example=EXAMPLE_CODE
        )
    return handle_factory_command(
        db, factory, command.name, command.code or "", command.text, settings, language=language
    )
