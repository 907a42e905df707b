"""The command parser (`core.commands.parse`): the one word table, languages, arguments and usage errors.

Most tests read as a buyer (`sender="buyer"`). Behaviour that changed on purpose against the old grammar
(`WORD CODE SIZE [QTY]`, one size, no guesses; gone with the conversation integration) is marked
"changed:".
"""

from __future__ import annotations

from functools import partial

import pytest

from core.commands import BUYER, FACTORY, MAX_BODY, SESSION_CODE, Command, Line, parse
from core.understanding import COMMAND_WORDS, NAMES, REPLY_WORDS, word_for

buyer = partial(parse, sender=BUYER)
factory = partial(parse, sender=FACTORY)


def join(code, *lines, word="IKUT", language="id", **fields):
    return Command("join", language, word, code=code, lines=tuple(Line(s, q) for s, q in lines), **fields)


# ----------------------------------------------------------------------------------- the one word table

ALIAS_TABLE = [
    # word, command, language (None: keeps the buyer's language) — the pre-issue-13 words
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
NEW_WORDS = [
    # synonyms, opt-out, answers in a guided flow
    ("GABUNG", "join", "id"),
    ("PESAN", "join", "id"),
    ("BELI", "join", "id"),
    ("ORDER", "join", None),
    ("BUY", "join", "en"),
    ("ANTRI", "wait", "id"),
    ("KELUAR", "leave", "id"),
    ("GAK JADI", "leave", "id"),
    ("CANCEL", "leave", None),
    ("PESANAN SAYA", "status", "id"),
    ("MY ORDERS", "status", "en"),
    ("HARGA", "info", "id"),
    ("DETAIL", "info", None),
    ("KATALOG", "list", "id"),
    ("BERHENTI", "stop", "id"),
    ("STOP", "stop", "en"),
    ("MULAI", "start", "id"),
    ("START", "start", "en"),
    ("YA", "yes", "id"),
    ("YES", "yes", "en"),
    ("OK", "yes", None),
    ("TIDAK", "no", "id"),
    ("NO", "no", "en"),
    ("KIRIM KE", "address", "id"),
]


def test_the_old_words_are_in_the_one_table_with_their_command_and_language():
    for word, name, language in ALIAS_TABLE + NEW_WORDS:
        entry = COMMAND_WORDS[word]
        assert (entry.name, entry.language) == (name, language), word


def test_every_word_in_the_table_names_a_known_command():
    assert {entry.name for entry in COMMAND_WORDS.values()} <= set(NAMES)
    factory_words = {w for w, e in COMMAND_WORDS.items() if e.name in ("confirm", "decline", "ship")}
    assert factory_words >= {"SIAP", "CONFIRM", "TOLAK", "DECLINE", "KIRIM", "SHIPPED"}
    assert all(COMMAND_WORDS[w].audience == "factory" for w in factory_words)


def test_replies_name_commands_with_words_from_the_table():
    # factory_replies.py's own SIAP/TOLAK/KIRIM table goes; replies take the word from here
    assert {name for name, _ in REPLY_WORDS} == set(NAMES) - {"answer", "ask", "unknown", "empty"}
    for (name, language), word in REPLY_WORDS.items():
        assert COMMAND_WORDS[word].name == name
        assert COMMAND_WORDS[word].language in (language, None)
    assert (word_for("confirm", "id"), word_for("ship", "en"), word_for("join", None)) == (
        "SIAP",
        "SHIPPED",
        "IKUT",
    )


# A well-formed body for every command, and what it must parse to (besides name/language/word).
VALID_ARGS = {
    "menu": ("", {}),
    "list": ("", {}),
    "status": ("", {}),
    "stop": ("", {}),
    "start": ("", {}),
    "yes": ("", {}),
    "no": ("", {}),
    "info": (" GB1234", {"code": "GB1234"}),
    "leave": (" GB1234", {"code": "GB1234"}),
    "join": (" GB1234 M 3", {"code": "GB1234", "lines": (Line("M", 3),)}),
    "wait": (" GB1234 XL 2", {"code": "GB1234", "lines": (Line("XL", 2),)}),
    "address": (" Jl. Melati No. 5, Bandung 40111", {"text": "Jl. Melati No. 5, Bandung 40111"}),
    "confirm": (" PO-1 kirim 3 hari lagi", {"code": "PO-1", "text": "kirim 3 hari lagi"}),
    "decline": (" PO-1 bahan habis", {"code": "PO-1", "text": "bahan habis"}),
    "ship": (" PO-1 JNE 12345", {"code": "PO-1", "text": "JNE 12345"}),
}


@pytest.mark.parametrize(("word", "name", "language"), ALIAS_TABLE + NEW_WORDS)
def test_every_word_parses_with_its_language(word, name, language):
    args, fields = VALID_ARGS[name]
    assert factory(word + args) == Command(name=name, language=language, word=word, **fields)


@pytest.mark.parametrize(("word", "name", "language"), ALIAS_TABLE + NEW_WORDS)
@pytest.mark.parametrize("case", [str.lower, str.title, lambda w: w[0].lower() + w[1:]])
def test_words_are_case_insensitive(word, name, language, case):
    args, fields = VALID_ARGS[name]
    expected = Command(name=name, language=language, word=word, **fields)
    if name in ("address", "confirm", "decline", "ship"):
        # free text keeps its case; only the word and the code are normalised
        assert factory(case(word) + args) == expected
    else:
        assert factory(case(word) + args.lower()) == expected


def test_codes_and_sizes_are_upper_cased_and_free_text_keeps_its_case():
    assert buyer("ikut kaos1 xl 2") == join("KAOS1", ("XL", 2))
    assert factory("siap po-7 Senin depan") == Command(
        "confirm", "id", "SIAP", code="PO-7", text="Senin depan"
    )
    assert buyer("alamat Jl. Melati No. 5, Bandung") == Command(
        "address", "id", "ALAMAT", text="Jl. Melati No. 5, Bandung"
    )


def test_whitespace_newlines_and_punctuation_are_tolerated():
    expected = join("GB1", ("M", 2))
    assert buyer("  IKUT   GB1\tM\n2  ") == expected
    assert buyer("IKUT,\nGB1 M 2") == expected
    assert buyer("IKUT GB1 M 2.") == expected
    assert buyer("Menu.") == Command("menu", None, "MENU")
    assert buyer("help!") == Command("menu", "en", "HELP")


@pytest.mark.parametrize("word", ["IKUT", "JOIN", "ikut"])
def test_join_quantity_defaults_to_one(word):
    command = buyer(f"{word} GB1 M")
    assert (command.name, command.code, command.lines) == ("join", "GB1", (Line("M", 1),))
    assert (command.size, command.quantity) == ("M", 1)  # the one-size view conversation.py reads


def test_wait_needs_a_size_and_a_quantity():
    assert buyer("ANTRE GB1 M") == Command("wait", "id", "ANTRE", code="GB1", error="missing_quantity")
    assert buyer("WAIT GB1 M") == Command("wait", "en", "WAIT", code="GB1", error="missing_quantity")
    assert buyer("ANTRE GB1") == Command("wait", "id", "ANTRE", code="GB1", error="missing_size")
    assert buyer("ANTRE GB1 2") == Command("wait", "id", "ANTRE", code="GB1", error="missing_size")


@pytest.mark.parametrize(
    ("body", "quantity"),
    [
        ("IKUT GB1 M 1", 1),
        ("IKUT GB1 M 002", 2),
        ("IKUT GB1 M +3", 3),
        ("IKUT GB1 M 100", 100),
        # changed: number words and unit forms are quantities
        ("IKUT GB1 M dua", 2),
        ("IKUT GB1 M 2pcs", 2),
        ("IKUT GB1 M 2 pcs", 2),
        ("IKUT GB1 M x2", 2),
        ("IKUT GB1 M 2x", 2),
        ("IKUT GB1 M sepuluh", 10),
        ("IKUT GB1 M dua belas", 12),
        ("IKUT GB1 M dua puluh lima", 25),
        ("IKUT GB1 M selusin", 12),
        ("IKUT GB1 M 2 lusin", 24),
        ("IKUT GB1 M 1 kodi", 20),
        ("IKUT GB1 M 3 biji", 3),
        ("JOIN GB1 M two", 2),
    ],
)
def test_quantities(body, quantity):
    assert buyer(body).lines == (Line("M", quantity),)


def test_fullwidth_and_other_digits_are_read_as_a_quantity():
    # phone keyboards in CJK/Arabic input modes send these
    assert buyer("IKUT GB1 M ２").quantity == 2
    assert buyer("IKUT GB1 M ٣").quantity == 3


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # changed: a join or info without a code takes the session from context (code None)
        ("IKUT", join(None)),
        ("JOIN", join(None, word="JOIN", language="en")),
        ("INFO", Command("info", None, "INFO")),
        ("BATAL", Command("leave", "id", "BATAL")),
        # changed: a join without a size starts the guided flow
        ("IKUT GB1", join("GB1")),
        ("WAIT GB1", Command("wait", "en", "WAIT", code="GB1", error="missing_size")),
        ("IKUT GB_1 M", Command("join", "id", "IKUT", code="GB_1", error="bad_code")),
        ("IKUT " + "AB" * 17 + " M", Command("join", "id", "IKUT", code="AB" * 17, error="bad_code")),
        ("IKUT ÄB1 M", Command("join", "id", "IKUT", code="ÄB1", error="bad_code")),
        ("IKUT GB1 ukuran " + "X" * 21, Command("join", "id", "IKUT", code="GB1", error="bad_size")),
        ("IKUT GB1 M 0", Command("join", "id", "IKUT", code="GB1", error="quantity_not_positive")),
        ("IKUT GB1 M -2", Command("join", "id", "IKUT", code="GB1", error="quantity_not_positive")),
        ("ANTRE GB1 M 0", Command("wait", "id", "ANTRE", code="GB1", error="quantity_not_positive")),
        ("IKUT GB1 M 1.5", Command("join", "id", "IKUT", code="GB1", error="quantity_not_number")),
        ("IKUT GB1 M 1e3", Command("join", "id", "IKUT", code="GB1", error="quantity_not_number")),
        # changed: the per-line maximum is the parser's too (it was only the join service's)
        ("IKUT GB1 M 101", Command("join", "id", "IKUT", code="GB1", error="quantity_too_large")),
        ("IKUT GB1 M 9 lusin", Command("join", "id", "IKUT", code="GB1", error="quantity_too_large")),
        ("INFO GB1 GB2", Command("info", None, "INFO", code="GB1", error="several_codes")),
        ("IKUT GB1 M 2 M 1", Command("join", "id", "IKUT", code="GB1", error="size_twice")),
        ("IKUT GB1 M 2 3", Command("join", "id", "IKUT", code="GB1", error="quantity_unclear")),
        ("ALAMAT", Command("address", "id", "ALAMAT", error="address_too_short")),
        ("ADDRESS Jl. A 1", Command("address", "en", "ADDRESS", error="address_too_short")),
        ("ALAMAT rumah yang kemarin", Command("address", "id", "ALAMAT", error="address_incomplete")),
    ],
)
def test_usage_errors(body, expected):
    assert buyer(body) == expected


