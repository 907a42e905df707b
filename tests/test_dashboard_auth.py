"""Dashboard accounts and guards: no page and no action without a login, CSRF on every POST, throttled
logins, password hashes, the session cookie, and the JSON API keeping its own bearer token."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from bot.app import create_app
from core import operators
from core.clock import now
from core.db import transaction
from core.errors import Invalid
from core.models import GroupSession, LoginThrottle, Operator
from core.settings import ConfigError, Settings
from tests.builders import (
    ADMIN_HEADERS,
    OPERATOR_PASSWORD,
    TSHIRT_MIX,
    counts,
    make_session,
)
from tests.builders import Operator as Browser

PUBLIC = {"dashboard.auth.login", "dashboard.auth.language", "dashboard.static"}
SAMPLE_ARGS = {"code": "GB1", "action": "close", "message_id": 1, "sku": "TS-M", "filename": "dashboard.css"}


def dashboard_rules(app, method: str) -> list[str]:
    """Every dashboard URL answering `method`, with sample arguments: each view is checked, new ones too."""
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if (
                rule.endpoint.startswith("dashboard.")
                and rule.endpoint not in PUBLIC
                and method in rule.methods
            ):
                urls.append(rule.build({name: SAMPLE_ARGS[name] for name in rule.arguments})[1])
    assert urls
    return sorted(set(urls))


def test_every_page_redirects_to_the_login_without_a_login(app, client, db_factory):
    make_session(db_factory, TSHIRT_MIX)
    for url in dashboard_rules(app, "GET"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/admin/login?next=/admin/"), url


def test_every_action_is_refused_without_a_login_and_changes_nothing(app, client, db_factory):
    make_session(db_factory, TSHIRT_MIX)
    token = Browser(client).token()  # a valid CSRF token does not stand in for a login
    before = counts(db_factory)
    for url in dashboard_rules(app, "POST"):
        for data in ({}, {"csrf_token": token, "on_hand": "5", "name": "Pabrik", "phone": "0812 1111 2222"}):
            response = client.post(url, data=data)
            assert response.status_code == 401, url
            assert "Silakan masuk dulu" in response.get_data(as_text=True)
    assert counts(db_factory) == before
    with db_factory() as db:
        assert db.scalar(select(GroupSession.status)) == "forming"


@pytest.mark.parametrize("token", [None, "", "not-a-token", "IjEyMzQ1Ig.ZZZ.wrong"])
def test_every_action_without_the_right_csrf_token_is_refused(app, dashboard, db_factory, token):
    make_session(db_factory, TSHIRT_MIX)
    before = counts(db_factory)
    for url in dashboard_rules(app, "POST"):
        data = {"on_hand": "5", "name": "Pabrik", "phone": "0812 1111 2222", "language": "en"}
        if token is not None:
            data["csrf_token"] = token
        response = dashboard.client.post(url, data=data)
        assert response.status_code == 400, url
        assert "Formulir ini kedaluwarsa" in response.get_data(as_text=True)
    assert counts(db_factory) == before
    # still signed in, still Indonesian: the refused logout and language switch did nothing either
    assert "Sesi grosir" in dashboard.page("/admin/")


def test_the_login_form_itself_needs_its_csrf_token(client, operator):
    response = client.post("/admin/login", data={"username": operator, "password": OPERATOR_PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302  # not signed in


def test_a_token_from_another_browser_session_is_refused(app, operator, db_factory):
    make_session(db_factory, TSHIRT_MIX)
    mallory, victim = Browser(app.test_client()), Browser(app.test_client())
    assert victim.login(operator, OPERATOR_PASSWORD).status_code == 302
    foreign = mallory.token()
    response = victim.client.post("/admin/sessions/GB1/cancel", data={"csrf_token": foreign})
    assert response.status_code == 400
    with db_factory() as db:
        assert db.scalar(select(GroupSession.status)) == "forming"


def test_login_logout_and_the_next_page(client, operator):
    browser = Browser(client)
    response = browser.post(
        "/admin/login?next=/admin/stock/",
        {"username": "OPERATOR ", "password": OPERATOR_PASSWORD},
        page="/admin/login",
    )
    assert response.status_code == 302 and response.headers["Location"] == "/admin/stock/"
    assert browser.get("/admin/stock/").status_code == 200
    assert browser.post("/admin/logout").status_code == 302
    assert browser.get("/admin/stock/").status_code == 302


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "\\\\evil.example", "javascript:x"]
)
def test_next_never_leaves_the_site(client, operator, target):
    response = Browser(client).post(
        f"/admin/login?next={target}",
        {"username": operator, "password": OPERATOR_PASSWORD},
        page="/admin/login",
    )
    assert response.headers["Location"] == "/admin/"


def test_wrong_password_and_unknown_user_get_the_same_answer(client, operator):
    browser = Browser(client)
    wrong = browser.login(operator, "not the password")
    unknown = browser.login("nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Nama pengguna atau kata sandi salah" in wrong.get_data(as_text=True)
    assert "Nama pengguna atau kata sandi salah" in unknown.get_data(as_text=True)


def test_an_account_is_throttled_after_five_failures_even_for_the_right_password(
    client, operator, db_factory
):
    browser = Browser(client)
    for _ in range(operators.ACCOUNT_LIMIT.failures):
        assert browser.login(operator, "wrong password!").status_code == 401
    refused = browser.login(operator, OPERATOR_PASSWORD)
    assert refused.status_code == 429
    assert "Terlalu banyak percobaan gagal. Coba lagi dalam 15 menit." in refused.get_data(as_text=True)
    assert browser.get("/admin/").status_code == 302
    with time_machine.travel(now() + operators.ACCOUNT_LIMIT.window + timedelta(seconds=1)):
        assert browser.login(operator, OPERATOR_PASSWORD).status_code == 302
    with db_factory() as db:  # a login clears the account's count
        assert db.scalar(select(LoginThrottle).where(LoginThrottle.key == f"account:{operator}")) is None


def test_an_address_is_throttled_across_usernames(client, operator):
    browser = Browser(client)
    for n in range(operators.ADDRESS_LIMIT.failures):
        assert browser.login(f"guess{n}", "wrong password!").status_code == 401
    assert browser.login(operator, OPERATOR_PASSWORD).status_code == 429
    # another address is not held back by this one's failures
    other = client.application.test_client()
    response = Browser(other).post(
        "/admin/login",
        {"username": operator, "password": OPERATOR_PASSWORD},
        page="/admin/login",
        environ_base={"REMOTE_ADDR": "10.9.8.7"},
    )
    assert response.status_code == 302


def test_the_count_is_kept_in_the_database_for_every_web_process(settings, dispatched, operator, db_factory):
    """Two app instances (as two gunicorn workers) share one count."""
    first = Browser(create_app(settings, dispatch=dispatched).test_client())
    second = Browser(create_app(settings, dispatch=dispatched).test_client())
    for n in range(operators.ACCOUNT_LIMIT.failures):
        assert (first if n % 2 else second).login(operator, "wrong password!").status_code == 401
    assert first.login(operator, OPERATOR_PASSWORD).status_code == 429
    assert second.login(operator, OPERATOR_PASSWORD).status_code == 429
    with db_factory() as db:
        failures = db.scalar(select(LoginThrottle.failures).where(LoginThrottle.key == f"account:{operator}"))
    assert failures == operators.ACCOUNT_LIMIT.failures


def test_passwords_are_stored_only_as_argon2id_hashes(db_factory, cli):
    assert cli("create-operator", "Sari", "--password", "kata sandi rahasia").exit_code == 0
    with db_factory() as db:
        stored = db.scalar(select(Operator).where(Operator.username == "sari"))
    assert stored.password_hash.startswith("$argon2id$")
    assert "kata sandi rahasia" not in stored.password_hash
    assert operators.password_matches(stored, "kata sandi rahasia")
    assert not operators.password_matches(stored, "kata sandi rahasiA")


def test_create_operator_refusals(cli, operator):
    short = cli("create-operator", "budi", "--password", "short")
    assert short.exit_code != 0 and "password: must be at least 10 characters" in short.output
    taken = cli("create-operator", operator, "--password", "long enough password")
    assert taken.exit_code != 0 and "already exists" in taken.output
    missing = cli("create-operator", "nobody", "--reset", "--password", "long enough password")
    assert missing.exit_code != 0 and "no operator nobody" in missing.output


def test_a_new_password_ends_the_sessions_signed_in_with_the_old_one(dashboard, cli, operator):
    assert dashboard.get("/admin/").status_code == 200
    assert cli("create-operator", operator, "--reset", "--password", "a brand new password").exit_code == 0
    assert dashboard.get("/admin/").status_code == 302
    assert dashboard.login(operator, "a brand new password").status_code == 302


def test_demo_operator_keeps_its_login_for_make_run(cli, db_factory, tmp_path):
    login_file = tmp_path / "demo-login"
    first = cli("demo-operator", "--login-file", str(login_file))
    password = re.search(r"Dashboard login: admin / (\S+)", first.output).group(1)
    assert login_file.read_text().strip() == f"admin / {password}"
    assert oct(login_file.stat().st_mode & 0o777) == "0o600"
    again = cli("demo-operator", "--login-file", str(login_file))
    assert f"admin / {password}" in again.output
    assert cli("create-operator", "admin", "--reset", "--password", "changed by the operator").exit_code == 0
    changed = cli("demo-operator", "--login-file", str(login_file))
    assert "log in as admin with the password you set" in changed.output
    assert not login_file.exists()


def test_session_cookie_is_httponly_lax_and_secure_over_https(app, operator):
    plain = Browser(app.test_client())
    cookie = plain.login(operator, OPERATOR_PASSWORD).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    https = app.test_client()
    page = https.get("/admin/login", base_url="https://localhost").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    cookie = https.post(
        "/admin/login",
        base_url="https://localhost",
        data={"username": operator, "password": OPERATOR_PASSWORD, "csrf_token": token},
        headers={"Referer": "https://localhost/admin/login"},
    ).headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_a_public_https_url_marks_the_cookie_secure(settings, dispatched, operator):
    app = create_app(
        dataclasses.replace(settings, public_base_url="https://laku.example"), dispatch=dispatched
    )
    browser = Browser(app.test_client())
    assert "Secure" in browser.login(operator, OPERATOR_PASSWORD).headers["Set-Cookie"]


def test_pages_carry_security_headers(dashboard):
    response = dashboard.get("/admin/")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_json_api_keeps_its_bearer_token_and_needs_no_csrf(dashboard, db_factory):
    make_session(db_factory, TSHIRT_MIX)
    # a dashboard login is no API credential
    assert dashboard.client.get("/api/v1/sessions/GB1").status_code == 401
    response = dashboard.client.post("/api/v1/sessions/GB1/cancel", headers=ADMIN_HEADERS)
    assert response.status_code == 200 and response.json["status"] == "cancelled"


def test_secret_key_is_required_outside_the_embedded_default(dispatched):
    production = Settings(database_url="postgresql+psycopg://laku@db/laku")
    with pytest.raises(ConfigError, match="SECRET_KEY is required"):
        create_app(production, dispatch=dispatched)
    with pytest.raises(ConfigError, match="at least 32 characters"):
        Settings.from_env({"SECRET_KEY": "short"})
    assert Settings.from_env({"SECRET_KEY": "k" * 32, "TRUSTED_PROXIES": "1"}).trusted_proxies == 1


def test_behind_a_trusted_proxy_the_client_address_is_throttled(settings, dispatched, operator):
    app = create_app(dataclasses.replace(settings, trusted_proxies=1), dispatch=dispatched)
    browser = Browser(app.test_client())
    for n in range(operators.ADDRESS_LIMIT.failures):
        response = browser.post(
            "/admin/login",
            {"username": f"guess{n}", "password": "wrong password!"},
            headers={"X-Forwarded-For": "203.0.113.9"},
            page="/admin/login",
        )
        assert response.status_code == 401
    elsewhere = browser.post(
        "/admin/login",
        {"username": operator, "password": OPERATOR_PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.4"},
        page="/admin/login",
    )
    assert elsewhere.status_code == 302


def test_operators_in_core_refuse_bad_usernames(db_factory):
    with transaction(db_factory) as db, pytest.raises(Invalid, match="2-64"):
        operators.create_operator(db, username="a b", password="long enough password")
