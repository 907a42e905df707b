"""Alembic is the only way the schema is made: one head, and the migrated schema equals the models."""

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from core import db as core_db
from core.models import Base
from core.settings import PROJECT_ROOT


def test_migrations_have_a_single_head():
    script = ScriptDirectory.from_config(Config(str(PROJECT_ROOT / "alembic.ini")))
    assert len(script.get_heads()) == 1


def test_migrated_database_matches_the_models(database_url):
    with core_db.engine_for(database_url).connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
