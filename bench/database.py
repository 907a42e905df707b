"""A PostgreSQL database of a benchmark's own: created empty, migrated with Alembic, dropped at the end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent


def create_database(admin_url: str, name: str, app_root: Path = ROOT) -> str:
    """(Re)create `name` on the server of `admin_url`, run `alembic upgrade head` from `app_root` on it,
    and return its URL."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=app_root,
        env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(app_root)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return url


def drop_database(admin_url: str, name: str) -> None:
    """Close this process's engines (they may point at it), then drop `name`."""
    from core import db as core_db

    for engine in core_db._engines.values():
        engine.dispose()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
