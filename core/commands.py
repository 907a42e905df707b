"""Text (or a tapped button's payload) -> one typed command: the front door of `core.understanding`.

    parse(body, button_payload, vocabulary=Vocabulary.of({"KAOS1": ["S", "M"]}), sender=BUYER | FACTORY)

reads the way people type (synonyms, slang, typos, several sizes, a code left out; see
`core.understanding`). `core.conversation` calls it with the open sessions' vocabulary and the sender it
found by phone.
"""

from __future__ import annotations

from core.understanding import (
    BUYER,
    FACTORY,
    FACTORY_COMMANDS,
    MAX_BODY,
    SESSION_CODE,
    SIZE,
    Command,
    Guess,
    Line,
    Vocabulary,
    parse,
)

__all__ = [
    "BUYER",
    "FACTORY",
    "FACTORY_COMMANDS",
    "MAX_BODY",
    "SESSION_CODE",
    "SIZE",
    "Command",
    "Guess",
    "Line",
    "Vocabulary",
    "parse",
]
