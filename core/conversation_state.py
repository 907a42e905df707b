"""Where a buyer's conversation stands (`conversation_states`), as each message reads and leaves it.

Two things are kept per phone:
- the **context**: the session the buyer asked about or acted on last, which a message without a code is
  read in ("ikut M 2" after "INFO KAOS1");
- what the bot **waits for**, until `expires_at` (`CONVERSATION_FLOW_MINUTES`, 30 by default): a step of
  the guided flow (a session, a size, a quantity) or a yes to a proposal. A `Pending` holds the command
  being built and, for a numbered answer ("2"), the options it was offered.

`who` reads the sender's factory and state, and the reply already stored for the message, in one statement; `State.save` writes the row only when
something changed (one INSERT or UPDATE, in the message's own transaction).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from core.clock import as_utc
from core.models import Buyer, ConversationState, Factory, InboundMessage
from core.settings import Settings
from core.understanding import Command, Line, Vocabulary

SESSION, SIZE, QUANTITY, CONFIRM = "session", "size", "quantity", "confirm"


@dataclass(frozen=True)
class Pending:
    """What the bot waits for. `command` is what the steps so far have built (a join whose code or sizes
    may still be missing, or the command a yes runs); `options` what a numbered answer picks from."""

    step: str  # SESSION, SIZE, QUANTITY or CONFIRM
    command: Command
    options: tuple[str, ...] = ()

    def to_json(self) -> str:
        command = self.command
        return json.dumps(
            {
                "step": self.step,
                "options": list(self.options),
                "name": command.name,
                "language": command.language,
                "word": command.word,
                "code": command.code,
                "lines": [[line.size, line.quantity] for line in command.lines],
                "referral": command.referral,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Pending | None:
        try:
            data: dict[str, Any] = json.loads(text)
            command = Command(
                data["name"],
                data.get("language"),
                data.get("word") or "",
                code=data.get("code"),
                lines=tuple(Line(size, quantity) for size, quantity in data.get("lines", [])),
                referral=data.get("referral"),
            )
            return cls(data["step"], command, tuple(data.get("options", [])))
        except (ValueError, KeyError, TypeError):
            return None  # a row written by another version: start afresh


@dataclass
class State:
    """A buyer's state for one message: read once, changed by the conversation, saved once."""

    phone: str
    row: ConversationState | None = None
    context: str | None = None
    pending: Pending | None = None
    expired: bool = False  # a pending step lapsed before this message
    changed: bool = field(default=False, repr=False)

    @classmethod
    def of(cls, phone: str, row: ConversationState | None, at: datetime) -> State:
        if row is None:
            return cls(phone)
        pending = Pending.from_json(row.pending) if row.pending else None
        expired = pending is not None and (row.expires_at is None or as_utc(row.expires_at) <= at)
        return cls(phone, row, row.session_code, None if expired else pending, expired)

    def remember(self, code: str | None) -> None:
        """The session this message was about becomes the context of the next one."""
        if code and code != self.context:
            self.context = code
            self.changed = True

    def wait_for(self, pending: Pending) -> None:
        self.pending = pending
        self.changed = True

    def clear(self) -> None:
        """Nothing is waited for any more (answered, dropped, replaced by a full command, or lapsed)."""
        if self.pending is not None or self.expired:
            self.pending, self.expired = None, False
            self.changed = True

    def save(self, db: Session, message_sid: str, at: datetime, minutes: int) -> None:
        if not self.changed:
            return
        row = self.row
        if row is None:
            row = self.row = ConversationState(phone=self.phone)
            db.add(row)
        row.session_code = self.context
        row.pending = self.pending.to_json() if self.pending else None
        row.expires_at = at + timedelta(minutes=minutes) if self.pending else None
        row.message_sid = message_sid
        row.updated_at = at
        self.changed = False


@dataclass
class Turn:
    """One buyer message being answered: what it says, who sent it and where their conversation stands."""

    db: Session
    settings: Settings
    buyer: Buyer
    state: State
    command: Command
    vocabulary: Vocabulary
    message_sid: str
    at: datetime
    tap: str | None = None  # the tapped button's or list item's id, when the message is a tap

    @property
    def language(self) -> str:
        return self.command.language or self.buyer.language


def who(
    db: Session, phone: str, message_sid: str
) -> tuple[Factory | None, ConversationState | None, InboundMessage | None]:
    """The factory with this phone, the state of the buyer with it, and the message `message_sid` if it
    was handled before (a redelivery): one statement. The buyer row is the conversation's to write
    (`core.conversation`, one upsert)."""
    sender = select(literal(phone).label("phone"), literal(message_sid).label("sid")).subquery()
    row = db.execute(
        select(Factory, ConversationState, InboundMessage)
        .select_from(sender)
        .outerjoin(Factory, Factory.phone == sender.c.phone)
        .outerjoin(ConversationState, ConversationState.phone == sender.c.phone)
        .outerjoin(InboundMessage, InboundMessage.message_sid == sender.c.sid)
    ).one()
    return row[0], row[1], row[2]
