"""How people type, read by the pure parser: several sizes, context, typos with a vocabulary, guesses to
confirm, referral tags, answers in a guided flow, and the shapes of codes and tags."""

from __future__ import annotations

import json
from functools import partial

import pytest

from core.commands import BUYER, FACTORY, Command, Guess, Line, Vocabulary, parse
from core.understanding import (
    REFERRAL_ALPHABET,
    SESSION_CODE,
    new_referral_tag,
    read_referral,
    referral_text,
    session_code_problem,
    share_text,
)

DEMO = Vocabulary.of({"KAOS1": ["S", "M", "L", "XL"], "FLANEL1": ["S", "M", "L", "XL"]})
buyer = partial(parse, sender=BUYER, vocabulary=DEMO)


def lines(command: Command) -> list[tuple[str | None, int | None]]:
    return [(line.size, line.quantity) for line in command.lines]


# ------------------------------------------------------------------------------------------ several sizes


@pytest.mark.parametrize(
    "body",
    [
        "IKUT KAOS1 M 2, L 1",
        "IKUT KAOS1 M2 L1",
        "ikut kaos1 m 2 dan l 1",
        "ikut KAOS1 M 2 & L 1",
        "ikut KAOS1 2 M, 1 L",
        "ikut KAOS1 2M 1L",
        "ikut KAOS1 M:2 L:1",
        "ikut KAOS1 M=2; L=1",
        "ikut KAOS1 Mx2 Lx1",
        "ikut KAOS1 M-2 L-1",
        "ikut KAOS1 ukuran M 2 pcs sama ukuran L 1 pcs",
        "ikut KAOS1\nM 2\nL 1",
        "ikut KAOS1 M dua, L satu",
    ],
)
def test_several_sizes_in_one_join(body):
    command = buyer(body)
    assert (command.name, command.code, lines(command)) == ("join", "KAOS1", [("M", 2), ("L", 1)])


def test_a_quantity_for_each_size():
    assert lines(buyer("ikut KAOS1 M, L, XL masing-masing 2")) == [("M", 2), ("L", 2), ("XL", 2)]
    assert lines(buyer("join KAOS1 M L each 3")) == [("M", 3), ("L", 3)]
    assert lines(buyer("ikut KAOS1 S dan M @1")) == [("S", 1), ("M", 1)]
    assert buyer("ikut KAOS1 M L masing2 2 3").error == "quantity_unclear"


def test_sizes_without_a_quantity_take_one_each():
    assert lines(buyer("ikut KAOS1 M dan L")) == [("M", 1), ("L", 1)]


def test_size_words_and_size_names():
    assert lines(buyer("ikut KAOS1 size medium 2")) == [("M", 2)]
    assert lines(buyer("ikut KAOS1 large 1")) == [("L", 1)]
    assert lines(buyer("ikut KAOS1 extra large 1")) == [("XL", 1)]
    xxl = Vocabulary.of({"KAOS2": ["M", "2XL"]})
    assert lines(parse("ikut KAOS2 XXL 1", vocabulary=xxl, sender=BUYER)) == [("2XL", 1)]
    assert lines(parse("ikut KAOS2 2XL 1", vocabulary=xxl, sender=BUYER)) == [("2XL", 1)]


def test_numeric_sizes_come_from_the_vocabulary():
    shoes = Vocabulary.of({"SEPATU1": ["38", "39", "40"]})
    read = partial(parse, sender=BUYER, vocabulary=shoes)
    assert lines(read("ikut SEPATU1 40 2")) == [("40", 2)]
    assert lines(read("ikut SEPATU1 2 pcs ukuran 39")) == [("39", 2)]
    assert lines(read("ikut SEPATU1 38 2, 40 1")) == [("38", 2), ("40", 1)]
    assert lines(read("ikut SEPATU1 ukuran 40")) == [("40", 1)]


# ------------------------------------------------------------------------------------------------ context


def test_a_left_out_code_is_none_meaning_from_context():
    for body in ["ikut M 2", "pesan 2 pcs ukuran M", "ambil M 2 ya kak", "order size M 2 pls"]:
        command = buyer(body)
        assert (command.name, command.code, lines(command)) == ("join", None, [("M", 2)]), body
    assert buyer("harganya berapa?") == Command("info", "id", "HARGANYA")
    assert buyer("gak jadi").code is None and buyer("gak jadi").name == "leave"


