"""Every statement the embedding queue runs, by name: the queue's state machine (DESIGN §3).

The status column of ``entries`` is the queue; there is no broker::

    pending ──claim──► processing ──mark_embedded──────► embedded
       ▲                 │   │  ▲
       │                 │   │  └─ claim: another holder takes over an expired lease
       └─────────────────┘   └────mark_failed_attempt──► failed   (attempts used up, or
     release, release_instance,                                   an error that cannot heal)
     requeue_stale, mark_failed_attempt
     (attempts left: after a backoff)

    requeued (a write or an import, from any state), retry_failed (from failed) and
    requeue_for_model (from embedded) go back to pending with fresh attempts.

Transitions, one function each:

- ``requeued`` (values, not a statement): the write path (``store/entries.py``) and the import
  (``transfer/importer.py``) put an entry with new text back as ``pending`` at a new revision
  with fresh attempts, from any state. A worker holding the old revision can no longer
  complete it: completion matches the revision.
- ``claim``: pending (due) or processing with an expired lease -> processing, for one holder.
- ``heartbeat``: extends the lease of what a holder still holds.
- ``mark_embedded``: processing -> embedded, guarded by revision and holder.
- ``mark_failed_attempt``: processing -> pending after a backoff, or failed.
- ``release`` (one holder's rows: an outage, with the attempt refunded), ``release_held``
  (everything one holder still holds, after a database fault, attempts refunded),
  ``release_instance``
  (a crashed or stopping process's rows), ``requeue_stale`` (expired leases, on demand):
  processing -> pending.
- ``retry_failed``: failed -> pending; ``requeue_for_model``: embedded without current
  vectors of a model being back-filled -> pending, at low priority. Both with fresh attempts, like ``requeued``.

Every way back to ``pending`` with fresh attempts uses ``REQUEUED`` (attempts 0, no error,
due at once, no holder); every way out of ``processing`` drops the claim (``_DROP_CLAIM``).

The pause is the ``queue_control`` row: ``_PAUSED`` is the rule inside the claim, and
``PauseFlag.paused`` the same rule in Python for everyone else (workers, queue control,
health). Then the reads (status counts, drain, health, the failed list) and the worker
registry's rows.

Each function is one statement and says why it is safe when many workers in many processes
run it at once. Times are epoch seconds passed in by the caller, so tests can move the clock.

The statements live in five modules, all re-exported here (callers write ``sql.claim``):
``transitions`` (the state machine), ``pause`` (the ``queue_control`` row), ``reads``
(counts and lists), ``workers`` (the worker registry) and ``models`` (the serving model
and the switch of a model change).
"""

from heurist.queue.sql.models import (
    ServingRow,
    adopt_model,
    cancel_target,
    migration_progress,
    read_serving,
    set_target,
    switch_ready,
    switch_serving,
)
from heurist.queue.sql.pause import PauseFlag, read_pause, set_import_pause, set_operator_pause
from heurist.queue.sql.reads import (
    depth_by_status,
    failed_entries,
    in_flight,
    oldest_pending_queued_at,
    status_counts,
)
from heurist.queue.sql.transitions import (
    ERROR_TEXT_MAX,
    REQUEUED,
    Claimed,
    claim,
    heartbeat,
    mark_embedded,
    mark_failed_attempt,
    mark_restored,
    release,
    release_held,
    release_instance,
    requeue_for_model,
    requeue_stale,
    requeued,
    retry_failed,
)
from heurist.queue.sql.workers import list_workers, prune_workers, report_workers

__all__ = [
    "ERROR_TEXT_MAX",
    "REQUEUED",
    "Claimed",
    "PauseFlag",
    "ServingRow",
    "adopt_model",
    "cancel_target",
    "claim",
    "depth_by_status",
    "failed_entries",
    "heartbeat",
    "in_flight",
    "list_workers",
    "mark_embedded",
    "mark_failed_attempt",
    "mark_restored",
    "migration_progress",
    "oldest_pending_queued_at",
    "prune_workers",
    "read_pause",
    "read_serving",
    "release",
    "release_held",
    "release_instance",
    "report_workers",
    "requeue_for_model",
    "requeue_stale",
    "requeued",
    "retry_failed",
    "set_import_pause",
    "set_operator_pause",
    "set_target",
    "status_counts",
    "switch_ready",
    "switch_serving",
]