def test_a_huge_quantity_is_too_large_not_not_a_number():
    assert buyer("IKUT GB1 M 1000000000").error == "quantity_too_large"
    assert buyer("IKUT GB1 M " + "9" * 1500).error == "quantity_too_large"


def test_menu_list_and_status_ignore_trailing_words():
    assert buyer("MENU please") == Command("menu", "en", "MENU")
    assert buyer("STATUS GB1") == Command("status", None, "STATUS")
    assert buyer("sesi apa saja") == Command("list", "id", "SESI APA SAJA")


def test_factory_commands_without_free_text():
    assert factory("KIRIM PO-1") == Command("ship", "id", "KIRIM", code="PO-1")
    assert factory("tolak po-1") == Command("decline", "id", "TOLAK", code="PO-1")
    assert factory("SIAP") == Command("confirm", "id", "SIAP", error="missing_code")
    assert factory("SIAP PO_1") == Command("confirm", "id", "SIAP", code="PO_1", error="bad_code")


def test_factory_words_from_a_buyer():
    # a PO code makes it the factory's command (the conversation answers "factory only")
    assert buyer("KIRIM PO-KAOS1-1 RESI123") == Command(
        "ship", "id", "KIRIM", code="PO-KAOS1-1", text="RESI123"
    )
    # without one: "siap" is a yes, "tolak" a no, "kirim ke ..." an address, "kirim" alone nothing
    assert buyer("ok siap kak").name == "yes"
    assert buyer("tolak").name == "no"
    assert buyer("kirim ke Jl. Mawar 5") == Command("address", "id", "KIRIM KE", text="Jl. Mawar 5")
    assert buyer("kirim").name == "unknown"


