"""One sending rate for every worker on every machine: a token bucket kept in Redis.

Each batch reserves its emails' place in time before it goes: the bucket holds the
moment at which the last reservation is paid off (`tat`, the generic cell rate
algorithm's "theoretical arrival time"). A batch of n at r per second moves it n/r seconds
on, and waits until the earlier ones have had their time. One small Lua script does the
reading and moving at once, so no two workers take the same slot. Celery's own
`rate_limit` is per worker, which is why it is not used for this.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import redis

# KEYS[1]: the bucket; ARGV: emails, rate per second, longest wait worth taking (s).
# Returns the seconds to wait before sending, as a string; a negative number means the
# wait would be longer than that and nothing was reserved (its size is minus the wait).
_RESERVE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1e6
local count, rate, longest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(tat, now)
local wait = start - now
if wait > longest then
  return tostring(-wait)
end
local done = start + count / rate
redis.call('SET', KEYS[1], tostring(done), 'PX', math.ceil((done - now) * 1000) + 1000)
return tostring(wait)
"""

LONGEST_WAIT = 20.0  # seconds a worker may sleep for its turn; longer, and the batch requeues


@dataclass(frozen=True)
class Reservation:
    wait: float  # seconds until the batch may go
    granted: bool  # False: nothing reserved, try again after `wait`


class SendRate:
    def __init__(self, client: redis.Redis, name: str, per_second: float) -> None:
        self.client = client
        self.key = f"tend:rate:{name}"
        self.per_second = per_second
        self._reserve = client.register_script(_RESERVE)

    def reserve(self, count: int, longest: float = LONGEST_WAIT) -> Reservation:
        if self.per_second <= 0 or count <= 0:
            return Reservation(0.0, granted=True)
        wait = float(self._reserve(keys=[self.key], args=[count, self.per_second, longest]))
        if wait < 0:
            return Reservation(-wait, granted=False)
        return Reservation(wait, granted=True)


@functools.cache
def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)
