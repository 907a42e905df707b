"""The arguments of a session command: which session, which sizes and how many, and a referral tag.

Read from anywhere in the message, in any order ("IKUT KAOS1 M 2", "2 pcs ukuran M kaos1", "M2 L1",
"m 2 dan l 1", "M, L masing-masing 2"). With a vocabulary (the open sessions and their sizes) codes and
sizes with a typo are matched to the real ones and reported as guesses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.understanding import words
from core.understanding.codes import SESSION_CODE, SIZE, read_referral, read_referral_body
from core.understanding.command import Guess, Line, Vocabulary
from core.understanding.tokens import MAX_QUANTITY, Token, closest, read_quantity, spellings

MAX_LINES = 10
_LEXICAL = (
    words.FILLERS.keys()
    | words.CHAT.keys()
    | words.QUESTIONS.keys()
    | words.COMMAND_WORDS.keys()
    | words.SEPARATORS
    | words.EACH
    | words.SIZE_MARKERS
    | words.QUANTITY_MARKERS
    | words.CHOICE_MARKERS
    | words.UNITS.keys()
    | words.DIGIT_WORDS.keys()
    | words.NUMBER_WORDS.keys()
    | {"BELAS", "PULUH", "RATUS", "REF"}
)
_SIZE_THEN_QUANTITY = (
    re.compile(r"([A-Z0-9]*?[A-Z])([X×@=-]?)(\d+)"),
    re.compile(r"([A-Z0-9]*[A-Z])([X×@=-]?)(\d+)"),
)
_QUANTITY_THEN_SIZE = re.compile(r"(\d+)(?:X|PCS|PC)?([A-Z][A-Z0-9]*)")
_GLUED_UNIT = re.compile(r"[+-]?(\d+)([A-Z]+)")


def lexical(key: str) -> bool:
    """A word with a role in the tables (filler, question, command word, marker...), not an argument."""
    return any(spelling in _LEXICAL for spelling, _ in spellings(key))


@dataclass
class Arguments:
    code: str | None = None
    referral: str | None = None
    lines: list[Line] = field(default_factory=list)
    error: str | None = None
    bad_code: str | None = None
    guesses: list[Guess] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    bare_number: int | None = None  # the whole content was one plain number ("2", "no 2")

    @property
    def any(self) -> bool:
        return bool(self.code or self.lines or self.referral or self.error)


@dataclass
class _Item:
    kind: str  # "size", "quantity", "separator"
    size: str = ""
    quantity: int | None = None
    plain: bool = False  # a bare integer, no unit or marker


class ArgumentReader:
    def __init__(self, tokens: list[Token], vocabulary: Vocabulary | None, skip: set[int], first: int | None):
        self.tokens = tokens
        self.vocabulary = vocabulary
        self.skip = set(skip)  # token indexes already read (the command word)
        self.first = first  # index of the first token after a command word (may be a code without digit)
        self.result = Arguments()

    def read(self) -> Arguments:
        codes = self._codes()
        distinct = list(dict.fromkeys(code for code, _ in codes))
        if len(distinct) > 1:
            self.result.error = "several_codes"
        if distinct:
            self.result.code = distinct[0]
            self.result.guesses.extend(guess for _, guess in codes if guess)
        items, each = self._items()
        if self.result.error is None:
            self._pair(items, each)
        return self.result

    # ------------------------------------------------------------------------------------------- codes

    def _codes(self) -> list[tuple[str, Guess | None]]:
        found: list[tuple[str, Guess | None]] = []
        tokens, vocabulary = self.tokens, self.vocabulary
        i = 0
        while i < len(tokens):
            key = tokens[i].key
            if i in self.skip:
                i += 1
                continue
            following = tokens[i + 1].key if i + 1 < len(tokens) and i + 1 not in self.skip else ""
            tag = read_referral(key) or (read_referral_body(following) if key == "REF" else None)
            if tag:
                self.result.referral = self.result.referral or tag
                self.skip.update({i, i + 1} if key == "REF" else {i})
                i += 2 if key == "REF" else 1
                continue
            if re.match(r"REF[-_:]", key):  # a tag cut short by an edit: ignored, it never stops a join
                self.skip.add(i)
                i += 1
                continue
            if vocabulary and following.isdigit() and (key + following) in vocabulary.code_by_key:
                found.append((vocabulary.code_by_key[key + following], None))  # "KAOS 1"
                self.skip.update({i, i + 1})
                i += 2
                continue
            code = self._code(i, key)
            if code is not None:
                found.append(code)
                self.skip.add(i)
            i += 1
        return found

    def _code(self, i: int, key: str) -> tuple[str, Guess | None] | None:
        vocabulary = self.vocabulary
        if vocabulary and key.replace("-", "") in vocabulary.code_by_key:
            return vocabulary.code_by_key[key.replace("-", "")], None
        if lexical(key) or self._size_word(key, None) or re.match(r"[+-]?\d|[X×]\d+$", key):
            return None
        if self._split_glued(key):
            return None  # "M2": size M, 2 pcs
        has_digit = any(ch.isdigit() for ch in key)
        if vocabulary:
            for spelling, _ in spellings(key):
                meant = closest(spelling.replace("-", ""), list(vocabulary.code_by_key))
                if meant:
                    return vocabulary.code_by_key[meant], Guess("code", key, vocabulary.code_by_key[meant])
        if SESSION_CODE.match(key) and (has_digit or (i == self.first and not vocabulary)):
            return key, None
        if i == self.first and (has_digit or len(key) > 32) and not SESSION_CODE.match(key):
            self.result.error = self.result.error or "bad_code"
            self.result.bad_code = key[:40]
        return None

    # ------------------------------------------------------------------------------- sizes, quantities

    def _sizes_of(self, code: str | None) -> frozenset[str] | None:
        if not self.vocabulary or not self.vocabulary.sessions:
            return None
        if code in self.vocabulary.sizes_by_code:
            return frozenset(self.vocabulary.sizes_by_code[code])
        return self.vocabulary.all_sizes

    def _size_word(self, key: str, code: str | None) -> str | None:
        """`key` as a size name, when it is one (standard, a size word, or one of the sessions' sizes)."""
        if key in words.WORD_SIZES:
            return words.WORD_SIZES[key]
        if key in words.STANDARD_SIZES and not key.isdigit():
            return key
        sizes = self._sizes_of(code) if self.vocabulary else None
        if sizes and key in sizes:
            return key
        return None

    def _items(self) -> tuple[list[_Item], bool]:
        items: list[_Item] = []
        each = False
        tokens, code = self.tokens, self.result.code
        i = 0
        while i < len(tokens):
            if i in self.skip:
                i += 1
                continue
            key = tokens[i].key
            pair = f"{key} {tokens[i + 1].key}" if i + 1 < len(tokens) else ""
            size = self._size_word(key, code)
            numeric_size = key.isdigit() and self._numeric_size(key, i)
            if pair in words.WORD_SIZES:
                items.append(_Item("size", words.WORD_SIZES[pair]))
                i += 2
            elif key in words.SIZE_MARKERS and i + 1 < len(tokens) and self._marked_size(i + 1, items):
                i += 2
            elif size or numeric_size:
                items.append(_Item("size", size or key))
                i += 1
            elif (glued := self._split_glued(key)) is not None:
                items.extend(glued)
                for item in glued:
                    if item.quantity is not None:
                        self._check_quantity(item.quantity)
                i += 1
            elif (quantity := read_quantity(tokens, i)) is not None:
                if quantity.error:
                    self.result.error = self.result.error or quantity.error
                plain = quantity.length == 1 and (
                    key.isdigit() or key in words.DIGIT_WORDS or key in words.NUMBER_WORDS
                )
                items.append(_Item("quantity", quantity=quantity.value, plain=plain))
                i += quantity.length
            elif key in words.SEPARATORS or tokens[i].text in ",;&+":
                items.append(_Item("separator"))
                i += 1
            else:
                if key in words.EACH:
                    each = True
                elif not lexical(key) and key not in words.CHOICE_MARKERS and key != "?":
                    self.result.unread.append(tokens[i].text)
                i += 1
        return items, each

    def _numeric_size(self, key: str, i: int) -> bool:
        """ "40" is a size when the session has a size 40 and no unit follows ("40 pcs" is a quantity)."""
        sizes = self._sizes_of(self.result.code)
        following = self.tokens[i + 1].key if i + 1 < len(self.tokens) else ""
        return bool(sizes and key in sizes and following not in words.UNITS)

    def _marked_size(self, i: int, items: list[_Item]) -> bool:
        """After "ukuran" / "size": the next word is a size, whatever it is."""
        key = self.tokens[i].key
        if read_quantity(self.tokens, i) is not None and not self._size_word(key, self.result.code):
            if not (key.isdigit() and self._numeric_size(key, i)):
                return False  # "size 2" without such a size: a quantity, read on its own
        if not SIZE.match(key):
            self.result.error = self.result.error or "bad_size"
            return True
        items.append(_Item("size", self._size_word(key, self.result.code) or key))
        self.skip.add(i)
        return True

    def _split_glued(self, key: str) -> list[_Item] | None:
        """ "M2", "XLx3", "M-2" (size then quantity) and "2M", "2pcsL" (quantity then size)."""
        for pattern in _SIZE_THEN_QUANTITY:
            match = pattern.fullmatch(key)
            if match and (size := self._size_word(match.group(1), self.result.code)):
                return [_Item("size", size), _Item("quantity", quantity=int(match.group(3)))]
        unit = _GLUED_UNIT.fullmatch(key)
        if unit and unit.group(2) in words.UNITS:
            return None  # "2pcs": a quantity
        match = _QUANTITY_THEN_SIZE.fullmatch(key)
        if match and (size := self._size_word(match.group(2), self.result.code)):
            return [_Item("quantity", quantity=int(match.group(1))), _Item("size", size)]
        return None

    def _check_quantity(self, value: int) -> None:
        if not 1 <= value <= MAX_QUANTITY:
            error = "quantity_not_positive" if value < 1 else "quantity_too_large"
            self.result.error = self.result.error or error

    def _pair(self, items: list[_Item], each: bool) -> None:
        """Sizes with their quantities, the quantity before or after its size."""
        sizes = [item.size for item in items if item.kind == "size"]
        quantities = [item.quantity for item in items if item.kind == "quantity"]
        if each and sizes:
            if len(quantities) > 1:
                self.result.error = "quantity_unclear"
                return
            lines: list[Line] | None = [Line(size, quantities[0] if quantities else None) for size in sizes]
        else:
            lines = self._lines(items)
        if lines is None:
            self.result.error = "quantity_unclear"
            return
        if len({line.size for line in lines}) < len(lines):
            self.result.error = "size_twice"
        elif len(lines) > MAX_LINES:
            self.result.error = "too_many_sizes"
        content = [item for item in items if item.kind != "separator"]
        if len(content) == 1 and content[0].plain:
            self.result.bare_number = content[0].quantity
        self.result.lines = lines
        self._resolve_sizes()

    @staticmethod
    def _lines(items: list[_Item]) -> list[Line] | None:
        lines: list[list] = []
        pending: int | None = None
        order = ""
        after_separator = False
        for item in items:
            if item.kind == "size":
                order = order or "size first"
                lines.append([item.size, pending])
                pending = None
            elif item.kind == "quantity":
                order = order or "quantity first"
                if order == "size first" and lines and lines[-1][1] is None and not after_separator:
                    lines[-1][1] = item.quantity
                elif pending is None and (order == "quantity first" or not lines or after_separator):
                    pending = item.quantity
                else:
                    return None
            after_separator = item.kind == "separator"
        if pending is not None:
            if lines and lines[-1][1] is None:
                lines[-1][1] = pending
            elif not lines:
                lines.append([None, pending])
            else:
                return None
        return [Line(size, quantity) for size, quantity in lines]

    def _resolve_sizes(self) -> None:
        """Each size as the session names it; one that only resembles a real size is a guess."""
        sizes = self._sizes_of(self.result.code)
        if not sizes:
            return
        resolved = []
        for line in self.result.lines:
            size = line.size
            if size is not None and size not in sizes:
                same = words.SIZE_EQUIVALENTS.get(size)
                if same in sizes:
                    size = same
                else:
                    meant = closest(size, sorted(sizes), minimum_length=2)
                    if meant:
                        self.result.guesses.append(Guess("size", size, meant))
                        size = meant
            resolved.append(Line(size, line.quantity))
        self.result.lines = resolved
