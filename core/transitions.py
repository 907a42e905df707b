"""The one way a session changes status: a conditional UPDATE from an explicit set of source states.

It returns whether it happened and is safe to repeat: two workers (or a retry after a crash) racing for
the same transition see exactly one True.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from core.models import GroupSession


def rows_changed(db: Session, statement: Any) -> int:
    """Execute an UPDATE and say how many rows it changed (the heart of every conditional change)."""
    return cast(CursorResult[Any], db.execute(statement)).rowcount


def transition(db: Session, session_id: int, to: str, from_states: Iterable[str], **values: object) -> bool:
    """Move a session to `to` if it is in one of `from_states`, setting `values` too; True if it moved.

    Loaded `GroupSession` objects are refreshed with the new values ("fetch" synchronisation).
    """
    changed = rows_changed(
        db,
        update(GroupSession)
        .where(GroupSession.id == session_id, GroupSession.status.in_(tuple(from_states)))
        .values(status=to, **values)
        .execution_options(synchronize_session="fetch"),
    )
    return changed == 1
