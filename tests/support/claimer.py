"""Run as a process: claim rows from a database until none are left; print their ids.

Used to prove that claims are atomic across processes, not only across threads. Both
processes start claiming together: each says it is ready, then waits for the test's go.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from heurist.db.engine import Database
from heurist.queue import sql
from tests.support.wait import wait_for

START_TIMEOUT = 300.0


def main(url: str, holder: str, barrier: Path) -> None:
    db = Database(url)
    db.ping()
    (barrier / f"ready-{holder.replace('/', '_')}").touch()
    go = barrier / "go"
    wait_for(go.exists, timeout=START_TIMEOUT, message="no go from the test", every=0.005)
    claimed: list[str] = []
    empty = 0
    while empty < 3:
        with db.write() as conn:
            got = sql.claim(conn, holder=holder, limit=5, now=time.time(), lease_seconds=600)
        claimed += [c.id for c in got]
        time.sleep(0.005)  # a worker embeds between claims; SQLite's lock is not fair
        empty = 0 if got else empty + 1
    print(json.dumps(claimed))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
