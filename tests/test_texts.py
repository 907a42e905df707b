"""The message catalogue: units, languages, and every text renders with the fields its callers pass."""

from __future__ import annotations

import re
from pathlib import Path

from core import notifications, texts
from core.texts import CATALOGUE, LANGUAGES, pcs, render


def test_pcs_is_singular_for_one_in_english_only():
    assert [pcs(n, "en") for n in (0, 1, 2, 12)] == ["0 pcs", "1 pc", "2 pcs", "12 pcs"]
    assert [pcs(n, "id") for n in (0, 1, 2)] == ["0 pcs", "1 pcs", "2 pcs"]
    assert pcs(True, "en") == "True pcs"  # not a count: written as given
    assert pcs("", "en") == " pcs"


def test_a_count_in_a_text_follows_the_language():
    one = {"size": "M", "code": "KAOS1", "available": 1, "quantity": 2, "waitlist": True}
    assert render("en", "too_many", **one) == (
        "Sorry, size M in session KAOS1 has only 1 pc left, so 2 pcs won't fit.\n"
        "Take 1 pc now: JOIN KAOS1 M 1"
    )
    assert render("id", "too_many", **one) == (
        "Maaf, ukuran M di sesi KAOS1 tinggal 1 pcs, jadi 2 pcs belum bisa.\n"
        "Ambil 1 pcs sekarang: IKUT KAOS1 M 1"
    )
    assert render("en", "left", code="KAOS1", released=1, withdrawn_note="") == (
        "You left session KAOS1: 1 pc released. Nothing is owed for them."
    )
    assert render("en", "factory_po_line", size="XL", quantity=1) == "• XL: 1 pc"


def test_too_many_offers_the_third_way_in_both_languages():
    fields = {"size": "XL", "code": "KAOS1", "available": 1, "rest": 2}
    assert render("en", "too_many_split", **fields) == (
        "\nOr both: take 1 pc now and wait for the rest. Send JOIN KAOS1 XL 1, then WAIT KAOS1 XL 2"
    )
    assert render("id", "too_many_split", **fields) == (
        "\nAtau keduanya: ambil 1 pcs sekarang dan antre sisanya. Kirim IKUT KAOS1 XL 1, lalu ANTRE KAOS1 XL 2"
    )


def test_other_format_specs_still_work_and_unknown_languages_fall_back_to_indonesian():
    assert render("fr", "left_withdrawn", units=1) == ", 1 pcs antrean ditarik"
    assert render("en", "list_item", code="A1", product="Kaos", price="Rp 1", units=0, moq=1, ends="x") == (
        "• A1: Kaos, Rp 1/pc, 0/1 pc, closes x"
    )


BUYER_KEYS = (
    list(texts.buyer.TEXTS)
    + list(texts.settlement.TEXTS)
    + list(texts.sharing.TEXTS)
    + list(texts.conversation.TEXTS)
    + [key for key in texts.fulfilment.TEXTS if key.startswith(("notify_", "order_"))]
)


def test_buyers_read_minimum_not_the_jargon_moq():
    jargon = [
        (key, language) for key in BUYER_KEYS for language in LANGUAGES if "MOQ" in CATALOGUE[key][language]
    ]
    assert jargon == []


def test_both_languages_use_the_same_fields():
    def fields(text: str) -> set[str]:
        return set(re.findall(r"\{(\w+)", text))

    differing = [key for key, entry in CATALOGUE.items() if fields(entry["id"]) != fields(entry["en"])]
    assert differing == []


def test_every_key_is_rendered_by_some_code():
    """A key no code names is a text nobody reads. Code names a key as a string, or builds it from a prefix
    (`f"session_status_{status}"`), or the parser names it as the error of a command."""
    root = Path(__file__).resolve().parent.parent
    sources = [p for folder in ("core", "bot", "jobs") for p in (root / folder).rglob("*.py")]
    code = "".join(p.read_text() for p in sources if p.parent.name != "texts")
    prefixes = tuple(set(re.findall(r"f\"([a-z_]+_)\{", code)))
    named = set(re.findall(r"\"([a-z_0-9]+)\"", code))
    assert sorted(key for key in CATALOGUE if key not in named and not key.startswith(prefixes)) == []


def test_the_registry_holds_every_notice_each_with_a_text_and_a_documented_template_setting():
    declared = [value for value in vars(notifications).values() if isinstance(value, notifications.Notice)]
    assert sorted(map(repr, notifications.REGISTRY)) == sorted(map(repr, declared))
    assert [notice.text for notice in notifications.REGISTRY if notice.text not in CATALOGUE] == []
    guide = (Path(__file__).resolve().parent.parent / "docs" / "deployment.md").read_text()
    assert sorted({notice.name for notice in notifications.REGISTRY if notice.name not in guide}) == []
