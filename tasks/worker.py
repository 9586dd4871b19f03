"""The worker's and beat's entry point: `celery -A tasks.worker worker` / `beat`."""

import logging
from contextvars import Token
from typing import Any

from celery import Task
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
)

from core import logs
from core.config import get_settings
from tasks import imports, jobs, shutdown  # noqa: F401  (registers their tasks and handlers)
from tasks.catalog import get_catalog
from tasks.celery_app import celery

__all__ = ["celery"]


# The context each running task's lines carry, by task id, from its start to its end.
_task_logs: dict[str, Token[Any]] = {}


@after_setup_logger.connect
def _configure_logs(logger: logging.Logger, **_: object) -> None:
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    logs.format_handlers(logger, get_settings().log_format)


@after_setup_task_logger.connect
def _configure_task_logs(logger: logging.Logger, **_: object) -> None:
    # Celery's `celery.task` logger has a handler of its own and does not propagate.
    logs.format_handlers(logger, get_settings().log_format)


@task_prerun.connect
def _task_started(task_id: str, task: Task, **_: object) -> None:
    # Sent before the task runs and task_postrun after Celery's own "succeeded" or
    # "raised" line: every line of the task, ours or Celery's, carries its id and name.
    _task_logs[task_id] = logs.bind(task_id=task_id, task=task.name)


@task_postrun.connect
def _task_ended(task_id: str, **_: object) -> None:
    token = _task_logs.pop(task_id, None)
    if token is not None:
        logs.unbind(token)


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
