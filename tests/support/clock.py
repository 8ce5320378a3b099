"""A clock that moves only when the test moves it, for the parts that take ``clock=``.

Leases, backoffs and import pauses are compared with the clock inside the database
statements, so a test that owns the clock decides what has expired without sleeping,
and without a slow machine letting something expire too early.
"""

from __future__ import annotations

import threading
import time


class FakeClock:
    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now
