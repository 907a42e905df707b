"""Configuration is parsed once and fails fast on bad values."""

import re

import pytest

from core.settings import CONTENT_SID_PREFIX, PROJECT_ROOT, ConfigError, Settings


def test_defaults_are_the_embedded_setup():
    settings = Settings.from_env({})
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith(
        "instance/laku.db"
    )
    assert settings.redis_url is None and settings.effective_redis_url.endswith("instance/redis.sock")
    assert settings.console_transport and settings.admin_token is None and settings.default_country == "ID"
    assert settings == Settings()  # the defaults are the fields' own, written once


def test_postgres_urls_use_psycopg3_and_phones_are_normalised():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgres://u:p@db/laku",
            "ADMIN_WHATSAPP": "0812-3456-7890",
            "TWILIO_ACCOUNT_SID": "AC1",
            "TWILIO_AUTH_TOKEN": "t",
            "TWILIO_CONTENT_SID_MOQ_REACHED": "HX1",
            "TWILIO_FACTORY_PO_CONTENT_SID": "HX2",
            "PUBLIC_BASE_URL": "https://laku.example/",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u:p@db/laku"
    assert settings.admin_whatsapp == "+6281234567890"
    assert not settings.console_transport
    assert settings.content_sid_for("moq_reached") == "HX1"
    assert settings.content_sid_for("factory_po") == "HX2"
    assert settings.public_base_url == "https://laku.example"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ADMIN_WHATSAPP": "not a phone"}, "ADMIN_WHATSAPP"),
        ({"DEFAULT_COUNTRY": "Indonesia"}, "DEFAULT_COUNTRY"),
        ({"WAREHOUSE_TIMEOUT_SECONDS": "soon"}, "WAREHOUSE_TIMEOUT_SECONDS"),
        ({"EXPIRY_SWEEP_SECONDS": "1"}, "EXPIRY_SWEEP_SECONDS"),
        ({"XENDIT_SECRET_KEY": "xnd_development_1"}, "XENDIT_CALLBACK_TOKEN"),
        ({"PAYMENT_DEADLINE_HOURS": "0"}, "PAYMENT_DEADLINE_HOURS"),
        ({"PAYMENT_DEADLINE_HOURS": "8761"}, "PAYMENT_DEADLINE_HOURS"),
        ({"XENDIT_TIMEOUT_SECONDS": "0"}, "XENDIT_TIMEOUT_SECONDS"),
        ({"TWILIO_MAX_MPS": "0"}, "TWILIO_MAX_MPS"),
        ({"TWILIO_TIMEOUT_SECONDS": "soon"}, "TWILIO_TIMEOUT_SECONDS"),
    ],
)
def test_bad_values_fail_at_start_up(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_a_template_per_language_wins_over_the_default_one():
    settings = Settings.from_env(
        {"TWILIO_CONTENT_SID_ORDER_CREATED": "HXid", "TWILIO_CONTENT_SID_ORDER_CREATED_EN": "HXen"}
    )
    assert settings.content_sid_for("order_created", "en") == "HXen"
    assert settings.content_sid_for("order_created", "id") == "HXid"
    assert settings.content_sid_for("order_created") == "HXid"
    assert settings.content_sid_for("session_failed", "en") is None


def test_online_payment_is_off_by_default_and_on_with_a_secret_key_and_its_callback_token():
    assert not Settings.from_env({}).online_payment
    assert Settings.from_env({}).payment_deadline_hours == 48
    settings = Settings.from_env(
        {
            "XENDIT_SECRET_KEY": "xnd_development_1",
            "XENDIT_CALLBACK_TOKEN": "token",
            "XENDIT_API_BASE_URL": "http://127.0.0.1:9/",
            "PAYMENT_DEADLINE_HOURS": "24",
        }
    )
    assert settings.online_payment and settings.xendit_callback_token == "token"
    assert settings.xendit_api_base_url == "http://127.0.0.1:9"
    assert (settings.payment_deadline_hours, settings.xendit_timeout_seconds) == (24, 20)


def test_every_variable_read_is_in_the_deployment_guides_configuration_table():
    source = (PROJECT_ROOT / "core" / "settings.py").read_text()
    read = set(re.findall(r'\benv,\s+"([A-Z_]+)"', source)) | {f"{CONTENT_SID_PREFIX}<TYPE>"}
    guide = (PROJECT_ROOT / "docs" / "deployment.md").read_text()
    table = guide.split("## Configuration", 1)[1]
    assert len(read) > 25 and sorted(name for name in read if f"`{name}`" not in table) == []
