"""Where a buyer's conversation stands: one row per phone, read and written with each of their messages.

The row lives in the database, not in a web process, so any process continues a conversation. It holds
the session the buyer asked about or acted on last (the context a message without a code is read in)
and, while the bot waits for an answer, what it waits for (`pending`, JSON: a guided-flow step or a
proposal to confirm) until `expires_at`. See `core.conversation_state`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import now
from core.models.base import Base, Timestamp


class ConversationState(Base):
    __tablename__ = "conversation_states"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)  # the buyer's, E.164
    session_code: Mapped[str | None] = mapped_column(String(32))  # the context
    pending: Mapped[str | None] = mapped_column(Text)  # JSON, see core.conversation_state.Pending
    expires_at: Mapped[datetime | None] = mapped_column(Timestamp)  # when `pending` lapses
    message_sid: Mapped[str | None] = mapped_column(String(64))  # the message that wrote this state
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=now, onupdate=now)
