"""CSV, for spreadsheets: one file with a ``kind`` column, or a zip of one file per kind
(``categories.csv``, ``experiences.csv``, ``manuals.csv``).

An empty cell means "not given" (the field's default: no value, or an empty
description), so a spreadsheet's blank cells behave as the API's absent fields. Rows
are numbered as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from heurist.domain.vocabulary import RecordKind
from heurist.transfer.errors import InvalidRecord
from heurist.transfer.records import COLUMNS, TIMESTAMPS

FILE_NAMES = {
    RecordKind.CATEGORY: "categories.csv",
    RecordKind.EXPERIENCE: "experiences.csv",
    RecordKind.MANUAL: "manuals.csv",
}
KIND_OF_FILE = {name: kind for kind, name in FILE_NAMES.items()}
# The single-file layout: the kind, every kind's columns once each, the timestamps last.
SINGLE_COLUMNS: tuple[str, ...] = (
    "kind",
    *dict.fromkeys(c for k in RecordKind for c in COLUMNS[k] if c not in TIMESTAMPS),
    *TIMESTAMPS,
)
# Zip members get a fixed date so that exporting the same store twice gives identical bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


VECTORS_MEMBER = "vectors.jsonl"


def read_csv(path: Path) -> list[tuple[str, Any]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return _rows(handle, prefix="", kind=None)


def read_zip(path: Path) -> list[tuple[str, Any]]:
    """Members in kind order (categories first), whatever their order in the archive."""
    members: dict[str, str] = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.endswith("/"):
                continue
            kind = KIND_OF_FILE.get(name.rsplit("/", 1)[-1])
            if name == VECTORS_MEMBER:
                continue  # a backup's vectors: heurist.transfer.vectors reads them
            if kind is None:
                expected = ", ".join(FILE_NAMES.values())
                raise InvalidRecord(name, None, f"unexpected file in the zip; expected {expected}")
            members[kind] = archive.read(name).decode("utf-8-sig")
    items: list[tuple[str, Any]] = []
    for kind in RecordKind:
        if kind in members:
            handle = io.StringIO(members[kind], newline="")
            items.extend(_rows(handle, prefix=f"{FILE_NAMES[kind]} ", kind=kind))
    return items


def _rows(handle: TextIO, *, prefix: str, kind: str | None) -> list[tuple[str, Any]]:
    reader = csv.DictReader(handle)
    items: list[tuple[str, Any]] = []
    for number, row in enumerate(reader, start=2):
        where = f"{prefix}row {number}"
        if None in row:
            raise InvalidRecord(where, None, "more cells than the header has columns")
        record: dict[str, Any] = {k: v for k, v in row.items() if v not in ("", None)}
        if kind is not None:
            record.setdefault("kind", kind)
        items.append((where, record))
    return items


def write_csv(path: Path, records: Iterable[dict[str, Any]]) -> int:
    with path.open("w", encoding="utf-8", newline="") as handle:
        return _write(handle, SINGLE_COLUMNS, records)


def write_zip(path: Path, records: Iterable[dict[str, Any]]) -> int:
    by_kind: dict[str, list[dict[str, Any]]] = {kind: [] for kind in RecordKind}
    for record in records:
        by_kind[record["kind"]].append(record)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for kind in RecordKind:
            buffer = io.StringIO(newline="")
            _write(buffer, COLUMNS[kind], by_kind[kind])
            info = zipfile.ZipInfo(FILE_NAMES[kind], date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue().encode("utf-8"))
    return sum(len(v) for v in by_kind.values())


def _write(handle: TextIO, columns: Sequence[str], records: Iterable[dict[str, Any]]) -> int:
    writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    count = 0
    for record in records:
        writer.writerow({k: ("" if v is None else v) for k, v in record.items()})
        count += 1
    return count
