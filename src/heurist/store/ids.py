"""Entry ids: UUID-shaped, time-ordered (ms timestamp first), so lists sort by creation."""

from __future__ import annotations

import os
import time


def new_id() -> str:
    millis = time.time_ns() // 1_000_000
    raw = f"{millis:012x}" + os.urandom(10).hex()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"