def test_address_is_capped_at_500_characters():
    command = buyer("ALAMAT " + "Jl. Melati 5 " * 100)
    assert command.name == "address" and command.error is None
    assert len(command.text) == 500


def test_button_payload_wins_over_the_body():
    assert factory("ok", button_payload="SIAP PO-7") == Command("confirm", "id", "SIAP", code="PO-7")
    assert factory("Confirm", button_payload="CONFIRM PO-7 Senin") == Command(
        "confirm", "en", "CONFIRM", code="PO-7", text="Senin"
    )
    # an empty or blank payload falls back to the body
    assert buyer("IKUT GB1 M", button_payload="") == join("GB1", ("M", 1))
    assert buyer("IKUT GB1 M", button_payload="   ") == join("GB1", ("M", 1))
    assert buyer(None, button_payload="menu") == Command("menu", None, "MENU")
    # buttons and list items of the guided flow carry command text as their id
    assert buyer("M", button_payload="IKUT KAOS1 M") == join("KAOS1", ("M", 1))


@pytest.mark.parametrize("body", [None, "", "   ", "\n\t\r", "🎉🙏", "!!!", "...", "?", "—", "\u200b"])
def test_empty_and_emoji_only(body):
    assert buyer(body) == Command("empty")


def test_a_thumbs_up_is_a_yes():  # changed: it was "empty"
    assert buyer("👍🏽") == Command("yes", word="👍")
    assert buyer("👍") == Command("yes", word="👍")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # changed: greetings get the menu, a known word with a typo is read when nothing changes
        ("halo kak", Command("menu", "id", "HALO")),
        ("🎉 halo", Command("menu", "id", "HALO")),
        ("1", Command("answer", number=1)),
        ("xyzzy", Command("unknown", word="XYZZY")),
        ("kapan dikirim?", Command("unknown", "id", "KAPAN")),
    ],
)
def test_words_that_are_not_commands(body, expected):
    assert buyer(body) == expected


