"""Sending one outbox message, and what the provider later tells us about it.

The outbox row is the source of truth, not the queue: a worker first claims the row (`queued` ->
`sending`, one conditional update, so two workers never send the same message), calls the transport
outside any transaction (a slow provider must not hold row locks), then records the result. The queue
layer (`jobs/`) only decides *when* to call again; how many attempts a message gets is counted here.

Delivery is at least once in one narrow case: a worker that dies after the provider accepted a message
but before the result was recorded leaves the row `sending`; the periodic flush puts it back after a
while and it is sent again. Twilio has no idempotency key on Messages.create to close that gap.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from core import notifications
from core.clock import now
from core.db import transaction
from core.models import GroupSession, OutboundMessage, OutboundStatus
from core.phones import InvalidPhone, normalise
from core.settings import Settings
from core.texts import render
from core.unit_of_work import Dispatch, no_dispatch, unit_of_work

log = logging.getLogger(__name__)

FACTORY_PO_KIND = "factory_po"
"""Outbox kind of the purchase order sent to a factory; its acceptance sets `factory_whatsapp_sent`."""

ADMIN_ALERT_KIND = notifications.SEND_FAILED_ALERT.kind
DEFAULT_MAX_ATTEMPTS = 6


class SendError(Exception):
    """The transport could not hand the message to the provider."""


class TransientSendError(SendError):
    """Worth trying again later: rate limit, provider 5xx, network trouble."""


class PermanentSendError(SendError):
    """Trying again cannot help: invalid number, outside the 24 h window, rejected content..."""


class Transport(Protocol):
    def send(
        self, to: str, body: str, content_sid: str | None = None, content_variables: str | None = None
    ) -> str:
        """Hand one WhatsApp message to the provider; returns the provider's message id.

        `to` is E.164 (`+62...`); `content_variables` is a JSON object as text. With `content_sid` the
        approved template is sent and `body` is only the free-text fallback kept in the outbox.
        Raises TransientSendError or PermanentSendError.
        """
        ...


class SendStatus:
    SENT = "sent"  # accepted by the provider now
    RETRY = "retry"  # transient failure, back to queued: call again later
    FAILED = "failed"  # permanent failure or out of attempts; admin alerted
    SKIPPED = "skipped"  # nothing to do: already sent, being sent elsewhere, failed before, or unknown id


@dataclass(frozen=True)
class SendOutcome:
    message_id: int
    status: str
    attempts: int = 0
    provider_sid: str | None = None
    error: str | None = None
    alert_ids: list[int] = field(default_factory=list)
    """Outbox ids added while recording (the admin alert), already handed to `dispatch`."""


def alert_recipient(settings: Settings) -> str | None:
    """The admin's WhatsApp number in E.164, or None (alerts then only reach the log)."""
    if not settings.admin_whatsapp:
        return None
    try:
        return normalise(settings.admin_whatsapp, settings.default_country)
    except InvalidPhone:
        log.error(
            "ADMIN_WHATSAPP %r is not a phone number; alerts go to the log only", settings.admin_whatsapp
        )
        return None


