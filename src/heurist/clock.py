"""Wall-clock time as epoch seconds, and its ISO rendering for the API.

Every stored time lies in ``[TIMESTAMP_MIN, TIMESTAMP_MAX]``: from the Unix epoch to
the last second of year 9999, the range an ISO 8601 date can show. Input is checked
against it where it enters (``in_range``); ``iso`` never fails on a value outside it
(a row written before the check existed, or by hand), so one bad row cannot take a
list, a read or a backup down.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

TIMESTAMP_MIN = 0.0  # 1970-01-01T00:00:00Z
TIMESTAMP_MAX = 253_402_300_799.0  # 9999-12-31T23:59:59Z


def now() -> float:
    return time.time()


def in_range(ts: float) -> bool:
    """A finite time in the range heurist stores (NaN and infinities are not)."""
    return math.isfinite(ts) and TIMESTAMP_MIN <= ts <= TIMESTAMP_MAX


def iso(ts: float | None) -> str | None:
    """The time as ISO 8601 in UTC; a stored value out of range shows as the nearest
    bound (NaN as the lower one)."""
    if ts is None:
        return None
    if not in_range(ts):
        ts = TIMESTAMP_MAX if ts > TIMESTAMP_MAX else TIMESTAMP_MIN
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")
