"""The worker's and beat's entry point: `celery -A tasks.worker worker` / `beat`."""

import logging

from celery.signals import after_setup_logger

from core.config import get_settings
from core.logs import use_json
from tasks import jobs  # noqa: F401  (registers the tasks)
from tasks.celery_app import celery

__all__ = ["celery"]


@after_setup_logger.connect
def _configure_logs(logger: logging.Logger, **_: object) -> None:
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    if get_settings().log_format == "json":
        use_json(logger)
