"""Operator accounts for the dashboard: Argon2id password hashes, and logins throttled in the database.

Passwords are stored only as Argon2id hashes (argon2-cffi's defaults, RFC 9106's low-memory profile); a
hash made with older parameters is replaced at the next successful login. Failed logins are counted per
account and per client address in `login_throttles`, so every web process sees the same count: after
`ACCOUNT_LIMIT.failures` failures within the window the account refuses every password (the right one
too) until the window has passed, and likewise an address after `ADDRESS_LIMIT.failures`. An unknown
username is counted like a known one and costs the same hash check, so neither the answer nor its timing
tells which usernames exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, case, delete, select, text, update
from sqlalchemy.orm import Session

from core.clock import as_utc, now
from core.errors import Conflict, Invalid
from core.models import LoginThrottle, Operator

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200

_hasher = PasswordHasher()
_unknown_user_hash: dict[PasswordHasher, str] = {}


def use_hasher(hasher: PasswordHasher) -> None:
    """Hash new passwords with other Argon2id parameters (the tests use cheap ones, as Django's tests swap
    in a fast hasher). Stored hashes carry their own parameters, so they verify either way."""
    global _hasher
    _hasher = hasher


def _unknown_user() -> str:
    """A hash checked for unknown usernames, made with the current parameters: the same cost as a real
    check, made once (not at import: every CLI command and web process would pay for it)."""
    if _hasher not in _unknown_user_hash:
        _unknown_user_hash[_hasher] = _hasher.hash("no such operator")
    return _unknown_user_hash[_hasher]


@dataclass(frozen=True)
class Limit:
    failures: int
    window: timedelta


ACCOUNT_LIMIT = Limit(failures=5, window=timedelta(minutes=15))
ADDRESS_LIMIT = Limit(failures=20, window=timedelta(minutes=15))


def normal_username(username: str) -> str:
    return (username or "").strip().lower()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise Invalid("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise Invalid("password", f"must be at most {MAX_PASSWORD_LENGTH} characters")
    return password


def create_operator(db: Session, *, username: str, password: str) -> Operator:
    name = normal_username(username)
    if not USERNAME_PATTERN.match(name):
        raise Invalid("username", "2-64 lower-case letters, digits, dots, dashes or underscores")
    _check_password(password)
    if db.scalar(select(Operator.id).where(Operator.username == name)) is not None:
        raise Conflict("username", f"operator {name} already exists")
    operator = Operator(username=name, password_hash=hash_password(password), password_changed_at=now())
    db.add(operator)
    db.flush()
    return operator


def set_password(db: Session, operator: Operator, password: str) -> None:
    """A new password; dashboard sessions signed in with the old one end (see `session_stamp`)."""
    operator.password_hash = hash_password(_check_password(password))
    operator.password_changed_at = now()
    db.flush()


def find_operator(db: Session, username: str) -> Operator | None:
    return db.scalar(select(Operator).where(Operator.username == normal_username(username)))


def password_matches(operator: Operator, password: str) -> bool:
    try:
        return _hasher.verify(operator.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def session_stamp(operator: Operator) -> str:
    """What a signed-in browser keeps besides the operator's id: a new password ends older sessions."""
    return as_utc(operator.password_changed_at).isoformat()


# --- logging in -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginOutcome:
    operator: Operator | None  # signed in; None: refused
    retry_after: timedelta | None = None  # refused without checking the password: too many failures


def log_in(
    db: Session, username: str, password: str, address: str, at: datetime | None = None
) -> LoginOutcome:
    """Check a login and count it. Commit the transaction whatever the outcome: failures must stay counted."""
    at = at or now()
    keys = {
        _key("account", normal_username(username)): ACCOUNT_LIMIT,
        _key("address", address): ADDRESS_LIMIT,
    }
    wait = _blocked_for(db, list(keys), at)
    if wait is not None:
        return LoginOutcome(None, wait)
    operator = find_operator(db, username)
    if operator is None:
        _hasher.verify(_unknown_user(), "no such operator")  # the same work as a real check
    elif password_matches(operator, password):
        if _hasher.check_needs_rehash(operator.password_hash):
            operator.password_hash = hash_password(password)
        operator.last_login_at = at
        db.execute(delete(LoginThrottle).where(LoginThrottle.key == _key("account", operator.username)))
        db.flush()
        return LoginOutcome(operator)
    for key, limit in keys.items():
        _count_failure(db, key, limit, at)
    return LoginOutcome(None)


def _key(kind: str, value: str) -> str:
    return f"{kind}:{value}"[:200]


def _blocked_for(db: Session, keys: list[str], at: datetime) -> timedelta | None:
    until = [
        as_utc(value)
        for value in db.scalars(select(LoginThrottle.blocked_until).where(LoginThrottle.key.in_(keys)))
        if value is not None
    ]
    latest = max(until, default=None)
    return latest - at if latest is not None and latest > at else None


# The same SQL on PostgreSQL and SQLite, as `core.outbox` writes its rows: create the counter once.
_CREATE_COUNTER = text(
    "INSERT INTO login_throttles (key, failures, window_started_at) VALUES (:key, 0, :at) "
    "ON CONFLICT (key) DO NOTHING"
).bindparams(bindparam("at", type_=LoginThrottle.__table__.c.window_started_at.type))


def _count_failure(db: Session, key: str, limit: Limit, at: datetime) -> None:
    """One more failure for `key`, in one conditional UPDATE (concurrent failures are all counted); the
    count restarts when the window has passed; reaching the limit blocks the key for one window."""
    db.execute(_CREATE_COUNTER, {"key": key, "at": at})
    expired = LoginThrottle.window_started_at < at - limit.window
    failures = db.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key)
        .values(
            failures=case((expired, 1), else_=LoginThrottle.failures + 1),
            window_started_at=case((expired, at), else_=LoginThrottle.window_started_at),
        )
        .returning(LoginThrottle.failures)
    ).scalar_one()
    if failures >= limit.failures:
        db.execute(
            update(LoginThrottle).where(LoginThrottle.key == key).values(blocked_until=at + limit.window)
        )
