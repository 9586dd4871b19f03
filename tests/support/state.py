"""Starting afresh: empty tables, an empty outbox and an empty broker."""

from __future__ import annotations

import shutil

import redis
from sqlalchemy import text

from core.config import Settings
from core.db import get_engine
from core.models import Base


def start_afresh(settings: Settings) -> None:
    engine = get_engine()
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
    shutil.rmtree(settings.outbox_dir, ignore_errors=True)
    shutil.rmtree(settings.data_dir / "imports", ignore_errors=True)
    with redis.Redis.from_url(settings.require_redis_url()) as broker:
        broker.flushdb()
