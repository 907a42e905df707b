"""Test fixtures, defined here once: the database, settings, the app and its test client, the dispatcher
the app hands outbox ids to, a loopback server, Redis, and the fake Twilio, warehouse and Xendit services.

`DATABASE_URL=postgresql+psycopg://...` (CI) -> a fresh `laku_test_<random>` database on that server,
dropped at the end; unset -> a SQLite file in a temporary directory. Every fixture that opens the
database (`db_factory`, `db`, `app`) asks for `empty_tables` first, so each test starts from empty tables.
`REDIS_URL` -> that Redis server, in a database number of this process's own that the Redis tests flush;
unset -> those tests fail loudly rather than skip silently, unless `LAKU_ALLOW_NO_REDIS=1`.

Shared helpers (data builders, the admin header, reading rows back) are in `tests/builders.py`; the
signed WhatsApp phone is `tests/chat.py`.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
from alembic import command
from alembic.config import Config
from argon2 import PasswordHasher
from flask import Flask
from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from bot.app import create_app
from core import db as core_db
from core import operators, vocabulary
from core.clock import now
from core.models import Base
from core.settings import PROJECT_ROOT, Settings
from tests.builders import ADMIN_TOKEN, OPERATOR, OPERATOR_PASSWORD, SECRET_KEY, Dispatched, Operator
from tests.chat import AUTH_TOKEN
from tests.fakes.twilio_server import fake_twilio
from tests.fakes.warehouse_server import fake_warehouse
from tests.fakes.xendit_server import fake_xendit

__all__ = ["fake_twilio", "fake_warehouse", "fake_xendit"]  # fixtures defined beside their fakes

BASE_DATABASE_URL = Settings.from_env().database_url if os.environ.get("DATABASE_URL") else None


def _alembic_upgrade(url: str) -> None:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["skip_logging"] = True
    command.upgrade(config, "head")


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> None:
    """Argon2id with the least work, so logins in tests take milliseconds (production keeps the
    library's defaults; `core.operators.use_hasher`)."""
    operators.use_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    if BASE_DATABASE_URL and BASE_DATABASE_URL.startswith("postgresql"):
        base = make_url(BASE_DATABASE_URL)
        name = f"laku_test_{secrets.token_hex(4)}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)
        _alembic_upgrade(url)
        yield url
        core_db.engine_for(url).dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'laku-test.db'}"
        _alembic_upgrade(url)
        yield url


@pytest.fixture(scope="session")
def is_postgres(database_url) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture
def requires_postgres(is_postgres):
    """Correctness under concurrency is only claimed (and tested) on PostgreSQL; CI runs these."""
    if not is_postgres:
        if os.environ.get("CI") and not os.environ.get("LAKU_SQLITE_RUN"):
            pytest.fail("CI must run with DATABASE_URL pointing at PostgreSQL")
        pytest.skip("needs DATABASE_URL=postgresql+psycopg://... (CI sets it)")


_LEDGER_USED = "SELECT EXISTS (SELECT 1 FROM payment_events)"


def _empty_all_tables(url: str) -> None:
    """DELETE (not TRUNCATE, which rewrites every table and costs ~0.4 s a test on PostgreSQL) and
    restart the id sequences, so each test starts from an empty database with ids from 1."""
    engine = core_db.engine_for(url)
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql" and connection.scalar(text(_LEDGER_USED)):
            connection.execute(text("TRUNCATE payment_events"))  # its trigger refuses DELETE
        for table in tables:
            connection.execute(table.delete())
        if engine.dialect.name == "postgresql":
            for table in tables:
                if "id" in table.c and table.c.id.primary_key:
                    connection.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), 1, false)")
                    )
        # SQLite (no AUTOINCREMENT) hands out max(rowid) + 1, so emptied tables start from 1 again.


