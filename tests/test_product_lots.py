"""The product catalog a web process keeps between joins (`core.product_lots`): read once, and never served
after the product, one of its sizes or its lot mix changed."""

from __future__ import annotations

from sqlalchemy import select

from core import product_lots, vocabulary
from core.db import transaction
from core.models import GrosirVariantAllocation, Product, Variant
from tests import builders
from tests.builders import make_session, participants
from tests.chat import Phone, squash

A, B, C, D = (f"+628120000000{n}" for n in range(1, 5))


def say(client, number: str, text: str) -> str:
    return squash(Phone(client, number).send(text))


def version(db_factory) -> int:
    with db_factory() as db:
        return db.scalar(select(Product.catalog_version))


def test_the_catalog_is_read_by_the_first_join_only(client, db_factory):
    make_session(db_factory, builders.TWO_SIZES)
    before = product_lots.reads()
    assert say(client, A, "IKUT GB1 M 2").startswith("✅ Tercatat: 2 pcs Kaos TS ukuran M")
    assert product_lots.reads() == before + 1
    assert say(client, B, "IKUT GB1 M 2").startswith("✅ Tercatat: 2 pcs Kaos TS ukuran M")
    assert say(client, B, "IKUT GB1 S 1").startswith("✅ Tercatat: 1 pcs Kaos TS ukuran S")
    assert product_lots.reads() == before + 1  # the second and third joins used the cached catalog


def test_a_changed_catalog_is_read_again_by_the_next_join(client, db_factory):
    make_session(db_factory, builders.TWO_SIZES)  # S 4 + M 4 a lot, lead 2: M's cap is 8 with no S
    assert say(client, A, "IKUT GB1 M 4").startswith("✅ Tercatat")
    cached = product_lots.reads()

    first = version(db_factory)
    with transaction(db_factory) as db:  # the lead drops to one lot: M's cap is now 4, and M has 4
        db.scalar(select(Product)).lead_lots = 1
    assert version(db_factory) != first
    assert say(client, B, "IKUT GB1 M 1").startswith("🔒")
    assert product_lots.reads() == cached + 1

    second = version(db_factory)
    with transaction(db_factory) as db:  # a size renamed
        db.scalar(select(Variant).where(Variant.size == "S")).size = "XS"
    assert version(db_factory) != second
    vocabulary.forget()  # the parser's own 5-second list of open sessions' sizes (core.vocabulary)
    assert say(client, C, "IKUT GB1 XS 1").startswith("✅ Tercatat: 1 pcs Kaos TS ukuran XS")

    third = version(db_factory)
    with transaction(db_factory) as db:  # the lot mix: XS 1 + M 7 (M's cap 7 + 1 * 7 = 14)
        for allocation in db.scalars(select(GrosirVariantAllocation)):
            allocation.units_per_lot = 7 if allocation.variant.size == "M" else 1
    assert version(db_factory) != third
    assert say(client, D, "IKUT GB1 M 3").startswith("✅ Tercatat: 3 pcs Kaos TS ukuran M")
    assert participants(db_factory) == [
        (A, "M", 4, "confirmed"),
        (C, "XS", 1, "confirmed"),
        (D, "M", 3, "confirmed"),
    ]


def test_a_join_in_the_same_process_after_an_edit_never_uses_the_old_catalog(client, db_factory):
    """The cached entry is keyed by version: after an edit the old entry is simply never matched."""
    make_session(db_factory, builders.TWO_SIZES)
    say(client, A, "INFO GB1")  # cached
    with transaction(db_factory) as db:
        db.scalar(select(Product)).waitlist_enabled = True
    assert say(client, B, "IKUT GB1 M 9").startswith("⏳")  # larger than T*a_v: waits for settlement
