"""The worker's and beat's entry point: `celery -A tasks.worker worker` / `beat`."""

import logging

from celery.signals import after_setup_logger

from tasks import jobs  # noqa: F401  (registers the tasks)
from tasks.celery_app import celery

__all__ = ["celery"]


@after_setup_logger.connect
def _quiet_libraries(logger: logging.Logger, **_: object) -> None:
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
