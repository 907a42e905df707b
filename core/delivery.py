"""Sending one outbox message, and recording what the provider answered.

The outbox row is the source of truth, not the queue: a sender first claims the row (`queued` ->
`sending`, one conditional update, so two senders never send the same message; `core.outbox.claim_due`
claims a batch the same way), calls the transport outside any transaction (a slow provider must not hold
row locks), then records the result. A transient failure puts the row back to `queued` with the time of
its next attempt (`RETRY_INTERVALS`), so the retry schedule lives in the database, not in Redis; how many
attempts a message gets is counted here. `core.sending` runs many of these at once at the provider's rate.

An attempt whose answer never came (a timeout after the request went out, a dropped connection, a
sender that died mid-send) is *unconfirmed*: the provider may have the message. Its next attempt first
asks the provider (`Transport.sent_since`: messages to that recipient since the attempt began) and
records what it finds instead of sending again. Only one message per recipient is ever in flight
(`claim_due`), so a message found there that no outbox row knows is this one.

Where a duplicate can still happen (Twilio's Messages.create takes no idempotency key; the same list is
in docs/design.md, "Messages and the outbox"):
- Twilio accepted the message but does not list it yet when `_find_unconfirmed` asks (its own queue is
  behind, so the message has no send date yet): `deliver` sends it again;
- `_find_unconfirmed` finds a message to the recipient that no outbox row knows but that is not this one
  (another system sending from the same number, or a template whose text cannot be compared): it is
  taken for this one, so this message is lost rather than doubled;
- an unconfirmed last attempt that Twilio cannot be asked about is failed and alerted, never resent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from core import outbox
from core.clock import as_utc, now
from core.db import transaction
from core.delivery_status import ADMIN_ALERT_KIND, alert_admin, record_status
from core.models import GroupSession, OutboundMessage, OutboundStatus
from core.outbox import Claimed
from core.settings import Settings
from core.unit_of_work import Dispatch, no_dispatch, unit_of_work

__all__ = ["ADMIN_ALERT_KIND", "record_status"]  # the status callback's home

log = logging.getLogger(__name__)

FACTORY_PO_KIND = "factory_po"
"""Outbox kind of the purchase order sent to a factory; its acceptance sets `factory_whatsapp_sent`."""

RETRY_INTERVALS = (5, 30, 120, 600, 1800)
"""Seconds between send attempts after a transient failure (429, 5xx, network)."""
DEFAULT_MAX_ATTEMPTS = len(RETRY_INTERVALS) + 1
LOOKUP_CLOCK_SKEW = timedelta(minutes=2)
"""How far the provider's clock may be behind ours when asking what it has since an attempt began."""


class SendError(Exception):
    """The transport could not hand the message to the provider."""


class TransientSendError(SendError):
    """Worth trying again later: rate limit, provider 5xx, network trouble before the request went out."""


class UnconfirmedSendError(TransientSendError):
    """The request went out and no answer came back: the provider may have accepted it."""


class PermanentSendError(SendError):
    """Trying again cannot help: invalid number, outside the 24 h window, rejected content..."""


@dataclass(frozen=True)
class ProviderMessage:
    sid: str
    body: str | None
    created_at: datetime | None


class Transport(Protocol):
    def send(
        self, to: str, body: str, content_sid: str | None = None, content_variables: str | None = None
    ) -> str:
        """Hand one WhatsApp message to the provider; returns the provider's message id.

        `to` is E.164 (`+62...`); `content_variables` is a JSON object as text. With `content_sid` the
        approved template is sent and `body` is only the free-text fallback kept in the outbox.
        Raises TransientSendError (UnconfirmedSendError when the request may have arrived) or
        PermanentSendError.
        """
        ...

    def sent_since(self, to: str, since: datetime) -> list[ProviderMessage]:
        """Messages the provider has from our sender to `to`, created at `since` or later (as far as its
        listing shows them). Raises TransientSendError when the provider cannot be asked."""
        ...


