"""Application factory: `gunicorn 'bot.app:create_app()'`."""

from __future__ import annotations

import logging

from flask import Flask

from bot import admin_api, cli, context, dashboard, health, http_errors, payment_webhooks, webhooks
from core.db import session_factory
from core.settings import Settings
from core.unit_of_work import Dispatch
from jobs.dispatch import QueueDispatch


def create_app(settings: Settings | None = None, dispatch: Dispatch | None = None) -> Flask:
    """`dispatch` hands new outbox ids (and follow-ups) to the queue after each commit, on the Redis of
    these settings, never raising (the periodic jobs catch up); tests may pass their own."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=256 * 1024)
    context.install(
        app,
        context.Laku(
            settings=settings,
            db_factory=session_factory(settings.database_url),
            dispatch=QueueDispatch(settings) if dispatch is None else dispatch,
        ),
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(payment_webhooks.blueprint)
    app.register_blueprint(health.blueprint)
    admin_api.register(app)
    dashboard.register(app, settings)
    http_errors.register(app)
    cli.register(app)
    return app
