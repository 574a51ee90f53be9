"""The token bucket both fake platforms use to enforce their rate limits."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

#: default arrival jitter forgiven by the fakes' buckets, in seconds (see `TokenBucket`)
DEFAULT_TOLERANCE = 0.25


class TokenBucket:
    """``rate`` requests per second, bursts up to ``capacity`` (default: one second's worth).

    The bucket starts full and refills continuously. A client that paces itself with
    ``aiolimiter.AsyncLimiter(rate, 1.0)`` (the same bucket, kept on the client's side) is never
    refused, provided its requests reach the server with the same delay after leaving the limiter.
    They do not quite: one request can be held up longer than the next (in the client's connection
    pool, in the event loop), which then arrives "early". ``tolerance`` forgives that much jitter,
    in seconds: it adds ``rate * tolerance`` requests of burst, so a sustained excess is still
    refused within moments. 0 makes the bucket exact. Measured against `FakeLine` with the real
    SDK at 200 multicasts/s: a sequential sender needs about 0.005 s, 32 concurrent senders
    about 0.02 s, 400 about 0.1 s; the default leaves room for a loaded machine.
    """

    def __init__(
        self,
        rate: float,
        *,
        capacity: float | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, rate if capacity is None else capacity)
        self.tolerance = tolerance
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + max(0.0, now - self._last) * self.rate)
        self._last = now

    def take(self) -> bool:
        """Admit one request (True) or refuse it (False, nothing consumed)."""
        self._refill()
        if self._tokens + self.rate * self.tolerance >= 1.0 - 1e-9:
            self._tokens -= 1.0
            return True
        return False

    def wait(self) -> float:
        """Seconds until a request would be admitted (0 when one would be now)."""
        self._refill()
        missing = 1.0 - self._tokens - self.rate * self.tolerance
        return max(0.0, missing / self.rate)

    def wait_whole_seconds(self) -> int:
        """`wait`, rounded up to whole seconds and at least 1, as platforms state a retry delay."""
        return max(1, math.ceil(self.wait()))
