"""Environment parsed once into a typed object; bad values fail at start-up, not mid-request."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from core.phones import InvalidPhone, normalise

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"
EMBEDDED_REDIS_SOCKET = INSTANCE_DIR / "redis.sock"
MAX_PAYMENT_DEADLINE_HOURS = 8760  # Xendit's longest invoice: one year


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


# --- reminders and sharing (issue 14) ---

DEFAULT_REMINDER_HOURS = (24, 3)
DEMO_BOT_NUMBER = "+620000000000"
"""The number share links open a chat with when `TWILIO_WHATSAPP_FROM` is unset (the console default):
plainly not a real one."""


def _reminder_hours(env: dict[str, str]) -> tuple[int, ...]:
    """`REMINDER_HOURS=24,3`: whole hours before a deadline, latest first; `off` for none."""
    raw = env.get("REMINDER_HOURS", "").strip()
    if not raw:
        return DEFAULT_REMINDER_HOURS
    if raw.lower() == "off":
        return ()
    try:
        hours = {int(part) for part in raw.split(",") if part.strip()}
    except ValueError:
        raise ConfigError(f"REMINDER_HOURS must be whole hours separated by commas, got {raw!r}") from None
    if not hours or min(hours) < 1 or max(hours) > 24 * 30:
        raise ConfigError(f"REMINDER_HOURS must be hours from 1 to 720, got {raw!r}")
    return tuple(sorted(hours, reverse=True))


def _phone_digits(name: str, value: str) -> str:
    """`whatsapp:+62 812-3456` -> `628123456`, the form wa.me links take."""
    value = value.removeprefix("whatsapp:")
    digits = "".join(ch for ch in value if ch.isdigit())
    if not 8 <= len(digits) <= 15 or any(ch not in "+0123456789 -()" for ch in value):
        raise ConfigError(f"{name} is not a phone number: {value!r}")
    return digits


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
    # Operator dashboard (issue 15): signs the browser session; the address hops of trusted proxies.
    secret_key: str | None = None
    trusted_proxies: int = 0
    # --- online payment: Xendit invoices on orders (docs/design.md, "Orders and payment") ---
    xendit_secret_key: str | None = None  # unset: no online payment, orders state the amount due
    xendit_callback_token: str | None = None  # required with the secret key: callbacks carry it
    xendit_api_base_url: str | None = None  # unset: Xendit's own; tests point it at a loopback fake
    xendit_timeout_seconds: int = 20  # read timeout of one call to Xendit
    payment_deadline_hours: int = 48  # how long an order's payment link stays valid
    # --- reminders and sharing (issue 14; docs/design.md, "Reminders and sharing") ---
    reminder_hours: tuple[int, ...] = DEFAULT_REMINDER_HOURS  # REMINDER_HOURS, latest first
    demo_bot_number: str = DEMO_BOT_NUMBER  # DEMO_BOT_NUMBER: share links without TWILIO_WHATSAPP_FROM

    # The buyer conversation (issue 13): how long a guided flow or a "did you mean" waits for its answer,
    # and how long a web process reuses the open sessions' codes and sizes it reads messages with.
    conversation_flow_minutes: int = 30
    vocabulary_cache_seconds: int = 5

    def __post_init__(self) -> None:
        if self.xendit_secret_key and not self.xendit_callback_token:
            # every callback would be refused, and each payment would wait for reconciliation
            raise ConfigError("XENDIT_CALLBACK_TOKEN is required when XENDIT_SECRET_KEY is set")
        if not 1 <= self.payment_deadline_hours <= MAX_PAYMENT_DEADLINE_HOURS:
            raise ConfigError(
                f"PAYMENT_DEADLINE_HOURS must be 1..{MAX_PAYMENT_DEADLINE_HOURS}, got {self.payment_deadline_hours}"
            )

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"unix://{EMBEDDED_REDIS_SOCKET}"

    @property
    def embedded_database(self) -> bool:
        """SQLite: the embedded default on one machine, not a production deployment."""
        return self.database_url.startswith("sqlite")

    @property
    def online_payment(self) -> bool:
        """Orders get a payment link (a Xendit invoice); without it they state the amount due."""
        return bool(self.xendit_secret_key)

    @property
    def console_transport(self) -> bool:
        """No Twilio credentials: outbound messages are printed and recorded, not sent."""
        return not (self.twilio_account_sid and self.twilio_auth_token)

    @property
    def share_number(self) -> str:
        """The bot's number as wa.me links write it (digits only): `TWILIO_WHATSAPP_FROM`, else the
        demo number (`DEMO_BOT_NUMBER`)."""
        return _phone_digits("TWILIO_WHATSAPP_FROM", self.twilio_whatsapp_from or self.demo_bot_number)

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
        whatsapp_from = _opt(env, "TWILIO_WHATSAPP_FROM")
        demo_bot_number = _opt(env, "DEMO_BOT_NUMBER") or DEMO_BOT_NUMBER
        if whatsapp_from:
            _phone_digits("TWILIO_WHATSAPP_FROM", whatsapp_from)
        _phone_digits("DEMO_BOT_NUMBER", demo_bot_number)
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
            twilio_whatsapp_from=whatsapp_from,
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
            **_dashboard(env),
            xendit_secret_key=_opt(env, "XENDIT_SECRET_KEY"),
            xendit_callback_token=_opt(env, "XENDIT_CALLBACK_TOKEN"),
            xendit_api_base_url=(_opt(env, "XENDIT_API_BASE_URL") or "").rstrip("/") or None,
            xendit_timeout_seconds=_int(env, "XENDIT_TIMEOUT_SECONDS", 20, minimum=1),
            payment_deadline_hours=_int(env, "PAYMENT_DEADLINE_HOURS", 48, minimum=1),
            reminder_hours=_reminder_hours(env),
            demo_bot_number=demo_bot_number,
            conversation_flow_minutes=_int(env, "CONVERSATION_FLOW_MINUTES", 30, minimum=1),
            vocabulary_cache_seconds=_int(env, "CONVERSATION_VOCABULARY_SECONDS", 5, minimum=0),
        )


# Operator dashboard (issue 15) ---------------------------------------------------------------------------
MIN_SECRET_KEY_LENGTH = 32


def _dashboard(env: dict[str, str]) -> dict:
    """`SECRET_KEY` signs the dashboard's session cookie: every web process needs the same one, so the app
    refuses to start without it outside the embedded default (`require_secret_key`). `TRUSTED_PROXIES` is
    how many proxies in front of the app append to X-Forwarded-For (0: none; the client address is the
    socket's), so logins are throttled per real client address and HTTPS is seen behind a proxy."""
    secret_key = _opt(env, "SECRET_KEY")
    if secret_key is not None and len(secret_key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters ({SECRET_KEY_HINT})"
        )
    return {"secret_key": secret_key, "trusted_proxies": _int(env, "TRUSTED_PROXIES", 0)}


SECRET_KEY_HINT = "e.g. python -c 'import secrets; print(secrets.token_hex(32))'"


def require_secret_key(settings: Settings) -> str | None:
    """The dashboard's signing key; None on the embedded default without one (the app then makes a key
    for its own process). Fails fast in production (PostgreSQL) when `SECRET_KEY` is missing."""
    if settings.secret_key is None and not settings.embedded_database:
        raise ConfigError(f"SECRET_KEY is required outside the embedded SQLite default ({SECRET_KEY_HINT})")
    return settings.secret_key
