"""The dashboard's own words, Bahasa Indonesia first and English, for operators (not buyers: WhatsApp
texts are `core/texts`). Every key exists in both languages (a test checks it); `{name}` placeholders are
filled by `text(language, key, name=...)`."""

from __future__ import annotations

from bot.dashboard import texts_en, texts_id

LANGUAGES = ("id", "en")
TEXTS: dict[str, dict[str, str]] = {"id": texts_id.WORDS, "en": texts_en.WORDS}
LABELS: dict[str, dict[str, str]] = {"id": texts_id.LABELS, "en": texts_en.LABELS}
"""Headings for keys of sections other features add to the session JSON (settlement, payments)."""


def text(language: str, key: str, **values: object) -> str:
    words = TEXTS.get(language, TEXTS["id"])
    template = words.get(key) or TEXTS["id"].get(key) or key
    return template.format(**values) if values else template


def label(language: str, key: object) -> str:
    """A heading for a key of a JSON section: its translation when known, else the key made readable."""
    name = str(key)
    return LABELS.get(language, LABELS["id"]).get(name) or name.replace("_", " ")
