"""The WSGI application for gunicorn: `gunicorn web.wsgi:app` (and `tend dev`'s server)."""

import gc
import logging

from core import logs
from core.config import get_settings
from web import create_app

settings = get_settings()
# This process's lines go to stderr in the chosen format, each with its request's id.
logs.log_to_stderr(settings.log_format)
# gunicorn's lines from this worker process in the same format, also when gunicorn runs
# without web/gunicorn_conf.py (which formats its master's lines too).
logs.format_handlers(logging.getLogger("gunicorn.error"), settings.log_format)
# The development server's own access line comes after the request is over, without its
# id; web/request_log.py writes one with it.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

app = create_app(settings)

# What is loaded by now lives as long as the process. Frozen, the collector's full passes
# leave it out: walking it all stalled a request for 50 to 100 ms every few seconds.
gc.freeze()
