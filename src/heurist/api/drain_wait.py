"""``POST /admin/queue/drain`` waits without holding a thread.

A waiting drain is a coroutine: it looks at the queue (a short read, on a pool thread
for a few milliseconds) and sleeps on the event loop in between, backing off from
50 ms to half a second. Forty waiters of an hour each thus cost no server thread, and
``/health`` and every other route keep answering. At most ``limit`` drains wait at
once; one more answers 429 with Retry-After (a flood of them would still cost the
database a read each per poll).
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi.concurrency import run_in_threadpool

from heurist.errors import TooBusy
from heurist.queue.control import QueueControl

DRAIN_WAITERS_MAX = 16
POLL_FIRST_SECONDS = 0.05
POLL_MAX_SECONDS = 0.5


class DrainWaiters:
    def __init__(self, limit: int = DRAIN_WAITERS_MAX) -> None:
        self.limit = limit
        self.waiting = 0  # touched only on the event loop: no lock needed

    async def drain(self, queue: QueueControl, timeout: float) -> dict[str, Any]:
        if self.waiting >= self.limit:
            raise TooBusy(
                f"{self.waiting} drains are waiting already (the limit is {self.limit}); "
                "retry later",
                details={"limit": self.limit},
            )
        self.waiting += 1
        try:
            return await self._wait(queue, timeout)
        finally:
            self.waiting -= 1

    async def _wait(self, queue: QueueControl, timeout: float) -> dict[str, Any]:
        deadline = anyio.current_time() + timeout
        pause = POLL_FIRST_SECONDS
        while True:
            remaining = await run_in_threadpool(queue.drain_check)
            if remaining == 0:
                return {"status": "drained", "remaining": 0}
            left = deadline - anyio.current_time()
            if left <= 0:
                return {"status": "timeout", "remaining": remaining}
            await anyio.sleep(min(pause, left))
            pause = min(pause * 2, POLL_MAX_SECONDS)
