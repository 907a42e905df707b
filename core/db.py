"""Engine and session factory.

SQLite (the embedded default) gets foreign keys, WAL and `BEGIN IMMEDIATE`, so write transactions
serialise instead of failing half-way; PostgreSQL uses row locks (see `core.session_rows`). Engines are
disposed in forked children (gunicorn, RQ work horses) so no connection is shared across processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    # The pysqlite driver's own transaction handling is switched off so that we can say BEGIN IMMEDIATE
    # (SQLAlchemy docs, "Serializable isolation / Savepoints / Transactional DDL").
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


_engines: dict[str, Engine] = {}
_session_makers: dict[str, sessionmaker[Session]] = {}


def engine_for(url: str) -> Engine:
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


def session_factory(url: str) -> sessionmaker[Session]:
    if url not in _session_makers:
        _session_makers[url] = sessionmaker(bind=engine_for(url), expire_on_commit=False)
    return _session_makers[url]


@contextmanager
def transaction(db_factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception (writers that add outbox messages
    use `core.unit_of_work`, which builds on this)."""
    with db_factory() as db, db.begin():
        yield db


def _dispose_engines_after_fork() -> None:
    for engine in _engines.values():
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_dispose_engines_after_fork)
