"""Who wrote a message, read and brought up to date in one statement (PostgreSQL).

Every inbound message needs four things before it can be answered: whether it was answered before (a
redelivered MessageSid), whether the sender is a factory, the sender's conversation state, and the sender
as a buyer, created or updated (the time of this message, the language of the command, the WhatsApp
profile name if the buyer has none). On PostgreSQL that is one statement, a data-modifying CTE:

    WITH seen AS (SELECT reply FROM inbound_messages WHERE message_sid = :sid AND reply IS NOT NULL),
         factory AS (SELECT id FROM factories WHERE phone = :phone),
         buyer AS (INSERT INTO buyers ... SELECT ... WHERE NOT EXISTS (seen) AND NOT EXISTS (factory)
                   ON CONFLICT (phone) DO UPDATE ... RETURNING ...)
    SELECT seen.reply, factory.id, conversation_states.*, buyer.* ...

A message answered before writes nothing (the stored reply is sent again); a factory's message writes no
buyer row here (`core.conversation` makes one only if the factory sends a buyer's command). The rows are
handed to the ORM as loaded (`make_transient_to_detached`), so changing them later writes an UPDATE as
usual and reading them reads nothing. The statement is built once per process.

On SQLite (no data-modifying CTEs) `core.conversation` reads and upserts with two statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, bindparam, text
from sqlalchemy.orm import Session, make_transient_to_detached

from core.models import Buyer, ConversationState

_BUYER_COLUMNS = (
    "id",
    "phone",
    "name",
    "language",
    "address",
    "last_inbound_at",
    "created_at",
    "referral_tag",
    "opted_out_at",
)
_STATE_COLUMNS = ("phone", "session_code", "pending", "expires_at", "message_sid", "updated_at")

_SENDER = (
    text(
        "WITH seen AS ("
        " SELECT reply FROM inbound_messages WHERE message_sid = :sid AND reply IS NOT NULL),"
        " factory AS (SELECT id FROM factories WHERE phone = :phone),"
        " buyer AS ("
        " INSERT INTO buyers (phone, name, language, last_inbound_at, created_at)"
        " SELECT :phone, :name, :language, :at, :at"
        " WHERE NOT EXISTS (SELECT 1 FROM seen) AND NOT EXISTS (SELECT 1 FROM factory)"
        " ON CONFLICT (phone) DO UPDATE SET"
        " last_inbound_at = excluded.last_inbound_at,"
        " language = COALESCE(:set_language, buyers.language),"
        " name = CASE WHEN :profile IS NOT NULL AND COALESCE(buyers.name, '') = '' THEN :profile"
        " ELSE buyers.name END"
        f" RETURNING {', '.join(_BUYER_COLUMNS)})"
        " SELECT (SELECT reply FROM seen) AS seen_reply, (SELECT id FROM factory) AS factory_id,"
        + ", ".join(f"s.{c} AS s_{c}" for c in _STATE_COLUMNS)
        + ", "
        + ", ".join(f"b.{c} AS b_{c}" for c in _BUYER_COLUMNS)
        + " FROM (SELECT 1 AS one) AS one"
        " LEFT JOIN conversation_states AS s ON s.phone = :phone"
        " LEFT JOIN buyer AS b ON true"
    )
    .bindparams(
        bindparam("sid", type_=String),
        bindparam("phone", type_=String),
        bindparam("name", type_=String),
        bindparam("language", type_=String),
        bindparam("set_language", type_=String),
        bindparam("profile", type_=String),
        bindparam("at", type_=DateTime(timezone=True)),
    )
    .columns(
        seen_reply=Text,
        factory_id=Integer,
        **{f"s_{c}": ConversationState.__table__.c[c].type for c in _STATE_COLUMNS},
        **{f"b_{c}": Buyer.__table__.c[c].type for c in _BUYER_COLUMNS},
    )
)


@dataclass
class Sender:
    seen_reply: str | None  # the reply stored for this MessageSid: a redelivery
    factory_id: int | None
    state: ConversationState | None
    buyer: Buyer | None  # None for a redelivery or a factory's phone


def read_sender(
    db: Session,
    *,
    phone: str,
    message_sid: str,
    profile_name: str | None,
    language: str | None,
    at: datetime,
) -> Sender:
    """The sender of a message, the buyer row written (see the module's docstring); PostgreSQL only."""
    row = (
        db.execute(
            _SENDER,
            {
                "sid": message_sid,
                "phone": phone,
                "name": (profile_name or "").strip()[:200] or None,
                "language": language or "id",
                "set_language": language,
                "profile": profile_name.strip()[:200] if profile_name else None,
                "at": at,
            },
        )
        .mappings()
        .one()
    )
    state = None
    if row["s_phone"] is not None:
        state = ConversationState(**{c: row[f"s_{c}"] for c in _STATE_COLUMNS})
        make_transient_to_detached(state)
        db.add(state)
    buyer = None
    if row["b_id"] is not None:
        buyer = Buyer(**{c: row[f"b_{c}"] for c in _BUYER_COLUMNS})
        make_transient_to_detached(buyer)
        db.add(buyer)
    return Sender(row["seen_reply"], row["factory_id"], state, buyer)
