"""The message catalogue: every text a buyer or factory reads, in Bahasa Indonesia (`id`) and English.

Catalogues live beside this file, one per part of the conversation, each a dict of
`key -> {"id": ..., "en": ...}` with `str.format` fields. `render` is the only way texts are produced.
"""

from __future__ import annotations

from typing import Any

from core.texts import buyer, fulfilment

LANGUAGES = ("id", "en")
CATALOGUE: dict[str, dict[str, str]] = {}
for _part in (buyer.TEXTS, fulfilment.TEXTS):
    overlap = CATALOGUE.keys() & _part.keys()
    if overlap:
        raise RuntimeError(f"text keys defined twice: {sorted(overlap)}")
    CATALOGUE.update(_part)


def render(language: str, key: str, **fields: Any) -> str:
    entry = CATALOGUE[key]
    return entry.get(language if language in LANGUAGES else "id", entry["id"]).format(**fields)


def rupiah(amount: int) -> str:
    """`Rp 150.000`: Indonesian thousands separator, whole rupiah."""
    sign = "-" if amount < 0 else ""
    return f"{sign}Rp {abs(amount):,}".replace(",", ".")
