"""Twilio webhooks: inbound WhatsApp messages and delivery status callbacks. Parse, call core, render.

With `TWILIO_AUTH_TOKEN` set, every request must carry a valid `X-Twilio-Signature`, computed on
`PUBLIC_BASE_URL` + path when set (behind a proxy the URL Twilio signed is not the one Flask sees).
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, request
from sqlalchemy.exc import DBAPIError
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot import context
from core import conversation, delivery

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__)

# Characters XML 1.0 cannot carry (and PostgreSQL text cannot store, for NUL): removed from what people
# send before anything is stored or echoed, so a reply is always well-formed TwiML.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
MESSAGE_SID = re.compile(r"[A-Za-z0-9]{1,64}")
TWILIO_FORM = "application/x-www-form-urlencoded"


def clean(value: str | None) -> str:
    return NOT_XML.sub("", value or "")


def twiml(text: str | None, status: int = 200) -> Response:
    response = MessagingResponse()
    if text:
        response.message(clean(text))
    return Response(str(response), status=status, mimetype="text/xml")


def signed_url() -> str:
    base = context.settings().public_base_url
    if not base:
        return request.url
    query = request.query_string.decode()
    return base + request.path + (f"?{query}" if query else "")


def signature_ok() -> bool:
    token = context.settings().twilio_auth_token
    if not token:
        return True
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or request.mimetype not in (TWILIO_FORM, ""):  # Twilio posts forms, nothing else
        return False
    try:
        return RequestValidator(token).validate(signed_url(), request.form, signature)
    except (TypeError, ValueError):  # a form the validator cannot even read is not Twilio's
        return False


@blueprint.post("/webhooks/twilio/whatsapp")
def inbound_whatsapp():
    if not signature_ok():
        log.warning("inbound webhook with a bad signature from %s", request.remote_addr)
        return Response("invalid signature", status=403, mimetype="text/plain")
    form = request.form
    message_sid = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
    sender = clean(form.get("From")).strip()
    if not MESSAGE_SID.fullmatch(message_sid) or not sender:
        return twiml(None, status=400)
    inbound = conversation.Inbound(
        message_sid=message_sid,
        from_address=sender,
        body=clean(form.get("Body")),
        profile_name=clean(form.get("ProfileName")) or None,
        # a tapped quick-reply button, or an item picked from a list (the guided flow's options)
        button_payload=clean(form.get("ButtonPayload")) or clean(form.get("ListId")) or None,
    )
    laku = context.laku()
    reply = conversation.receive(laku.db_factory, laku.dispatch, inbound, laku.settings)
    return twiml(reply.text)


@blueprint.post("/webhooks/twilio/status")
def delivery_status():
    if not signature_ok():
        return Response("invalid signature", status=403, mimetype="text/plain")
    message_sid = (request.form.get("MessageSid") or "").strip()
    status = (request.form.get("MessageStatus") or "").strip().lower()
    if not message_sid or not status:
        return Response("MessageSid and MessageStatus are required", status=400, mimetype="text/plain")
    try:
        with context.unit_of_work() as db:  # an undelivered message alerts the admin
            known = delivery.record_status(
                db,
                message_sid,
                status,
                request.form.get("ErrorCode"),
                request.form.get("ErrorMessage"),
                settings=context.settings(),
            )
    except DBAPIError as error:
        log.error("status callback for %s not stored: %s", message_sid, error)
        return Response("retry later", status=503, mimetype="text/plain")
    if not known:
        log.info("status callback for unknown message %s (%s)", message_sid, status)
    return Response("", status=204)
