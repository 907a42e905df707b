"""Xendit's invoice callbacks: `POST /webhooks/xendit/invoice`. Check the token, parse, call core, answer.

- No online payment configured: 404 (nothing listens).
- `x-callback-token` missing or not `XENDIT_CALLBACK_TOKEN` (compared in constant time): 403, nothing
  stored, not even the body read.
- A body that is not an invoice (not JSON, fields missing): 400 with the reason, nothing stored.
- Otherwise one unit of work (`core.payment_events.apply_invoice_event`) and 200 whatever the outcome
  (applied, a redelivery, an unknown invoice), so Xendit stops retrying; the JSON says which.
- The database unavailable: 503, so Xendit delivers it again later.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from sqlalchemy.exc import DBAPIError

from bot import context
from core import payment_events
from core.adapters.payments import InvalidInvoicePayload
from core.adapters.xendit import CALLBACK_TOKEN_HEADER, callback_token_matches, parse_callback

log = logging.getLogger(__name__)
blueprint = Blueprint("payment_webhooks", __name__)

INVOICE_CALLBACK_PATH = "/webhooks/xendit/invoice"


@blueprint.post(INVOICE_CALLBACK_PATH)
def xendit_invoice():
    settings = context.settings()
    if not settings.online_payment:
        return jsonify(error="online payment is not configured"), 404
    if not callback_token_matches(request.headers.get(CALLBACK_TOKEN_HEADER), settings.xendit_callback_token):
        log.warning("xendit callback with a missing or wrong token from %s", request.remote_addr)
        return jsonify(error="invalid callback token"), 403
    try:
        info = parse_callback(request.get_data())
    except InvalidInvoicePayload as error:
        log.warning("xendit callback refused: %s", error)
        return jsonify(error=f"not an invoice callback: {error}"), 400
    try:
        with context.unit_of_work() as db:
            result = payment_events.apply_invoice_event(db, settings, info, source=payment_events.CALLBACK)
    except DBAPIError as error:
        log.error("xendit callback for invoice %s not stored: %s", info.id, error)
        return jsonify(error="retry later"), 503
    log.info("xendit callback: invoice %s %s -> %s", info.id, info.status, result)
    return jsonify(result=result, event=info.event_key)
