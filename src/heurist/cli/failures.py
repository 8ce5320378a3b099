"""How every command ends when it cannot do its job: one line on stderr and an exit code
scripts can rely on. A traceback is kept for bugs.

    0  success
    1  the operation did not succeed (a drain timed out, the server failed)
    2  a user error: bad usage, settings or input (a file, a value); nothing was done
    3  the server or its database cannot be reached, or answers 503
    4  refused: unauthorized, or the queue is paused
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from heurist.client import ApiError
from heurist.errors import AuthError, ConfigError, HeuristError, InvalidInput, QueuePaused
from heurist.transfer.errors import OperatorPaused

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REFUSED = 1, 2, 3, 4
# What the API answers to a request that was the user's mistake.
USER_STATUSES = frozenset((400, 404, 405, 413, 422))

err_console = Console(stderr=True)


def exit_code(exc: HeuristError | OSError) -> int:
    # Here, not above: `heurist mcp` must start without SQLAlchemy or the driver.
    from heurist.db.faults import DatabaseFault, StorageFull

    if isinstance(exc, OSError):  # a file that cannot be read or written
        return EXIT_USAGE
    if isinstance(exc, ApiError):
        if exc.status is None or exc.status == 503:
            return EXIT_UNREACHABLE
        if exc.status in (401, 403, 409):
            return EXIT_REFUSED
        return EXIT_USAGE if exc.status in USER_STATUSES else EXIT_FAILED
    if isinstance(exc, StorageFull):
        return EXIT_FAILED
    if isinstance(exc, DatabaseFault):
        return EXIT_UNREACHABLE
    if isinstance(exc, AuthError | QueuePaused | OperatorPaused):
        return EXIT_REFUSED
    if isinstance(exc, InvalidInput | ConfigError):
        return EXIT_USAGE
    return EXIT_FAILED


def message(exc: HeuristError | OSError) -> str:
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return exc.message


def report(exc: HeuristError | OSError) -> int:
    """Print the one line; answer the exit code."""
    err_console.print(f"[red]{escape(message(exc))}[/red]", soft_wrap=True)
    return exit_code(exc)
