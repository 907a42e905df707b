"""Twilio webhooks: inbound WhatsApp messages and delivery status callbacks.

With `TWILIO_AUTH_TOKEN` set, every request must carry a valid `X-Twilio-Signature`, computed on
`PUBLIC_BASE_URL` + path when set (behind a proxy the URL Twilio signed is not the one Flask sees).
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import DBAPIError, IntegrityError
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from core import conversation, delivery, outbox, texts
from core.db import transaction

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
    settings = current_app.config["LAKU_SETTINGS"]
    if not settings.public_base_url:
        return request.url
    query = request.query_string.decode()
    return settings.public_base_url + request.path + (f"?{query}" if query else "")


def signature_ok() -> bool:
    settings = current_app.config["LAKU_SETTINGS"]
    if not settings.twilio_auth_token:
        return True
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or request.mimetype not in (TWILIO_FORM, ""):  # Twilio posts forms, nothing else
        return False
    try:
        return RequestValidator(settings.twilio_auth_token).validate(signed_url(), request.form, signature)
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
        button_payload=clean(form.get("ButtonPayload")) or None,
    )
    factory = current_app.config["LAKU_DB"]
    settings = current_app.config["LAKU_SETTINGS"]
    new_ids: list[int] = []
    reply = None
    for _attempt in range(3):
        try:
            with transaction(factory) as db:
                reply = conversation.handle(db, inbound, settings)
                new_ids = outbox.new_message_ids(db)
            break
        except IntegrityError:
            # Another request committed first: the same MessageSid (answer as it did), or the same new
            # buyer writing twice at once (handle again, the buyer now exists).
            with factory() as db:
                reply = conversation.stored_reply(db, message_sid)
            if reply is not None:
                break
        except DBAPIError as error:
            if error.connection_invalidated and _attempt < 2:
                # The connection died (database restart, failover); nothing was committed: try again.
                log.warning("inbound %s: database connection lost, retrying", message_sid)
                continue
            log.error("inbound %s not processed, database error: %s", message_sid, error)
            return twiml(texts.render("id", "busy"))
    if reply is None:
        log.error("inbound %s not processed after retries", message_sid)
        return twiml(texts.render("id", "busy"))
    if new_ids:
        current_app.config["LAKU_DISPATCH"](new_ids)
    return twiml(reply.text)


@blueprint.post("/webhooks/twilio/status")
def delivery_status():
    if not signature_ok():
        return Response("invalid signature", status=403, mimetype="text/plain")
    message_sid = (request.form.get("MessageSid") or "").strip()
    status = (request.form.get("MessageStatus") or "").strip().lower()
    if not message_sid or not status:
        return Response("MessageSid and MessageStatus are required", status=400, mimetype="text/plain")
    settings = current_app.config["LAKU_SETTINGS"]
    try:
        with transaction(current_app.config["LAKU_DB"]) as db:
            known = delivery.record_status(
                db,
                message_sid,
                status,
                request.form.get("ErrorCode"),
                request.form.get("ErrorMessage"),
                admin_phone=delivery.alert_recipient(settings),
            )
            new_ids = outbox.new_message_ids(db)  # an undelivered message alerts the admin
    except DBAPIError as error:
        log.error("status callback for %s not stored: %s", message_sid, error)
        return Response("retry later", status=503, mimetype="text/plain")
    if new_ids:
        current_app.config["LAKU_DISPATCH"](new_ids)
    if not known:
        log.info("status callback for unknown message %s (%s)", message_sid, status)
    return Response("", status=204)
