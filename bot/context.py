"""The app's collaborators (settings, database session factory, outbox dispatcher), reached by type.

`create_app` installs one `Laku` on the Flask app; routes and CLI commands ask for what they need through
the functions below instead of looking up configuration strings.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

from core import unit_of_work as uow
from core.settings import Settings

EXTENSION = "laku"


@dataclass(frozen=True)
class Laku:
    settings: Settings
    db_factory: sessionmaker[Session]
    dispatch: uow.Dispatch  # hands committed outbox ids to the queue


def install(app: Flask, laku: Laku) -> None:
    app.extensions[EXTENSION] = laku


def laku() -> Laku:
    return current_app.extensions[EXTENSION]


def settings() -> Settings:
    return laku().settings


def db_factory() -> sessionmaker[Session]:
    return laku().db_factory


def dispatch() -> uow.Dispatch:
    return laku().dispatch


def unit_of_work() -> AbstractContextManager[Session]:
    """One transaction whose new outbox messages are dispatched after it commits."""
    return uow.unit_of_work(db_factory(), dispatch())
