"""The Celery app. Its configuration is read from Tend's settings when first used.

Tend runs Celery without Flask in the worker. Flask's documented pattern builds the Flask
app in the worker so each task runs inside an app context; here the dependency direction
forbids tasks from importing web, and the tasks need nothing a Flask app holds. The same
guarantees come from `core`: settings are read once per process (`core.config`), and each
task opens its own database session and closes it when done (`core.db.session_scope`).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from core.config import get_settings

TICK_SECONDS = 60.0
PURGE_SECONDS = 6 * 3600.0  # readers who never confirmed are forgotten a few times a day

celery = Celery("tend")


def _configuration() -> dict[str, Any]:
    settings = get_settings()
    return {
        "broker_url": settings.require_redis_url(),
        "broker_connection_retry_on_startup": True,
        "task_ignore_result": True,
        "result_expires": None,  # no result backend, so nothing for beat to clean up
        "task_serializer": "json",
        "accept_content": ["json"],
        # A task is acknowledged only once it is done, so a worker that dies mid-task
        # leaves it to be delivered again; every task is idempotent on its ids.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        "timezone": "UTC",
        # celery-redbeat keeps the schedule in Redis and holds a lock there, so a second
        # beat started by mistake waits instead of ticking too (ticks are safe twice, but
        # pointless). A beat that dies frees the lock after redbeat_lock_timeout.
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_redis_url": settings.require_redis_url(),
        "redbeat_key_prefix": "tend:beat",
        "redbeat_lock_timeout": 5 * 60,
        "beat_max_loop_interval": 10,  # how soon a waiting beat takes over
        "beat_schedule": {
            "tick": {"task": "tasks.jobs.tick", "schedule": TICK_SECONDS},
            "purge": {"task": "tasks.jobs.purge_unconfirmed", "schedule": PURGE_SECONDS},
            # The dashboard's heavy reports. A refresh not started within a period is
            # dropped (the next one is due anyway); one still running holds a lock in
            # Redis that makes the next return at once (tasks.jobs.refresh_reports).
            "refresh-reports": {
                "task": "tasks.jobs.refresh_reports",
                "schedule": float(settings.reports_every),
                "options": {"expires": float(settings.reports_every)},
            },
        },
    }


# Evaluated when the configuration is first read, not at import: tests and `tend dev`
# set the environment first.
celery.add_defaults(_configuration)
