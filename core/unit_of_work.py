"""One unit of work: one transaction, and after it commits, its new outbox messages handed on.

Every writer (the webhook, the status callback, the admin API, the CLI, the jobs, the sweep) runs its
change inside `unit_of_work`: the change and the outbox rows that report it commit together, and only
then are the new outbox ids given to `dispatch` (the queue, see `jobs.queues.dispatch_outbox`). If the
transaction fails, nothing is dispatched. Rows the queue never got (Redis down) are found later by the
periodic outbox flush, so dispatching is an optimisation, never the only way a message leaves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from core.db import transaction
from core.outbox import forget_message_ids_since, message_ids_mark, new_message_ids

Dispatch = Callable[[list[int]], object]
"""Hands committed outbox ids to whatever sends them."""

P = ParamSpec("P")
T = TypeVar("T")


def no_dispatch(message_ids: list[int]) -> None:
    """For callers that leave sending to the periodic outbox flush."""


@contextmanager
def unit_of_work(db_factory: sessionmaker[Session], dispatch: Dispatch) -> Iterator[Session]:
    """`with unit_of_work(db_factory, dispatch) as db:` commit on success, roll back on any exception;
    after the commit, `dispatch(new outbox ids)` if there are any."""
    with transaction(db_factory) as db:
        yield db
        message_ids = new_message_ids(db)
    if message_ids:
        dispatch(message_ids)


@contextmanager
def savepoint(db: Session) -> Iterator[None]:
    """A savepoint whose outbox messages are forgotten when it rolls back (they never existed)."""
    mark = message_ids_mark(db)
    try:
        with db.begin_nested():
            yield
    except BaseException:
        forget_message_ids_since(db, mark)
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
