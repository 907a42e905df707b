"""The real app for the webhook benchmark, plus one trivial route as the throughput ceiling.

gunicorn serves `bench.webhook_app:create_bench_app()`: exactly `bot.app:create_app()` (settings from the
environment, the real queue dispatch), with `/bench/ping` added. The ping does what every webhook request
does before it touches the database (Flask routing, form parsing and, on POST, the same Twilio signature
check as the webhook) and answers an empty TwiML `<Response/>`, so "join req/s / ping req/s" is the share
of the ceiling that the database work leaves. `GET /healthz` is no ceiling: it pings PostgreSQL and Redis.
"""

from __future__ import annotations

from flask import Flask, Response, request

from bot.app import create_app
from bot.webhooks import signature_ok, twiml

PING_PATH = "/bench/ping"


def create_bench_app() -> Flask:
    app = create_app()

    @app.route(PING_PATH, methods=["GET", "POST"])
    def bench_ping() -> Response:
        if request.method == "POST":
            request.form  # noqa: B018 - parse the body, as the webhook does
            if not signature_ok():
                return Response("invalid signature", status=403, mimetype="text/plain")
        return twiml(None)

    return app
