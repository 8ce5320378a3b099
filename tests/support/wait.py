"""Waiting in tests: on an event or a condition, with a generous deadline, never a bare sleep.

A test that sleeps and then asserts depends on how fast the machine is; ``wait_for`` polls
a condition until it holds and fails with a message only after a deadline long enough for
a loaded machine. Where a test proves that something is *fast* (a wake-up beats a poll
interval), it compares the time ``wait_for`` returns with that interval, not with a
guess at the machine's speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    predicate: Callable[[], object],
    *,
    timeout: float = 30.0,
    message: str | Callable[[], str],
    every: float = 0.05,
) -> float:
    """Poll ``predicate`` until it is truthy; return the seconds it took.

    Fails with ``message`` (or what it returns, for facts known only at the deadline)
    after ``timeout`` seconds.
    """
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(every)
    return time.monotonic() - started
