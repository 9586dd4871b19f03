"""The worker's and beat's entry point: `celery -A tasks.worker worker` / `beat`."""

import logging

from celery.signals import after_setup_logger, worker_process_init, worker_process_shutdown

from core.config import get_settings
from core.logs import use_json
from tasks import imports, jobs, shutdown  # noqa: F401  (registers their tasks and handlers)
from tasks.catalog import get_catalog
from tasks.celery_app import celery

__all__ = ["celery"]


@after_setup_logger.connect
def _configure_logs(logger: logging.Logger, **_: object) -> None:
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    if get_settings().log_format == "json":
        use_json(logger)


@worker_process_init.connect
def _warm_up(**_: object) -> None:
    # Each pool process reads the courses and opens its transport before its first task,
    # not during it: the first batch after a start or a restart goes out as fast as the rest.
    get_catalog()
    jobs.get_transport()


@worker_process_shutdown.connect
def _close_transport(**_: object) -> None:
    # An SMTP connection kept open between batches is closed politely (QUIT).
    if jobs.get_transport.cache_info().currsize:
        jobs.get_transport().close()
