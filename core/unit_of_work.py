"""One unit of work: one transaction, and after it commits, its new outbox messages handed on.

Every writer (the webhook, the status callback, the admin API, the CLI, the jobs, the sweep) runs its
change inside `unit_of_work`: the change and the outbox rows that report it commit together, and only
then are the new outbox ids given to `dispatch` (the queue, see `jobs.queues.dispatch_outbox`). If the
transaction fails, nothing is dispatched. Rows the queue never got (Redis down) are found later by the
periodic outbox flush, so dispatching is an optimisation, never the only way a message leaves.

A change may also ask for work that must wait for its commit and run outside it (an order's invoice at
the payment provider): `follow_up(db, name, *ids)`. After the commit the follow-ups go to the
dispatcher's `follow_up` method (`jobs.dispatch.QueueDispatch` enqueues a job per follow-up); a
dispatcher without one (tests, `no_dispatch`) leaves them to the periodic job that finds the same work
in the database. Like outbox ids, follow-ups of a rolled-back savepoint are forgotten.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from core.db import transaction
from core.outbox import forget_message_ids_since, message_ids_mark, new_message_ids

log = logging.getLogger(__name__)

Dispatch = Callable[[list[int]], object]
"""Hands committed outbox ids to whatever sends them (and, if it has a `follow_up` method, follow-ups)."""

_FOLLOW_UPS = "laku_follow_ups"


@dataclass(frozen=True)
class FollowUp:
    """Work a committed change asks for, e.g. `FollowUp("order_invoices", (session_id, buyer_id))`."""

    name: str
    args: tuple[int, ...]


def follow_up(db: Session, name: str, *args: int) -> None:
    """Ask for `name(*args)` to run once this transaction has committed (once per unit of work)."""
    wanted = db.info.setdefault(_FOLLOW_UPS, [])
    item = FollowUp(name, args)
    if item not in wanted:
        wanted.append(item)


def _hand_over(dispatch: Dispatch, follow_ups: list[FollowUp]) -> None:
    hand_on = getattr(dispatch, "follow_up", None)
    if hand_on is None:
        log.info("follow-ups %s left to their periodic job", follow_ups)
        return
    hand_on(follow_ups)


P = ParamSpec("P")
T = TypeVar("T")


def no_dispatch(message_ids: list[int]) -> None:
    """For callers that leave sending to the periodic outbox flush."""


@contextmanager
def unit_of_work(db_factory: sessionmaker[Session], dispatch: Dispatch) -> Iterator[Session]:
    """`with unit_of_work(db_factory, dispatch) as db:` commit on success, roll back on any exception;
    after the commit, `dispatch(new outbox ids)` if there are any, then the follow-ups."""
    with transaction(db_factory) as db:
        yield db
        message_ids = new_message_ids(db)
        follow_ups = db.info.pop(_FOLLOW_UPS, [])
    if message_ids:
        dispatch(message_ids)
    if follow_ups:
        _hand_over(dispatch, follow_ups)


@contextmanager
def savepoint(db: Session) -> Iterator[None]:
    """A savepoint whose outbox messages and follow-ups are forgotten when it rolls back (they never
    existed)."""
    mark = message_ids_mark(db)
    follow_ups = len(db.info.get(_FOLLOW_UPS, []))
    try:
        with db.begin_nested():
            yield
    except BaseException:
        forget_message_ids_since(db, mark)
        del db.info.get(_FOLLOW_UPS, [])[follow_ups:]
        raise


def operation(
    step: Callable[Concatenate[Session, P], T],
) -> Callable[Concatenate[sessionmaker[Session], Dispatch, P], T]:
    """`step(db, ...)` as an operation of its own, `op(db_factory, dispatch, ...)`: one unit of work.

    For the admin's operations that the API and the CLI both call (`core.closing.cancel`,
    `core.purchase_orders.receive`), so both front doors run the same transaction the same way."""

    @functools.wraps(step)
    def run(db_factory: sessionmaker[Session], dispatch: Dispatch, *args: P.args, **kwargs: P.kwargs) -> T:
        with unit_of_work(db_factory, dispatch) as db:
            return step(db, *args, **kwargs)

    return run
