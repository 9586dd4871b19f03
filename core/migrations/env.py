"""Alembic's environment: Tend's models, and the database URL from Tend's settings."""

import warnings

from alembic import context

from core.db import make_engine
from core.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with warnings.catch_warnings(), engine.connect() as connection:
        # On SQLite, batch mode reflects the tables it rebuilds and their neighbours, and
        # SQLAlchemy cannot reflect the lower(email) indexes; they are left as they are.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        # Batch mode lets later migrations alter tables on SQLite, which cannot ALTER much.
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
