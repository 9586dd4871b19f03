"""Tend's web app on a loopback port, for tests whose provider posts events over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.serving import make_server

from core.config import Settings
from web import create_app


@contextmanager
def webhook_server(settings: Settings, public_key: str) -> Iterator[str]:
    """Tend's web app on a loopback port, taking signed events; yields the hook's URL."""
    app = create_app(settings.model_copy(update={"sendgrid_webhook_public_key": public_key}))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/sendgrid"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
