"""A PostgreSQL outage under load, as the clients and the store see it.

Run: .venv/bin/python bench/outage.py [--outage 15] [--embedders hash,local]

Per embedder, a private PostgreSQL cluster (initdb/pg_ctl as the postgres user, a
temp dir, a free port: never the shared server) and a real `heurist serve`
subprocess on it (two workers, the production timings). Client threads keep
writing, searching, calling the admin API and checking /health; the cluster is
killed with `pg_ctl stop -m immediate` for --outage seconds, then started again.
The table is tests/e2e/test_pg_outage.py's, which asserts on it (hash embedder):
here the real model runs beside it, in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common import MODEL_CACHE, ROOT, TOKEN, Server, machine, write_section

sys.path.insert(0, str(ROOT))  # the scenario is shared with the test suite
from tests.support.outage import Load, entry_facts, run_outage, summarize
from tests.support.pg_cluster import private_cluster


def one_run(embedder: str, outage: float) -> list[tuple[str, str]]:
    with private_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        db_url = cluster.create_database("heurist")
        env = {
            "HEURIST_DATABASE_URL": db_url,
            "HEURIST_EMBEDDING_PROVIDER": embedder,
            "HEURIST_MODEL_CACHE_DIR": str(MODEL_CACHE),
            "HEURIST_NUM_EMBEDDING_WORKERS": "2",
            "HEURIST_LOG_LEVEL": "ERROR",  # one warning per 503 otherwise
        }
        with Server(Path(tmp) / "data", **env) as server:
            if embedder == "local":
                server.wait_model(300)
            httpx.post(f"{server.url}/api/v1/categories", json={"code": "ops", "name": "Ops"})
            load = Load(server.url, TOKEN, category="ops")
            result = run_outage(load, cluster, outage_seconds=outage)
            drained = httpx.post(
                f"{server.url}/admin/queue/drain",
                params={"timeout": 300},
                headers=server.admin,
                timeout=320,
            ).json()
            assert drained["status"] == "drained", drained
            drained_at = time.monotonic()
        return summarize(result, entry_facts(db_url), drained_at=drained_at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=15.0, help="seconds the database is down")
    parser.add_argument("--embedders", default="hash,local")
    args = parser.parse_args()
    embedders = args.embedders.split(",")
    runs = {name: dict(one_run(name, args.outage)) for name in embedders}
    labels = list(next(iter(runs.values())))
    width = max(len(k) for k in labels)
    header = f"{'':<{width}}  " + "  ".join(f"{name:>34}" for name in embedders)
    lines = [header] + [
        f"{k:<{width}}  " + "  ".join(f"{runs[n][k]:>34}" for n in embedders) for k in labels
    ]
    print("\n".join(lines))
    rows = "\n".join(f"| {k} | " + " | ".join(runs[n][k] for n in embedders) + " |" for k in labels)
    write_section(
        "outage",
        f"""## PostgreSQL outage under load (bench/outage.py)

`.venv/bin/python bench/outage.py --outage {args.outage:g} --embedders {args.embedders}` on
{machine()}. A `heurist serve` subprocess (two workers, production timings) on a private
cluster; two writers, one searcher, one admin and one health client, each a call every 50 ms;
`pg_ctl stop -m immediate`, {args.outage:g} s down, `pg_ctl start`. "While down" counts calls
that started after the stop returned and before the start was issued.

| | {" | ".join(embedders)} |
|---|{"---|" * len(embedders)}
{rows}
""",
    )


if __name__ == "__main__":
    main()
