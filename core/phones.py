"""Phone numbers in E.164, whatever form a person or Twilio writes them in."""

from __future__ import annotations

import phonenumbers

WHATSAPP_PREFIX = "whatsapp:"


class InvalidPhone(ValueError):
    pass


def normalise(raw: str, default_region: str = "ID") -> str:
    """`whatsapp:+62812...`, `+62 812-...`, `0812...` -> `+62812...`; raises InvalidPhone otherwise."""
    text = (raw or "").strip()
    if text.lower().startswith(WHATSAPP_PREFIX):
        text = text[len(WHATSAPP_PREFIX) :]
    if not text or len(text) > 40:
        raise InvalidPhone(f"not a phone number: {raw!r}")
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhone(f"not a phone number: {raw!r}") from error
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(f"not a valid phone number: {raw!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def whatsapp_address(e164: str) -> str:
    return f"{WHATSAPP_PREFIX}{e164}"
