"""What a message means, as data: the typed `Command` the parser returns, and what only the database knows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

# Command names. The parser never returns anything else.
BUYER_COMMANDS = ("menu", "list", "info", "join", "wait", "leave", "status", "address", "stop", "start")
ANSWERS = ("yes", "no", "answer")  # replies inside a guided flow or to "did you mean ...?"
FACTORY_COMMANDS = ("confirm", "decline", "ship")
OTHER = ("ask", "unknown", "empty")  # a guess to confirm first; not understood; nothing written
NAMES = (*BUYER_COMMANDS, *ANSWERS, *FACTORY_COMMANDS, *OTHER)
ORDER_CHANGING = ("join", "wait", "leave")  # never run on a guess without the buyer's yes


@dataclass(frozen=True)
class Line:
    """One size of a join: `size` None when only a quantity was said; `quantity` None when not said."""

    size: str | None
    quantity: int | None


@dataclass(frozen=True)
class Guess:
    """Something the parser did not read exactly, and what it took it for.

    what: "word" (a command word with a typo), "code", "size", "intent" (a join without its command word, or
    asked as a question), "extra" (words it could not place), "scope" (sizes named in a leave: the whole
    session would be left).
    """

    what: str
    typed: str
    meant: str = ""


@dataclass(frozen=True)
class Command:
    """A message read as one command.

    `code` None on a session command means "the session from context" (the one the buyer asked about last,
    or the only open one); the reply says which was used. `lines` are the (size, quantity) pairs of a join
    or wait, in the order written. With `name == "ask"`, `proposal` is the command a yes would run and
    `guesses` say what was guessed; on any other command, `guesses` were safe to act on (a read-only
    command, such as INFO on a code with a typo) and the reply should say what was understood.
    """

    name: str
    language: str | None = None  # None: keep the buyer's language
    word: str = ""  # the command word as the table has it ("IKUT", "GAK JADI"), or the unknown word
    code: str | None = None  # session code, or the PO code of a factory command
    lines: tuple[Line, ...] = ()
    text: str | None = None  # free text: address, ETA, decline reason, tracking number
    error: str | None = None  # a usage problem (a text key); the reply explains it and nothing is done
    referral: str | None = None  # the sharer's tag from a share link ("7K2Q9A")
    number: int | None = None  # a numbered answer ("2", "no 2") in a guided flow
    guesses: tuple[Guess, ...] = ()
    proposal: Command | None = None

    @property
    def size(self) -> str | None:
        """The size of a one-size join (the shape `conversation.py` used before several sizes)."""
        return self.lines[0].size if len(self.lines) == 1 else None

    @property
    def quantity(self) -> int | None:
        return self.lines[0].quantity if len(self.lines) == 1 else None

    def outcome(self) -> dict[str, Any]:
        """The command as plain data (the corpus' expected actions have this shape)."""
        if self.name in ("unknown", "empty"):
            return {"action": "nothing"}
        if self.name == "ask":
            assert self.proposal is not None
            return {"action": "ask", "proposes": self.proposal.outcome()}
        if self.error:
            return {"action": self.name, "error": self.error, "code": self.code}
        data: dict[str, Any] = {"action": self.name}
        if self.name in ("info", "join", "wait", "leave", *FACTORY_COMMANDS):
            data["code"] = self.code
        if self.name in ("join", "wait", "answer"):
            data["lines"] = [[line.size, line.quantity] for line in self.lines]
        if self.text is not None:
            data["text"] = self.text
        if self.referral is not None:
            data["referral"] = self.referral
        if self.number is not None:
            data["number"] = self.number
        return data


@dataclass(frozen=True)
class Vocabulary:
    """What only the database knows: the open sessions' codes and each one's sizes.

    Built per message from a cheap query (`Vocabulary.of({"KAOS1": ["S", "M", "L", "XL"]})`); with it the
    parser can tell a code or a size with a typo from a word.
    """

    sessions: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    @classmethod
    def of(cls, sessions: Mapping[str, Iterable[str]]) -> Vocabulary:
        return cls(
            tuple(
                (code.strip().upper(), tuple(size.strip().upper() for size in sizes))
                for code, sizes in sessions.items()
            )
        )

    @cached_property
    def sizes_by_code(self) -> dict[str, tuple[str, ...]]:
        return dict(self.sessions)

    @cached_property
    def code_by_key(self) -> dict[str, str]:
        """Codes without their dashes -> the code ("KAOS-1" and "KAOS1" are the same session)."""
        return {code.replace("-", ""): code for code, _ in self.sessions}

    @cached_property
    def all_sizes(self) -> frozenset[str]:
        return frozenset(size for _, sizes in self.sessions for size in sizes)
