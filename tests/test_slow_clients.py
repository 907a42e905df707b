"""Slow clients cannot take the webhook down: the Procfile's own `web` command, started as a deployment
starts it (`bin/web`: nginx in front of gunicorn), answers signed webhooks quickly while connections that
trickle their request stay open.

With the old line (2 sync workers facing clients, one request each at a time) two such connections held
both workers until gunicorn's 15 s timeout killed them, and every other request waited behind them
(`make bench-faults` measures 8/32/64 slow connections, old and new).
"""

from __future__ import annotations

import os
import time

import pytest
import requests
from sqlalchemy import select

from bench.faults_load import SlowClients
from bench.faults_web import WebFrontDoor, nginx_available
from core.models import InboundMessage
from core.settings import PROJECT_ROOT
from tests.chat import AUTH_TOKEN, WEBHOOK, Phone, sign

SLOW_CONNECTIONS = 6  # three times the old line's workers: half trickle the head, half the body
ANSWER_WITHIN_SECONDS = 2.0


@pytest.fixture
def procfile_web(settings, empty_tables, tmp_path):
    """The Procfile's `web` line on a free loopback port, on the test database and Redis, signed webhooks."""
    if not nginx_available():
        if os.environ.get("CI"):
            pytest.fail("CI must have nginx: the Procfile's web puts it in front of gunicorn (.ci/run)")
        pytest.skip("needs nginx (apt-get install nginx-light), as the Procfile's web does")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env.update(
        PYTHONPATH=str(PROJECT_ROOT),
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.effective_redis_url,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        SECRET_KEY=settings.secret_key,
    )
    web = WebFrontDoor("procfile", env, tmp_path)
    try:
        web.wait_ready("/healthz", timeout=30)
        yield f"http://127.0.0.1:{web.port}"  # no PUBLIC_BASE_URL: nginx passes the Host Twilio signed
    finally:
        web.stop(quick=True)


def post_signed(base_url: str, form: dict) -> requests.Response:
    """What Twilio does: a signed form post (fails fast instead of waiting out the old 15 s timeout)."""
    signature = sign(base_url + WEBHOOK, form)
    headers = {"X-Twilio-Signature": signature}
    return requests.post(base_url + WEBHOOK, data=form, headers=headers, timeout=ANSWER_WITHIN_SECONDS + 3)


def test_procfile_web_answers_signed_webhooks_while_slow_clients_hold_connections(procfile_web, db_factory):
    host, port = procfile_web.removeprefix("http://").split(":")
    slow = SlowClients(host, int(port), SLOW_CONNECTIONS, interval=0.5)
    slow.thread.start()
    try:
        time.sleep(1.0)  # every slow connection accepted and trickling
        assert slow.open_now() == SLOW_CONNECTIONS
        phone = Phone(None, "+6281200000901")
        for text in ("MENU", "SESI"):
            started = time.monotonic()
            response = post_signed(procfile_web, phone.form(text))
            elapsed = time.monotonic() - started
            assert response.status_code == 200 and "<Message>" in response.text, response.text
            assert elapsed < ANSWER_WITHIN_SECONDS, f"{text} answered after {elapsed:.1f} s"
    finally:
        slow.close()
    with db_factory() as db:
        assert db.scalars(select(InboundMessage.body).order_by(InboundMessage.id)).all() == ["MENU", "SESI"]
