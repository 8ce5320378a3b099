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

from heurist import limits
from heurist.domain.vocabulary import RecordKind
from heurist.transfer.errors import InvalidRecord
from heurist.transfer.records import COLUMNS, IGNORED, TIMESTAMPS
from heurist.transfer.text import decode

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


# The longest cell a valid file can hold is a manual's content; a cell up to twice that
# still parses, so that an overlong one is refused by the field's own limit, by name.
FIELD_SIZE_MAX = 2 * limits.MANUAL_CONTENT_MAX
# Columns a file may carry besides its kind's: the API's derived values (ignored on import).
EXTRA_COLUMNS = frozenset(("kind", *IGNORED))
VECTORS_MEMBER = "vectors.jsonl"


def read_csv(path: Path) -> list[tuple[str, Any]]:
    text = decode(path.read_bytes())
    return _rows(text, prefix="", kind=None)


def read_zip(path: Path) -> list[tuple[str, Any]]:
    """Members in kind order (categories first), whatever their order in the archive.
    Exactly one member per kind, found by its name in any folder; anything else refused."""
    members: dict[str, str] = {}
    names: dict[str, str] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name = info.filename
                if name == VECTORS_MEMBER:
                    continue  # a backup's vectors: heurist.transfer.vectors reads them
                kind = KIND_OF_FILE.get(name.rsplit("/", 1)[-1])
                if kind is None:
                    expected = ", ".join(FILE_NAMES.values())
                    raise InvalidRecord(
                        name, None, f"unexpected file in the zip; expected {expected}"
                    )
                if kind in names:
                    raise InvalidRecord(
                        name,
                        None,
                        f"the zip holds {FILE_NAMES[kind]} twice ({names[kind]!r} "
                        f"and {name!r}); keep one",
                    )
                names[kind] = name
                members[kind] = decode(archive.read(info), prefix=f"{name} ")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as exc:
        raise InvalidRecord(path.name, None, f"not a readable zip archive ({exc})") from exc
    items: list[tuple[str, Any]] = []
    for kind in RecordKind:
        if kind in members:
            items.extend(_rows(members[kind], prefix=f"{names[kind]} ", kind=kind))
    return items


def _rows(text: str, *, prefix: str, kind: str | None) -> list[tuple[str, Any]]:
    """Every data row as (where, record); the header checked first. Rows are numbered as a
    spreadsheet shows them (the header is row 1); structural errors name the line."""
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_SIZE_MAX))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = _header(reader, text, prefix, kind)
    items: list[tuple[str, Any]] = []
    number = 1
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return items
        except csv.Error as exc:
            raise _broken(text, start, exc, header, prefix) from exc
        number += 1
        if not cells:
            continue  # a blank line
        where = f"{prefix}row {number}"
        if len(cells) > len(header):
            raise InvalidRecord(where, None, "more cells than the header has columns")
        record: dict[str, Any] = {k: v for k, v in zip(header, cells, strict=False) if v != ""}
        if kind is not None:
            record.setdefault("kind", kind)
        items.append((where, record))


def _header(reader: Any, text: str, prefix: str, kind: str | None) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidRecord(f"{prefix}line 1", None, "empty: no header row") from None
    except csv.Error as exc:
        raise _broken(text, 1, exc, [], prefix) from exc
    allowed = set(COLUMNS[kind]) if kind is not None else set(SINGLE_COLUMNS)
    seen: dict[str, int] = {}
    for column, name in enumerate(header, start=1):
        where = f"{prefix}line 1, column {column}"
        if name in seen:
            raise InvalidRecord(where, name, f"column appears twice (also column {seen[name]})")
        if name not in allowed and name not in EXTRA_COLUMNS:
            raise InvalidRecord(
                where,
                None,
                f"unknown column {name[:40]!r}: the first line must be the header"
                f" ({', '.join(COLUMNS[kind] if kind else ('kind', 'id', 'category', '...'))})",
            )
        seen[name] = column
    if kind is None and "kind" not in seen:
        raise InvalidRecord(f"{prefix}line 1", None, "the header has no 'kind' column")
    return header


def _broken(text: str, start: int, exc: csv.Error, header: list[str], prefix: str) -> InvalidRecord:
    """A row the CSV parser cannot read: its first line, the column of the quote that went
    wrong, and the parser's reason."""
    lines = text.split("\n")
    column = _quote_column("\n".join(lines[start - 1 :]))
    name = f" ({header[column - 1]!r})" if 0 < column <= len(header) else ""
    reason = str(exc)
    if "unexpected end of data" in reason:
        reason = "a quoted cell is never closed (unterminated quote)"
    elif "field larger than field limit" in reason:
        reason = f"a cell is longer than {FIELD_SIZE_MAX} characters"
    return InvalidRecord(f"{prefix}line {start}, column {column}{name}", None, reason)


def _quote_column(record: str) -> int:
    """1-based number of the cell where the last quoted cell of ``record`` opens (the
    record ends at the first line break outside quotes)."""
    column, found, at_start, quoted, closed = 1, 1, True, False, False
    for char in record:
        if quoted:
            if char == '"':
                quoted, closed = False, True
            continue
        if char == '"' and (at_start or closed):  # an opening quote, or a doubled one
            quoted, found = True, column
        elif char == ",":
            column, at_start, closed = column + 1, True, False
            continue
        elif char in "\r\n":
            break
        at_start = closed = False
    return found


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
