"""Token buckets, one per visitor: the arithmetic under every "so many per so long" rule.

A bucket holds up to `capacity` units and refills evenly, `capacity` per `period_s`. Two
ways to spend from it:

- `take(key)`: one unit now, if there is one (requests and generations per minute);
- `charge(key, amount)`: after the fact, whatever was used, even below zero (GPU-seconds a
  generation actually took: known only when it ends, so a bucket may go into debt and its
  owner waits for it to climb back above zero before starting again).

Memory stays bounded: past `max_keys` buckets, those that have refilled are forgotten (they
lose nothing), then the oldest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    level: float
    updated: float


class Buckets:
    def __init__(self, capacity: float, period_s: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000):
        self.capacity, self.period_s = capacity, period_s
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    @property
    def limited(self) -> bool:
        return self.capacity > 0

    def level(self, key: str, capacity: float | None = None) -> float:
        """What `key` has now (a full bucket for a key never seen); `capacity` overrides the default."""
        return self._bucket(key, self._capacity(capacity)).level

    def take(self, key: str, capacity: float | None = None) -> int | None:
        """Take one unit: None if there was one, else the whole seconds until there is."""
        capacity = self._capacity(capacity)
        if capacity <= 0:
            return None
        bucket = self._bucket(key, capacity)
        if bucket.level >= 1:
            bucket.level -= 1
            return None
        return self._seconds_until(capacity, 1 - bucket.level)

    def charge(self, key: str, amount: float, capacity: float | None = None) -> None:
        """Spend `amount` after the fact; the level may go below zero."""
        capacity = self._capacity(capacity)
        if capacity > 0 and amount > 0:
            self._bucket(key, capacity).level -= amount

    def wait_until_positive(self, key: str, capacity: float | None = None) -> int | None:
        """None if `key` has anything left, else the whole seconds until it has."""
        capacity = self._capacity(capacity)
        level = self._bucket(key, capacity).level if capacity > 0 else 1
        return None if level > 0 else self._seconds_until(capacity, -level + 1e-9)

    # --- internals ----------------------------------------------------------------------------

    def _capacity(self, capacity: float | None) -> float:
        return self.capacity if capacity is None else capacity

    def _seconds_until(self, capacity: float, missing: float) -> int:
        return max(1, math.ceil(missing * self.period_s / capacity))

    def _bucket(self, key: str, capacity: float) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._forget_idle(now)
            bucket = self._buckets[key] = _Bucket(level=capacity, updated=now)
        bucket.level = min(capacity, bucket.level + (now - bucket.updated) * capacity / self.period_s)
        bucket.updated = now
        return bucket

    def _forget_idle(self, now: float) -> None:
        if len(self._buckets) < self.max_keys:
            return
        # A bucket untouched for a whole period is full again, even one that was in debt up to a
        # period's worth: forgetting it loses its owner nothing.
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.updated < 2 * self.period_s}
        while len(self._buckets) >= self.max_keys:  # a flood of distinct keys at one moment: oldest go first
            self._buckets.pop(next(iter(self._buckets)))


class RateLimiter(Buckets):
    """`per_minute` requests per key, refilled evenly, bursts up to the same; 0 = no limit."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000):
        super().__init__(per_minute, 60.0, clock, max_clients)
        self.per_minute = per_minute

    def retry_after(self, client: str) -> int | None:
        """Take one request from `client`'s bucket; None if allowed, else whole seconds to wait."""
        return self.take(client)
