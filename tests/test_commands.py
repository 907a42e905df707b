"""The command parser (`core.commands.parse`): every alias, its language, arguments and usage errors."""

from __future__ import annotations

import pytest

from core.commands import ALIASES, MAX_BODY, Command, parse

ALIAS_TABLE = [
    # word, command, language (None: keeps the buyer's language)
    ("MENU", "menu", None),
    ("HELP", "menu", "en"),
    ("BANTUAN", "menu", "id"),
    ("SESI", "list", "id"),
    ("LIST", "list", "en"),
    ("INFO", "info", None),
    ("IKUT", "join", "id"),
    ("JOIN", "join", "en"),
    ("ANTRE", "wait", "id"),
    ("WAIT", "wait", "en"),
    ("BATAL", "leave", "id"),
    ("LEAVE", "leave", "en"),
    ("STATUS", "status", None),
    ("CEK", "status", "id"),
    ("ALAMAT", "address", "id"),
    ("ADDRESS", "address", "en"),
    ("SIAP", "confirm", "id"),
    ("CONFIRM", "confirm", "en"),
    ("TOLAK", "decline", "id"),
    ("DECLINE", "decline", "en"),
    ("KIRIM", "ship", "id"),
    ("SHIPPED", "ship", "en"),
]


def test_the_alias_table_is_exactly_the_documented_one():
    assert {word: value for word, *value in ALIAS_TABLE} == {w: list(v) for w, v in ALIASES.items()}


# A well-formed body for every alias, and the command it must parse to (besides name/language/word).
VALID_ARGS = {
    "menu": ("", {}),
    "list": ("", {}),
    "status": ("", {}),
    "info": (" GB1234", {"code": "GB1234"}),
    "leave": (" GB1234", {"code": "GB1234"}),
    "join": (" GB1234 M 3", {"code": "GB1234", "size": "M", "quantity": 3}),
    "wait": (" GB1234 XL 2", {"code": "GB1234", "size": "XL", "quantity": 2}),
    "address": (" Jl. Melati No. 5, Bandung 40111", {"text": "Jl. Melati No. 5, Bandung 40111"}),
    "confirm": (" PO-1 kirim 3 hari lagi", {"code": "PO-1", "text": "kirim 3 hari lagi"}),
    "decline": (" PO-1 bahan habis", {"code": "PO-1", "text": "bahan habis"}),
    "ship": (" PO-1 JNE 12345", {"code": "PO-1", "text": "JNE 12345"}),
}


@pytest.mark.parametrize(("word", "name", "language"), ALIAS_TABLE)
def test_every_alias_parses_with_its_language(word, name, language):
    args, fields = VALID_ARGS[name]
    assert parse(word + args) == Command(name=name, language=language, word=word, **fields)


@pytest.mark.parametrize(("word", "name", "language"), ALIAS_TABLE)
@pytest.mark.parametrize("case", [str.lower, str.title, lambda w: w[0].lower() + w[1:]])
def test_aliases_are_case_insensitive(word, name, language, case):
    args, fields = VALID_ARGS[name]
    expected = Command(name=name, language=language, word=word, **fields)
    if name in ("address", "confirm", "decline", "ship"):
        # free text keeps its case; only the word and the code are normalised
        assert parse(case(word) + args) == expected
    else:
        assert parse(case(word) + args.lower()) == expected


def test_codes_and_sizes_are_upper_cased_and_free_text_keeps_its_case():
    assert parse("ikut kaos1 xl 2") == Command("join", "id", "IKUT", code="KAOS1", size="XL", quantity=2)
    assert parse("siap po-7 Senin depan") == Command("confirm", "id", "SIAP", code="PO-7", text="Senin depan")
    assert parse("alamat Jl. Melati No. 5, Bandung") == Command(
        "address", "id", "ALAMAT", text="Jl. Melati No. 5, Bandung"
    )


