"""BERHENTI/STOP and MULAI/START: a buyer turns reminders and share prompts off and on.

Stored on the buyer (`opted_out_at`) and shown in STATUS. Only reminders and share links stop; messages
about the buyer's own joins and orders still go (see docs/design.md, "Reminders and sharing").
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core import sharing, texts
from core.clock import now
from core.commands import Command
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
