"""From a message to tokens, and the small readers over them: word look-up, numbers, typos.

Tokens keep their place in the (NFKC-normalised) text, so free text such as an address is cut from what
the buyer wrote, with its own case and punctuation.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA

from core.understanding.words import DIGIT_WORDS, NUMBER_WORDS, UNITS

MAX_QUANTITY = 100  # per size line, as the join service allows

# A number (with what is glued to it: "2pcs", "1e3"), a word (inner dots, dashes, slashes and apostrophes
# kept: "Jl.Mawar", "PO-KAOS1-1", "masing-masing"), or one punctuation mark that means something here.
_TOKEN = re.compile(r"[+-]?\d+(?:[.,]\d+)*\w*|[^\W_](?:[\w'’./-]*[^\W_])?|[,;&+@#?×]")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_GLUED_UNIT = re.compile(r"^[+-]?(\d+)([A-Z]+)$")
_TIMES_PREFIX = re.compile(r"^[X×](\d+)$")
_SUFFIXES = ("NYA", "KAH", "LAH")


@dataclass(frozen=True)
class Token:
    text: str  # as written
    key: str  # upper-case, apostrophes dropped: what the word tables are keyed by
    start: int
    end: int


def normalise(text: str) -> str:
    """Compatibility forms folded (full-width digits and letters), invisible characters dropped."""
    return unicodedata.normalize("NFKC", text).translate(_INVISIBLE)


def tokenise(text: str) -> list[Token]:
    return [
        Token(m.group(), m.group().upper().replace("'", "").replace("’", ""), m.start(), m.end())
        for m in _TOKEN.finditer(text)
    ]


def spellings(key: str) -> list[tuple[str, bool]]:
    """Ways to look `key` up, each with whether it is certain: as written, without -nya/-kah/-lah,
    stretched letters shortened ("halooo", "kaaak"). A doubled letter ("ikuut") may be a typo: not certain."""
    found = [(key, True)]
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix) + 2:
            found.append((key[: -len(suffix)], True))
    stretched = re.sub(r"(.)\1{2,}", r"\1", key)
    if stretched != key:
        found.append((stretched, True))
        found.append((re.sub(r"(.)\1+", r"\1", key), True))
    doubled = re.sub(r"(.)\1+", r"\1", key)
    if doubled != key:
        found.append((doubled, False))
    return found


def closest(typed: str, choices: list[str], *, minimum_length: int = 4) -> str | None:
    """The one choice within a typo or two of `typed` (transpositions count as one), or None when there is
    none or two are as close."""
    if len(typed) < minimum_length or not choices:
        return None
    allowed = 1 if len(typed) <= 6 else 2
    found = process.extract(typed, choices, scorer=OSA.distance, score_cutoff=allowed, limit=2)
    if not found or (len(found) > 1 and found[1][1] == found[0][1]):
        return None
    return found[0][0]


@dataclass(frozen=True)
class Quantity:
    value: int | None  # None with an error
    error: str | None
    length: int  # tokens read


def _checked(value: int, length: int) -> Quantity:
    if value < 1:
        return Quantity(None, "quantity_not_positive", length)
    if value > MAX_QUANTITY:
        return Quantity(None, "quantity_too_large", length)
    return Quantity(value, None, length)


def _unit_after(tokens: list[Token], i: int) -> int | None:
    return UNITS.get(tokens[i].key) if i < len(tokens) else None


def read_quantity(tokens: list[Token], i: int) -> Quantity | None:
    """A quantity starting at token i ("2", "2pcs", "x2", "2 lusin", "dua belas", "selusin"), or None.

    A token that starts with a digit but is no quantity ("1.5", "1e3") is a quantity error, not a word.
    """
    key = tokens[i].key
    if re.fullmatch(r"[+-]?\d+", key):
        value, length = int(key), 1
        unit = _unit_after(tokens, i + 1)
        if unit is not None:
            value, length = value * unit, 2
        return _checked(value, length)
    glued = _GLUED_UNIT.match(key)
    if glued and glued.group(2) in UNITS:
        sign = -1 if key.startswith("-") else 1
        return _checked(sign * int(glued.group(1)) * UNITS[glued.group(2)], 1)
    times = _TIMES_PREFIX.match(key)
    if times:
        return _checked(int(times.group(1)), 1)
    if key[:1].isdigit() or (key[:1] in "+-" and key[1:2].isdigit()):
        return Quantity(None, "quantity_not_number", 1)
    return _number_words(tokens, i)


def _number_words(tokens: list[Token], i: int) -> Quantity | None:
    key = tokens[i].key
    if key in NUMBER_WORDS:
        value, length = NUMBER_WORDS[key], 1
    elif key in DIGIT_WORDS:
        value, length = DIGIT_WORDS[key], 1
        following = tokens[i + 1].key if i + 1 < len(tokens) else ""
        if following == "BELAS":
            value, length = 10 + value, 2
        elif following == "PULUH":
            value, length = 10 * value, 2
            last = tokens[i + 2].key if i + 2 < len(tokens) else ""
            if last in DIGIT_WORDS:
                value, length = value + DIGIT_WORDS[last], 3
        elif following == "RATUS":
            value, length = 100 * value, 2
    else:
        return None
    unit = _unit_after(tokens, i + length)
    if unit is not None:
        value, length = value * unit, length + 1
    return _checked(value, length)