class SendStatus:
    SENT = "sent"  # accepted by the provider now (or found there after an unconfirmed attempt)
    RETRY = "retry"  # transient failure, back to queued: tried again at its next attempt time
    FAILED = "failed"  # permanent failure or out of attempts; admin alerted
    SKIPPED = "skipped"  # nothing to do: already sent, being sent elsewhere, failed before, or unknown id
    RELEASED = "released"  # given back unsent (the sender stopped): queued again, the attempt not counted


@dataclass(frozen=True)
class SendOutcome:
    message_id: int
    status: str
    attempts: int = 0
    provider_sid: str | None = None
    error: str | None = None
    alert_ids: list[int] = field(default_factory=list)
    """Outbox ids added while recording (the admin alert), already handed to `dispatch`."""


class SenderStopped(Exception):
    """Raised by a `pace` callable: no send may start now (the shared rate limit cannot be reached)."""


def send_outbox_message(
    db_factory: sessionmaker[Session],
    message_id: int,
    transport: Transport,
    settings: Settings,
    *,
    dispatch: Dispatch = no_dispatch,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> SendOutcome:
    """Claim, send and record this one outbox message now, whatever its next attempt time. Safe to call
    any number of times for the same id. (Senders claim due rows in batches: `core.sending`.)"""
    with transaction(db_factory) as db:
        claimed = outbox.claim(db, message_id)
        if claimed is None:
            current = db.scalar(select(OutboundMessage.status).where(OutboundMessage.id == message_id))
    if claimed is None:
        if current is None:
            log.warning("outbox message %s does not exist; nothing to send", message_id)
        else:
            log.info("outbox message %s is %s; not sending it again", message_id, current)
        return SendOutcome(message_id, SendStatus.SKIPPED, error=current and f"status {current}")
    return deliver(db_factory, claimed, transport, settings, dispatch=dispatch, max_attempts=max_attempts)


def deliver(
    db_factory: sessionmaker[Session],
    claimed: Claimed,
    transport: Transport,
    settings: Settings,
    *,
    dispatch: Dispatch = no_dispatch,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    pace: Callable[[], None] | None = None,
) -> SendOutcome:
    """Send a claimed row and record the answer. An unconfirmed earlier attempt is looked up first;
    `pace()` is called right before the request (the shared rate limit) and may raise SenderStopped, which
    gives the row back unsent. A message that fails for good alerts the admin through `dispatch`."""
    message_id, attempts = claimed.id, claimed.attempts
    if claimed.unconfirmed_since is not None:
        try:
            found = _find_unconfirmed(db_factory, claimed, transport)
        except TransientSendError as error:
            reason = f"could not ask the provider whether an unanswered attempt arrived: {error}"
            if attempts >= max_attempts:
                return _record_failure(db_factory, dispatch, settings, message_id, attempts, reason)
            return _record_retry(db_factory, message_id, attempts, reason, claimed.unconfirmed_since)
        if found is not None:
            log.info("outbox message %s: the unanswered attempt had arrived as %s", message_id, found)
            return _record_accepted(db_factory, message_id, attempts, found)
        if attempts > max_attempts:  # the last attempt was the unconfirmed one: this one only asked
            reason = f"gave up after {attempts - 1} attempts: the last one got no answer and did not arrive"
            return _record_failure(db_factory, dispatch, settings, message_id, attempts, reason)
    try:
        if pace is not None:
            pace()
    except SenderStopped:
        release(db_factory, message_id)
        return SendOutcome(message_id, SendStatus.RELEASED, attempts - 1)
    started = now()
    try:
        provider_sid = transport.send(
            claimed.to_phone, claimed.body, claimed.content_sid, claimed.content_variables
        )
    except PermanentSendError as error:
        return _record_failure(db_factory, dispatch, settings, message_id, attempts, str(error))
    except Exception as error:  # noqa: BLE001 - anything else (a bug included) is retried, then alerted
        if not isinstance(error, TransientSendError):
            log.exception("outbox message %s: unexpected error from the transport", message_id)
        reason = str(error) or type(error).__name__
        unconfirmed = started if isinstance(error, UnconfirmedSendError) else None
        if attempts >= max_attempts and unconfirmed is None:
            reason = f"gave up after {attempts} attempts: {reason}"
            return _record_failure(db_factory, dispatch, settings, message_id, attempts, reason)
        return _record_retry(db_factory, message_id, attempts, reason, unconfirmed)
    return _record_accepted(db_factory, message_id, attempts, provider_sid)


def _find_unconfirmed(
    db_factory: sessionmaker[Session], claimed: Claimed, transport: Transport
) -> str | None:
    """The provider's id of this message if an unanswered attempt did arrive: a message to the same
    recipient since that attempt began that no outbox row knows (with the same text, unless a template)."""
    assert claimed.unconfirmed_since is not None
    candidates = transport.sent_since(claimed.to_phone, as_utc(claimed.unconfirmed_since) - LOOKUP_CLOCK_SKEW)
    if not candidates:
        return None
    with db_factory() as db:
        known = set(
            db.scalars(
                select(OutboundMessage.provider_sid).where(
                    OutboundMessage.provider_sid.in_([c.sid for c in candidates])
                )
            )
        )
    for candidate in sorted(candidates, key=lambda c: (c.created_at is None, c.created_at)):
        if candidate.sid not in known and (claimed.content_sid or candidate.body == claimed.body):
            return candidate.sid
    return None


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
                unconfirmed_since=None,
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


def retry_delay(attempts: int) -> int:
    """Seconds before the next attempt after `attempts` failed ones."""
    return RETRY_INTERVALS[min(max(attempts, 1), len(RETRY_INTERVALS)) - 1]


def _record_retry(
    db_factory: sessionmaker[Session],
    message_id: int,
    attempts: int,
    reason: str,
    unconfirmed_since: datetime | None = None,
) -> SendOutcome:
    stamp = now()
    with transaction(db_factory) as db:
        db.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id, OutboundMessage.status == OutboundStatus.SENDING)
            .values(
                status=OutboundStatus.QUEUED,
                last_error=reason,
                unconfirmed_since=unconfirmed_since,
                next_attempt_at=stamp + timedelta(seconds=retry_delay(attempts)),
                updated_at=stamp,
            )
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
            alert_admin(db, settings, message, reason)
    return SendOutcome(message_id, SendStatus.FAILED, attempts, error=reason, alert_ids=alert_ids)


