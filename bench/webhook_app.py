"""The real app for the webhook benchmark, plus one trivial route as the throughput ceiling.

gunicorn serves `bench.webhook_app:create_bench_app()`: exactly `bot.app:create_app()` (settings from the
environment, the real queue dispatch), with `/bench/ping` added. The ping does what every webhook request
does before it touches the database: Flask routing, form parsing and, on POST, a Twilio signature check
(the same `twilio.request_validator` call on `PUBLIC_BASE_URL` + path, with `TWILIO_AUTH_TOKEN`), and it
answers an empty TwiML `<Response/>`. So "join req/s / ping req/s" is the share of the ceiling that the
database work leaves. (`GET /healthz` is no ceiling: it pings PostgreSQL and Redis.)
"""

from __future__ import annotations

import os

from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

from bot.app import create_app

PING_PATH = "/bench/ping"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def create_bench_app() -> Flask:
    app = create_app()
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    signed_url = os.environ["PUBLIC_BASE_URL"] + PING_PATH

    @app.route(PING_PATH, methods=["GET", "POST"])
    def bench_ping() -> Response:
        if request.method == "POST":
            signature = request.headers.get("X-Twilio-Signature", "")
            if not validator.validate(signed_url, request.form, signature):
                return Response("invalid signature", status=403, mimetype="text/plain")
        return Response(EMPTY_TWIML, mimetype="text/xml")

    return app
