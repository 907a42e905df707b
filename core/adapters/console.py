"""The console transport: the embedded default prints outbound WhatsApp messages instead of sending them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from core.delivery import ProviderMessage


class ConsoleTransport:
    """The embedded default: messages are printed, not sent (no Twilio credentials configured)."""

    def __init__(self, write: Callable[[str], None] | None = None):
        self._write = write or (lambda line: print(line, flush=True))

    def send(
        self, to: str, body: str, content_sid: str | None = None, content_variables: str | None = None
    ) -> str:
        line = f"[WhatsApp -> {to}] {body}"
        if content_sid:
            line += f"  (template {content_sid} {content_variables or '{}'})"
        self._write(line)
        return f"CONSOLE-{uuid.uuid4().hex}"

    def sent_since(self, to: str, since: datetime) -> list[ProviderMessage]:
        """Printing always answers, so no attempt is ever unconfirmed: nothing to look up."""
        return []
