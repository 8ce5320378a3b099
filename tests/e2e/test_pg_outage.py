"""A PostgreSQL outage survived without a restart (issue 14, item 2).

A real server (uvicorn, two embedding workers, the production timings: poll 5 s,
lease 60 s, index sync 1 s) runs on a private PostgreSQL cluster while client threads
keep writing, searching, calling the admin API and checking /health. The cluster is
killed (``pg_ctl stop -m immediate``) for 15 s, then started again. Run with ``-s``
to see the table the closing note quotes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from heurist.db.engine import PG_CONNECT_TIMEOUT, PG_POOL_TIMEOUT, PROBE_CONNECT_TIMEOUT
from heurist.db.faults import RETRY_AFTER_SECONDS
from heurist.embedding.hashing import HashEmbedder
from heurist.runtime import Runtime
from tests.conftest import make_settings
from tests.support.embedders import ScriptedEmbedder
from tests.support.outage import Load, Outage, entry_facts, render, run_outage, summarize
from tests.support.pg_cluster import PrivateCluster, private_cluster
from tests.support.server import LiveServer
from tests.support.wait import wait_for
from tests.support.worker_process import query

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]

# The production defaults (README, Settings): the outage must be survived as deployed.
PRODUCTION_TIMINGS = {
    "worker_poll_interval": 5.0,
    "lease_seconds": 60.0,
    "retry_base_seconds": 2.0,
    "retry_max_seconds": 300.0,
    "outage_backoff_seconds": 5.0,
    "index_sync_interval": 1.0,
}
# No request may wait longer than a pool checkout plus a connection attempt (and the
# loaded machine's slack): the bound the engine's timeouts promise.
LONGEST_ALLOWED = PG_POOL_TIMEOUT + PG_CONNECT_TIMEOUT + 2.0


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with private_cluster() as made:
        yield made


@pytest.fixture
def outage(
    cluster: PrivateCluster, tmp_path: Path
) -> Iterator[tuple[Outage, LiveServer, str, ScriptedEmbedder]]:
    db_url = cluster.create_database("heurist")
    settings = make_settings(tmp_path, db_url, num_embedding_workers=2, **PRODUCTION_TIMINGS)
    embedder = ScriptedEmbedder()
    # Searches get an embedder of their own: the workers' one is held at a gate below.
    runtime = Runtime.build(settings, embedder=embedder, query_embedder=HashEmbedder())
    server = LiveServer(settings, runtime=runtime)
    server.start()
    gate = threading.Event()

    def hold_a_batch() -> None:
        """The database dies while both workers hold a claimed batch in the model call."""
        embedder.entered.clear()
        embedder.gate = gate
        wait_for(
            embedder.entered.is_set,
            timeout=60,
            message="no batch reached the model before the outage",
        )

    def release_it() -> None:
        gate.set()  # their write-backs now meet the dead database
        embedder.gate = None

    try:
        created = server.client.post("/api/v1/categories", json={"code": "ops", "name": "Ops"})
        assert created.status_code == 201
        load = Load(server.url, str(settings.admin_token), category="ops")
        result = run_outage(
            load, cluster, outage_seconds=15.0, before_kill=hold_a_batch, while_down=release_it
        )
        yield result, server, db_url, embedder
    finally:
        gate.set()
        server.stop()


def test_postgres_outage_is_survived_without_a_restart(
    outage: tuple[Outage, LiveServer, str, ScriptedEmbedder],
) -> None:
    result, server, db_url, embedder = outage
    calls, during = result.calls, result.during()

    # During: clear, quick, retryable answers; never a 500, a reset or a hang.
    assert [c for c in calls if c.status is None] == []
    assert [c for c in calls if c.status == 500] == []
    assert max(c.seconds for c in calls) < LONGEST_ALLOWED
    writes = [c for c in during if c.kind in ("write", "admin")]
    assert len(writes) > 20
    assert {c.status for c in writes} == {503}
    refused = [c for c in during if c.status == 503]
    assert {c.code for c in refused if c.kind != "health"} == {"database_unavailable"}
    assert {c.retry_after for c in refused} == {str(RETRY_AFTER_SECONDS)}
    assert {c.status for c in during if c.kind == "search"} <= {200, 503}
    health = [c for c in during if c.kind == "health"]
    assert health and {c.status for c in health} == {503}
    # Answered from the probe's deadline, never after a connect timeout.
    assert max(c.seconds for c in health) < PROBE_CONNECT_TIMEOUT

    # After: writes resume within seconds; wake-ups and the index sync reconnect.
    assert result.recovery_seconds < 15.0
    rt = server.runtime
    assert rt.notify is not None
    wait_for(
        lambda: rt.notify is not None and rt.notify.state()["listening"],
        timeout=60,
        message="no LISTEN",
    )
    assert rt.notify.state()["connections"] >= 2
    drained = server.admin.post("/admin/queue/drain", params={"timeout": 120}).json()
    assert drained == {"status": "drained", "remaining": 0}
    drained_at = time.monotonic()

    # Every 201 embedded exactly once, nothing failed, no attempt burnt, no worker restarted.
    facts = entry_facts(db_url)
    acknowledged = {c.entry_id for c in calls if c.status == 201}
    assert acknowledged <= set(facts)
    for entry_id in acknowledged:
        fact = facts[entry_id]
        assert fact["status"] == "embedded", (entry_id, fact)
        assert fact["embedded_revision"] == fact["revision"], (entry_id, fact)
        assert (fact["vectors"], fact["upserts"]) == (1, 1), (entry_id, fact)
    assert all(f["status"] == "embedded" for f in facts.values())
    assert {f["attempts"] for f in facts.values()} == {1}
    # The batch held when the database died was embedded again after it: its attempt
    # was refunded, not burnt.
    embedded = embedder.texts_embedded()
    assert len(embedded) > len(set(embedded))
    assert rt.pool is not None and sum(s.restarts for s in rt.pool.stats) == 0

    # Searchable: this process's index holds every vector (the sync reconnected).
    vector_ids = [row[0] for row in query(db_url, "SELECT id FROM vectors")]
    wait_for(
        lambda: all(rt.index.contains(v) for v in vector_ids), timeout=60, message="index behind"
    )
    assert len(rt.index) == len(vector_ids)
    sample = sorted(acknowledged)[-3:]
    for entry_id in sample:
        title = server.client.get(f"/api/v1/experiences/{entry_id}").json()["title"]
        found = server.client.get("/api/v1/search", params={"q": title, "mode": "keyword"})
        assert entry_id in [r["id"] for r in found.json()["results"]]
    # Every change number that committed is applied. Numbers the crash burnt (its
    # rolled-back transactions') stay gaps until given up (GAP_TIMEOUT_SECONDS).
    sync = rt.index_sync
    seqs = [row[0] for row in query(db_url, "SELECT seq FROM vector_changes")]
    assert all(s <= sync.low_water or s in sync.applied_above for s in seqs)
    assert httpx.get(f"{server.url}/health").json()["database"]["ok"]

    print("\n" + render(summarize(result, facts, drained_at=drained_at)))