def test_whitespace_newlines_and_trailing_punctuation_on_the_word_are_tolerated():
    expected = Command("join", "id", "IKUT", code="GB1", size="M", quantity=2)
    assert parse("  IKUT   GB1\tM\n2  ") == expected
    assert parse("IKUT,\nGB1 M 2") == expected
    assert parse("Menu.") == Command("menu", None, "MENU")
    assert parse("help!") == Command("menu", "en", "HELP")


@pytest.mark.parametrize("word", ["IKUT", "JOIN", "ikut"])
def test_join_quantity_defaults_to_one(word):
    assert parse(f"{word} GB1 M") == Command("join", ALIASES[word.upper()][1], word.upper(), "GB1", "M", 1)


def test_wait_needs_a_quantity():
    assert parse("ANTRE GB1 M") == Command(
        "wait", "id", "ANTRE", code="GB1", size="M", error="missing_quantity"
    )
    assert parse("WAIT GB1 M") == Command(
        "wait", "en", "WAIT", code="GB1", size="M", error="missing_quantity"
    )


@pytest.mark.parametrize(
    ("body", "quantity"),
    [("IKUT GB1 M 1", 1), ("IKUT GB1 M 002", 2), ("IKUT GB1 M +3", 3), ("IKUT GB1 M 101", 101)],
)
def test_quantities(body, quantity):
    # the parser reads the number; the per-request maximum (100) is the join service's refusal
    assert parse(body) == Command("join", "id", "IKUT", code="GB1", size="M", quantity=quantity)


def test_fullwidth_digits_are_read_as_a_quantity():
    # phone keyboards in CJK/Arabic input modes send these; Python's int() reads them
    assert parse("IKUT GB1 M ２").quantity == 2
    assert parse("IKUT GB1 M ٣").quantity == 3


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("IKUT", Command("join", "id", "IKUT", error="missing_code")),
        ("JOIN", Command("join", "en", "JOIN", error="missing_code")),
        ("INFO", Command("info", None, "INFO", error="missing_code")),
        ("BATAL", Command("leave", "id", "BATAL", error="missing_code")),
        ("ANTRE", Command("wait", "id", "ANTRE", error="missing_code")),
        ("SIAP", Command("confirm", "id", "SIAP", error="missing_code")),
        ("IKUT GB1", Command("join", "id", "IKUT", code="GB1", error="missing_size")),
        ("WAIT GB1", Command("wait", "en", "WAIT", code="GB1", error="missing_size")),
        ("IKUT GB_1 M", Command("join", "id", "IKUT", code="GB_1", error="bad_code")),
        ("INFO -GB1", Command("info", None, "INFO", code="-GB1", error="bad_code")),
        ("IKUT " + "A" * 33 + " M", Command("join", "id", "IKUT", code="A" * 33, error="bad_code")),
        ("IKUT ÄB1 M", Command("join", "id", "IKUT", code="ÄB1", error="bad_code")),
        ("IKUT GB1 M@ 2", Command("join", "id", "IKUT", code="GB1", size="M@", error="bad_size")),
        ("IKUT GB1 " + "X" * 21, Command("join", "id", "IKUT", code="GB1", size="X" * 20, error="bad_size")),
        ("IKUT GB1 M 0", Command("join", "id", "IKUT", code="GB1", size="M", error="quantity_not_positive")),
        ("IKUT GB1 M -2", Command("join", "id", "IKUT", code="GB1", size="M", error="quantity_not_positive")),
        (
            "ANTRE GB1 M 0",
            Command("wait", "id", "ANTRE", code="GB1", size="M", error="quantity_not_positive"),
        ),
        ("IKUT GB1 M dua", Command("join", "id", "IKUT", code="GB1", size="M", error="quantity_not_number")),
        ("IKUT GB1 M 1.5", Command("join", "id", "IKUT", code="GB1", size="M", error="quantity_not_number")),
        ("IKUT GB1 M 2pcs", Command("join", "id", "IKUT", code="GB1", size="M", error="quantity_not_number")),
        ("IKUT GB1 M 1e3", Command("join", "id", "IKUT", code="GB1", size="M", error="quantity_not_number")),
        ("IKUT GB1 M 2 pcs", Command("join", "id", "IKUT", code="GB1", size="M", error="too_many_words")),
        ("WAIT GB1 M 2 please", Command("wait", "en", "WAIT", code="GB1", size="M", error="too_many_words")),
        ("INFO GB1 GB2", Command("info", None, "INFO", code="GB1", error="too_many_words")),
        ("BATAL GB1 sekarang", Command("leave", "id", "BATAL", code="GB1", error="too_many_words")),
        ("ALAMAT", Command("address", "id", "ALAMAT", error="address_too_short")),
        ("ADDRESS Jl. A 1", Command("address", "en", "ADDRESS", error="address_too_short")),
    ],
)
def test_usage_errors(body, expected):
    assert parse(body) == expected


