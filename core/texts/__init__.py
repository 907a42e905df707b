"""The message catalogue: every text a buyer or factory reads, in Bahasa Indonesia (`id`) and English.

Catalogues live beside this file, one per part of the conversation, each a dict of
`key -> {"id": ..., "en": ...}` with `str.format` fields. `render` is the only way texts are produced.

A count of pieces is written `{field:pcs}`: English says "1 pc" and "2 pcs", Indonesian has no plural
("1 pcs", "2 pcs"). Callers pass the number; the text decides the unit (see `pcs`).
"""

from __future__ import annotations

import string
from typing import Any

from core.texts import buyer, conversation, fulfilment, payments, settlement, sharing

LANGUAGES = ("id", "en")
CATALOGUE: dict[str, dict[str, str]] = {}
for _part in (
    buyer.TEXTS,
    conversation.TEXTS,
    fulfilment.TEXTS,
    payments.TEXTS,
    settlement.TEXTS,
    sharing.TEXTS,
):
    overlap = CATALOGUE.keys() & _part.keys()
    if overlap:
        raise RuntimeError(f"text keys defined twice: {sorted(overlap)}")
    CATALOGUE.update(_part)


def pcs(count: Any, language: str) -> str:
    """`2 pcs`; in English `1 pc`. Anything that is not a whole number is written as given, then `pcs`."""
    if language == "en" and isinstance(count, int) and not isinstance(count, bool) and count == 1:
        return "1 pc"
    return f"{count} pcs"


class _UnitFormatter(string.Formatter):
    """`str.format` plus the `pcs` format spec, in one language."""

    def __init__(self, language: str):
        super().__init__()
        self.language = language

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "pcs":
            return pcs(value, self.language)
        return super().format_field(value, format_spec)


_FORMATTERS = {language: _UnitFormatter(language) for language in LANGUAGES}


def render(language: str, key: str, **fields: Any) -> str:
    entry = CATALOGUE[key]
    language = language if language in LANGUAGES else "id"
    template = entry.get(language, entry["id"])
    if ":pcs}" in template:
        return _FORMATTERS[language].format(template, **fields)
    return template.format(**fields)


def rupiah(amount: int) -> str:
    """`Rp 150.000`: Indonesian thousands separator, whole rupiah."""
    sign = "-" if amount < 0 else ""
    return f"{sign}Rp {abs(amount):,}".replace(",", ".")
