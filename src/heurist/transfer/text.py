"""The bytes of an import file as text: UTF-8 (a leading BOM is dropped), or an error
naming where the first byte that is not UTF-8 sits."""

from __future__ import annotations

from heurist.transfer.errors import InvalidRecord


def decode(raw: bytes, *, prefix: str = "") -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InvalidRecord(
            f"{prefix}line {line}, column {column}",
            None,
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8",
        ) from exc
