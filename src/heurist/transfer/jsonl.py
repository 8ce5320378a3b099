"""JSONL: one record a line, ``{"kind": ..., ...fields}``; the lossless format."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from heurist.transfer.errors import InvalidRecord
from heurist.transfer.text import decode


def read_jsonl(path: Path) -> list[tuple[str, Any]]:
    """Every non-blank line as (where, parsed object); bad JSON names its line."""
    items: list[tuple[str, Any]] = []
    # Lines end at \n only: JSON escapes every other line break inside a string.
    for number, line in enumerate(decode(path.read_bytes()).split("\n"), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            items.append((where, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InvalidRecord(where, None, f"not valid JSON: {exc.msg}") from exc
        except RecursionError as exc:
            raise InvalidRecord(where, None, "JSON nested too deeply") from exc
    return items


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
