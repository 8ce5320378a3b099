"""A real HTTP server speaking the OpenAI ``/v1/embeddings`` protocol, for tests.

Vectors come from HashEmbedder, so a test can compute the expected answer. The server
can be told to misbehave for the next N requests (a status with an optional
``Retry-After``, a wrong dimension, NaN, a slow answer), or stopped so connections are
refused. It returns ``data`` in reverse order to prove clients sort by ``index``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from heurist.embedding.hashing import HashEmbedder


@dataclass
class Fault:
    """One scripted misbehaviour, used for one request."""

    status: int = 200
    retry_after: str | None = None
    body: Any = None
    wrong_dim: bool = False
    nan: bool = False
    delay: float = 0.0


@dataclass
class Recorded:
    """What one request carried, for assertions."""

    path: str
    inputs: list[str]
    model: str | None
    authorization: str | None
    at: float


@dataclass
class FakeOpenAI:
    """Start with ``start()``; ``url`` is the base to give the client (ends in ``/v1``)."""

    dim: int = 32
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._embedder = HashEmbedder(dim=self.dim)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        server = _Server(("127.0.0.1", self.port), _handler_for(self))
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut down and close the socket: later connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def fail_next(self, n: int, **fault: Any) -> None:
        """Script the next ``n`` requests (e.g. ``status=503``, ``retry_after="1"``)."""
        with self._lock:
            self.faults.extend(Fault(**fault) for _ in range(n))

    def expected(self, texts: list[str]) -> Any:
        """The vectors the server gives for ``texts`` (normalized)."""
        return self._embedder.embed(texts)

    def _next_fault(self) -> Fault:
        with self._lock:
            return self.faults.popleft() if self.faults else Fault()

    def respond(self, body: dict[str, Any], fault: Fault) -> tuple[int, dict[str, str], str]:
        """Status, headers and JSON text for one request body."""
        if fault.delay:
            time.sleep(fault.delay)
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if fault.status != 200:
            error = fault.body or {"error": {"message": f"scripted {fault.status}"}}
            return fault.status, headers, json.dumps(error)
        inputs = list(body["input"])
        vectors = self._embedder.embed(inputs).tolist()
        if fault.wrong_dim:
            vectors = [v[:-1] for v in vectors]
        if fault.nan:
            vectors[0][0] = float("nan")
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        data.reverse()
        payload = {"object": "list", "model": body.get("model"), "data": data}
        return 200, headers, json.dumps(payload)  # allow_nan: json emits NaN as clients parse it


class _Server(ThreadingHTTPServer):
    """Remembers open connections so ``stop`` can cut kept-alive ones too."""

    daemon_threads = True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.connections: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and hung up is expected here; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        for connection in list(self.connections):
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self.connections.clear()


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.requests.append(
                Recorded(
                    path=self.path,
                    inputs=list(body.get("input", [])),
                    model=body.get("model"),
                    authorization=self.headers.get("Authorization"),
                    at=time.monotonic(),
                )
            )
            if self.path != "/v1/embeddings":
                self._send(404, {}, json.dumps({"error": {"message": "no such route"}}))
                return
            self._send(*fake.respond(body, fake._next_fault()))

        def _send(self, status: int, headers: dict[str, str], text: str) -> None:
            raw = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler
