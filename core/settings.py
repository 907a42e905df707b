"""Environment parsed once into a typed object; bad values fail at start-up, not mid-request."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from core.phones import InvalidPhone, normalise

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"
EMBEDDED_REDIS_SOCKET = INSTANCE_DIR / "redis.sock"


class ConfigError(ValueError):
    pass


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _opt(env: dict[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{INSTANCE_DIR / 'laku.db'}"
    redis_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_base_url: str | None = None
    content_sids: dict[str, str] = field(default_factory=dict)
    public_base_url: str | None = None
    admin_token: str | None = None
    admin_whatsapp: str | None = None
    warehouse_service_url: str | None = None
    warehouse_timeout_seconds: int = 5
    default_country: str = "ID"
    factory_reminder_hours: int = 24
    expiry_sweep_seconds: int = 60
    # Outbound delivery (issues 10 and 11): the most messages one sender sends in any second, across all
    # workers (WhatsApp's default tier is 80); how long a send waits for Twilio's answer; how many sends
    # one drain job has in flight.
    twilio_max_mps: int = 80
    twilio_timeout_seconds: float = 15
    outbox_send_threads: int = 32

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"unix://{EMBEDDED_REDIS_SOCKET}"

    @property
    def console_transport(self) -> bool:
        """No Twilio credentials: outbound messages are printed and recorded, not sent."""
        return not (self.twilio_account_sid and self.twilio_auth_token)

    def content_sid_for(self, kind: str, language: str | None = None) -> str | None:
        """The approved template for a notification type: `TWILIO_CONTENT_SID_<TYPE>_<LANG>` (e.g.
        `..._ORDER_CREATED_EN`) for the recipient's language first, then `TWILIO_CONTENT_SID_<TYPE>`."""
        if language:
            specific = self.content_sids.get(f"{kind.upper()}_{language.upper()}")
            if specific:
                return specific
        return self.content_sids.get(kind.upper())

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        database_url = _opt(env, "DATABASE_URL") or cls.database_url
        if database_url.startswith("postgres://"):
            database_url = "postgresql+psycopg://" + database_url[len("postgres://") :]
        elif database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
        prefix = "TWILIO_CONTENT_SID_"
        content_sids = {k[len(prefix) :].upper(): v for k, v in env.items() if k.startswith(prefix) and v}
        po_sid = _opt(env, "TWILIO_FACTORY_PO_CONTENT_SID")
        if po_sid:
            content_sids.setdefault("FACTORY_PO", po_sid)
        country = (_opt(env, "DEFAULT_COUNTRY") or "ID").upper()
        if len(country) != 2 or not country.isalpha():
            raise ConfigError(f"DEFAULT_COUNTRY must be a two-letter region code, got {country!r}")
        admin_whatsapp = _opt(env, "ADMIN_WHATSAPP")
        if admin_whatsapp:
            try:
                admin_whatsapp = normalise(admin_whatsapp, country)
            except InvalidPhone:
                raise ConfigError(f"ADMIN_WHATSAPP is not a phone number: {admin_whatsapp!r}") from None
        return cls(
            database_url=database_url,
            redis_url=_opt(env, "REDIS_URL"),
            twilio_account_sid=_opt(env, "TWILIO_ACCOUNT_SID"),
            twilio_auth_token=_opt(env, "TWILIO_AUTH_TOKEN"),
            twilio_whatsapp_from=_opt(env, "TWILIO_WHATSAPP_FROM"),
            twilio_api_base_url=_opt(env, "TWILIO_API_BASE_URL"),
            content_sids=content_sids,
            public_base_url=(_opt(env, "PUBLIC_BASE_URL") or "").rstrip("/") or None,
            admin_token=_opt(env, "ADMIN_TOKEN"),
            admin_whatsapp=admin_whatsapp,
            warehouse_service_url=(_opt(env, "WAREHOUSE_SERVICE_URL") or "").rstrip("/") or None,
            warehouse_timeout_seconds=_int(env, "WAREHOUSE_TIMEOUT_SECONDS", 5, minimum=1),
            default_country=country,
            factory_reminder_hours=_int(env, "FACTORY_REMINDER_HOURS", 24, minimum=1),
            expiry_sweep_seconds=_int(env, "EXPIRY_SWEEP_SECONDS", 60, minimum=5),
            twilio_max_mps=_int(env, "TWILIO_MAX_MPS", 80, minimum=1),
            twilio_timeout_seconds=_int(env, "TWILIO_TIMEOUT_SECONDS", 15, minimum=1),
            outbox_send_threads=_int(env, "OUTBOX_SEND_THREADS", 32, minimum=1),
        )
