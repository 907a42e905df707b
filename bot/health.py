"""`GET /healthz`: is the database reachable, is Redis reachable. No auth, no secrets in the answer."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from redis import Redis
from sqlalchemy import text

from bot import context

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    settings = context.settings()
    checks = {}
    try:
        with context.db_factory()() as db:
            db.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
        current_app.logger.warning("health: database unreachable: %s", error)
        checks["database"] = "unreachable"
    try:
        connection = Redis.from_url(settings.effective_redis_url, socket_connect_timeout=1, socket_timeout=1)
        connection.ping()
        connection.close()
        checks["redis"] = "ok"
    except Exception as error:  # noqa: BLE001
        current_app.logger.warning("health: redis unreachable: %s", error)
        checks["redis"] = "unreachable"
    healthy = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if healthy else "degraded", **checks), 200 if healthy else 503
