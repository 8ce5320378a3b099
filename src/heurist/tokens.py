"""Where the admin token lives on disk: the server makes it, clients read it.

The admin token is HEURIST_ADMIN_TOKEN or, when unset, a token generated at the server's
first start into ``<data dir>/admin_token`` (mode 0600); the CLI and the importer read the
same file. Checking a presented token is the API's business (``heurist.api.auth``).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from heurist.private_files import private_dir

log = logging.getLogger(__name__)

TOKEN_FILE = "admin_token"


def token_path(data_dir: Path) -> Path:
    return data_dir / TOKEN_FILE


def ensure_admin_token(configured: str | None, data_dir: Path) -> str:
    """The configured token, or the one in the data dir (created 0600 on first start)."""
    if configured:
        return configured
    path = token_path(data_dir)
    if path.exists():
        return path.read_text().strip()
    private_dir(data_dir)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    log.info("generated an admin token in %s (mode 0600); the CLI reads it from there", path)
    return token


def read_admin_token(configured: str | None, data_dir: Path) -> str | None:
    """For clients: the configured token, else the server's token file if readable."""
    if configured:
        return configured
    path = token_path(data_dir)
    return path.read_text().strip() if path.exists() else None
