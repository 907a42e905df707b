"""The shapes of things people type: session codes, sizes, referral tags. One definition each.

`SESSION_CODE` is what the catalogue accepts when a session is created and what the parser can read as a
code; `session_code_problem` adds the rule that keeps codes from reading as something else (a size, a
quantity, a command word, a referral tag or a purchase order). A code with a digit (KAOS1) is best: it
reads as a code even where the open sessions are not known; HOT only reads as one when it is open.
"""

from __future__ import annotations

import re
import secrets

from core.understanding import words

SESSION_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")  # 2-32 letters, digits or dashes
SIZE = re.compile(r"^[A-Z0-9][A-Z0-9/.-]{0,19}$")

# Referral tags: 6 characters of Crockford's base32 (no I, L, O, U), shown as "REF-7K2Q9A". Read
# case-insensitively, with or without the dash, with the look-alikes O->0 and I/L->1 that Crockford decodes.
REFERRAL_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERRAL_LENGTH = 6
REFERRAL_PREFIX = "REF-"
_REFERRAL = re.compile(r"^REF[-_:]?([0-9A-Z]{6})$")
_LOOK_ALIKES = str.maketrans("OIL", "011")


def new_referral_tag() -> str:
    """A fresh random tag (30 bits); the caller keeps it unique per buyer."""
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(REFERRAL_LENGTH))


def referral_text(tag: str) -> str:
    return REFERRAL_PREFIX + tag


def share_text(code: str, tag: str | None, language: str = "id") -> str:
    """The prefilled text of a share link: `IKUT KAOS1 REF-7K2Q9A` (`JOIN ...` in English)."""
    word = "JOIN" if language == "en" else "IKUT"
    return f"{word} {code}" + (f" {referral_text(tag)}" if tag else "")


def read_referral(token: str) -> str | None:
    """The tag in one token ("REF-7K2Q9A", "ref7k2q9a"), or None."""
    match = _REFERRAL.match(token.upper())
    return read_referral_body(match.group(1)) if match else None


def read_referral_body(text: str) -> str | None:
    """The 6 characters after a separate "REF" token, or None."""
    tag = text.upper().translate(_LOOK_ALIKES)
    if len(tag) == REFERRAL_LENGTH and all(ch in REFERRAL_ALPHABET for ch in tag):
        return tag
    return None


def looks_like_purchase_order(token: str) -> bool:
    """PO codes are made as `PO-<session code>-<n>` (or `PO-S<id>-<n>`)."""
    return token.upper().startswith("PO-") and bool(SESSION_CODE.match(token.upper()))


def session_code_problem(code: str) -> str | None:
    """Why `code` cannot be a new session's code, or None. For the catalogue, at creation."""
    code = (code or "").strip().upper()
    if not SESSION_CODE.match(code):
        return "2-32 letters, digits or dashes"
    if not code[0].isalpha():
        return "must start with a letter (2XL or 3PCS would read as a size or a quantity)"
    if code.startswith(("PO-", "REF")) or read_referral(code):
        return "PO- and REF are reserved for purchase orders and referral tags"
    if code in words.COMMAND_WORDS or code in words.STANDARD_SIZES or code in words.WORD_SIZES:
        return "reads as a command word or a size"
    if code.rstrip("0123456789") in words.STANDARD_SIZES:
        return "reads as a size and a quantity (M2 is size M, 2 pcs)"
    return None
