"""The environment, parsed once at start-up into one typed, frozen object.

Every variable the product reads is parsed in `Settings.from_env`, once, by a small typed helper that names
the variable in its error: a bad value stops the process at start-up, not in the middle of a request. The
defaults are the fields' own, so `Settings()` is the embedded default (SQLite, embedded Redis, console
transport, no admin API, no online payment).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core.phones import InvalidPhone, normalise

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"
EMBEDDED_REDIS_SOCKET = INSTANCE_DIR / "redis.sock"

MAX_PAYMENT_DEADLINE_HOURS = 8760  # Xendit's longest invoice: one year
MAX_REMINDER_HOURS = 24 * 30
MIN_SECRET_KEY_LENGTH = 32
SECRET_KEY_HINT = "e.g. python -c 'import secrets; print(secrets.token_hex(32))'"
CONTENT_SID_PREFIX = "TWILIO_CONTENT_SID_"


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    # --- storage and queue ---
    # DATABASE_URL: a SQLAlchemy URL; `postgres://` and `postgresql://` are read as psycopg 3's.
    database_url: str = f"sqlite:///{INSTANCE_DIR / 'laku.db'}"
    # REDIS_URL: unset = the embedded Redis on a unix socket under instance/ (`effective_redis_url`).
    redis_url: str | None = None

    # --- WhatsApp through Twilio ---
    # TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN: unset = the console transport (printed and recorded, not sent);
    # with the token set, every webhook must carry a valid X-Twilio-Signature.
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    # TWILIO_WHATSAPP_FROM: the sender, e.g. `whatsapp:+14155238886`; also the number share links open.
    twilio_whatsapp_from: str | None = None
    # TWILIO_API_BASE_URL: unset = Twilio's own; tests and local fakes point it at themselves.
    twilio_api_base_url: str | None = None
    # TWILIO_CONTENT_SID_<TYPE>[_<LANG>] (and TWILIO_FACTORY_PO_CONTENT_SID for FACTORY_PO): the approved
    # template of a notification type, keyed `<TYPE>` or `<TYPE>_<LANG>`; none = free text.
    content_sids: dict[str, str] = field(default_factory=dict)
    # PUBLIC_BASE_URL: the external URL signatures are computed on (behind proxies), no trailing slash.
    public_base_url: str | None = None
    # DEMO_BOT_NUMBER: the number share links open when TWILIO_WHATSAPP_FROM is unset; plainly not real.
    demo_bot_number: str = "+620000000000"

    # --- outbound delivery ---
    # TWILIO_MAX_MPS: the most messages one sender sends in any second, across all workers (WhatsApp's
    # default tier is 80). TWILIO_TIMEOUT_SECONDS: how long one send waits for Twilio's answer.
    # OUTBOX_SEND_THREADS: how many sends one drain job has in flight.
    twilio_max_mps: int = 80
    twilio_timeout_seconds: float = 15
    outbox_send_threads: int = 32

    # --- operators ---
    # ADMIN_TOKEN: the bearer token of /api/v1; unset = the admin API is off.
    admin_token: str | None = None
    # ADMIN_WHATSAPP: where operator alerts go (E.164 after parsing); unset = the log only.
    admin_whatsapp: str | None = None
    # SECRET_KEY: signs the dashboard's session cookie; the same in every web process, at least 32
    # characters, required outside the embedded SQLite default (`require_secret_key`).
    secret_key: str | None = None
    # TRUSTED_PROXIES: how many proxies in front of the app append to X-Forwarded-For (0: none), so logins
    # are throttled per real client address and HTTPS is seen behind a proxy.
    trusted_proxies: int = 0

    # --- warehouse and factory ---
    # WAREHOUSE_SERVICE_URL: unset = the built-in inventory tables. WAREHOUSE_TIMEOUT_SECONDS: per call.
    warehouse_service_url: str | None = None
    warehouse_timeout_seconds: int = 5
    # FACTORY_REMINDER_HOURS: a purchase order unanswered this long is asked about again.
    factory_reminder_hours: int = 24

    # --- sessions and the buyer conversation ---
    # DEFAULT_COUNTRY: the region phone numbers are read in (`0812...` -> `+62812...`).
    default_country: str = "ID"
    # EXPIRY_SWEEP_SECONDS: how often the sweep closes sessions past their deadline (at least 5).
    expiry_sweep_seconds: int = 60
    # REMINDER_HOURS: whole hours before a deadline at which buyers are reminded, latest first; `off`: none.
    reminder_hours: tuple[int, ...] = (24, 3)
    # CONVERSATION_FLOW_MINUTES: how long a guided join or a "did you mean" waits for its answer.
    # CONVERSATION_VOCABULARY_SECONDS: how long a web process reuses the open sessions' codes and sizes.
    conversation_flow_minutes: int = 30
    vocabulary_cache_seconds: int = 5

    # --- online payment: Xendit invoices on orders ---
    # XENDIT_SECRET_KEY: unset = no online payment (orders state the amount due). XENDIT_CALLBACK_TOKEN:
    # what the provider's callbacks carry; required with the secret key.
    xendit_secret_key: str | None = None
    xendit_callback_token: str | None = None
    # XENDIT_API_BASE_URL: unset = Xendit's own. XENDIT_TIMEOUT_SECONDS: read timeout of one call.
    xendit_api_base_url: str | None = None
    xendit_timeout_seconds: int = 20
    # PAYMENT_DEADLINE_HOURS: how long an order's payment link stays valid (1 to 8760).
    payment_deadline_hours: int = 48

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        default = cls()
        country = _region(env, "DEFAULT_COUNTRY", default.default_country)
        settings = cls(
            database_url=_database_url(env, "DATABASE_URL", default.database_url),
            redis_url=_text(env, "REDIS_URL"),
            twilio_account_sid=_text(env, "TWILIO_ACCOUNT_SID"),
            twilio_auth_token=_text(env, "TWILIO_AUTH_TOKEN"),
            twilio_whatsapp_from=_whatsapp_number(env, "TWILIO_WHATSAPP_FROM"),
            twilio_api_base_url=_text(env, "TWILIO_API_BASE_URL"),
            content_sids=_content_sids(env, "TWILIO_FACTORY_PO_CONTENT_SID"),
            public_base_url=_url(env, "PUBLIC_BASE_URL"),
            demo_bot_number=_whatsapp_number(env, "DEMO_BOT_NUMBER") or default.demo_bot_number,
            twilio_max_mps=_int(env, "TWILIO_MAX_MPS", default.twilio_max_mps, minimum=1),
            twilio_timeout_seconds=_int(
                env, "TWILIO_TIMEOUT_SECONDS", int(default.twilio_timeout_seconds), minimum=1
            ),
            outbox_send_threads=_int(env, "OUTBOX_SEND_THREADS", default.outbox_send_threads, minimum=1),
            admin_token=_text(env, "ADMIN_TOKEN"),
            admin_whatsapp=_phone(env, "ADMIN_WHATSAPP", country),
            secret_key=_secret_key(env, "SECRET_KEY"),
            trusted_proxies=_int(env, "TRUSTED_PROXIES", default.trusted_proxies),
            warehouse_service_url=_url(env, "WAREHOUSE_SERVICE_URL"),
            warehouse_timeout_seconds=_int(
                env, "WAREHOUSE_TIMEOUT_SECONDS", default.warehouse_timeout_seconds, minimum=1
            ),
            factory_reminder_hours=_int(
                env, "FACTORY_REMINDER_HOURS", default.factory_reminder_hours, minimum=1
            ),
            default_country=country,
            expiry_sweep_seconds=_int(env, "EXPIRY_SWEEP_SECONDS", default.expiry_sweep_seconds, minimum=5),
            reminder_hours=_reminder_hours(env, "REMINDER_HOURS", default.reminder_hours),
            conversation_flow_minutes=_int(
                env, "CONVERSATION_FLOW_MINUTES", default.conversation_flow_minutes, minimum=1
            ),
            vocabulary_cache_seconds=_int(
                env, "CONVERSATION_VOCABULARY_SECONDS", default.vocabulary_cache_seconds
            ),
            xendit_secret_key=_text(env, "XENDIT_SECRET_KEY"),
            xendit_callback_token=_text(env, "XENDIT_CALLBACK_TOKEN"),
            xendit_api_base_url=_url(env, "XENDIT_API_BASE_URL"),
            xendit_timeout_seconds=_int(
                env, "XENDIT_TIMEOUT_SECONDS", default.xendit_timeout_seconds, minimum=1
            ),
            payment_deadline_hours=_int(
                env,
                "PAYMENT_DEADLINE_HOURS",
                default.payment_deadline_hours,
                minimum=1,
                maximum=MAX_PAYMENT_DEADLINE_HOURS,
            ),
        )
        if settings.xendit_secret_key and not settings.xendit_callback_token:
            # every callback would be refused, and each payment would wait for reconciliation
            raise ConfigError("XENDIT_CALLBACK_TOKEN is required when XENDIT_SECRET_KEY is set")
        return settings

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"unix://{EMBEDDED_REDIS_SOCKET}"

    @property
    def embedded_database(self) -> bool:
        """SQLite: the embedded default on one machine, not a production deployment."""
        return self.database_url.startswith("sqlite")

    @property
    def console_transport(self) -> bool:
        """No Twilio credentials: outbound messages are printed and recorded, not sent."""
        return not (self.twilio_account_sid and self.twilio_auth_token)

    @property
    def online_payment(self) -> bool:
        """Orders get a payment link (a Xendit invoice); without it they state the amount due."""
        return bool(self.xendit_secret_key)

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

    def require_secret_key(self) -> str | None:
        """The dashboard's signing key; None on the embedded default without one (the app then makes a key
        for its own process). Fails fast in production (PostgreSQL) when `SECRET_KEY` is missing."""
        if self.secret_key is None and not self.embedded_database:
            raise ConfigError(
                f"SECRET_KEY is required outside the embedded SQLite default ({SECRET_KEY_HINT})"
            )
        return self.secret_key


# --- parsing: one small helper per kind of value; each names its variable in the error ---


def _text(env: Mapping[str, str], name: str) -> str | None:
    """The value with surrounding blanks removed; unset or blank = None."""
    return env.get(name, "").strip() or None


def _url(env: Mapping[str, str], name: str) -> str | None:
    """A base URL without its trailing slash, so paths are appended with one."""
    return (_text(env, name) or "").rstrip("/") or None


def _int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be {minimum}..{maximum}, got {value}")
    return value


def _database_url(env: Mapping[str, str], name: str, default: str) -> str:
    url = _text(env, name) or default
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def _region(env: Mapping[str, str], name: str, default: str) -> str:
    region = (_text(env, name) or default).upper()
    if len(region) != 2 or not region.isalpha():
        raise ConfigError(f"{name} must be a two-letter region code, got {region!r}")
    return region


def _phone(env: Mapping[str, str], name: str, region: str) -> str | None:
    """A phone number in E.164, read in `region` when written the local way."""
    raw = _text(env, name)
    if raw is None:
        return None
    try:
        return normalise(raw, region)
    except InvalidPhone:
        raise ConfigError(f"{name} is not a phone number: {raw!r}") from None


def _whatsapp_number(env: Mapping[str, str], name: str) -> str | None:
    """A sender as Twilio writes it (`whatsapp:+14155238886`), checked to be a phone number."""
    raw = _text(env, name)
    if raw is not None:
        _phone_digits(name, raw)
    return raw


def _phone_digits(name: str, value: str) -> str:
    """`whatsapp:+62 812-3456` -> `628123456`, the form wa.me links take."""
    value = value.removeprefix("whatsapp:")
    digits = "".join(ch for ch in value if ch.isdigit())
    if not 8 <= len(digits) <= 15 or any(ch not in "+0123456789 -()" for ch in value):
        raise ConfigError(f"{name} is not a phone number: {value!r}")
    return digits


def _content_sids(env: Mapping[str, str], factory_po_name: str) -> dict[str, str]:
    """`TWILIO_CONTENT_SID_<KEY>` -> {KEY: sid}; the older `factory_po_name` variable fills FACTORY_PO."""
    sids = {
        name[len(CONTENT_SID_PREFIX) :].upper(): value
        for name, value in env.items()
        if name.startswith(CONTENT_SID_PREFIX) and value
    }
    factory_po = _text(env, factory_po_name)
    if factory_po:
        sids.setdefault("FACTORY_PO", factory_po)
    return sids


def _reminder_hours(env: Mapping[str, str], name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """`24,3`: whole hours before a deadline, latest first, each once; `off` for none."""
    raw = _text(env, name)
    if raw is None:
        return default
    if raw.lower() == "off":
        return ()
    try:
        hours = {int(part) for part in raw.split(",") if part.strip()}
    except ValueError:
        raise ConfigError(f"{name} must be whole hours separated by commas, got {raw!r}") from None
    if not hours or min(hours) < 1 or max(hours) > MAX_REMINDER_HOURS:
        raise ConfigError(f"{name} must be hours from 1 to {MAX_REMINDER_HOURS}, got {raw!r}")
    return tuple(sorted(hours, reverse=True))


def _secret_key(env: Mapping[str, str], name: str) -> str | None:
    key = _text(env, name)
    if key is not None and len(key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(f"{name} must be at least {MIN_SECRET_KEY_LENGTH} characters ({SECRET_KEY_HINT})")
    return key
