"""Import files for the transfer tests: small hand-written stores and large generated ones."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CATEGORIES = [
    {"kind": "category", "code": "python", "name": "Python", "description": "Python habits"},
    {"kind": "category", "code": "ops", "name": "Operations"},
]
ENTRIES = [
    {
        "kind": "experience",
        "id": "exp-1",
        "category": "python",
        "section": "useful",
        "title": "Pin torch",
        "playbook": "Pin torch to the CPU build, or pip pulls CUDA wheels.",
        "author": "ana",
        "source": "https://example.org/torch",
    },
    {
        "kind": "experience",
        "category": "ops",
        "section": "contextual",
        "title": 'SQLite writers, "quoted", with commas',
        "playbook": "Use BEGIN IMMEDIATE.\nA deferred read-then-write fails with BUSY.",
        "context": "WAL mode, several writer threads",
    },
    {
        "kind": "manual",
        "id": "man-1",
        "category": "python",
        "title": "Packaging guide",
        "content": "Use pyproject.toml.\n\nKeep dependencies pinned where it matters. Ünïcode ✓",
        "summary": "How we package",
        "author": "bo",
    },
]


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path


def experiences(n: int, *, category: str = "bulk", prefix: str = "bulk") -> list[dict[str, Any]]:
    return [
        {
            "kind": "experience",
            "id": f"{prefix}-{i:06d}",
            "category": category,
            "section": ("useful", "harmful")[i % 2],
            "title": f"Heuristic number {i} about retries",
            "playbook": f"When step {i} fails, back off exponentially and log the cause {i}.",
            "author": "bench",
        }
        for i in range(n)
    ]


def bulk_file(path: Path, n: int, *, bad_last: bool = False) -> Path:
    records: list[dict[str, Any]] = [{"kind": "category", "code": "bulk", "name": "Bulk"}]
    records += experiences(n)
    if bad_last:
        records[-1] = records[-1] | {"title": "x" * 301}
    return write_jsonl(path, records)
