"""gunicorn's settings, read by its master process: `gunicorn -c python:web.gunicorn_conf`.

Only logging: with TEND_LOG_FORMAT=json every line gunicorn writes is JSON too, the
master's (start-up, signals, a worker timing out) as well as its workers'.
"""

from core.config import get_settings
from core.logs import gunicorn_logging

logconfig_dict = gunicorn_logging(get_settings().log_format)
