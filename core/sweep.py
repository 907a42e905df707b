"""The expiry sweep: close every session whose time is up, each exactly once, whichever worker runs it.

Sessions are claimed in batches (`claim_due_sessions`); each batch is one unit of work, each session in
it a savepoint. A session that fails (warehouse down, stock moved, a bug) is rolled back to exactly how it
was, gets `last_error`, and is left for the next sweep; the others go on. See docs/design.md, "Expiry (warehouse first)".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from core.adapters import warehouse_for
from core.clock import now
from core.closing import DUE_STATES, CloseOutcome, close_session, record_retry
from core.models import GroupSession
from core.session_rows import claim_sessions
from core.settings import Settings
from core.unit_of_work import Dispatch, no_dispatch, savepoint, unit_of_work
from core.warehouse import InsufficientStock, Warehouse, WarehouseUnavailable

log = logging.getLogger(__name__)


def claim_due_sessions(
    db: Session, at: datetime, limit: int = 20, exclude: Iterable[int] = ()
) -> list[GroupSession]:
    """Lock up to `limit` sessions past `ends_at` that are still forming or moq_reached, oldest first
    (`claim_sessions`: two sweepers take disjoint sessions); the caller closes them inside this same
    transaction. `exclude` skips sessions this sweep already tried (and left for later)."""
    return claim_sessions(
        db,
        GroupSession.status.in_(DUE_STATES),
        GroupSession.ends_at <= at,
        order_by=(GroupSession.ends_at, GroupSession.id),
        limit=limit,
        exclude=exclude,
    )


@dataclass
class SweepResult:
    closed: list[CloseOutcome] = field(default_factory=list)
    retry_later: dict[str, str] = field(default_factory=dict)  # session code -> error

    def as_dict(self) -> dict:
        return {
            "closed": {o.session_code: o.result for o in self.closed},
            "retry_later": dict(self.retry_later),
        }


class _Tripped:
    """Stands in for a warehouse that already failed in this sweep, so one outage costs one timeout."""

    def __init__(self, reason: str):
        self.reason = reason

    def _fail(self, *args, **kwargs):
        raise WarehouseUnavailable(self.reason)

    stock = reserve = release = receive = _fail


def sweep_due_sessions(
    db_factory: sessionmaker[Session],
    settings: Settings,
    *,
    warehouse: Callable[[Session], Warehouse] | None = None,
    at: datetime | None = None,
    batch_size: int = 20,
    dispatch: Dispatch = no_dispatch,
) -> SweepResult:
    """Close every due session, a batch per unit of work (its messages dispatched after its commit).

    After the first warehouse outage the rest of the sweep does not call the warehouse again.
    """
    at = at or now()
    result = SweepResult()
    left: set[int] = set()  # sessions this sweep left for the next one (closed ones are no longer due)
    tripped: _Tripped | None = None
    while True:
        with unit_of_work(db_factory, dispatch) as db:
            batch = claim_due_sessions(db, at, batch_size, exclude=left)
            if not batch:
                return result
            # Every sweep takes inventory row locks in (product, variant) order, so two workers closing
            # sessions of the same products wait for each other but never deadlock.
            batch.sort(key=lambda session: (session.product_id, session.id))
            for session in batch:
                code = session.code
                port = tripped or (warehouse(db) if warehouse else warehouse_for(settings, db))
                try:
                    with savepoint(db):
                        outcome = close_session(db, session, port, settings, at=at)
                except (WarehouseUnavailable, InsufficientStock) as error:
                    if isinstance(error, WarehouseUnavailable):
                        tripped = tripped or _Tripped(error.message)
                    log.warning("session %s left for the next sweep: %s", code, error)
                    reason = str(error)
                except Exception as error:  # noqa: BLE001 - one broken session must not stop the others
                    log.exception("closing session %s failed", code)
                    reason = f"{type(error).__name__}: {error}"
                else:
                    if outcome.result != "not_due":
                        result.closed.append(outcome)
                        log.info("session %s closed: %s", code, outcome.result)
                    continue
                left.add(session.id)
                record_retry(db, session.id, reason)
                result.retry_later[code] = reason
