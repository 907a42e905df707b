"""Hypothesis keeps fuzzing the parser: it never raises, never hands over a join it should not, and reads
every way of writing sizes and quantities it claims to read."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.commands import BUYER, FACTORY, Command, Vocabulary, parse
from core.understanding import COMMAND_WORDS, MAX_QUANTITY, NAMES, ORDER_CHANGING, SESSION_CODE, SIZE
from core.understanding.words import CHAT, FILLERS, QUESTIONS

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
DEMO = Vocabulary.of({"KAOS1": ["S", "M", "L", "XL"], "FLANEL1": ["S", "M", "L", "XL"]})
SIZES = ["S", "M", "L", "XL"]

VOCABULARIES = st.sampled_from([None, DEMO, Vocabulary.of({"SEPATU1": ["38", "39", "40"], "GB1": ["M"]})])
SENDERS = st.sampled_from([BUYER, FACTORY])
WORDS = st.sampled_from(
    [
        *COMMAND_WORDS,
        *(w.lower() for w in COMMAND_WORDS),
        *FILLERS,
        "KAOS1",
        "kaso1",
        "FLANEL1",
        "kaos",
        "GB1",
        "PO-KAOS1-1",
        "REF-7K2Q9A",
        "M",
        "xl",
        "XXL",
        "38",
        "0",
        "-1",
        "1",
        "2",
        "101",
        "1e3",
        "2pcs",
        "x2",
        "M2",
        "dua",
        "belas",
        "lusin",
        ",",
        "dan",
        "masing-masing",
        "?",
        "🙏",
        "👍",
    ]
)
MESSAGES = st.one_of(
    st.text(),
    st.lists(WORDS | st.text(max_size=6), min_size=1, max_size=12).map(" ".join),
    st.integers(1500, 2000).map(lambda n: ("IKUT KAOS1 M 1 " * 200)[:n]),
)


def commands_inside(command: Command) -> list[Command]:
    return [command] + ([command.proposal] if command.proposal else [])


def check(command: Command) -> None:
    assert isinstance(command, Command)
    assert command.name in NAMES
    assert command.language in (None, "id", "en")
    json.dumps(command.outcome())
    if command.name == "ask":
        assert command.proposal is not None and command.guesses
        assert command.proposal.name in ORDER_CHANGING and command.proposal.error is None
    for inner in commands_inside(command):
        if inner.error:
            continue
        if inner.code is not None and inner.name in ("join", "wait", "leave", "info"):
            assert SESSION_CODE.match(inner.code), inner
        for line in inner.lines:
            assert line.quantity is None or 1 <= line.quantity <= MAX_QUANTITY, inner
            assert line.size is None or SIZE.match(line.size), inner
            if inner.name == "join" and line.size is not None:
                assert line.quantity is not None
        if inner.name == "wait":
            assert inner.lines and all(line.size and line.quantity for line in inner.lines)
        if inner.name == "address":
            assert 10 <= len(inner.text) <= 500
        if inner.number is not None:
            assert 1 <= inner.number <= MAX_QUANTITY


@FUZZ
@given(body=st.none() | MESSAGES, payload=st.none() | MESSAGES, vocabulary=VOCABULARIES, sender=SENDERS)
def test_never_raises_and_returns_a_consistent_command(body, payload, vocabulary, sender):
    command = parse(body, payload, vocabulary=vocabulary, sender=sender)
    check(command)
    assert parse(body, payload, vocabulary=vocabulary, sender=sender) == command  # deterministic
    if payload and payload.strip():
        assert command == parse(None, payload, vocabulary=vocabulary, sender=sender)


DECORATION = st.lists(
    st.sampled_from(["kak", "ya", "min", "dong", "?", "!", "🙏", "pls", "aja", "sis"]), max_size=3
)


@FUZZ
@given(
    code=st.sampled_from(["KAOS1", "FLANEL1", "kaso1", "Kaos-1", "flanell1", "kaos 1"]),
    before=DECORATION,
    after=DECORATION,
    vocabulary=st.sampled_from([None, DEMO]),
)
def test_a_bare_code_is_never_a_join(code, before, after, vocabulary):
    command = parse(" ".join([*before, code, *after]), vocabulary=vocabulary, sender=BUYER)
    assert command.name not in ORDER_CHANGING and command.name != "ask"
    if vocabulary is not None:
        assert command.name == "info" and command.code in ("KAOS1", "FLANEL1")


CHIT_CHAT_WORDS = st.sampled_from(sorted({*CHAT, *QUESTIONS, *FILLERS} - {"SESI", "SESSION"}))


@FUZZ
@given(
    words=st.lists(CHIT_CHAT_WORDS | st.sampled_from(["?", "!", "🙏", "kak", "halo"]), min_size=1, max_size=8)
)
def test_chit_chat_is_never_a_join(words):
    for vocabulary in (None, DEMO):
        command = parse(" ".join(words), vocabulary=vocabulary, sender=BUYER)
        assert command.name not in (*ORDER_CHANGING, "ask", "answer"), (words, command)


SIZE_FORMATS = [
    "{size} {qty}",
    "{size}{qty}",
    "{qty} {size}",
    "{size} x{qty}",
    "{size} {qty}pcs",
    "{size} {qty} pcs",
    "{size}:{qty}",
    "ukuran {size} {qty}",
]
SEPARATORS = [", ", " dan ", " & ", "\n", " + ", "; "]


@FUZZ
@given(
    chosen=st.lists(
        st.tuples(st.sampled_from(SIZES), st.integers(1, MAX_QUANTITY)),
        min_size=1,
        max_size=4,
        unique_by=lambda x: x[0],
    ),
    layout=st.sampled_from(SIZE_FORMATS),
    separator=st.sampled_from(SEPARATORS),
    word=st.sampled_from(["IKUT", "ikut", "gabung", "pesan", "JOIN", "order", "beli"]),
    code_first=st.booleans(),
    vocabulary=st.sampled_from([None, DEMO]),
)
def test_every_documented_way_of_writing_sizes_reads_back(
    chosen, layout, separator, word, code_first, vocabulary
):
    sizes = separator.join(layout.format(size=size, qty=qty) for size, qty in chosen)
    body = f"{word} KAOS1 {sizes}" if code_first else f"{word} {sizes} KAOS1"
    command = parse(body, vocabulary=vocabulary, sender=BUYER)
    assert (command.name, command.code) == ("join", "KAOS1"), (body, command)
    assert [(line.size, line.quantity) for line in command.lines] == chosen, body


@FUZZ
@given(quantity=st.integers(-5, 1000), vocabulary=st.sampled_from([None, DEMO]))
def test_quantities_out_of_range_are_refused_by_the_parser(quantity, vocabulary):
    command = parse(f"ikut KAOS1 M {quantity}", vocabulary=vocabulary, sender=BUYER)
    if 1 <= quantity <= MAX_QUANTITY:
        assert command.lines[0].quantity == quantity
    else:
        assert command.name == "join" and command.error in ("quantity_not_positive", "quantity_too_large")


DIGITS = ["", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan"]


def indonesian(number: int) -> str:
    if number == 100:
        return "seratus"
    if number < 10:
        return DIGITS[number]
    if number == 10:
        return "sepuluh"
    if number == 11:
        return "sebelas"
    if number < 20:
        return f"{DIGITS[number - 10]} belas"
    tens, units = divmod(number, 10)
    return f"{DIGITS[tens]} puluh" + (f" {DIGITS[units]}" if units else "")


@FUZZ
@given(number=st.integers(1, MAX_QUANTITY))
def test_indonesian_number_words(number):
    command = parse(f"ikut KAOS1 L {indonesian(number)} pcs", vocabulary=DEMO, sender=BUYER)
    assert command.lines[0].quantity == number, indonesian(number)
