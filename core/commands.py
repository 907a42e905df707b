"""Text (or a quick-reply button payload) -> one typed command: the front door of `core.understanding`.

    parse(body, button_payload, vocabulary=..., sender="buyer" | "factory")

reads the way people type (synonyms, slang, typos, several sizes, context; see `core.understanding`).

Called without `sender` — as `conversation.py` does until the conversation integration of issue 13 — it
keeps the grammar that module was written for (`WORD CODE SIZE [QTY]`, one size, no guesses), so
nothing changes for it before it is ready: `_legacy_parse` below. The integration passes `sender` and
deletes `_legacy_parse`, `ALIASES` and `LEGACY_WORDS`.
"""

from __future__ import annotations

import re

from core.understanding import (
    BUYER,
    COMMAND_WORDS,
    FACTORY,
    FACTORY_COMMANDS,
    MAX_BODY,
    SESSION_CODE,
    SIZE,
    Command,
    Guess,
    Line,
    Vocabulary,
)
from core.understanding import parse as understand

__all__ = [
    "ALIASES",
    "BUYER",
    "CODE",
    "FACTORY",
    "FACTORY_COMMANDS",
    "MAX_BODY",
    "SIZE",
    "Command",
    "Guess",
    "Line",
    "Vocabulary",
    "parse",
]

CODE = SESSION_CODE  # one session-code pattern, shared with the catalogue

# The words of the pre-issue-13 grammar, with their (command, language) from the one table.
LEGACY_WORDS = (
    "MENU HELP BANTUAN SESI LIST INFO IKUT JOIN ANTRE WAIT BATAL LEAVE STATUS CEK ALAMAT ADDRESS "
    "SIAP CONFIRM TOLAK DECLINE KIRIM SHIPPED"
).split()
ALIASES: dict[str, tuple[str, str | None]] = {
    word: (COMMAND_WORDS[word].name, COMMAND_WORDS[word].language) for word in LEGACY_WORDS
}


def parse(
    body: str | None,
    button_payload: str | None = None,
    *,
    vocabulary: Vocabulary | None = None,
    sender: str | None = None,
) -> Command:
    """`sender` BUYER or FACTORY: the issue-13 parser. Omitted: the old grammar (see the module docstring)."""
    if sender is None:
        return _legacy_parse(body, button_payload)
    return understand(body, button_payload, vocabulary=vocabulary, sender=sender)


# ------------------------------------------------------------------ the old grammar, until the integration


def _line(size: str | None, quantity: int | None) -> tuple[Line, ...]:
    return () if size is None and quantity is None else (Line(size, quantity),)


def _quantity(token: str) -> tuple[int | None, str | None]:
    if re.fullmatch(r"[+-]?\d+", token):  # bodies are at most MAX_BODY characters, so int() is cheap
        value = int(token)
        return (value, None) if value > 0 else (None, "quantity_not_positive")
    return None, "quantity_not_number"


def _legacy_parse(body: str | None, button_payload: str | None = None) -> Command:
    text = (button_payload or "").strip() or (body or "").strip()
    if len(text) > MAX_BODY:
        return Command("unknown", error="too_long")
    if not any(ch.isalnum() for ch in text):
        return Command("empty")
    tokens = text.split()
    word = tokens[0].upper().rstrip(".,!:?")
    if word not in ALIASES:
        return Command("unknown", word=word)
    name, language = ALIASES[word]
    args = tokens[1:]
    base = Command(name, language, word)

    def command(**fields) -> Command:
        size, quantity = fields.pop("size", None), fields.pop("quantity", None)
        return Command(name, language, word, lines=_line(size, quantity), **fields)

    if name in ("menu", "list", "status"):
        return base
    if name == "address":
        address = text[len(tokens[0]) :].strip()
        if len(address) < 10:
            return command(error="address_too_short")
        return command(text=address[:500])
    if not args:
        return command(error="missing_code")
    code = args[0].upper()
    if not CODE.match(code):
        return command(code=code[:40], error="bad_code")
    if name in FACTORY_COMMANDS:
        rest = text.split(None, 2)[2] if len(args) > 1 else None
        return command(code=code, text=rest[:200] if rest else None)
    if name in ("info", "leave"):
        if len(args) > 1:
            return command(code=code, error="too_many_words")
        return command(code=code)
    if len(args) < 2:
        return command(code=code, error="missing_size")
    size = args[1].upper()
    if not SIZE.match(size):
        return command(code=code, size=size[:20], error="bad_size")
    if len(args) > 3:
        return command(code=code, size=size, error="too_many_words")
    if len(args) == 2:
        if name == "wait":
            return command(code=code, size=size, error="missing_quantity")
        return command(code=code, size=size, quantity=1)
    quantity, error = _quantity(args[2])
    return command(code=code, size=size, quantity=quantity, error=error)
