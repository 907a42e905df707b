"""Logging in and out, and the reader's language (Bahasa Indonesia first, English on request)."""

from __future__ import annotations

from flask import Blueprint, flash, render_template, request, session, url_for

from bot import context
from bot.dashboard import web
from bot.dashboard.texts import LANGUAGES
from core import operators
from core.db import transaction

blueprint = Blueprint("auth", __name__)


def _minutes(seconds: float) -> int:
    return max(1, -(-int(seconds) // 60))


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("dashboard/login.html", username="", error=None)
    username = request.form.get("username", "")[:200]
    password = request.form.get("password", "")[: operators.MAX_PASSWORD_LENGTH + 1]
    with transaction(context.db_factory()) as db:  # committed either way: failures stay counted
        outcome = operators.log_in(db, username, password, request.remote_addr or "unknown")
    if outcome.operator is not None:
        web.sign_in(outcome.operator)
        flash(web.t("auth.welcome", name=outcome.operator.username), "ok")
        return web.back(url_for("dashboard.sessions.index"))
    if outcome.retry_after is not None:
        error, status = web.t("auth.throttled", minutes=_minutes(outcome.retry_after.total_seconds())), 429
    else:
        error, status = web.t("auth.wrong"), 401
    return render_template("dashboard/login.html", username=username, error=error), status


@blueprint.post("/logout")
def logout():
    web.sign_out()
    flash(web.t("auth.bye"), "ok")
    return web.back(url_for("dashboard.auth.login"))


@blueprint.post("/language")
def language():
    chosen = request.form.get("language", "")
    if chosen in LANGUAGES:
        session[web.LANGUAGE] = chosen
    return web.back(url_for("dashboard.sessions.index"))
