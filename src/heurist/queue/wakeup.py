"""Wake idle workers (and the index sync) the moment there is work.

A generation counter closes the lost-wake-up gap: a worker notes the generation
before it claims, and a write that lands between an empty claim and the wait makes
the wait return at once. Across processes, PostgreSQL LISTEN/NOTIFY feeds the same
object (heurist.queue.pg_notify); the poll interval is only the fallback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Wakeup:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        self._listeners: list[Callable[[], None]] = []

    @property
    def generation(self) -> int:
        with self._cond:
            return self._generation

    def notify(self) -> None:
        """Wake this process's waiters and tell the subscribers (who publish it onwards)."""
        self.wake_local()
        for listener in list(self._listeners):
            listener()

    def wake_local(self) -> None:
        """Wake this process's waiters only: for a wake-up received from another process,
        which must not be published again (it would echo between processes forever)."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` on every notification (e.g. to publish it to other processes)."""
        self._listeners.append(listener)

    def wait(self, since: int, timeout: float) -> bool:
        """Block until the generation moves past ``since`` or ``timeout``; True if woken."""
        with self._cond:
            return self._cond.wait_for(lambda: self._generation != since, timeout=timeout)
