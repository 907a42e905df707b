"""HTML forms into the admin API's request schemas, and every refusal back to the field it names.

A form is only read here: its strings become the JSON values the API would receive (whole numbers,
booleans, a WIB date-time with its offset), then the API's pydantic schema (`bot.admin_schemas`) and the
core function behind it decide, exactly as for `POST /api/v1/...`. Their errors name fields the way the
API does (`grosir_unit_size`, `variants.2.units_per_lot`), and the templates show each next to its input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from bot import context
from bot.dashboard import web
from core.errors import DomainError

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")

WHOLE_NUMBER = re.compile(r"^-?\d{1,12}$")
LOCAL_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")  # <input type="datetime-local">
WIB_OFFSET = "+07:00"

Errors = dict[str, list[str]]


def text_value(form: Mapping[str, str], name: str) -> str | None:
    """A text input: stripped, blank -> None (the schema's default, or its "required" error)."""
    value = (form.get(name) or "").strip()
    return value or None


def number_value(form: Mapping[str, str], name: str) -> Any:
    """A whole-number input as the API would get it: an int, None when blank, else the text itself (so
    the schema refuses it with its own message)."""
    value = text_value(form, name)
    if value is None:
        return None
    return int(value) if WHOLE_NUMBER.match(value) else value


def wib_value(form: Mapping[str, str], name: str) -> Any:
    """A `datetime-local` input read in WIB, as ISO 8601 with its offset (what the API asks for)."""
    value = text_value(form, name)
    if value is not None and LOCAL_MINUTE.match(value):
        return f"{value}:00{WIB_OFFSET}"
    return value


def without_blanks(data: dict[str, Any]) -> dict[str, Any]:
    """Leave blank fields out, so a blank optional field takes the schema's default."""
    return {key: value for key, value in data.items() if value is not None}


_MESSAGES = {  # pydantic error type -> catalogue key; other types keep pydantic's own message
    "missing": "error.required",
    "string_too_short": "error.required",
    "int_type": "error.whole_number",
    "int_parsing": "error.whole_number",
    "greater_than": "error.greater_than",
    "greater_than_equal": "error.at_least",
    "less_than_equal": "error.at_most",
    "string_too_long": "error.too_long",
    "too_short": "error.no_sizes",
}


def _message(error: Mapping[str, Any]) -> str:
    context_values = error.get("ctx") or {}
    key = _MESSAGES.get(error["type"])
    if error["type"] == "string_too_short" and context_values.get("min_length", 1) > 1:
        key = "error.too_short"
    if key is None:
        return str(error["msg"])
    return web.t(key, **{name: str(value) for name, value in context_values.items()})


def validation_errors(error: ValidationError, rename: Callable[[str], str] = str) -> Errors:
    errors: Errors = {}
    for item in error.errors(include_url=False):
        field = rename(".".join(str(part) for part in item["loc"]) or "form")
        errors.setdefault(field, []).append(_message(item))
    return errors


def submit(
    schema: type[M],
    data: dict[str, Any],
    make: Callable[[Session, M], R],
    errors: Errors,
    rename: Callable[[str], str] = str,
) -> R | None:
    """Validate `data` with the API's schema, then run `make` as one unit of work. On a refusal, nothing
    is written and `errors` says why, by field; returns None."""
    try:
        request = schema.model_validate(data)
    except ValidationError as error:
        errors.update(validation_errors(error, rename))
        return None
    try:
        with context.unit_of_work() as db:
            return make(db, request)
    except DomainError as error:
        errors.setdefault(rename(error.field), []).append(error.message)
        return None