def test_a_bare_code_is_info():
    assert buyer("KAOS1") == Command("info", code="KAOS1")
    assert buyer("flanel1 kak?").outcome() == {"action": "info", "code": "FLANEL1"}
    assert parse("GB1234", sender=BUYER) == Command("info", code="GB1234")  # no vocabulary: a code shape


def test_answers_in_a_guided_flow():
    assert buyer("2") == Command("answer", number=2)
    assert buyer("no 3").number == 3
    assert buyer("dua") == Command("answer", number=2)
    assert buyer("M") == Command("answer", lines=(Line("M", None),))
    assert buyer("2 pcs") == Command("answer", lines=(Line(None, 2),))
    assert buyer("M 2 L 1").lines == (Line("M", 2), Line("L", 1))
    assert buyer("0").error == "quantity_not_positive"
    assert buyer("ya").name == "yes" and buyer("gak").name == "no"


# ------------------------------------------------------------------------------------------ guesses


def test_a_typo_in_an_order_changing_word_is_asked_first():
    command = buyer("ikuut KAOS1 M 2")
    assert command.name == "ask"
    assert command.proposal == Command("join", "id", "IKUT", code="KAOS1", lines=(Line("M", 2),))
    assert command.guesses == (Guess("word", "IKUUT", "IKUT"),)
    assert buyer("batl KAOS1").proposal == Command("leave", "id", "BATAL", code="KAOS1")


def test_a_code_that_only_resembles_an_open_one_is_asked_first():
    command = buyer("ikut KASO1 M 2")
    assert command.name == "ask" and command.proposal.code == "KAOS1"
    assert command.guesses == (Guess("code", "KASO1", "KAOS1"),)
    assert buyer("ikut flanel L 1").proposal.code == "FLANEL1"
    # but a code read exactly, with a space or a dash, is acted on
    assert buyer("ikut KAOS 1 M 2").name == "join"
    assert buyer("ikut kaos-1 M 2").name == "join"


def test_a_size_the_session_does_not_have_is_asked_first():
    command = buyer("IKUT KAOS1 XXL 1")
    assert command.name == "ask" and command.proposal.lines == (Line("XL", 1),)
    assert command.guesses == (Guess("size", "XXL", "XL"),)
    # as close to two sizes (XS: S and XL), or to none: kept as typed; the join service lists the sizes
    assert lines(buyer("IKUT KAOS1 XS 1")) == [("XS", 1)]
    assert lines(buyer("IKUT KAOS1 XXXXL 1")) == [("XXXXL", 1)]


def test_a_read_only_command_on_a_guess_is_acted_on_and_says_so():
    command = buyer("info kaso1")
    assert (command.name, command.code) == ("info", "KAOS1")
    assert command.guesses == (Guess("code", "KASO1", "KAOS1"),)


def test_words_that_could_not_be_placed_make_a_join_a_guess():
    command = buyer("ikut KAOS1 M 2 warna hitam")
    assert command.name == "ask" and command.guesses == (Guess("extra", "warna hitam"),)


def test_a_join_without_its_word_or_asked_as_a_question_is_a_guess():
    assert buyer("KAOS1 M 2").name == "ask"
    assert buyer("bisa ikut KAOS1 M 2?").name == "ask"
    assert buyer("gimana cara ikut?").name == "menu"


def test_leaving_one_size_would_leave_the_whole_session_so_it_is_asked():
    command = buyer("batal KAOS1 yang M aja")
    assert command.name == "ask" and command.proposal == Command("leave", "id", "BATAL", code="KAOS1")
    assert command.guesses[0].what == "scope"


def test_without_a_vocabulary_codes_are_not_guessed():
    assert parse("ikut KASO1 M 2", sender=BUYER).outcome() == {
        "action": "join",
        "code": "KASO1",
        "lines": [["M", 2]],
    }


# ----------------------------------------------------------------------------------------- referrals