def send_outbox_message(
    db_factory: sessionmaker[Session],
    message_id: int,
    transport: Transport,
    settings: Settings,
    *,
    dispatch: Dispatch = no_dispatch,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> SendOutcome:
    """Claim, send and record one outbox message. Safe to call any number of times for the same id.

    A message that fails for good alerts the admin (`ADMIN_WHATSAPP`); the alert is handed to `dispatch`."""
    with transaction(db_factory) as db:
        claimed = db.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id, OutboundMessage.status == OutboundStatus.QUEUED)
            .values(
                status=OutboundStatus.SENDING,
                attempts=OutboundMessage.attempts + 1,
                updated_at=now(),
            )
            .returning(
                OutboundMessage.to_phone,
                OutboundMessage.body,
                OutboundMessage.content_sid,
                OutboundMessage.content_variables,
                OutboundMessage.attempts,
            )
        ).one_or_none()
        if claimed is None:
            current = db.scalar(select(OutboundMessage.status).where(OutboundMessage.id == message_id))
    if claimed is None:
        if current is None:
            log.warning("outbox message %s does not exist; nothing to send", message_id)
        else:
            log.info("outbox message %s is %s; not sending it again", message_id, current)
        return SendOutcome(message_id, SendStatus.SKIPPED, error=current and f"status {current}")

    to_phone, body, content_sid, content_variables, attempts = claimed
    try:
        provider_sid = transport.send(to_phone, body, content_sid, content_variables)
    except PermanentSendError as error:
        return _record_failure(db_factory, dispatch, settings, message_id, attempts, str(error))
    except Exception as error:  # noqa: BLE001 - anything else (a bug included) is retried, then alerted
        if not isinstance(error, TransientSendError):
            log.exception("outbox message %s: unexpected error from the transport", message_id)
        reason = str(error) or type(error).__name__
        if attempts >= max_attempts:
            reason = f"gave up after {attempts} attempts: {reason}"
            return _record_failure(db_factory, dispatch, settings, message_id, attempts, reason)
        return _record_retry(db_factory, message_id, attempts, reason)
    return _record_accepted(db_factory, message_id, attempts, provider_sid)


def _record_accepted(
    db_factory: sessionmaker[Session], message_id: int, attempts: int, provider_sid: str
) -> SendOutcome:
    stamp = now()
    with transaction(db_factory) as db:
        recorded = db.execute(
            update(OutboundMessage)
            # `queued` too: the stale-sending sweep may have put the row back while we were sending.
            .where(
                OutboundMessage.id == message_id,
                OutboundMessage.status.in_((OutboundStatus.SENDING, OutboundStatus.QUEUED)),
            )
            .values(
                status=OutboundStatus.SENT,
                provider_sid=provider_sid,
                sent_at=stamp,
                last_error=None,
                updated_at=stamp,
            )
            .returning(OutboundMessage.kind, OutboundMessage.session_id)
        ).one_or_none()
        if recorded is None:
            log.warning(
                "outbox message %s was accepted as %s but changed meanwhile", message_id, provider_sid
            )
        elif recorded.kind == FACTORY_PO_KIND and recorded.session_id is not None:
            db.execute(
                update(GroupSession)
                .where(
                    GroupSession.id == recorded.session_id, GroupSession.factory_whatsapp_sent.is_not(True)
                )
                .values(factory_whatsapp_sent=True, factory_notified_at=stamp)
            )
    log.info("outbox message %s accepted as %s (attempt %s)", message_id, provider_sid, attempts)
    return SendOutcome(message_id, SendStatus.SENT, attempts, provider_sid=provider_sid)


def _record_retry(
    db_factory: sessionmaker[Session], message_id: int, attempts: int, reason: str
) -> SendOutcome:
    with transaction(db_factory) as db:
        db.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id, OutboundMessage.status == OutboundStatus.SENDING)
            .values(status=OutboundStatus.QUEUED, last_error=reason, updated_at=now())
        )
    log.warning("outbox message %s attempt %s failed, will retry: %s", message_id, attempts, reason)
    return SendOutcome(message_id, SendStatus.RETRY, attempts, error=reason)


def _record_failure(
    db_factory: sessionmaker[Session],
    dispatch: Dispatch,
    settings: Settings,
    message_id: int,
    attempts: int,
    reason: str,
) -> SendOutcome:
    alert_ids: list[int] = []

    def hand_on(ids: list[int]) -> None:
        alert_ids.extend(ids)
        dispatch(ids)

    with unit_of_work(db_factory, hand_on) as db:
        message = db.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id, OutboundMessage.status == OutboundStatus.SENDING)
            .values(status=OutboundStatus.FAILED, last_error=reason, updated_at=now())
            .returning(OutboundMessage)
        ).scalar_one_or_none()
        if message is not None:
            _alert_admin(db, settings, message, reason)
    return SendOutcome(message_id, SendStatus.FAILED, attempts, error=reason, alert_ids=alert_ids)


