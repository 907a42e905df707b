"""Adapters: what the domain talks to outside itself, chosen from the settings.

- messages out: `console.ConsoleTransport` (no Twilio credentials) or `twilio.TwilioTransport`;
- stock: `core.warehouse.BuiltinWarehouse` (our own tables) or `http_warehouse.HttpWarehouse`;
- payment links: `xendit.XenditInvoices` with `XENDIT_SECRET_KEY`, else none (the order states the
  amount due).

The ports they implement are `core.delivery.Transport`, `core.warehouse.Warehouse` and
`payments.PaymentProvider`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.adapters.console import ConsoleTransport
from core.adapters.http_warehouse import HttpWarehouse
from core.adapters.payments import PaymentProvider
from core.adapters.twilio import STATUS_CALLBACK_PATH, TwilioTransport, make_client
from core.adapters.xendit import XenditInvoices
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


def payment_provider_for(settings: Settings) -> PaymentProvider | None:
    """Xendit when `XENDIT_SECRET_KEY` is set, else None (no online payment). Build it once per process:
    the SDK's configuration resets its loggers when made."""
    if not settings.xendit_secret_key:
        return None
    return XenditInvoices(
        settings.xendit_secret_key,
        api_base_url=settings.xendit_api_base_url,
        read_timeout=settings.xendit_timeout_seconds,
    )
