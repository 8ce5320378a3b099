"""A real uvicorn server on a free port, in a thread of the test process."""

from __future__ import annotations

import socket
import threading
from typing import Any

import httpx
import uvicorn

from heurist.api.app import create_app
from heurist.runtime import Runtime
from heurist.settings import Settings
from tests.support.wait import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, settings: Settings, *, runtime: Runtime | None = None) -> None:
        self.port = free_port()
        self.settings = settings.model_copy(update={"port": self.port})
        self.app = create_app(self.settings, runtime=runtime)
        self.runtime: Runtime = self.app.state.runtime
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.admin = httpx.Client(
            base_url=self.url,
            timeout=60,
            headers={"Authorization": f"Bearer {self.settings.admin_token}"},
        )

    def start(self, timeout: float = 120.0) -> None:
        self._thread.start()
        wait_for(
            lambda: self._server.started or not self._thread.is_alive(),
            timeout=timeout,
            message="the test server did not start",
            every=0.02,
        )
        if not self._server.started:
            raise RuntimeError("the test server did not start")

    def stop(self) -> None:
        self.client.close()
        self.admin.close()
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def wait_embedded(self, timeout: float = 120.0) -> dict[str, Any]:
        """Drain the queue. The request may take the whole drain timeout: the HTTP timeout
        is longer (it was the admin client's 60 s, shorter than a 120 s drain, and the
        drain of an import's 3,000 entries on a loaded machine ran into it)."""
        result: dict[str, Any] = self.admin.post(
            "/admin/queue/drain", params={"timeout": timeout}, timeout=timeout + 30
        ).json()
        return result
