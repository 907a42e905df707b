"""Text (or a button payload) -> one typed `Command`: the only reader of what buyers and factories type.

A pure function: what only the database knows (open session codes and their sizes) comes in as a
`Vocabulary`, so a code or a size with a typo can be matched here; without one the syntax is still read.
Where acting on a guess would change an order (a command word or code that only resembles a real one, a
size that is not the session's, words that could not be placed, a join without its command word or asked
as a question), the result is `ask`: the command a yes would run, and what was guessed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from core.understanding import words
from core.understanding.arguments import ArgumentReader, Arguments, lexical
from core.understanding.codes import SESSION_CODE, looks_like_purchase_order
from core.understanding.command import FACTORY_COMMANDS, ORDER_CHANGING, Command, Guess, Line, Vocabulary
from core.understanding.tokens import Token, closest, normalise, spellings, tokenise
from core.understanding.words import BUYER, FACTORY

MAX_BODY = 1600  # WhatsApp's own limit; anything longer is not a command
MAX_ADDRESS, MAX_FACTORY_TEXT = 500, 200
MIN_ADDRESS = 10
# When a message holds several command words, the one that matters most wins: "batal ikut" is a leave,
# "daftar ikut" a join, "cek harga" an info.
RANK = dict(leave=9, wait=8, join=7, stop=6, start=6, address=5, info=4, status=3, list=2, menu=1)
RANK |= dict(confirm=10, decline=10, ship=10)  # a factory's command word is what it says
_FUZZY_WORDS = sorted(text for text in words.COMMAND_WORDS if " " not in text and len(text) >= 4)


def _default_quantity(lines) -> tuple[Line, ...]:
    """A size named without a quantity is one piece (`IKUT <code> <size> [qty]`, qty default 1)."""
    return tuple(Line(line.size, line.quantity or 1) if line.size else line for line in lines)


def _looks_like_address(text: str) -> bool:
    """A street number, a postcode or an address word: "alamat yang kemarin" is no address."""
    upper = {word.strip(".,:;()") for word in text.upper().split()}
    return any(ch.isdigit() for ch in text) or bool(upper & words.ADDRESS_WORDS)


@dataclass(frozen=True)
class _Word:
    """A command word found in the message: tokens [start, end)."""

    text: str
    word: words.Word
    name: str
    start: int
    end: int
    certain: bool = True
    typed: str = ""


def parse(
    body: str | None,
    button_payload: str | None = None,
    *,
    vocabulary: Vocabulary | None = None,
    sender: str = BUYER,
) -> Command:
    """Read one message. `sender` is BUYER or FACTORY (a factory's SIAP/TOLAK/KIRIM need no PO look-alike
    to be read as its commands; from a buyer, "siap" is a yes and "kirim ke ..." an address)."""
    raw = (button_payload or "").strip() or (body or "").strip()
    if len(raw) > MAX_BODY:
        return Command("unknown", error="too_long")
    text = normalise(raw)
    tokens = tokenise(text)
    if not any(token.key[0].isalnum() for token in tokens):
        if any(ch in words.YES_EMOJI for ch in raw):
            return Command("yes", word="👍")
        return Command("empty")
    return _Message(text, tokens, vocabulary, sender).read()


class _Message:
    def __init__(self, text: str, tokens: list[Token], vocabulary: Vocabulary | None, sender: str):
        self.text, self.tokens, self.vocabulary, self.sender = text, tokens, vocabulary, sender
        self.found = self._command_words()
        self.spans = {i for found in self.found for i in range(found.start, found.end)}
        free = [t for i, t in enumerate(tokens) if i not in self.spans]
        self.question = any(self._in(words.QUESTIONS, t.key) for t in free)
        self.chat = any(self._in(words.CHAT, t.key) for t in free)

    @staticmethod
    def _in(table, key: str) -> bool:
        return any(spelling in table for spelling, _ in spellings(key))

    def _command_words(self) -> list[_Word]:
        found, tokens, i = [], self.tokens, 0
        while i < len(tokens):
            for length in range(min(words.PHRASE_LENGTH, len(tokens) - i), 0, -1):
                match = self._lookup(tokens[i : i + length])
                if match:
                    text, certain = match
                    word = words.COMMAND_WORDS[text]
                    found.append(_Word(text, word, word.name, i, i + length, certain, tokens[i].key))
                    i += length
                    break
            else:
                i += 1
        return found

    @staticmethod
    def _lookup(span: list[Token]) -> tuple[str, bool] | None:
        if len(span) == 1:
            for spelling, certain in spellings(span[0].key):
                if spelling in words.COMMAND_WORDS:
                    return spelling, certain
            return None
        for joined in (" ".join(t.key for t in span), " ".join(spellings(t.key)[-1][0] for t in span)):
            if joined in words.COMMAND_WORDS:
                return joined, True
        return None

    # ------------------------------------------------------------------------------------------ choose

    def read(self) -> Command:
        strong, weak, answers, greetings = [], [], [], []
        for found in self.found:
            word = found.word
            if word.audience == FACTORY and not (self.sender == FACTORY or self._purchase_order_after(found)):
                if word.for_buyers:
                    answers.append(replace(found, name=word.for_buyers))
            elif word.greeting:
                greetings.append(found)
            elif found.name in ("yes", "no"):
                answers.append(found)
            elif word.weak:
                weak.append(found)
            else:
                strong.append(found)
        if strong:
            first = strong[0]
            if first.name in ("address", "stop") or first.name in FACTORY_COMMANDS:
                return self._command(first)  # free text follows, or "berhenti kirim pesan"
            how_to = [found for found in strong if found.word.how_to]
            if how_to:
                return self._menu(how_to[0])
            chosen = max(strong, key=lambda found: (RANK[found.name], -found.start))
            names = {found.name for found in strong}
            has_code = bool(self._arguments(set()).code)
            if chosen.name == "info" and "list" in names and not has_code:
                chosen = next(found for found in strong if found.name == "list")  # "produk apa yang ready?"
            elif chosen.name == "list" and has_code:
                return self._command(replace(chosen, name="info"))  # "kapan sesi KAOS1 tutup?"
            return self._command(chosen)
        for found in weak:
            command = self._session_command(found)
            if command is not None:
                return command
        guessed = self._typo_command_word()
        if guessed is not None:
            self.spans.add(guessed.start)
            return self._command(guessed)
        return self._without_command(answers + [replace(found, name="yes") for found in weak], greetings)

    def _purchase_order_after(self, found: _Word) -> bool:
        following = self._after(found.end)
        return following is not None and looks_like_purchase_order(self.tokens[following].key)

    def _after(self, i: int) -> int | None:
        """The first token from i on that is not a filler."""
        while i < len(self.tokens) and self._in(words.FILLERS, self.tokens[i].key):
            i += 1
        return i if i < len(self.tokens) else None

    def _typo_command_word(self) -> _Word | None:
        """The first word that is neither a known word nor an argument, read as a command word with a typo."""
        for i, token in enumerate(self.tokens):
            key = token.key
            if i in self.spans or lexical(key) or not key[0].isalpha():
                continue
            if any(ch.isdigit() for ch in key) or self._reads_as_code_or_size(key):
                return None
            meant = closest(key, [text for text in _FUZZY_WORDS if text[0] == key[0]])
            if meant is None:
                return None
            word = words.COMMAND_WORDS[meant]
            if word.greeting or word.audience == FACTORY or word.name in ("yes", "no") or word.weak:
                return None
            return _Word(meant, word, word.name, i, i + 1, certain=False, typed=key)
        return None

    def _reads_as_code_or_size(self, key: str) -> bool:
        if key in words.WORD_SIZES or key in words.STANDARD_SIZES:
            return True
        codes = list(self.vocabulary.code_by_key) if self.vocabulary else []
        return bool(codes) and (key.replace("-", "") in codes or closest(key, codes) is not None)

    # -------------------------------------------------------------------------------------------- build

    def _language(self, found: _Word | None = None) -> str | None:
        if found is not None and found.word.language:
            return found.word.language
        votes: Counter[str] = Counter()
        for token in self.tokens:
            for table in (words.FILLERS, words.CHAT, words.QUESTIONS, words.LANGUAGE_HINTS):
                language = table.get(token.key)
                if language:
                    votes[language] += 1
            entry = words.COMMAND_WORDS.get(token.key)
            if entry and entry.language:
                votes[entry.language] += 1
        if votes["id"] != votes["en"]:
            return "id" if votes["id"] > votes["en"] else "en"
        return None

    def _base(self, found: _Word) -> Command:
        guesses = () if found.certain else (Guess("word", found.typed, found.text),)
        return Command(found.name, self._language(found), found.text, guesses=guesses)

    def _arguments(self, skip: set[int], first: int | None = None) -> Arguments:
        return ArgumentReader(self.tokens, self.vocabulary, self.spans | skip, first).read()

    def _first_argument(self, found: _Word) -> int | None:
        i = found.end
        while i < len(self.tokens) and (i in self.spans or lexical(self.tokens[i].key)):
            i += 1
        return i if i < len(self.tokens) else None

    def _command(self, found: _Word) -> Command:
        name = found.name
        if name in ("join", "wait", "leave", "info"):
            return self._session_command(found) or self._base(found)
        if name == "address":
            return self._address(found)
        if name in FACTORY_COMMANDS:
            return self._factory(found)
        if name in ("stop", "start") and self.question:
            return Command("unknown", self._language(found), found.text)
        return self._base(found)

    def _menu(self, found: _Word) -> Command:
        return replace(self._base(found), name="menu")

    def _session_command(self, found: _Word) -> Command | None:
        """join / wait / leave / info with its arguments; None for a weak word without any ("mau tanya")."""
        arguments = self._arguments(set(), self._first_argument(found))
        if found.word.weak and not (arguments.code or arguments.lines or arguments.referral):
            return None
        base = self._base(found)
        name = base.name
        if arguments.error:
            code = arguments.bad_code if arguments.error == "bad_code" else arguments.code
            return replace(base, code=code, error=arguments.error, guesses=())
        command = replace(base, code=arguments.code, referral=arguments.referral)
        guesses = list(base.guesses) + arguments.guesses
        if name == "info":
            return replace(command, guesses=tuple(guesses))
        if name == "leave":
            sizes = [line.size for line in arguments.lines if line.size]
            if sizes:
                guesses.append(Guess("scope", " ".join(sizes), "the whole session"))
        else:
            lines = tuple(arguments.lines)
            if name == "wait" and (not lines or any(line.size is None for line in lines)):
                return replace(command, error="missing_size")
            if name == "wait" and any(line.quantity is None for line in lines):
                return replace(command, error="missing_quantity")
            command = replace(command, lines=_default_quantity(lines) if name == "join" else lines)
            if arguments.unread:
                guesses.append(Guess("extra", " ".join(arguments.unread)))
        if self.question and name in ORDER_CHANGING:
            if name == "join" and not (arguments.code or arguments.lines):
                return Command("menu", command.language, "CARA")  # "cara beli?", "belinya dimana?"
            guesses.append(Guess("intent", "question", name))
        return self._maybe_ask(replace(command, guesses=()), guesses)

    def _maybe_ask(self, command: Command, guesses: list[Guess]) -> Command:
        if guesses and command.name in ORDER_CHANGING:
            return Command("ask", command.language, command.word, proposal=command, guesses=tuple(guesses))
        return replace(command, guesses=tuple(guesses))

    def _address(self, found: _Word) -> Command:
        base = self._base(found)
        copulas = {"IS", "ARE"}  # "my address is ..."
        asks = any(
            self._in(words.QUESTIONS, t.key) and t.key not in copulas
            for i, t in enumerate(self.tokens)
            if i not in self.spans
        )
        if asks or self.text.rstrip().endswith("?"):
            return Command("unknown", base.language, found.text)
        end = len(self.tokens)
        while end > found.end and (
            not self.tokens[end - 1].key[0].isalnum()
            or any(spelling in words.ADDRESS_TAIL for spelling, _ in spellings(self.tokens[end - 1].key))
        ):
            end -= 1
        start = found.end
        while start < end and self.tokens[start].key in words.ADDRESS_LEAD:
            start += 1
        if start >= end:
            return replace(base, error="address_too_short")
        address = self.text[self.tokens[start].start : self.tokens[end - 1].end].strip(" \t\r\n:-–,")
        address = " ".join(address.split())
        if len(address) < MIN_ADDRESS:
            return replace(base, error="address_too_short")
        if not _looks_like_address(address):
            return replace(base, error="address_incomplete")
        return replace(base, text=address[:MAX_ADDRESS])

    def _factory(self, found: _Word) -> Command:
        base = self._base(found)
        i = self._after(found.end)
        if i is None:
            return replace(base, error="missing_code")
        code = self.tokens[i].key
        if not SESSION_CODE.match(code):
            return replace(base, code=code[:40], error="bad_code")
        rest = self.text[self.tokens[i].end :].strip().lstrip(",;:-– ").strip()
        return replace(base, code=code, text=rest[:MAX_FACTORY_TEXT] or None)

    # ------------------------------------------------------------------------------- no command word

    def _without_command(self, answers: list[_Word], greetings: list[_Word]) -> Command:
        arguments = self._arguments(set())
        language = self._language(answers[0] if answers else greetings[0] if greetings else None)
        if arguments.code:
            if arguments.error:
                name = "info" if arguments.error == "several_codes" else "join"
                return Command(name, language, code=arguments.code, error=arguments.error)
            if arguments.lines:  # "KAOS1 M 2": a join without its word; ask first
                proposal = Command(
                    "join",
                    language,
                    words.word_for("join", language),
                    code=arguments.code,
                    lines=_default_quantity(arguments.lines),
                    referral=arguments.referral,
                )
                guesses = [*arguments.guesses, Guess("intent", arguments.code, "join")]
                if arguments.unread:
                    guesses.append(Guess("extra", " ".join(arguments.unread)))
                return self._maybe_ask(proposal, guesses)
            return Command(
                "info",
                language,
                code=arguments.code,
                referral=arguments.referral,
                guesses=tuple(arguments.guesses),
            )
        if arguments.referral:
            return Command("info", language, referral=arguments.referral)
        nos = [found for found in answers if found.name == "no"]
        if self.chat:  # "makasih kak", "ok thanks": nothing to do, but "no thanks" declines
            if nos and not self.question and not self.text.rstrip().endswith("?"):
                return Command("no", language, nos[0].text)
            return Command("unknown", language, self._first_word())
        if arguments.error:
            return Command("answer", language, error=arguments.error)
        if arguments.bare_number is not None:
            return Command("answer", language, number=arguments.bare_number)
        if arguments.lines:
            if self.question:
                return Command("info", language)
            return Command("answer", language, lines=tuple(arguments.lines), guesses=tuple(arguments.guesses))
        if answers and not self.question and not self._asks_something_else():
            return Command(answers[0].name, language, answers[0].text)
        if greetings:
            return Command("menu", language, greetings[0].text)
        return Command("unknown", language, self._first_word())

    def _asks_something_else(self) -> bool:
        """ "bahannya adem ga?", "lagi sibuk ya kak?": a yes/no word as a question tag on other words."""
        if not self.text.rstrip().endswith("?"):
            return False
        return any(
            i not in self.spans and not lexical(t.key)
            for i, t in enumerate(self.tokens)
            if t.key[0].isalnum()
        )

    def _content(self) -> list[Token]:
        return [t for t in self.tokens if t.key[0].isalnum() and not self._in(words.FILLERS, t.key)]

    def _first_word(self) -> str:
        content = self._content() or self.tokens
        return content[0].key[:40]
