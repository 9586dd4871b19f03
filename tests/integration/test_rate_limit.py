"""The shared send rate: one token bucket in Redis for every worker on every machine."""

from __future__ import annotations

import threading

import pytest
import redis

from core.config import Settings
from tasks.rate_limit import SendRate


@pytest.fixture
def client(db: None, settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.require_redis_url())


def test_batches_from_many_workers_are_spaced_to_the_rate_together(
    client: redis.Redis, settings: Settings
) -> None:
    # Four "workers" (each its own SendRate and connection) reserve ten batches of 100 at
    # 1,000 emails a second: together they may send the 1,000 no faster than in a second.
    waits: list[float] = []
    lock = threading.Lock()
    url = settings.require_redis_url()

    def worker() -> None:
        rate = SendRate(redis.Redis.from_url(url), "smtp", per_second=1000)
        for _ in range(10):
            turn = rate.reserve(100, longest=60)
            assert turn.granted
            with lock:
                waits.append(turn.wait)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(waits) == 40
    # Reservations queue up one behind the other: the last waits about 3.9 s, since
    # 40 batches of 100 at 1,000 a second take 4 s and the first goes at once.
    assert sorted(waits)[0] < 0.05
    assert 3.7 < max(waits) < 4.0


def test_a_wait_longer_than_worth_taking_reserves_nothing(client: redis.Redis) -> None:
    rate = SendRate(client, "sendgrid", per_second=100)

    first = rate.reserve(1000, longest=5)  # ten seconds' worth, sent at once
    second = rate.reserve(1000, longest=5)  # its turn would come in ten seconds
    third = rate.reserve(1, longest=60)

    assert (first.granted, first.wait) == (True, 0.0)
    assert not second.granted
    assert 9.5 < second.wait <= 10.0
    assert third.granted, "the refused batch took no place in the line"
    assert 9.5 < third.wait <= 10.0


def test_each_transport_has_its_own_bucket_and_no_rate_means_no_wait(client: redis.Redis) -> None:
    SendRate(client, "sendgrid", per_second=10).reserve(1000, longest=1000)

    assert SendRate(client, "smtp", per_second=10).reserve(10).wait == 0.0
    assert SendRate(client, "sendgrid", per_second=0).reserve(10**6).wait == 0.0