def release(db_factory: sessionmaker[Session], message_id: int) -> None:
    """Give a claimed row back unsent (`sending` -> `queued`, the attempt not counted): due again now."""
    stamp = now()
    with transaction(db_factory) as db:
        db.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id, OutboundMessage.status == OutboundStatus.SENDING)
            .values(
                status=OutboundStatus.QUEUED,
                attempts=OutboundMessage.attempts - 1,
                next_attempt_at=stamp,
                updated_at=stamp,
            )
        )


def requeue_stale_sending(db: Session, older_than_seconds: int) -> list[int]:
    """Rows left `sending` by a sender that died go back to `queued` (crash safety), as unconfirmed
    attempts begun when they were claimed: the provider is asked before they are sent again.

    `older_than_seconds` must exceed the longest a live send can take, or a slow send is asked about
    (and recorded twice at worst, never sent twice).
    """
    stamp = now()
    rows = db.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.status == OutboundStatus.SENDING,
            OutboundMessage.updated_at < stamp - timedelta(seconds=older_than_seconds),
        )
        .values(
            status=OutboundStatus.QUEUED,
            last_error="the sender stopped while sending; asking the provider before sending again",
            unconfirmed_since=OutboundMessage.updated_at,
            next_attempt_at=stamp,
            updated_at=stamp,
        )
        .returning(OutboundMessage.id)
    )
    return sorted(rows.scalars())
