"""Holding a running server's queue still while an import writes (DESIGN §3.9).

Order matters: drain first, while the workers run (a drain while paused could never
finish), then take the importer's pause, write, and release it in a ``finally``. The
importer's pause is a lease renewed from a background thread: if this process is
killed, the renewals stop and the server's workers resume by themselves once the lease
lapses. An operator's pause is not ours to lift: without ``force`` we refuse at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from heurist.client import ApiClient, ApiError
from heurist.settings import Settings
from heurist.transfer.errors import CoordinationError, DrainTimeout, OperatorPaused

log = logging.getLogger(__name__)

PAUSE_PATH = "/admin/queue/import-pause"
HEALTH_TIMEOUT = 2.0
SETTLE_POLL_SECONDS = 0.1


def default_holder() -> str:
    """Unique per importer run, readable in /admin/queue/status."""
    return f"import:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class QueueCoordinator:
    """The admin API of the server at ``settings.api_url``, seen by an importer."""

    def __init__(self, settings: Settings, *, holder: str | None = None) -> None:
        self.settings = settings
        self.holder = holder or default_holder()
        self.lease_seconds = settings.import_pause_lease_seconds
        self.client = ApiClient.from_settings(settings)

    def close(self) -> None:
        self.client.close()

    def server_running(self) -> bool:
        """Any HTTP answer from /health means a server is there (a degraded one too)."""
        try:
            self.client.request("GET", "/health", timeout=HEALTH_TIMEOUT)
        except ApiError as exc:
            return exc.status is not None
        return True

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.client.request("GET", "/admin/queue/status", admin=True)
        return result

    @contextmanager
    def hold(self, *, force: bool = False, drain_timeout: float = 600.0) -> Iterator[None]:
        """Drain, pause (a lease, renewed), yield, release: the release in ``finally``."""
        pause = self.status()["pause"]
        if pause.get("operator_paused") and not force:
            raise OperatorPaused(
                "the queue is paused by an operator: an import would wait for a drain that "
                "cannot finish. Resume it ('heurist queue resume') or pass --force-while-paused"
            )
        if not pause.get("paused"):
            self._drain(drain_timeout)
        self._acquire()
        renewer = LeaseRenewer(self._acquire, interval=max(self.lease_seconds / 3.0, 0.05))
        renewer.start()
        try:
            self._settle()
            yield
        finally:
            renewer.stop()
            self._release()

    def _drain(self, timeout: float) -> None:
        result = self.client.request(
            "POST",
            "/admin/queue/drain",
            admin=True,
            params={"timeout": timeout},
            timeout=timeout + 30,
        )
        if result["status"] != "drained":
            raise DrainTimeout(
                f"the queue did not drain within {timeout:g}s ({result['remaining']} entries "
                "remain); nothing was imported. Retry later or raise --drain-timeout",
                details=result,
            )

    def _acquire(self) -> None:
        body = {"holder": self.holder, "lease_seconds": self.lease_seconds}
        try:
            self.client.request("POST", PAUSE_PATH, admin=True, json=body)
        except ApiError as exc:
            raise CoordinationError(f"could not pause the queue: {exc.message}") from exc

    def _settle(self) -> None:
        """Paused workers finish the batch in hand: wait (within one lease) until they have."""
        deadline = time.monotonic() + self.lease_seconds
        while time.monotonic() < deadline:
            if self.status()["queue"]["processing"]["total"] == 0:
                return
            time.sleep(SETTLE_POLL_SECONDS)
        log.warning("workers still hold entries after %.0fs; importing anyway", self.lease_seconds)

    def _release(self) -> None:
        try:
            self.client.request("DELETE", PAUSE_PATH, admin=True, params={"holder": self.holder})
        except ApiError as exc:
            # The lease lapses by itself: the queue resumes within lease_seconds anyway.
            log.warning(
                "could not release the import pause (%s); it lapses in %.0fs",
                exc.message,
                self.lease_seconds,
            )


class LeaseRenewer:
    """Calls ``renew`` every ``interval`` seconds from a daemon thread until stopped."""

    def __init__(self, renew: Callable[[], None], *, interval: float) -> None:
        self._renew = renew
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="import-pause-lease", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._renew()
            except CoordinationError as exc:
                log.warning("renewing the import pause failed: %s", exc.message)
