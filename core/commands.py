"""Text (or a quick-reply button payload) -> one typed command. The only parser of what people type.

Aliases decide the reply language: the Indonesian word answers in Bahasa Indonesia, the English word in
English; words both languages share (MENU, INFO, STATUS) keep the buyer's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

MAX_BODY = 1600  # WhatsApp's own limit; anything longer is not a command

ALIASES: dict[str, tuple[str, str | None]] = {
    "MENU": ("menu", None),
    "HELP": ("menu", "en"),
    "BANTUAN": ("menu", "id"),
    "SESI": ("list", "id"),
    "LIST": ("list", "en"),
    "INFO": ("info", None),
    "IKUT": ("join", "id"),
    "JOIN": ("join", "en"),
    "ANTRE": ("wait", "id"),
    "WAIT": ("wait", "en"),
    "BATAL": ("leave", "id"),
    "LEAVE": ("leave", "en"),
    "STATUS": ("status", None),
    "CEK": ("status", "id"),
    "ALAMAT": ("address", "id"),
    "ADDRESS": ("address", "en"),
    "SIAP": ("confirm", "id"),
    "CONFIRM": ("confirm", "en"),
    "TOLAK": ("decline", "id"),
    "DECLINE": ("decline", "en"),
    "KIRIM": ("ship", "id"),
    "SHIPPED": ("ship", "en"),
}
FACTORY_COMMANDS = ("confirm", "decline", "ship")
CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,31}$")
SIZE = re.compile(r"^[A-Z0-9][A-Z0-9/.-]{0,19}$")


@dataclass(frozen=True)
class Command:
    name: str  # an ALIASES value, "empty" or "unknown"
    language: str | None = None
    word: str = ""  # the alias as typed, upper-case
    code: str | None = None
    size: str | None = None
    quantity: int | None = None
    text: str | None = None  # free text: address, ETA, reason, tracking
    error: str | None = None  # a usage problem; the reply explains it and nothing is done


def _quantity(token: str) -> tuple[int | None, str | None]:
    if re.fullmatch(r"[+-]?\d+", token):  # bodies are at most MAX_BODY characters, so int() is cheap
        value = int(token)
        return (value, None) if value > 0 else (None, "quantity_not_positive")
    return None, "quantity_not_number"


def parse(body: str | None, button_payload: str | None = None) -> Command:
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

    if name in ("menu", "list", "status"):
        return base
    if name == "address":
        address = text[len(tokens[0]) :].strip()
        if len(address) < 10:
            return replace(base, error="address_too_short")
        return replace(base, text=address[:500])
    if not args:
        return replace(base, error="missing_code")
    code = args[0].upper()
    if not CODE.match(code):
        return replace(base, code=code[:40], error="bad_code")
    if name in FACTORY_COMMANDS:
        rest = text.split(None, 2)[2] if len(args) > 1 else None
        return replace(base, code=code, text=rest[:200] if rest else None)
    if name in ("info", "leave"):
        if len(args) > 1:
            return replace(base, code=code, error="too_many_words")
        return replace(base, code=code)
    # join / wait: <code> <size> [qty]
    if len(args) < 2:
        return replace(base, code=code, error="missing_size")
    size = args[1].upper()
    if not SIZE.match(size):
        return replace(base, code=code, size=size[:20], error="bad_size")
    if len(args) > 3:
        return replace(base, code=code, size=size, error="too_many_words")
    if len(args) == 2:
        if name == "wait":
            return replace(base, code=code, size=size, error="missing_quantity")
        return replace(base, code=code, size=size, quantity=1)
    quantity, error = _quantity(args[2])
    return replace(base, code=code, size=size, quantity=quantity, error=error)
