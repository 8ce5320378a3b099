"""Run as a process: claim rows from a database until none are left; print their ids.

Used to prove that claims are atomic across processes, not only across threads.
"""

from __future__ import annotations

import json
import sys
import time

from heurist.db.engine import Database
from heurist.queue import sql


def main(url: str, holder: str, start_at: float) -> None:
    db = Database(url)
    db.ping()
    time.sleep(max(0.0, start_at - time.time()))  # both processes start claiming together
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
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
