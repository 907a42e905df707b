"""Application factory: `gunicorn 'bot.app:create_app()'`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask

from core.db import session_factory
from core.settings import Settings

Dispatch = Callable[[list[int]], object]


def _queue_dispatch(settings: Settings) -> Dispatch:
    def dispatch(message_ids: list[int]) -> object:
        if not message_ids:
            return 0
        from jobs.queues import dispatch_outbox

        return dispatch_outbox(message_ids, settings=settings)

    return dispatch


def create_app(settings: Settings | None = None, dispatch: Dispatch | None = None) -> Flask:
    """`dispatch` hands new outbox ids to the queue after each commit (tests may pass their own)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        LAKU_SETTINGS=settings,
        LAKU_DB=session_factory(settings.database_url),
        LAKU_DISPATCH=dispatch or _queue_dispatch(settings),
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=256 * 1024,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from bot import admin_api, cli, health, webhooks

    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(health.blueprint)
    admin_api.register(app)
    cli.register(app)
    return app
