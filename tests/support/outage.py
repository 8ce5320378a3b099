"""A PostgreSQL outage under load, measured: for the outage test and bench/outage.py.

Client threads keep writes, searches, admin calls and health checks arriving at a
running heurist server (over HTTP only, so the server may be in this process or
another), while the private cluster under it is killed (``pg_ctl stop -m
immediate``) and started again. Every call is recorded with its start, duration,
status and error code; :func:`summarize` turns them into the closing table.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from tests.support.pg_cluster import PrivateCluster
from tests.support.wait import wait_for

PACE_SECONDS = 0.05  # between two calls of one client: load, not a flood


@dataclass(frozen=True, slots=True)
class Call:
    kind: str  # write | search | admin | health
    started: float  # time.monotonic()
    seconds: float
    status: int | None  # None: no HTTP answer (reset, refused, timed out)
    code: str | None = None  # the error shape's code, or the transport error's name
    retry_after: str | None = None
    entry_id: str | None = None

    @property
    def ended(self) -> float:
        return self.started + self.seconds


@dataclass
class Load:
    """Client threads against ``url``; ``calls`` grows until :meth:`stop`."""

    url: str
    admin_token: str
    category: str
    writers: int = 2
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        clients: list[tuple[str, Callable[[httpx.Client, int], httpx.Response]]] = [
            ("write", self._write) for _ in range(self.writers)
        ]
        clients += [("search", self._search), ("admin", self._admin), ("health", self._health)]
        for n, (kind, fn) in enumerate(clients):
            thread = threading.Thread(target=self._client, args=(kind, fn), name=f"load-{n}")
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def acknowledged(self, after: float = 0.0) -> list[Call]:
        """Writes answered 201 that started after ``after``."""
        return [c for c in self.snapshot() if c.status == 201 and c.started >= after]

    def _client(self, kind: str, fn: Callable[[httpx.Client, int], httpx.Response]) -> None:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        with httpx.Client(base_url=self.url, timeout=30, headers=headers) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                self._record(kind, client, fn, n)
                self._stop.wait(PACE_SECONDS)

    def _record(
        self,
        kind: str,
        client: httpx.Client,
        fn: Callable[[httpx.Client, int], httpx.Response],
        n: int,
    ) -> None:
        started = time.monotonic()
        try:
            response = fn(client, n)
        except httpx.TransportError as exc:
            call = Call(kind, started, time.monotonic() - started, None, type(exc).__name__)
        else:
            call = _call(kind, started, response)
        with self._lock:
            self.calls.append(call)

    def _write(self, client: httpx.Client, n: int) -> httpx.Response:
        tag = uuid.uuid4().hex[:10]
        body = {
            "category": self.category,
            "section": "useful",
            "title": f"outage {tag}",
            "playbook": f"Written during the outage test, call {n}, tag {tag}.",
        }
        return client.post("/api/v1/experiences", json=body)

    def _search(self, client: httpx.Client, n: int) -> httpx.Response:
        return client.get("/api/v1/search", params={"q": f"outage test call {n}", "limit": 5})

    def _admin(self, client: httpx.Client, _n: int) -> httpx.Response:
        return client.get("/admin/queue/status")

    def _health(self, client: httpx.Client, _n: int) -> httpx.Response:
        return client.get("/health")


def _call(kind: str, started: float, response: httpx.Response) -> Call:
    seconds = time.monotonic() - started
    code = entry_id = None
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict):
            code = body["error"].get("code")
        if response.status_code == 201:
            entry_id = body.get("id")
    return Call(
        kind,
        started,
        seconds,
        response.status_code,
        code,
        response.headers.get("retry-after"),
        entry_id,
    )


@dataclass
class Outage:
    """When the database went down and came back, and what the clients saw."""

    down_at: float
    restart_at: float
    up_at: float
    calls: list[Call]

    def during(self) -> list[Call]:
        """Calls that started while the database was certainly down."""
        return [c for c in self.calls if self.down_at <= c.started < self.restart_at]

    def first_write_after(self) -> Call:
        done = [c for c in self.calls if c.status == 201 and c.ended > self.up_at]
        return min(done, key=lambda c: c.ended)

    @property
    def recovery_seconds(self) -> float:
        """From the database accepting connections again to the first write answered 201."""
        return self.first_write_after().ended - self.up_at


def run_outage(
    load: Load,
    cluster: PrivateCluster,
    *,
    outage_seconds: float = 15.0,
    writes_before: int = 30,
    writes_after: int = 30,
    before_kill: Callable[[], None] = lambda: None,
    while_down: Callable[[], None] = lambda: None,
) -> Outage:
    """Load the server, kill its PostgreSQL for ``outage_seconds``, start it, load on.

    ``before_kill`` and ``while_down`` let a test put the workers where it wants them
    (a batch held in the model call when the database dies, released while it is down).
    """
    load.start()
    try:
        wait_for(
            lambda: len(load.acknowledged()) >= writes_before,
            timeout=120,
            message="no writes before the outage",
        )
        before_kill()
        cluster.stop(mode="immediate")
        down_at = time.monotonic()  # pg_ctl waited: from here on, nothing answers
        while_down()
        # The outage lasts what the scenario says: this wait is its length, not a guess
        # at how long something takes.
        time.sleep(max(0.0, outage_seconds - (time.monotonic() - down_at)))
        restart_at = time.monotonic()
        cluster.start()
        up_at = time.monotonic()  # pg_ctl waited until it accepts connections
        wait_for(
            lambda: len(load.acknowledged(after=up_at)) >= writes_after,
            timeout=120,
            message="writes did not resume after the database came back",
        )
    finally:
        load.stop()
    return Outage(down_at, restart_at, up_at, load.snapshot())


def entry_facts(db_url: str) -> dict[str, dict[str, Any]]:
    """Per entry: status, revisions, attempts, vectors stored and vector upserts logged."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, embedding_status, revision, embedded_revision, attempts FROM entries"
        ).fetchall()
        vectors = dict(
            conn.execute("SELECT entry_id, count(*) FROM vectors GROUP BY entry_id").fetchall()
        )
        upserts = dict(
            conn.execute(
                "SELECT entry_id, count(*) FROM vector_changes WHERE op = 'upsert' "
                "GROUP BY entry_id"
            ).fetchall()
        )
    return {
        r[0]: {
            "status": r[1],
            "revision": r[2],
            "embedded_revision": r[3],
            "attempts": r[4],
            "vectors": vectors.get(r[0], 0),
            "upserts": upserts.get(r[0], 0),
        }
        for r in rows
    }