def _alert_admin(db: Session, settings: Settings, message: OutboundMessage, reason: str) -> None:
    """One alert per failed message (idempotency key `alert:<id>`); never an alert about an alert."""
    log.error(
        "outbox message %s (%s to %s, session %s) failed for good: %s",
        message.id,
        message.kind,
        message.to_phone,
        message.session_id,
        reason,
    )
    admin_phone = alert_recipient(settings)
    if message.kind == ADMIN_ALERT_KIND or admin_phone is None:
        return
    where = (
        render("id", "admin_send_failed_session", session=message.session_id) if message.session_id else ""
    )
    notifications.notify(
        db,
        settings,
        notifications.SEND_FAILED_ALERT,
        key=f"alert:{message.id}",
        to_phone=admin_phone,
        language="id",
        message=message.id,
        kind=message.kind,
        where=where,
        to=message.to_phone,
        reason=reason,
    )


# Twilio status callback values -> outbox status. `accepted`/`scheduled` are Messaging Service states.
_PROVIDER_STATUSES = {
    "accepted": OutboundStatus.QUEUED,
    "scheduled": OutboundStatus.QUEUED,
    "queued": OutboundStatus.QUEUED,
    "sending": OutboundStatus.SENDING,
    "sent": OutboundStatus.SENT,
    "delivered": OutboundStatus.DELIVERED,
    "partially_delivered": OutboundStatus.DELIVERED,
    "read": OutboundStatus.READ,
    "failed": OutboundStatus.FAILED,
    "canceled": OutboundStatus.FAILED,
    "undelivered": OutboundStatus.UNDELIVERED,
}
_PROGRESS = (
    OutboundStatus.QUEUED,
    OutboundStatus.SENDING,
    OutboundStatus.SENT,
    OutboundStatus.DELIVERED,
    OutboundStatus.READ,
)
_FINAL = (OutboundStatus.FAILED, OutboundStatus.UNDELIVERED)


def _sources_for(target: str) -> tuple[str, ...]:
    """Statuses a message may move to `target` from: forward only; failed/undelivered are final and
    cannot replace delivered/read (the message reached the phone)."""
    if target in _FINAL:
        return (OutboundStatus.QUEUED, OutboundStatus.SENDING, OutboundStatus.SENT)
    return _PROGRESS[: _PROGRESS.index(target)]


def record_status(
    db: Session,
    provider_sid: str,
    status: str,
    error_code: str | int | None = None,
    error_message: str | None = None,
    *,
    settings: Settings,
) -> bool:
    """Apply a provider status callback. False when no outbox message has this provider id.

    Runs in the caller's unit of work; a message that turns failed/undelivered enqueues the admin alert
    in it. Repeating a callback, or one arriving out of order, changes nothing.
    """
    message_id = db.scalar(select(OutboundMessage.id).where(OutboundMessage.provider_sid == provider_sid))
    if message_id is None:
        return False
    target = _PROVIDER_STATUSES.get((status or "").strip().lower())
    if target is None:
        log.warning("outbox message %s: ignoring unknown provider status %r", message_id, status)
        return True
    values: dict[str, object] = {"status": target, "updated_at": now()}
    reason = None
    if target in _FINAL:
        reason = " ".join(str(part) for part in (error_code, error_message) if part) or f"provider: {status}"
        values["last_error"] = reason
    moved = db.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == message_id, OutboundMessage.status.in_(_sources_for(target)))
        .values(**values)
        .returning(OutboundMessage)
    ).scalar_one_or_none()
    if moved is not None and reason is not None:
        _alert_admin(db, settings, moved, f"{status}: {reason}")
    return True


def requeue_stale_sending(db: Session, older_than_seconds: int) -> list[int]:
    """Rows left `sending` by a worker that died mid-send go back to `queued` (crash safety).

    `older_than_seconds` must exceed the send job's timeout, or a slow but live send is duplicated.
    """
    cutoff = now() - timedelta(seconds=older_than_seconds)
    rows = db.execute(
        update(OutboundMessage)
        .where(OutboundMessage.status == OutboundStatus.SENDING, OutboundMessage.updated_at < cutoff)
        .values(
            status=OutboundStatus.QUEUED,
            last_error="the worker stopped while sending; sending again",
            updated_at=now(),
        )
        .returning(OutboundMessage.id)
    )
    return sorted(rows.scalars())
