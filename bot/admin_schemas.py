"""Request schemas of the admin API, separate from the models: strict types, unknown fields refused."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FactoryIn(Strict):
    name: StrictStr = Field(min_length=1, max_length=200)
    phone: StrictStr = Field(min_length=5, max_length=40)
    address: StrictStr | None = Field(default=None, max_length=1000)


class VariantIn(Strict):
    size: StrictStr = Field(min_length=1, max_length=20)
    sku: StrictStr = Field(min_length=1, max_length=64)
    units_per_lot: StrictInt | None = Field(default=None, gt=0, le=10_000)


class ProductIn(Strict):
    factory_id: StrictInt = Field(gt=0)
    name: StrictStr = Field(min_length=1, max_length=200)
    sku: StrictStr = Field(min_length=1, max_length=64)
    price: StrictInt = Field(ge=0, le=1_000_000_000)
    grosir_unit_size: StrictInt | None = Field(default=None, gt=0, le=100_000)
    lead_lots: StrictInt = Field(default=2, ge=1, le=100)
    allocation_policy: StrictStr = "lot_balanced"
    waitlist_enabled: StrictBool = True
    variants: list[VariantIn] = Field(min_length=1, max_length=50)


class SessionIn(Strict):
    product_id: StrictInt = Field(gt=0)
    target_moq: StrictInt = Field(gt=0, le=1_000_000)
    ends_at: AwareDatetime
    starts_at: AwareDatetime | None = None
    price: StrictInt | None = Field(default=None, ge=0, le=1_000_000_000)
    code: StrictStr | None = Field(default=None, max_length=32)


class InventoryIn(Strict):
    on_hand: StrictInt = Field(ge=0, le=10_000_000)


def iso(value: datetime | None) -> str | None:
    from core.clock import as_utc

    return as_utc(value).isoformat() if value else None