def test_a_referral_tag_anywhere_in_a_join():
    for body in [
        "IKUT KAOS1 REF-7K2Q9A",
        "ikut kaos1 ref-7k2q9a",
        "IKUT KAOS1 REF 7K2Q9A",
        "REF-7K2Q9A IKUT KAOS1",
        "IKUT KAOS1 (REF-7K2Q9A)",
        "Halo, saya mau IKUT KAOS1 REF-7K2Q9A ya",
        "IKUT KAOS1 REF7K2Q9A",
    ]:
        command = buyer(body)
        assert (command.name, command.code, command.referral, command.lines) == (
            "join",
            "KAOS1",
            "7K2Q9A",
            (),
        )
    assert buyer("IKUT KAOS1 M 2 REF-7K2Q9A").lines == (Line("M", 2),)


def test_referral_look_alikes_and_broken_tags():
    assert read_referral("REF-7K2Q9O") == "7K2Q90"  # O read as zero, as Crockford decodes
    assert read_referral("ref-iL0000") == "110000"
    assert read_referral("REF-7K2Q9") is None  # too short
    assert read_referral("REF-7K2Q9AB") is None
    assert read_referral("REF-7K2Q9U") is None  # U is not in the alphabet
    command = buyer("IKUT KAOS1 REF-XYZ")  # a broken tag never stops a join
    assert command.referral is None and command.code == "KAOS1"


def test_share_links_and_new_tags():
    tag = new_referral_tag()
    assert len(tag) == 6 and set(tag) <= set(REFERRAL_ALPHABET)
    assert referral_text("7K2Q9A") == "REF-7K2Q9A"
    assert share_text("KAOS1", "7K2Q9A") == "IKUT KAOS1 REF-7K2Q9A"
    assert share_text("KAOS1", None, "en") == "JOIN KAOS1"
    shared = buyer(share_text("KAOS1", tag))
    assert (shared.name, shared.code, shared.referral) == ("join", "KAOS1", tag)


# ------------------------------------------------------------------------------------- senders, shapes


def test_the_factory_trap():
    assert buyer("kirim ke Jl. Mawar 5").outcome() == {"action": "address", "text": "Jl. Mawar 5"}
    assert parse("KIRIM PO-KAOS1-1 RESI123", sender=FACTORY).outcome() == {
        "action": "ship",
        "code": "PO-KAOS1-1",
        "text": "RESI123",
    }
    assert parse("siap", sender=FACTORY).error == "missing_code"
    assert buyer("siap").name == "yes"


def test_opt_out_and_back():
    assert buyer("BERHENTI") == Command("stop", "id", "BERHENTI")
    assert buyer("stop") == Command("stop", "en", "STOP")
    assert buyer("jangan kirim lagi ya kak").name == "stop"
    assert buyer("MULAI") == Command("start", "id", "MULAI")
    assert buyer("START") == Command("start", "en", "START")
    assert buyer("kapan mulai?").name == "unknown"  # "when does it start?"


def test_outcomes_are_plain_data():
    for body in [
        "ikuut KAOS1 M 2, L 1 REF-7K2Q9A",
        "halo",
        "2",
        "ALAMAT Jl. Mawar 5, Depok",
        "IKUT KAOS1 M 0",
    ]:
        json.dumps(buyer(body).outcome())
    assert buyer("IKUT KAOS1 M 0").outcome() == {
        "action": "join",
        "error": "quantity_not_positive",
        "code": "KAOS1",
    }


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("KAOS1", True),
        ("GB1234", True),
        ("FLANEL-2", True),
        ("HOT", True),  # allowed; read as a code only while open (in the vocabulary)
        ("NOPE", False),  # a command word
        ("1234", False),  # reads as a quantity
        ("12AB", False),
        ("2XL", False),  # a size
        ("M2", False),  # size M, 2 pcs
        ("XL10", False),
        ("PO-KAOS1-1", False),  # purchase orders
        ("REF7K2Q9A", False),  # referral tags
        ("K", False),
        ("A" * 33, False),
    ],
)
def test_session_code_rule_for_the_catalogue(code, ok):
    assert (session_code_problem(code) is None) is ok
    if ok:
        assert SESSION_CODE.match(code)
        assert parse(code, vocabulary=Vocabulary.of({code: ["M"]}), sender=BUYER) == Command(
            "info", code=code
        )
    if ok and any(ch.isdigit() for ch in code):
        assert parse(code, sender=BUYER).code == code  # a code with a digit reads as one without a vocabulary
