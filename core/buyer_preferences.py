"""BERHENTI/STOP and MULAI/START: a buyer turns reminders and share prompts off and on.

Stored on the buyer (`opted_out_at`) and shown in STATUS. Only reminders and share links stop; messages
about the buyer's own joins and orders still go (see docs/design.md, "Reminders and sharing").
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core import sharing, texts
from core.clock import now
from core.commands import BUYER, Command, parse
from core.models import Buyer
from core.settings import Settings


def set_reminders(db: Session, buyer: Buyer, command: Command, language: str, settings: Settings) -> str:
    """The handler of `stop` and `start`; saying it twice changes nothing and says so."""
    turning_off = command.name == "stop"
    if turning_off == (buyer.opted_out_at is not None):
        return texts.render(language, "stop_already" if turning_off else "start_already")
    buyer.opted_out_at = now() if turning_off else None
    db.flush()
    return texts.render(language, "stop_done" if turning_off else "start_done")


def status_lines(db: Session, buyer: Buyer, language: str, *, joined: bool) -> list[str]:
    """STATUS's last lines: friends who joined through the buyer's link (when there are any) and whether
    reminders are on (for a buyer who joined something, or turned them off)."""
    lines = []
    friends = sharing.friends_referred(db, buyer)
    if friends:
        key = "status_referrals_one" if friends == 1 else "status_referrals"
        lines.append(texts.render(language, key, friends=friends))
    if not sharing.wants_prompts(buyer):
        lines.append(texts.render(language, "status_reminders_off"))
    elif joined:
        lines.append(texts.render(language, "status_reminders_on"))
    return lines


def read_stop_start_and_referrals(body: str | None, button_payload: str | None, legacy: Command) -> Command:
    """`legacy` (the old grammar's reading), or the issue-13 parser's where only it understands the message:
    BERHENTI/STOP/MULAI/START, and a join carrying a referral tag (`IKUT KAOS1 M 2 REF-7K2Q9A`, or the
    tapped link's `IKUT KAOS1 REF-7K2Q9A`). Goes away when the conversation parses every message with
    `sender=BUYER` (issue 13)."""
    tagged = "REF" in (button_payload or body or "").upper()  # the old grammar reads the tag as a size
    if legacy.name == "unknown" or (legacy.name == "join" and tagged):
        understood = parse(body, button_payload, sender=BUYER)
        if understood.name in ("stop", "start"):
            return understood
        if understood.name == "join" and understood.referral and understood.code and not understood.error:
            if len(understood.lines) <= 1:
                return understood
    return legacy
