"""Request schemas of the admin API, separate from the models: strict types, unknown fields refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
)
from sqlalchemy.orm import Session

from core import catalog
from core.catalog import VariantSpec
from core.errors import Invalid
from core.models import Factory, GroupSession, Product

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
ASCII_DIGITS = re.compile("[0-9]{1,9}")  # not str.isdigit(): it accepts "²", which int() refuses
MAX_ID = 2**31 - 1  # the database's integer range


def _printable(value: str) -> str:
    if CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def whole_number(raw: str, field: str, lowest: int, highest: int) -> int:
    """A query parameter that must be a whole number in [lowest, highest], written in ASCII digits."""
    if not ASCII_DIGITS.fullmatch(raw) or not lowest <= int(raw) <= highest:
        raise Invalid(field, f"must be a whole number from {lowest} to {highest}")
    return int(raw)


def _iso_string(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError(
            "must be an ISO 8601 date-time string with a UTC offset, e.g. 2026-12-01T18:00:00+07:00"
        )
    return value


def _in_range(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("is outside the supported calendar range") from None
    if not 2000 <= value.year <= 2999:
        raise ValueError("must be a date between the years 2000 and 2999")
    return value


def _excess_weight(value: object) -> Decimal:
    """A number or a decimal string. A JSON number arrives as a binary float; its shortest repr is the
    decimal that was written (0.1 -> "0.1"), which `core.catalog` then checks and keeps exactly."""
    if isinstance(value, float):
        value = repr(value)
    try:
        return catalog.excess_weight_from(value)
    except Invalid as error:
        raise ValueError(error.message) from None


Text = Annotated[StrictStr, AfterValidator(_printable)]
Id = Annotated[StrictInt, Field(gt=0, le=MAX_ID)]
When = Annotated[AwareDatetime, BeforeValidator(_iso_string), AfterValidator(_in_range)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FactoryIn(Strict):
    name: Text = Field(min_length=1, max_length=200)
    phone: Text = Field(min_length=5, max_length=40)
    address: Text | None = Field(default=None, max_length=1000)

    def create(self, db: Session, region: str) -> Factory:
        return catalog.create_factory(db, **self.model_dump(), region=region)


class VariantIn(Strict):
    size: Text = Field(min_length=1, max_length=20)
    sku: Text = Field(min_length=1, max_length=64)
    units_per_lot: StrictInt | None = Field(default=None, gt=0, le=10_000)


class ProductIn(Strict):
    factory_id: Id
    name: Text = Field(min_length=1, max_length=200)
    sku: Text = Field(min_length=1, max_length=64)
    price: StrictInt = Field(ge=0, le=1_000_000_000)
    grosir_unit_size: StrictInt | None = Field(default=None, gt=0, le=100_000)
    lead_lots: StrictInt = Field(default=2, ge=1, le=100)
    allocation_policy: Text = "lot_balanced"
    waitlist_enabled: StrictBool = True
    excess_weight: Annotated[Decimal, PlainValidator(_excess_weight)] = Decimal(1)
    variants: list[VariantIn] = Field(min_length=1, max_length=50)

    def create(self, db: Session) -> Product:
        """The product, through `core.catalog` (which checks the allocations against the lot size)."""
        return catalog.create_product(
            db,
            **self.model_dump(exclude={"variants"}),
            variants=[VariantSpec(**variant.model_dump()) for variant in self.variants],
        )


class SessionIn(Strict):
    product_id: Id
    target_moq: StrictInt = Field(gt=0, le=1_000_000)
    ends_at: When
    starts_at: When | None = None
    price: StrictInt | None = Field(default=None, ge=0, le=1_000_000_000)
    code: Text | None = Field(default=None, max_length=32)

    def create(self, db: Session) -> GroupSession:
        return catalog.create_session(db, **self.model_dump())


class InventoryIn(Strict):
    on_hand: StrictInt = Field(ge=0, le=10_000_000)
