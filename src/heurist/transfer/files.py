"""Which format a path speaks, chosen by its suffix: .jsonl, .csv or .zip."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from heurist.errors import InvalidInput
from heurist.transfer.csv_format import read_csv, read_zip, write_csv, write_zip
from heurist.transfer.jsonl import read_jsonl, write_jsonl

Reader = Callable[[Path], list[tuple[str, Any]]]
Writer = Callable[[Path, Iterable[dict[str, Any]]], int]
READERS: dict[str, Reader] = {".jsonl": read_jsonl, ".csv": read_csv, ".zip": read_zip}
WRITERS: dict[str, Writer] = {".jsonl": write_jsonl, ".csv": write_csv, ".zip": write_zip}


def _suffix(path: Path, table: dict[str, Any]) -> str:
    suffix = path.suffix.lower()
    if suffix not in table:
        raise InvalidInput(
            f"{path.name}: unknown format; use one of {', '.join(table)}", field="file"
        )
    return suffix


def read_items(path: Path) -> list[tuple[str, Any]]:
    """Every record of the file as (where, raw record), in file order."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file", field="file")
    return READERS[_suffix(path, READERS)](path)


def write_records(path: Path, records: Iterable[dict[str, Any]]) -> int:
    return WRITERS[_suffix(path, WRITERS)](path, records)
