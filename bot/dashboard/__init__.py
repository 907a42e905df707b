"""The operator's dashboard at `/admin`: the admin API's operations for a person in a browser.

Server-rendered pages (Jinja), a CSS and a small script of our own under `static/` (nothing from a CDN,
no build step; every page works without the script). Each area is a blueprint of its own: sessions,
catalog, stock, messages, and auth (login, logout, language). The pages read sessions through the same
functions as the JSON API (`bot.admin_api.session_payload`, `bot.serializers`) and change things through
the same core operations as the API and the CLI, so the three never disagree.

Operators sign in with their own accounts (`flask laku create-operator`); the JSON API keeps its bearer
token. The browser session is Flask's signed cookie (`SECRET_KEY`): HttpOnly, SameSite=Lax, Secure when
served over HTTPS, 12 hours. Every POST carries a CSRF token (Flask-WTF).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from flask import Blueprint, Flask, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from bot.dashboard import auth, catalog, messages, sessions, stock, web
from bot.dashboard.texts import text
from core.settings import Settings
from core.texts import rupiah

log = logging.getLogger(__name__)

blueprint = Blueprint(
    "dashboard", __name__, url_prefix="/admin", template_folder="templates", static_folder="static"
)
for area in (auth, sessions, catalog, stock, messages):
    blueprint.register_blueprint(area.blueprint)
blueprint.before_request(web.guard)
blueprint.after_request(web.secure_headers)
blueprint.register_error_handler(web.CSRFError, web.csrf_refused)
blueprint.context_processor(web.page_context)

SESSION_LIFETIME = timedelta(hours=12)


class SessionCookie(SecureCookieSessionInterface):
    """Flask's signed session cookie, marked Secure whenever the request came over HTTPS (directly, or
    through `TRUSTED_PROXIES` that say so) or the public URL is HTTPS."""

    def __init__(self, public_https: bool):
        self.public_https = public_https

    def get_cookie_secure(self, app: Flask) -> bool:
        return self.public_https or bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def register(app: Flask, settings: Settings) -> None:
    secret_key = settings.require_secret_key()
    if secret_key is None:
        log.warning(
            "SECRET_KEY is not set: this process signs dashboard logins with a key of its own, lost at "
            "restart (`make run` stores one under instance/)"
        )
        secret_key = secrets.token_hex(32)
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_NAME="laku_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in `web.guard` for the dashboard only, not the webhooks/API
        WTF_CSRF_TIME_LIMIT=int(SESSION_LIFETIME.total_seconds()),
        WTF_CSRF_SSL_STRICT=True,
    )
    app.session_interface = SessionCookie(public_https=(settings.public_base_url or "").startswith("https:"))
    if settings.trusted_proxies:
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    web.csrf.init_app(app)
    app.jinja_env.globals.update(
        t=web.t, text=text, wib=web.wib, remaining=web.remaining, label_for=web.label_for, rupiah=rupiah
    )
    app.register_blueprint(blueprint)
