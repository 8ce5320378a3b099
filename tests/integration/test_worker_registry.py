"""Any instance's /admin/queue/status shows the workers of every process on the database."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from heurist.runtime import Runtime
from tests.support.server import LiveServer


def workers(server: LiveServer) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = server.admin.get("/admin/queue/status").json()["workers"]
    return result


def test_status_lists_the_workers_of_another_process(
    server_factory: Callable[..., LiveServer], runtime_factory: Callable[..., Runtime]
) -> None:
    api = server_factory(num_embedding_workers=0)
    other = runtime_factory(num_embedding_workers=2, instance_id="other-host:worker")
    assert other.pool is not None
    seen = [w for w in workers(api) if not w["local"]]
    assert sorted(w["id"] for w in seen) == sorted(s.holder for s in other.pool.stats)
    assert all(w["alive"] for w in seen)
    assert {w["pid"] for w in seen} and all(w["last_seen"] for w in seen)

    other.pool.stop()
    after = [w for w in workers(api) if not w["local"]]
    assert [w["state"] for w in after] == ["stopped", "stopped"]
    assert not any(w["alive"] for w in after)


def test_a_process_that_stops_reporting_is_not_alive(
    server_factory: Callable[..., LiveServer], runtime_factory: Callable[..., Runtime]
) -> None:
    api = server_factory(num_embedding_workers=1)
    other = runtime_factory(num_embedding_workers=1, instance_id="crashy:worker")
    assert other.pool is not None and other.pool.reporter is not None
    reporter = other.pool.reporter
    reporter._stop.set()  # the process "dies": no more reports, no final one
    reporter._thread.join(5)
    reporter.clock = lambda: time.time() - 60  # its last report is a minute old
    reporter.report()
    remote = [w for w in workers(api) if not w["local"]]
    local = [w for w in workers(api) if w["local"]]
    assert len(remote) == 1 and remote[0]["alive"] is False
    assert len(local) == 1 and local[0]["alive"] is True
