"""Reads that answer within a deadline whatever the database does: for /health.

A health check must answer in well under a second when the database is down, not
after a connect or pool timeout: a load balancer or an operator is waiting. The
probe runs its read in a thread of its own, on a small engine of its own (short
connect and pool timeouts, so the request pool being saturated never makes it
wait), and the caller waits at most ``deadline`` seconds. A probe still running past
its deadline is not started again: the next callers wait on the same one, so a
hung database costs one thread, not one per health request.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from heurist.db.faults import DatabaseUnavailable, translated

T = TypeVar("T")
ReadFn = Callable[[Connection], Any]


class Probe:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._inflight: dict[ReadFn, Future[Any]] = {}

    def run(self, fn: Callable[[Connection], T], *, deadline: float) -> T:
        """``fn(conn)`` in a read transaction; DatabaseUnavailable after ``deadline`` s."""
        try:
            result: T = self._start(fn).result(timeout=deadline)
        except TimeoutError:
            raise _late(deadline) from None
        return result

    async def run_async(self, fn: Callable[[Connection], T], *, deadline: float) -> T:
        """The same, awaited: it needs no worker thread of the server's to wait."""
        future = asyncio.wrap_future(self._start(fn))
        try:
            result: T = await asyncio.wait_for(asyncio.shield(future), deadline)
        except TimeoutError:
            raise _late(deadline) from None
        return result

    def dispose(self) -> None:
        self.engine.dispose()

    def _start(self, fn: ReadFn) -> Future[Any]:
        with self._lock:
            future = self._inflight.get(fn)
            if future is None or future.done():
                future = Future()
                future.set_running_or_notify_cancel()
                self._inflight[fn] = future
                threading.Thread(
                    target=self._read, args=(fn, future), name="db-probe", daemon=True
                ).start()
            return future

    def _read(self, fn: ReadFn, future: Future[Any]) -> None:
        try:
            with translated(), self.engine.connect() as conn, conn.begin():
                result = fn(conn)
        except Exception as exc:  # handed to the waiting callers, who raise it
            future.set_exception(exc)
        else:
            future.set_result(result)


def _late(deadline: float) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"the database did not answer within {deadline:g} s")
