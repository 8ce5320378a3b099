"""The process's signals carried across processes on PostgreSQL: LISTEN/NOTIFY
(DESIGN §3.10, §4). One channel per :class:`~heurist.signals.Signal`:

- ``heurist_queue``: the ``work`` signal, there is new work (a write, a resume, a retry).
  Every process that receives it announces it locally, so idle workers claim at once
  instead of at the next poll.
- ``heurist_vectors``: the ``vectors`` signal, a worker committed vectors. Every process
  that serves search syncs its index, so a new vector is searchable everywhere in a moment.

Each process runs one listener thread (a dedicated psycopg connection in autocommit,
reconnecting with backoff) and one sender thread. Sending goes through a thread so a
burst of writes coalesces into a few NOTIFYs and a request never waits on, or fails
because of, a notification; it happens after the write committed, and the NOTIFY itself
is delivered by PostgreSQL only when its own transaction commits. The payload names the
sending process, so a process ignores its own notifications (it has announced them
already), and what it receives is announced without relay (no echo). Notifications are a
latency optimisation only: a lost one costs at most a poll interval, never a job.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import partial

import psycopg
from psycopg import sql as pgsql
from sqlalchemy import text

from heurist.db.engine import Database
from heurist.db.faults import DatabaseFault, FaultLog
from heurist.signals import Signal

log = logging.getLogger(__name__)

QUEUE_CHANNEL = "heurist_queue"
VECTORS_CHANNEL = "heurist_vectors"
CHANNELS = (QUEUE_CHANNEL, VECTORS_CHANNEL)
LISTEN_TIMEOUT = 1.0  # how often the listener looks at its stop flag
BACKOFF_MIN = 0.5
# Short, so wake-ups come back within seconds of the database (a reconnect is cheap).
BACKOFF_MAX = 5.0
JOIN_SECONDS = 5.0


def libpq_dsn(db: Database) -> str:
    """The engine's URL in the form psycopg.connect takes (no SQLAlchemy driver suffix)."""
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class PgNotify:
    """This process's end of LISTEN/NOTIFY: a listener and a sender thread, subscribed to
    the ``work`` and ``vectors`` signals."""

    def __init__(
        self, db: Database, *, work: Signal, vectors: Signal, backoff_max: float = BACKOFF_MAX
    ) -> None:
        self.db = db
        self.origin = f"{os.getpid()}:{os.urandom(4).hex()}"
        self.signals = {QUEUE_CHANNEL: work, VECTORS_CHANNEL: vectors}
        self.listener = _Listener(self, libpq_dsn(db), backoff_max=backoff_max)
        self.sender = _Sender(db, self.origin, backoff_max=backoff_max)
        for channel, signal in self.signals.items():
            signal.subscribe(partial(self.sender.send, channel))

    def start(self) -> None:
        self.listener.start()
        self.sender.start()

    def stop(self) -> None:
        self.sender.stop()
        self.listener.stop()

    def received(self, channel: str, payload: str) -> None:
        """Announce one notification from another process here (not relayed back)."""
        if payload == self.origin:
            return  # our own: this process announced it when it happened
        self.listener.received += 1
        self.signals[channel].announce(relay=False)

    def reconnected(self) -> None:
        """Notifications sent while we were away are lost, so act as if every channel had
        fired once (at worst one empty claim and one sync pass)."""
        for signal in self.signals.values():
            signal.announce(relay=False)

    def state(self) -> dict[str, object]:
        return {
            "listening": self.listener.connected,
            "connections": self.listener.connections,
            "received": self.listener.received,
            "published": self.sender.sent,
        }


class _Listener:
    """LISTEN on a dedicated autocommit connection; reconnect with backoff on failure."""

    def __init__(self, owner: PgNotify, dsn: str, *, backoff_max: float) -> None:
        self.owner = owner
        self.dsn = dsn
        self.backoff_max = backoff_max
        self.connected = False
        self.connections = 0
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-listen", daemon=True)
        self._faults = FaultLog(log, "LISTEN connection")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # a runtime that never started has no thread
            self._thread.join(timeout=JOIN_SECONDS)

    def _run(self) -> None:
        delay = BACKOFF_MIN
        while not self._stop.is_set():
            before = self.connections
            try:
                self._session()
            except psycopg.Error as exc:
                if self.connections > before:
                    delay = BACKOFF_MIN  # it was up: a fresh loss, retry soon
                self._faults.failed(
                    " ".join(str(exc).split())[:200],
                    f"reconnecting with backoff (up to {self.backoff_max:g}s), polling meanwhile",
                )
            self.connected = False
            if self._stop.wait(delay):
                return
            delay = min(self.backoff_max, delay * 2)

    def _session(self) -> None:
        """One connection's life: LISTEN, then hand each notification to the owner."""
        with psycopg.connect(
            self.dsn,
            autocommit=True,
            connect_timeout=5,
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        ) as conn:
            for channel in CHANNELS:
                conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
            self.connected = True
            self.connections += 1
            self._faults.recovered()
            log.info("listening on %s (connection %d)", ", ".join(CHANNELS), self.connections)
            if self.connections > 1:
                self.owner.reconnected()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=LISTEN_TIMEOUT):
                    self.owner.received(note.channel, note.payload)


class _Sender:
    """Send NOTIFYs from a thread, coalescing bursts: one per channel per pass."""

    def __init__(self, db: Database, origin: str, *, backoff_max: float) -> None:
        self.db = db
        self.origin = origin
        self.backoff_max = backoff_max
        self.sent = 0
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-notify", daemon=True)
        self._faults = FaultLog(log, "NOTIFY")

    def start(self) -> None:
        self._thread.start()

    def send(self, channel: str) -> None:
        with self._lock:
            self._pending.add(channel)
        self._event.set()

    def stop(self) -> None:
        """Send what is pending (a last write's wake-up), then end the thread."""
        self._stop.set()
        self._event.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=JOIN_SECONDS)

    def _run(self) -> None:
        delay = BACKOFF_MIN
        while True:
            self._event.wait()
            self._event.clear()
            with self._lock:
                channels, self._pending = self._pending, set()
            if channels and not self._notify(channels):
                with self._lock:
                    self._pending |= channels
                self._event.set()
                if self._stop.wait(delay):
                    return
                delay = min(self.backoff_max, delay * 2)
                continue
            delay = BACKOFF_MIN
            if self._stop.is_set():
                return

    def _notify(self, channels: set[str]) -> bool:
        try:
            with self.db.write() as conn:
                for channel in sorted(channels):
                    conn.execute(
                        text("SELECT pg_notify(:channel, :payload)"),
                        {"channel": channel, "payload": self.origin},
                    )
        except DatabaseFault as fault:
            self._faults.failed(fault.reason, "other processes' workers fall back to polling")
            return False
        self._faults.recovered()
        self.sent += len(channels)
        return True
