"""After a message left: the provider's status callbacks, and the operator's alert when one fails for good.

Both the sender (`core.delivery`, a permanent failure or the last attempt) and a status callback
(`failed`/`undelivered`) end a message's life the same way: one alert per message to `ADMIN_WHATSAPP`,
written to the outbox in the caller's unit of work.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import notifications
from core.clock import now
from core.models import OutboundMessage, OutboundStatus
from core.settings import Settings
from core.texts import render

log = logging.getLogger("core.delivery")

ADMIN_ALERT_KIND = notifications.SEND_FAILED_ALERT.kind


def alert_admin(db: Session, settings: Settings, message: OutboundMessage, reason: str) -> None:
    """One alert per failed message (idempotency key `alert:<id>`); never an alert about an alert."""
    log.error(
        "outbox message %s (%s to %s, session %s) failed for good: %s",
        message.id,
        message.kind,
        message.to_phone,
        message.session_id,
        reason,
    )
    admin_phone = settings.admin_whatsapp  # E.164, parsed with the settings
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
        alert_admin(db, settings, moved, f"{status}: {reason}")
    return True
