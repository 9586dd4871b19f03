"""What waits in the broker: the send tasks queued, read straight from Redis."""

from __future__ import annotations

import base64
import json

import redis

from core.config import Settings
from tasks.handoff import handoff


def queued_sends(settings: Settings) -> list[list[int]]:
    """The delivery ids of each send task waiting in the broker, oldest first, once this
    process has published what its web requests handed over (tasks/handoff.py)."""
    handoff.flush()
    with redis.Redis.from_url(settings.require_redis_url()) as broker:
        raw = broker.lrange("celery", 0, -1)
    sends = []
    for message in reversed(raw):  # kombu pushes on the left
        envelope = json.loads(message)
        if envelope["headers"]["task"] != "tasks.jobs.send_batch":
            continue
        args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        sends.append(args[0])
    return sends
