"""News inside a process: "there is new work" (for the workers), "there are new vectors"
(for the index sync). One mechanism and one verb for both: a :class:`Signal` is announced.

Waiters block on it with a generation counter, which closes the lost-wake-up gap: a
worker notes the generation before it claims, and an announcement that lands between an
empty claim and the wait makes the wait return at once. Subscribers hear of every
announcement made in this process; on PostgreSQL the LISTEN/NOTIFY bridge
(``heurist.queue.pg_notify``) is the subscriber that carries it to other processes, and it
announces what it receives from them with ``relay=False``. Announcements are a latency
optimisation only: the poll intervals stay the fallback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Signal:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        self._subscribers: list[Callable[[], None]] = []

    @property
    def generation(self) -> int:
        with self._cond:
            return self._generation

    def announce(self, *, relay: bool = True) -> None:
        """There is news: wake this process's waiters and tell the subscribers.

        ``relay=False`` for news that came from another process: relaying it back would
        echo between processes forever.
        """
        self.wake()
        if relay:
            for subscriber in list(self._subscribers):
                subscriber()

    def wake(self) -> None:
        """Wake this process's waiters without news for anyone else (e.g. to stop them)."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def subscribe(self, subscriber: Callable[[], None]) -> None:
        """Call ``subscriber`` on every announcement made in this process."""
        self._subscribers.append(subscriber)

    def wait(self, since: int, timeout: float) -> bool:
        """Block until the generation moves past ``since`` or ``timeout``; True if woken."""
        with self._cond:
            return self._cond.wait_for(lambda: self._generation != since, timeout=timeout)