def test_a_huge_quantity_is_too_large_not_not_a_number():
    command = parse("IKUT GB1 M 1000000000")
    assert (command.quantity, command.error) in {(1_000_000_000, None), (None, "quantity_too_large")}


def test_menu_list_and_status_ignore_trailing_words():
    assert parse("MENU please") == Command("menu", None, "MENU")
    assert parse("STATUS GB1") == Command("status", None, "STATUS")
    assert parse("sesi apa saja") == Command("list", "id", "SESI")


def test_factory_commands_without_free_text():
    assert parse("KIRIM PO-1") == Command("ship", "id", "KIRIM", code="PO-1")
    assert parse("tolak po-1") == Command("decline", "id", "TOLAK", code="PO-1")


def test_address_is_capped_at_500_characters():
    command = parse("ALAMAT " + "Jl. Melati " * 100)
    assert command.name == "address" and command.error is None
    assert len(command.text) == 500


def test_button_payload_wins_over_the_body():
    assert parse("ok", button_payload="SIAP PO-7") == Command("confirm", "id", "SIAP", code="PO-7")
    assert parse("Confirm", button_payload="CONFIRM PO-7 Senin") == Command(
        "confirm", "en", "CONFIRM", code="PO-7", text="Senin"
    )
    # an empty or blank payload falls back to the body
    assert parse("IKUT GB1 M", button_payload="") == Command("join", "id", "IKUT", "GB1", "M", 1)
    assert parse("IKUT GB1 M", button_payload="   ") == Command("join", "id", "IKUT", "GB1", "M", 1)
    assert parse(None, button_payload="menu") == Command("menu", None, "MENU")


@pytest.mark.parametrize(
    "body", [None, "", "   ", "\n\t\r", "🎉🙏", "👍🏽", "!!!", "...", "?", "—", "\u200b"]
)
def test_empty_and_emoji_only(body):
    assert parse(body) == Command("empty")


@pytest.mark.parametrize(
    ("body", "word"), [("halo kak", "HALO"), ("menus", "MENUS"), ("1", "1"), ("🎉 halo", "🎉")]
)
def test_unknown_words(body, word):
    assert parse(body) == Command("unknown", word=word)


def test_over_long_bodies_are_not_commands():
    assert parse("MENU " + "x" * MAX_BODY) == Command("unknown", error="too_long")
    assert parse("x" * 10_000) == Command("unknown", error="too_long")
    assert parse("IKUT GB1 M 1", button_payload="y" * (MAX_BODY + 1)) == Command("unknown", error="too_long")
    # exactly at the limit is still read
    at_limit = "MENU " + "x" * (MAX_BODY - 5)
    assert len(at_limit) == MAX_BODY
    assert parse(at_limit) == Command("menu", None, "MENU")
    # surrounding whitespace does not count
    assert parse(" " * 5000 + "MENU" + " " * 5000) == Command("menu", None, "MENU")


def test_a_trailing_question_mark_still_reads_the_command():
    assert parse("menu?").name == "menu"
    assert parse("help?").language == "en"
