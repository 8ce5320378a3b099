"""Shared benchmark harness: a real server subprocess, percentiles, and docs/benchmarks.md.

Each benchmark owns one section of docs/benchmarks.md, between
``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` markers, and rewrites only that.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
TOKEN = "bench-admin-token"
# The verified ONNX export of the model, made once and shared by every benchmark.
MODEL_CACHE = ROOT / "bench" / ".work" / "models"


WORDS = [
    "cache",
    "build",
    "test",
    "deploy",
    "rollback",
    "retry",
    "timeout",
    "flaky",
    "lock",
    "queue",
    "index",
    "schema",
    "migration",
    "latency",
    "profile",
    "memory",
    "thread",
    "process",
    "socket",
    "token",
    "secret",
    "config",
    "log",
    "metric",
    "alert",
    "trace",
]


def word_texts(n: int, words: int = 40, seed: int = 7) -> list[str]:
    """n synthetic texts of about ``words`` words, the same for every run."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=words)) for _ in range(n)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values_ms, dtype=float)
    return {
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "p99": float(np.percentile(arr, 99)),
        "max": float(arr.max()),
    }


class Server:
    """``heurist serve`` as a subprocess with the given HEURIST_* settings."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = (
            os.environ
            | {
                "HEURIST_DATA_DIR": str(data_dir),
                "HEURIST_PORT": str(self.port),
                "HEURIST_ADMIN_TOKEN": TOKEN,
                "HEURIST_LOG_LEVEL": "WARNING",
            }
            | env
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin = {"Authorization": f"Bearer {TOKEN}"}

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "heurist.cli.main", "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("the server did not start")

    def __exit__(self, *_: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(120)

    def wait_model(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not httpx.get(f"{self.url}/health").json()["model"]["loaded"]:
            if time.monotonic() > deadline:
                raise RuntimeError("the model did not load")
            time.sleep(0.2)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(name: str, body: str) -> None:
    """Replace (or append) this benchmark's section in docs/benchmarks.md."""
    DOC.parent.mkdir(exist_ok=True)
    text = (
        DOC.read_text() if DOC.exists() else "# Benchmarks\n\nMeasured on this project's machine.\n"
    )
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