def summarize(
    outage: Outage, facts: dict[str, dict[str, Any]], *, drained_at: float
) -> list[tuple[str, str]]:
    """The closing table: what the clients saw, and what the store holds.

    ``drained_at`` is when a drain after the outage found nothing left to embed.
    """
    during = outage.during()
    acked = {c.entry_id for c in outage.calls if c.status == 201}
    once = [
        i
        for i in acked
        if i in facts
        and facts[i]["status"] == "embedded"
        and facts[i]["embedded_revision"] == facts[i]["revision"]
        and facts[i]["vectors"] == 1
        and facts[i]["upserts"] == 1
    ]

    def by_kind(calls: list[Call], status: int | None) -> str:
        kinds = ("write", "admin", "search", "health")
        return ", ".join(
            f"{k} {sum(c.kind == k and c.status == status for c in calls)}" for k in kinds
        )

    longest = max(outage.calls, key=lambda c: c.seconds)
    return [
        ("outage (database down)", f"{outage.restart_at - outage.down_at:.1f} s"),
        ("calls while down", str(len(during))),
        ("503 answers while down", f"{sum(c.status == 503 for c in during)} ({by_kind(during, 503)})"),
        ("500 answers / resets (whole run)", f"{sum(c.status == 500 for c in outage.calls)} / "
                                             f"{sum(c.status is None for c in outage.calls)}"),
        ("longest request (whole run)", f"{longest.seconds * 1000:.0f} ms ({longest.kind}, {longest.status})"),
        ("longest request while down", f"{max(c.seconds for c in during) * 1000:.0f} ms"),
        ("longest /health while down", f"{max((c.seconds for c in during if c.kind == 'health'), default=0) * 1000:.0f} ms"),
        ("time to recover (first 201 after restart)", f"{outage.recovery_seconds:.2f} s"),
        ("queue drained (after restart)", f"{drained_at - outage.up_at:.1f} s"),
        ("writes acknowledged (201)", str(len(acked))),
        ("acknowledged and embedded exactly once", str(len(once))),
        ("entries in the store / embedded", f"{len(facts)} / {sum(f['status'] == 'embedded' for f in facts.values())}"),
        ("entries failed", str(sum(f["status"] == "failed" for f in facts.values()))),
        ("attempts per entry (max)", str(max((f["attempts"] for f in facts.values()), default=0))),
    ]  # fmt: skip


def render(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
