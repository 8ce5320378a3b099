"""Claims are atomic across processes: two claimer processes on one database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from heurist.db.engine import Database
from heurist.store.categories import CategoryStore
from heurist.store.entries import EntryStore
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_two_processes_claim_each_row_exactly_once(db: Database, tmp_path: Path) -> None:
    CategoryStore(db).create("py", "Python")
    store = EntryStore(db)
    ids = [
        store.create(
            "experience",
            {"category": "py", "section": "useful", "title": f"t{i}", "playbook": f"p{i}"},
        )["id"]
        for i in range(600)
    ]
    # Both start claiming on the test's go, once both are up (this was a start time 4 s
    # ahead, which a loaded machine could miss, leaving all the rows to one process).
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.claimer",
                db.url,
                f"proc{n}/boot/w0",
                str(barrier),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    wait_for(
        lambda: len(list(barrier.glob("ready-*"))) == 2,
        timeout=120,
        message="the claimer processes did not start",
    )
    (barrier / "go").touch()
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    claimed = results[0] + results[1]
    assert sorted(claimed) == sorted(ids)
    assert len(set(claimed)) == len(ids)
    assert results[0] and results[1], "both processes should have claimed something"
