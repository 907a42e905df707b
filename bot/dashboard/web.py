"""What every dashboard page shares: who is signed in, CSRF, the reader's language, flash messages for refusals.

Every request under `/admin` passes `guard` first: without a signed-in operator a page redirects to the
login and any other request is refused (401); every POST must then carry the form's CSRF token
(Flask-WTF), or it is refused (400) before any view runs, so nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from flask import Response, flash, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect

from bot import context
from bot.dashboard.texts import LANGUAGES, TEXTS, label, text
from core import operators
from core.clock import as_utc, format_wib, now
from core.errors import DomainError
from core.models import Operator

T = TypeVar("T")

csrf = CSRFProtect()

PUBLIC_ENDPOINTS = {"dashboard.auth.login", "dashboard.auth.language", "dashboard.static"}
OPERATOR_ID = "operator_id"
OPERATOR_STAMP = "operator_stamp"
LANGUAGE = "language"


def language() -> str:
    chosen = session.get(LANGUAGE)
    return chosen if chosen in LANGUAGES else "id"


def t(key: str, **values: object) -> str:
    return text(language(), key, **values)


def wib(value: datetime | str | None) -> str:
    """A time as the operator reads it, in WIB (ISO strings from the serializers are parsed first)."""
    if not value:
        return "–"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return format_wib(as_utc(when), language())


def label_for(key: object) -> str:
    return label(language(), key)


COUNTDOWN_KEYS = {
    "days": "time.days",
    "hours": "time.hours",
    "minutes": "time.minutes",
    "seconds": "time.seconds",
    "remaining": "session.remaining",
    "time_up": "session.time_up",
}


def countdown_words() -> dict[str, str]:
    """The words the page script counts down with (the same as `remaining`), placeholders kept."""
    return {name: TEXTS[language()][key] for name, key in COUNTDOWN_KEYS.items()}


def remaining(ends_at: datetime | str) -> str:
    """Time left until `ends_at`, to the minute or second as it nears (the script keeps it counting)."""
    end = datetime.fromisoformat(ends_at) if isinstance(ends_at, str) else ends_at
    seconds = int((as_utc(end) - now()).total_seconds())
    if seconds <= 0:
        return t("session.time_up")
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        parts = [t("time.days", n=days), t("time.hours", n=hours)]
    elif hours:
        parts = [t("time.hours", n=hours), t("time.minutes", n=minutes)]
    else:
        parts = [t("time.minutes", n=minutes), t("time.seconds", n=seconds)]
    return t("session.remaining", time=" ".join(parts))


def page_context() -> dict[str, object]:
    return {"g_lang": language(), "countdown_words": countdown_words()}


def sign_in(operator: Operator) -> None:
    chosen = session.get(LANGUAGE)
    session.clear()  # a fresh session (and CSRF token) at login
    session.permanent = True
    session[OPERATOR_ID] = operator.id
    session[OPERATOR_STAMP] = operators.session_stamp(operator)
    if chosen:
        session[LANGUAGE] = chosen


def sign_out() -> None:
    chosen = session.get(LANGUAGE)
    session.clear()
    if chosen:
        session[LANGUAGE] = chosen


def _signed_in() -> Operator | None:
    operator_id = session.get(OPERATOR_ID)
    if not isinstance(operator_id, int):
        return None
    with context.db_factory()() as db:
        operator = db.get(Operator, operator_id)
    if operator is None or session.get(OPERATOR_STAMP) != operators.session_stamp(operator):
        sign_out()  # the account is gone or its password changed since this browser signed in
        return None
    return operator


def guard() -> Response | tuple[str, int] | None:
    """Before every dashboard request: a signed-in operator (except the login itself), then CSRF on POST."""
    if request.endpoint not in PUBLIC_ENDPOINTS:
        operator = _signed_in()
        if operator is None:
            if request.method in ("GET", "HEAD"):
                return redirect(url_for("dashboard.auth.login", next=request.full_path.rstrip("?")))
            return refused(401, t("refused.login"))
        g.operator = operator
    if request.method == "POST":
        csrf.protect()
    return None


def refused(status: int, message: str) -> tuple[str, int]:
    return render_template("dashboard/refused.html", status=status, message=message), status


def csrf_refused(error: CSRFError) -> tuple[str, int]:
    return refused(400, t("refused.csrf"))


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def secure_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "dashboard.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def attempt(action: Callable[[], T], done: Callable[[T], str], failed: str) -> T | None:
    """Run one core operation; say how it went as a flash message. A refusal (a domain error: not found,
    not allowed in this state, the warehouse down...) changed nothing and is shown, never raised."""
    try:
        result = action()
    except DomainError as error:
        flash(f"{failed}: {error.message}", "error")
        return None
    flash(done(result), "ok")
    return result


def back(default: str) -> Response:
    """Redirect to `next` when it is a path on this site, else to `default`."""
    target = request.form.get("next") or request.args.get("next") or ""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = default
    return redirect(target)
