"""Messages: outbound messages that failed or got stuck, with a retry; inbound messages searched by phone.

The retry is `core.outbox.retry_message` in one unit of work: the row goes back to `queued` and is handed
to the queue after the commit, the one way every outbox message is sent.
"""

from __future__ import annotations

import re

from flask import Blueprint, render_template, request, url_for
from sqlalchemy import select

from bot import context, serializers
from bot.dashboard import web
from core import outbox
from core.models import InboundMessage
from core.phones import InvalidPhone, normalise

blueprint = Blueprint("messages", __name__, url_prefix="/messages")

LIMIT = 100
DIGITS = re.compile(r"\d+")


def _phone_pattern(query: str, region: str) -> str | None:
    """What to look for in a sender address: the E.164 number when the query is one, else its digits
    (part of a number); None for no digits at all."""
    try:
        return normalise(query, region)
    except InvalidPhone:
        digits = "".join(DIGITS.findall(query))
        return digits or None


@blueprint.get("/")
def index():
    query = (request.args.get("phone") or "").strip()[:40]
    pattern = _phone_pattern(query, context.settings().default_country) if query else None
    with context.db_factory()() as db:
        stuck = [serializers.outbound_json(m) for m in outbox.failed_or_stuck(db, LIMIT)]
        inbound = select(InboundMessage).order_by(InboundMessage.id.desc()).limit(LIMIT)
        if pattern is not None:
            inbound = inbound.where(InboundMessage.from_phone.contains(pattern, autoescape=True))
        received = (
            [] if query and pattern is None else [serializers.inbound_json(m) for m in db.scalars(inbound)]
        )
    return render_template("dashboard/messages.html", stuck=stuck, inbound=received, phone=query)


@blueprint.post("/<int:message_id>/retry")
def retry(message_id: int):
    def run() -> int:
        with context.unit_of_work() as db:
            outbox.retry_message(db, message_id)
        return message_id

    web.attempt(
        run, lambda _: web.t("messages.retried", id=message_id), web.t("messages.retry_failed", id=message_id)
    )
    return web.back(url_for("dashboard.messages.index"))