def own_redis_url(url: str) -> str:
    """REDIS_URL with a database number (1-12) that this pytest process holds a lease on.

    Tests run RQ workers on the `default` queue and flush their Redis database; another pytest process on
    the same server (a colleague's run) would otherwise take our jobs or flush them away. The lease is a
    key in database 0 (`SET NX` with an expiry, released at exit), so concurrent runs never share a number.
    On a dedicated CI Redis this changes nothing else.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return url
    number = _lease_redis_database(urlunsplit(parts._replace(path="/0")))
    return urlunsplit(parts._replace(path=f"/{number}"))


def _lease_redis_database(url: str, hours: int = 2) -> int:
    fallback = 1 + os.getpid() % 12
    try:
        connection = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        owner = f"{socket.gethostname()}:{os.getpid()}"
        for number in range(1, 13):  # 13-15 are the benchmarks' own
            key = f"laku-tests:redis-db:{number}"
            if connection.set(key, owner, nx=True, ex=hours * 3600):
                atexit.register(_release_lease, connection, key, owner)
                return number
    except Exception:  # noqa: BLE001 - no Redis: the Redis tests say so themselves
        return fallback
    return fallback


def _release_lease(connection, key: str, owner: str) -> None:
    try:
        if connection.get(key) == owner.encode():
            connection.delete(key)
    except Exception:  # noqa: BLE001
        pass


REDIS_URL = own_redis_url(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")


@pytest.fixture
def empty_tables(database_url) -> None:
    """Empty every table before the test (the fixtures that open the database ask for it); the open
    sessions' vocabulary the webhook reads messages with is read again."""
    _empty_all_tables(database_url)
    vocabulary.forget()


@pytest.fixture
def settings(database_url) -> Settings:
    """Settings for one test: its database, its Redis database, console transport, an admin token."""
    return Settings(
        database_url=database_url, redis_url=REDIS_URL, admin_token=ADMIN_TOKEN, secret_key=SECRET_KEY
    )


@pytest.fixture
def signed_settings(settings) -> Settings:
    """The test settings with a Twilio auth token: every webhook request is signature-checked."""
    return dataclasses.replace(settings, twilio_auth_token=AUTH_TOKEN)


@pytest.fixture
def db_factory(database_url, empty_tables) -> sessionmaker[Session]:
    return core_db.session_factory(database_url)


@pytest.fixture
def db(db_factory) -> Iterator[Session]:
    with db_factory() as session:
        yield session


@pytest.fixture
def redis_conn(settings):
    """A real Redis (CI: 127.0.0.1:6379), flushed before the test."""
    connection = Redis.from_url(settings.effective_redis_url)
    try:
        connection.ping()
    except Exception as error:  # noqa: BLE001
        if os.environ.get("LAKU_ALLOW_NO_REDIS"):
            pytest.skip(f"no Redis at {settings.effective_redis_url}: {error}")
        raise
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.fixture
def in_an_hour():
    return now() + timedelta(hours=1)


@pytest.fixture
def dispatched() -> Dispatched:
    """What the app hands to the queue after each commit (outbox ids), recorded instead of sent."""
    return Dispatched()


@pytest.fixture
def app(signed_settings, dispatched, empty_tables) -> Flask:
    """The real app: signed webhooks, the admin API (`builders.ADMIN_HEADERS`), a recording dispatcher."""
    return create_app(signed_settings, dispatch=dispatched)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def cli(app):
    """cli("close", "GB1") runs `flask laku close GB1` against the app; returns click's result."""
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=["laku", *args])


@pytest.fixture
def operator(db_factory) -> str:
    """A dashboard account (`builders.OPERATOR` / `builders.OPERATOR_PASSWORD`); returns its username."""
    with core_db.transaction(db_factory) as db:
        operators.create_operator(db, username=OPERATOR, password=OPERATOR_PASSWORD)
    return OPERATOR


@pytest.fixture
def dashboard(client, operator) -> Operator:
    """The test client as a signed-in operator (CSRF tokens taken from the pages, as a browser does)."""
    signed_in = Operator(client)
    assert signed_in.login(operator, OPERATOR_PASSWORD).status_code == 302
    return signed_in


@pytest.fixture
def server(app) -> Iterator[str]:
    """The app on a real loopback port, in a thread; yields its base URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)
    httpd.server_close()