def test_a_shared_word_takes_the_language_of_the_words_around_it():  # changed: it kept the buyer's
    assert buyer("MENU please").language == "en"
    assert buyer("menu dong kak").language == "id"
    assert buyer("cancel KAOS1 ya kak").language == "id"
    assert buyer("order KAOS1 M 1 and L 2").language == "en"
    assert buyer("MENU").language is None
    assert buyer("KAOS1").language is None


def test_a_typo_in_a_read_only_word_is_read_and_reported():
    command = buyer("menus")
    assert (command.name, command.word) == ("menu", "MENU")
    assert [(g.what, g.typed, g.meant) for g in command.guesses] == [("word", "MENUS", "MENU")]


def test_over_long_bodies_are_not_commands():
    assert buyer("MENU " + "x" * MAX_BODY) == Command("unknown", error="too_long")
    assert buyer("x" * 10_000) == Command("unknown", error="too_long")
    assert buyer("IKUT GB1 M 1", button_payload="y" * (MAX_BODY + 1)) == Command("unknown", error="too_long")
    at_limit = "MENU " + "x" * (MAX_BODY - 5)
    assert len(at_limit) == MAX_BODY
    assert buyer(at_limit).name == "menu"
    # surrounding whitespace does not count
    assert buyer(" " * 5000 + "MENU" + " " * 5000) == Command("menu", None, "MENU")


def test_a_trailing_question_mark_still_reads_the_command():
    assert buyer("menu?").name == "menu"
    assert buyer("help?").language == "en"
    assert buyer("IKUT GB1 M 2?") == join("GB1", ("M", 2))


def test_one_session_code_pattern():
    # the catalogue's rule (2-32 letters, digits or dashes) is the parser's
    assert SESSION_CODE.match("KAOS1") and SESSION_CODE.match("PO-KAOS1-1") and SESSION_CODE.match("GB")
    assert not SESSION_CODE.match("G") and not SESSION_CODE.match("-GB1") and not SESSION_CODE.match("A" * 33)
