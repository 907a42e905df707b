"""Adapters: what the domain talks to outside itself, chosen from the settings.

- messages out: `console.ConsoleTransport` (no Twilio credentials) or `twilio.TwilioTransport`;
- stock: `core.warehouse.BuiltinWarehouse` (our own tables) or `http_warehouse.HttpWarehouse`;
- payment links: `payments` (none yet: the order states the amount due).

The ports they implement are `core.delivery.Transport`, `core.warehouse.Warehouse` and
`payments.PaymentLinks`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.adapters.console import ConsoleTransport
from core.adapters.http_warehouse import HttpWarehouse
from core.adapters.twilio import STATUS_CALLBACK_PATH, TwilioTransport, make_client
from core.delivery import Transport
from core.settings import ConfigError, Settings
from core.warehouse import BuiltinWarehouse, Warehouse


def warehouse_for(settings: Settings, db: Session) -> Warehouse:
    """The configured warehouse: `WAREHOUSE_SERVICE_URL` set -> HTTP, else the built-in tables."""
    if settings.warehouse_service_url:
        return HttpWarehouse(settings.warehouse_service_url, settings.warehouse_timeout_seconds)
    return BuiltinWarehouse(db)


def transport_for(settings: Settings) -> Transport:
    """Twilio when credentials are set, else the console."""
    if settings.console_transport:
        return ConsoleTransport()
    if not settings.twilio_whatsapp_from:
        raise ConfigError("TWILIO_WHATSAPP_FROM is needed to send WhatsApp messages through Twilio")
    callback = f"{settings.public_base_url}{STATUS_CALLBACK_PATH}" if settings.public_base_url else None
    return TwilioTransport(make_client(settings), settings.twilio_whatsapp_from, callback)
