"""Understanding what people type: one pure parser, its word table, and the shapes of codes and tags.

from core.understanding import parse, Vocabulary
parse("ikut kaos1 M 2pcs, L 1 ya kak", vocabulary=Vocabulary.of({"KAOS1": ["S", "M", "L", "XL"]}))
"""

from core.understanding.codes import (
    REFERRAL_ALPHABET,
    SESSION_CODE,
    SIZE,
    new_referral_tag,
    read_referral,
    referral_text,
    session_code_problem,
    share_text,
)
from core.understanding.command import (
    ANSWERS,
    BUYER_COMMANDS,
    FACTORY_COMMANDS,
    NAMES,
    ORDER_CHANGING,
    Command,
    Guess,
    Line,
    Vocabulary,
)
from core.understanding.parser import MAX_BODY, parse
from core.understanding.tokens import MAX_QUANTITY
from core.understanding.words import BUYER, COMMAND_WORDS, FACTORY, REPLY_WORDS, THANKS, Word, word_for

__all__ = [
    "ANSWERS",
    "BUYER",
    "BUYER_COMMANDS",
    "COMMAND_WORDS",
    "FACTORY",
    "FACTORY_COMMANDS",
    "MAX_BODY",
    "MAX_QUANTITY",
    "NAMES",
    "ORDER_CHANGING",
    "REFERRAL_ALPHABET",
    "REPLY_WORDS",
    "SESSION_CODE",
    "SIZE",
    "THANKS",
    "Command",
    "Guess",
    "Line",
    "Vocabulary",
    "Word",
    "new_referral_tag",
    "parse",
    "read_referral",
    "referral_text",
    "session_code_problem",
    "share_text",
    "word_for",
]
