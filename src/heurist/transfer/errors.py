"""Errors of import and export.

InvalidInput (heurist.errors)
├── InvalidRecord           a line of the file breaks a rule; names the line and field
└── DeletionRefused         a replace would delete more than it keeps, or brings nothing
QueueError (heurist.errors)
└── CoordinationError       the running server's queue could not be held for an import
    ├── OperatorPaused      an operator paused the queue: a drain could never finish
    └── DrainTimeout        the queue did not drain in time; nothing was written
"""

from __future__ import annotations

from heurist.errors import InvalidInput, QueueError


class InvalidRecord(InvalidInput):
    code = "invalid_record"

    def __init__(self, where: str, field: str | None, message: str) -> None:
        prefix = f"{where}: {field}: " if field else f"{where}: "
        super().__init__(prefix + message, field=field, details={"where": where, "field": field})
        self.where = where


class DeletionRefused(InvalidInput):
    code = "deletion_refused"


class CoordinationError(QueueError):
    code = "coordination_error"


class OperatorPaused(CoordinationError):
    code = "operator_paused"


class DrainTimeout(CoordinationError):
    code = "drain_timeout"
