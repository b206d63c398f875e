"""Database migrations, run in code so an install needs no alembic.ini.

The revision chain is linear (``0001_consent`` then ``0002_...``); every
stage adds one revision on top and lists its ORM module in
:data:`MODEL_MODULES` so the migration environment sees its tables.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData

from proxy.core.package_data import data_directory
from proxy.store.db import Base, make_engine

# Modules whose import registers tables on proxy.store.db.Base.metadata.
MODEL_MODULES: tuple[str, ...] = (
    "proxy.store.consent_store",
    "proxy.store.spool_model",
    "proxy.store.audit_model",
    "proxy.store.disclosure_model",
    "proxy.store.login_failure_model",
    "proxy.store.cluster_model",
)


def target_metadata() -> MetaData:
    """Base.metadata with every model module imported."""
    for module in MODEL_MODULES:
        import_module(module)
    return Base.metadata


def script_location() -> Path:
    """This package's directory (env.py, script.py.mako, versions/) on disk.

    Alembic imports the scripts by path, so it needs a real directory; it is
    found through importlib.resources (see :mod:`proxy.core.package_data`),
    which works from an installed wheel as well as from a checkout.
    """
    return data_directory("proxy.store", "migrations")


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config pointing at this package; ``engine`` (if given) is
    what env.py migrates."""
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(target: str | Engine, revision: str = "head") -> None:
    """Bring the database at ``target`` (a URL or an engine) to ``revision``."""
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        command.upgrade(alembic_config(engine), revision)
    finally:
        if isinstance(target, str):
            engine.dispose()


def downgrade(target: str | Engine, revision: str) -> None:
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        command.downgrade(alembic_config(engine), revision)
    finally:
        if isinstance(target, str):
            engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
