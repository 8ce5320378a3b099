"""JSONL: one record a line, ``{"kind": ..., ...fields}``; the lossless format."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from heurist.transfer.errors import InvalidRecord


def read_jsonl(path: Path) -> list[tuple[str, Any]]:
    """Every non-blank line as (where, parsed object); bad JSON names its line."""
    items: list[tuple[str, Any]] = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"line {number}"
            try:
                items.append((where, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise InvalidRecord(where, None, f"not valid JSON: {exc.msg}") from exc
    return items


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
